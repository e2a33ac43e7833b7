package dev.unloadguard.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.driver.PluginUnloadedError;
import dev.unloadguard.loader.PluginLoader;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.opentest4j.AssertionFailedError;

/**
 * {@link UnloadFuzzer} against a real plugin jar through the real loader, in a JVM with the agent:
 * a host thread killed by a refused entry is a failure of the run whose unload caused it (and of no
 * other); what counts as a late access and what as a refusal; bad configuration.
 */
class UnloadFuzzerTest {

    @TempDir
    static Path dir;

    private static Path jar;

    private final FuzzHolder holder = new FuzzHolder();
    private final PluginLoader loader = PluginLoader.builder().service(FuzzHolder.class, holder)
            .collectionTimeout(Duration.ofSeconds(2)).build();

    @BeforeAll
    static void buildPlugin() throws IOException {
        jar = TestJars.driverJar(dir, "fuzzkit.TaskDriver", """
                package fuzzkit;
                import dev.unloadguard.driver.*;
                import dev.unloadguard.testkit.FuzzHolder;
                public final class TaskDriver implements Driver {
                    private FuzzHolder holder;
                    public String id() { return "fuzzkit"; }
                    public void init(DriverContext ctx) {
                        holder = ctx.service(FuzzHolder.class).orElseThrow();
                        holder.offer(new Task());
                    }
                    public void exit() { holder.withdraw(); }
                    static final class Task implements Runnable {
                        public void run() { }
                    }
                }
                """);
    }

    @AfterEach
    void closeLoader() throws Exception {
        loader.close();
    }

    @Test
    void aHostThreadKilledByARefusedEntryFailsTheRunThatUnloadedBeforeIt() {
        AssertionFailedError e = assertThrows(AssertionFailedError.class, () -> UnloadFuzzer.builder()
                .loader(loader).jar(jar).randomRuns(0)
                .scenario(plugin -> {
                    Runnable task = holder.task();
                    task.run();                                        // crossing 1
                    Thread worker = new Thread(task, "host-worker");   // crossing 2, on the worker
                    worker.start();
                    worker.join();
                })
                .run());
        String m = e.getMessage();
        assertTrue(m.contains("(2 crossing(s)): 1 of 3 run(s) failed"), m);
        assertTrue(m.contains("exact run at crossing 1 of 2 (entering fuzzkit.TaskDriver$Task.run())"), m);
        assertTrue(m.contains("thread \"host-worker\" died of an uncaught exception"), m);
        assertTrue(m.contains("PluginUnloadedError: fuzzkit.TaskDriver$Task.run() refused: plugin fuzzkit"), m);
        assertFalse(m.contains("exact run at crossing 2 of 2"), m);
    }

    @Test
    void theSameScenarioWithTheRefusalHandledPasses() {
        UnloadFuzzer.Result r = UnloadFuzzer.builder()
                .loader(loader).jar(jar).randomRuns(2)
                .scenario(plugin -> {
                    Runnable task = holder.task();
                    task.run();
                    Thread worker = new Thread(() -> {
                        try {
                            task.run();
                        } catch (PluginUnloadedError refused) {
                            // the plugin is unloading: the host drops the work
                        }
                    }, "host-worker");
                    worker.start();
                    worker.join();
                })
                .run();
        assertEquals(2, r.crossings());
        assertEquals(5, r.runs());
        assertTrue(loader.plugins().isEmpty());
    }

    @Test
    void lateAccessesAreToldFromRefusals() {
        Instant at = Instant.parse("2026-12-02T08:00:00Z");
        PluginUnloadedError refusal = PluginUnloadedError.entryRefused("a.B.c()", "p", 2, at, false);
        assertNull(UnloadFuzzer.lateAccessIn(refusal));
        assertTrue(UnloadFuzzer.refusalIn(new IllegalStateException("host wrapper", refusal)));
        assertNotNull(UnloadFuzzer.lateAccessIn(new PluginUnloadedError("a.Late", "p", 2, at, "plugin:p.jar#2")));
        assertFalse(UnloadFuzzer.refusalIn(new PluginUnloadedError("a.Late", "p", 2, at, "plugin:p.jar#2")));
        assertNotNull(UnloadFuzzer.lateAccessIn(new NoClassDefFoundError("a/Late")));
        assertNotNull(UnloadFuzzer.lateAccessIn(new UncheckedIOException(new IOException("x",
                new ClassNotFoundException("a.Late")))));
        RuntimeException suppressing = new RuntimeException("outer");
        suppressing.addSuppressed(new IllegalStateException("zip file closed"));
        assertNotNull(UnloadFuzzer.lateAccessIn(suppressing));
        assertNull(UnloadFuzzer.lateAccessIn(new IllegalStateException("no task offered")));
    }

    @Test
    void badConfigurationIsNamed() {
        IllegalStateException missing = assertThrows(IllegalStateException.class, () -> UnloadFuzzer.builder().loader(loader).build());
        assertTrue(missing.getMessage().contains("jar(Path)") && missing.getMessage().contains("scenario(plugin -> ...)"),
                missing.getMessage());
        assertThrows(IllegalArgumentException.class, () -> UnloadFuzzer.builder().randomRuns(-1));
        assertThrows(IllegalArgumentException.class, () -> UnloadFuzzer.builder().crossings(0));
        assertThrows(IllegalArgumentException.class, () -> UnloadFuzzer.builder().timeout(Duration.ZERO));
    }
}
