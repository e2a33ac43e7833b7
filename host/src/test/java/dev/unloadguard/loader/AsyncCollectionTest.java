package dev.unloadguard.loader;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import dev.unloadguard.epoch.ReleaseGuard;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.ref.WeakReference;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The asynchronous collection check (step 7 after {@code unload} returned) with real plugin jars,
 * in the unit-test JVM (no agent: unguarded unloads allowed), each loader with its own watcher
 * whose nudges are counted.
 */
class AsyncCollectionTest {

    @TempDir
    static Path shared;

    @TempDir
    Path dir;

    private static Path clean;
    private static Path pinning;

    private final AtomicInteger nudges = new AtomicInteger();
    /** Whether the counting nudge really collects (off: the test's own System.gc() calls must). */
    private volatile boolean nudgeCollects = true;
    private final CollectionWatcher watcher = new CollectionWatcher(() -> {
        nudges.incrementAndGet();
        if (nudgeCollects) {
            System.gc();
        }
    }, "test-collection-watcher");

    /** A host registry that keeps whatever a plugin hands it: a leak. */
    static final class Keeper implements Consumer<Object> {
        final List<Object> kept = new CopyOnWriteArrayList<>();

        @Override
        public void accept(Object o) {
            kept.add(o);
        }
    }

    @BeforeAll
    static void buildPlugins() throws IOException {
        clean = PluginLoaderTest.compileJar(shared, "clean", "clean.CleanDriver", """
                package clean;
                import dev.unloadguard.device.Device;
                import dev.unloadguard.driver.*;
                public final class CleanDriver implements Driver {
                    private Device card;
                    public String id() { return "clean"; }
                    public void init(DriverContext ctx) { card = ctx.createDevice("card0"); }
                    public void exit() { card.release(); card = null; }
                }
                """);
        pinning = PluginLoaderTest.compileJar(shared, "pinning", "pinning.PinningDriver", """
                package pinning;
                import dev.unloadguard.driver.*;
                import java.util.function.Consumer;
                public final class PinningDriver implements Driver {
                    public String id() { return "pinning"; }
                    @SuppressWarnings("unchecked")
                    public void init(DriverContext ctx) { ctx.service(Consumer.class).ifPresent(c -> c.accept(this)); }
                    public void exit() { }
                }
                """);
    }

    @BeforeEach
    void needsNoAgent() {
        assumeFalse(ReleaseGuard.agentActive(), "this JVM runs with the agent: the integration tests cover it");
    }

    private PluginLoader.Builder builder() {
        return PluginLoader.builder().copyDirectory(dir.resolve("copies")).allowUnguardedUnload(true).collectionWatcher(watcher);
    }

    @Test
    void unloadReturnsUnloadedAndTheCheckEndsCollectedLaterWithStateMxBeanAndFuture() throws Exception {
        PluginLoader loader = builder().collectionTimeout(Duration.ofSeconds(30)).build();
        Plugin p = loader.load(clean);
        var check = p.collectionCheck();
        assertFalse(check.isDone(), "no check before the unload");
        UnloadReport closed = loader.unload(p, Duration.ofSeconds(10));
        assertEquals(PluginState.UNLOADED, closed.outcome(), closed::toString);
        assertEquals(1, closed.devicesCreated(), "the report is complete but for the outcome");

        UnloadReport done = check.get(60, TimeUnit.SECONDS);
        assertEquals(PluginState.COLLECTED, done.outcome(), done::toString);
        assertTrue(done.gcNudges() <= 1, done::toString);
        assertEquals(PluginState.COLLECTED, p.state());
        assertEquals(done, p.unloadReport().orElseThrow());
        assertEquals(done, p.awaitCollectionCheck(), "the check already ended: its report at once");
        Object state = ManagementFactory.getPlatformMBeanServer().getAttribute(loader.mbeanName("clean"), "State");
        assertEquals("COLLECTED", state);
        String report = (String) ManagementFactory.getPlatformMBeanServer().getAttribute(loader.mbeanName("clean"), "LastUnloadReport");
        assertTrue(report.contains("outcome: COLLECTED"), report);
        loader.close();
    }

    @Test
    void nothingPinsAnUnloadedPluginWhileItsCheckIsPending() throws Exception {
        nudgeCollects = false; // only this test's own GCs can collect it
        PluginLoader loader = builder().collectionTimeout(Duration.ofSeconds(600)).build();
        Plugin p = loader.load(clean);
        WeakReference<ClassLoader> cl = new WeakReference<>(p.classLoader());
        loader.unload(p, Duration.ofSeconds(10));
        assertEquals(PluginState.UNLOADED, p.state());
        Thread t = watcher.thread();
        assertNotNull(t, "the check is pending on the watcher thread");
        assertTrue(t.isDaemon());
        await("the pending check (watch, watcher thread, handle, loader) does not keep the class loader reachable")
                .atMost(Duration.ofSeconds(30)).until(() -> {
                    System.gc();
                    return cl.refersTo(null);
                });
        UnloadReport done = p.collectionCheck().get(60, TimeUnit.SECONDS);
        assertEquals(PluginState.COLLECTED, done.outcome(), "the watcher saw the collection it did not cause");
        await("the idle watcher thread ends").atMost(Duration.ofSeconds(10)).until(() -> watcher.thread() == null && !t.isAlive());
        loader.close();
    }

    @Test
    void oneNudgeForManyPendingUnloadsAndAPinnedPluginLeaksAtTheDeadlineWithSuspects() throws Exception {
        Keeper keeper = new Keeper();
        PluginLoader loader = builder().collectionTimeout(Duration.ofSeconds(8)).service(Consumer.class, keeper).build();
        Plugin pinned = loader.load(pinning);
        assertEquals(PluginState.UNLOADED, loader.unload(pinned, Duration.ofSeconds(10)).outcome());
        List<Plugin> cleanOnes = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            Plugin p = loader.load(clean);
            cleanOnes.add(p);
            assertEquals(PluginState.UNLOADED, loader.unload(p, Duration.ofSeconds(10)).outcome());
        }
        UnloadReport leaked = pinned.collectionCheck().get(60, TimeUnit.SECONDS);
        assertEquals(PluginState.LEAKED, leaked.outcome(), leaked::toString);
        assertEquals(PluginState.LEAKED, pinned.state());
        assertEquals(1, leaked.gcNudges(), leaked::toString);
        assertTrue(leaked.leakSuspects().stream().anyMatch(s -> s.contains("host service java.util.function.Consumer")
                && s.contains("pinning.PinningDriver")), leaked::toString);
        for (Plugin p : cleanOnes) {
            assertEquals(PluginState.COLLECTED, p.collectionCheck().get(60, TimeUnit.SECONDS).outcome(), p::toString);
        }
        assertEquals(1, nudges.get(), "nine unloads pending together, one System.gc()");
        PluginLoadException e = assertThrows(PluginLoadException.class, () -> loader.load(pinning),
                "a generation that leaked asynchronously still blocks the next load of its id");
        assertTrue(e.getMessage().contains("LEAKED"), e::getMessage);
        keeper.kept.clear();
        loader.close();
    }

    @Test
    void awaitCollectionGivesTheOutcomeInTheReportWithoutTheWatcher() throws Exception {
        PluginLoader loader = builder().awaitCollection(true).build();
        Plugin p = loader.load(clean);
        UnloadReport report = loader.unload(p, Duration.ofSeconds(10));
        assertEquals(PluginState.COLLECTED, report.outcome(), report::toString);
        assertEquals(PluginState.COLLECTED, p.state());
        assertEquals(report, p.collectionCheck().getNow(null), "the future is done when unload returns");
        assertEquals(0, watcher.pending());
        assertEquals(0, nudges.get(), "the synchronous check nudges on the caller's thread, not the watcher's");
        loader.close();
    }

    @Test
    void awaitCollectionCheckEndsAPendingCheckNowAndTheWatcherDoesNotEndItAgain() throws Exception {
        nudgeCollects = false;
        PluginLoader loader = builder().collectionTimeout(Duration.ofSeconds(600)).build();
        Plugin p = loader.load(clean);
        IllegalStateException notYet = assertThrows(IllegalStateException.class, p::awaitCollectionCheck);
        assertTrue(notYet.getMessage().contains("unload it first"), notYet::getMessage);
        loader.unload(p, Duration.ofSeconds(10));
        assertEquals(1, watcher.pending());
        UnloadReport report = p.awaitCollectionCheck();
        assertEquals(PluginState.COLLECTED, report.outcome(), report::toString);
        assertTrue(report.gcNudges() >= 1, "the synchronous check nudged: " + report);
        assertEquals(0, watcher.pending(), "the watch was cancelled");
        assertEquals(report, p.collectionCheck().get(10, TimeUnit.SECONDS));
        assertEquals(0, nudges.get());
        loader.close();
    }
}
