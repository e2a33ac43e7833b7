package com.example.host;

import static dev.unloadguard.testkit.UnloadAssertions.assertUnloadsCleanly;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.loader.Plugin;
import dev.unloadguard.loader.PluginLoader;
import dev.unloadguard.loader.UnloadReport;
import dev.unloadguard.testkit.NoPluginLeftLoaded;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Executor;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

class EchoPluginUnloadTest {

    @RegisterExtension
    final NoPluginLeftLoaded noPluginLeftLoaded = new NoPluginLeftLoaded();

    /**
     * A host service the plugin uses. Its thread is started here, by the host: started lazily on
     * the plugin's first {@code execute}, from the plugin's init, it would inherit the plugin's
     * loader as context class loader and capture the plugin's classes in its inherited access
     * control context, and keep the plugin's loader alive for as long as it runs.
     */
    private final ThreadPoolExecutor hostWorker = new ThreadPoolExecutor(1, 1, 0, TimeUnit.SECONDS,
            new LinkedBlockingQueue<>(), r -> new Thread(r, "host-worker"));

    @BeforeEach
    void startWorker() {
        hostWorker.prestartAllCoreThreads();
    }

    @AfterEach
    void stopWorker() {
        hostWorker.shutdownNow();
    }

    @Test
    void theEchoPluginUnloadsCleanly() throws Exception {
        PluginLoader loader = noPluginLeftLoaded.track(PluginLoader.builder().service(Executor.class, hostWorker).build());
        Plugin plugin = loader.load(Path.of(System.getProperty("echo.jar")));
        assertEquals("echo", plugin.id());

        UnloadReport report = assertUnloadsCleanly(loader, plugin, Duration.ofSeconds(30));
        assertTrue(report.collected(), report::toString);
    }

    @Test
    void prepareAgentPutTheAgentInFrontOfOurOwnArgLine() {
        assertEquals("chained", System.getProperty("consumer.argLine"), "our argLine was kept");
        assertTrue(ManagementFactory.getRuntimeMXBean().getInputArguments().stream()
                        .anyMatch(a -> a.startsWith("-javaagent:") && a.endsWith(".jar") && a.contains("unloadguard-agent")),
                () -> "no unloadguard agent among " + ManagementFactory.getRuntimeMXBean().getInputArguments());
    }
}
