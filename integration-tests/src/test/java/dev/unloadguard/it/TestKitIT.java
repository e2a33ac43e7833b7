package dev.unloadguard.it;

import static dev.unloadguard.testkit.UnloadAssertions.assertCollected;
import static dev.unloadguard.testkit.UnloadAssertions.assertStillWaiting;
import static dev.unloadguard.testkit.UnloadAssertions.assertUnloadsCleanly;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.it.support.BuiltJars;
import dev.unloadguard.it.support.HostBus;
import dev.unloadguard.it.support.RecordingTailHook;
import dev.unloadguard.it.support.SampleHost;
import dev.unloadguard.it.support.TestPlugins;
import dev.unloadguard.loader.Plugin;
import dev.unloadguard.loader.PluginLoader;
import dev.unloadguard.loader.PluginState;
import dev.unloadguard.loader.UnloadReport;
import dev.unloadguard.loader.UnloadTimeoutException;
import dev.unloadguard.sample.helper.PagemapCache;
import dev.unloadguard.sample.helper.ReleaseTailHook;
import dev.unloadguard.testkit.NoPluginLeftLoaded;
import java.lang.ref.WeakReference;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The test kit as a user's tests would use it, on the real driver-sample jar with the helper
 * sample as host service, in the JVM Failsafe started with the agent: each assertion passes on a
 * clean unload and fails, with unloadguard's report in its message, when the unload is not clean.
 */
class TestKitIT {

    private static final Duration LONG = Duration.ofSeconds(30);

    @RegisterExtension
    final NoPluginLeftLoaded noPluginLeftLoaded = new NoPluginLeftLoaded();

    @RegisterExtension
    final SampleHost host = new SampleHost();
    private final PagemapCache cache = host.cache;
    private final RecordingTailHook hook = host.hook;

    private PluginLoader loader() {
        return noPluginLeftLoaded.track(host.builder().build());
    }

    @Test
    void aCleanUnloadPasses() throws Exception {
        PluginLoader loader = loader();
        Plugin plugin = loader.load(BuiltJars.driverSample());
        cache.dropAllLater();

        UnloadReport report = assertUnloadsCleanly(loader, plugin, LONG);
        assertEquals(PluginState.COLLECTED, report.outcome(), report::toString);
        assertTrue(cache.failures().isEmpty(), () -> cache.failures().toString());
        assertCollected(hook.pluginLoader(), Duration.ofSeconds(10));
    }

    @Test
    void anUnloadWhileTheHelperStillHoldsAReferenceFailsWithinTheBoundWithTheTimeoutReport() throws Exception {
        PluginLoader loader = loader();
        Plugin plugin = loader.load(BuiltJars.driverSample());

        AssertionError e = assertThrows(AssertionError.class, () -> assertUnloadsCleanly(loader, plugin, Duration.ofMillis(300)));
        String m = e.getMessage();
        assertTrue(m.startsWith("plugin xe generation 1 did not unload within 300 ms:\nunload of plugin xe generation 1 (GOING) "
                + "timed out after 300 ms in step 3 (drain): devices are still held"), m);
        assertTrue(m.contains("device xe/card0") && m.contains("with 2 reference(s)"), m);
        assertTrue(m.contains("nothing was closed: the plugin stays GOING and intact"), m);
        assertEquals(PluginState.GOING, plugin.state());
        assertEquals(2, cache.held());

        cache.dropAllLater();
        assertUnloadsCleanly(loader, plugin, LONG);
    }

    @Test
    void anUnloadWhileAReleaseCallbackStillRunsFailsWithTheThreadInsideTheEpochAndWaitsOtherwise() throws Exception {
        hook.closeGate();
        PluginLoader loader = loader();
        Plugin plugin = loader.load(BuiltJars.driverSample());
        assertThrows(AssertionError.class, () -> assertUnloadsCleanly(loader, plugin, Duration.ofMillis(100)),
                "the driver's exit ran; the helper still holds the pagemaps");
        cache.dropAllLater();
        await().atMost(Duration.ofSeconds(10)).until(hook::lastTailReached);

        AssertionError e = assertThrows(AssertionError.class, () -> assertUnloadsCleanly(loader, plugin, Duration.ofMillis(300)));
        String m = e.getMessage();
        assertTrue(m.contains("timed out after 300 ms in step 4 (barrier): a release callback is still running"), m);
        assertTrue(m.contains("\"pagemap-cache-worker\"") && m.contains("XePagemap.release"), m);

        CompletableFuture<UnloadReport> unload = SampleHost.unloadAsync(loader, plugin, LONG);
        assertStillWaiting(unload, Duration.ofMillis(500));
        hook.openGate();
        UnloadReport report = assertUnloadsCleanly(() -> unload.get());
        assertTrue(report.barrierWaited(), report::toString);
        assertTrue(cache.failures().isEmpty(), () -> cache.failures().toString());
    }

    @Test
    void aPluginObjectKeptByAHostServiceFailsAsLeakedNamingTheSuspect() throws Exception {
        Path jar = TestPlugins.plugin().driver("it.leak.LeakyDriver").source("it.leak.LeakyDriver", """
                package it.leak;
                import dev.unloadguard.device.Device;
                import dev.unloadguard.driver.*;
                import dev.unloadguard.it.support.HostBus;
                public final class LeakyDriver implements Driver {
                    private Device card;
                    public String id() { return "leaky"; }
                    public void init(DriverContext ctx) {
                        card = ctx.createDevice("card0");
                        ctx.service(HostBus.class).orElseThrow().hotplug(name -> ctx.createDevice(name)); // a plugin lambda
                    }
                    public void exit() { card.release(); card = null; }
                }
                """).build("leaky");
        HostBus bus = new HostBus();
        PluginLoader loader = noPluginLeftLoaded.track(PluginLoader.builder()
                .service(HostBus.class, bus)
                .collectionTimeout(Duration.ofSeconds(2))
                .build());
        Plugin plugin = loader.load(jar);
        WeakReference<ClassLoader> pluginLoader = loaderOf(bus);

        AssertionError e = assertThrows(AssertionError.class, () -> assertUnloadsCleanly(loader, plugin, LONG));
        String m = e.getMessage();
        assertTrue(m.startsWith("plugin leaky generation 1 did not unload cleanly: its class loader was not collected (LEAKED)"), m);
        assertTrue(m.contains("outcome: LEAKED after"), m);
        assertTrue(m.contains("host service dev.unloadguard.it.support.HostBus.hotplug holds a plugin object of class "
                + "it.leak.LeakyDriver$$Lambda"), m);

        AssertionError stillThere = assertThrows(AssertionError.class, () -> assertCollected(pluginLoader, Duration.ofMillis(300)));
        assertTrue(stillThere.getMessage().startsWith("expected class loader 'plugin:leaky-"), stillThere::getMessage);

        bus.forget(); // the suspect was right: once the host drops the lambda, the loader goes
        assertCollected(pluginLoader, Duration.ofSeconds(10));
    }

    private static WeakReference<ClassLoader> loaderOf(HostBus bus) {
        return new WeakReference<>(bus.hotplugFunction().getClass().getClassLoader());
    }
}
