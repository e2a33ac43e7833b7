package dev.unloadguard.it;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.unloadguard.driver.ReleaseCallback;
import dev.unloadguard.it.support.HostProbe;
import dev.unloadguard.it.support.Leftovers;
import dev.unloadguard.it.support.TestPlugins;
import dev.unloadguard.loader.GuardScope;
import dev.unloadguard.loader.LoadOption;
import dev.unloadguard.loader.Plugin;
import dev.unloadguard.loader.PluginLoader;
import dev.unloadguard.loader.PluginState;
import dev.unloadguard.driver.PluginUnloadedError;
import dev.unloadguard.loader.UnloadReport;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Loud late access, in this JVM started by Failsafe with {@code -javaagent}: plugin code that
 * runs after its plugin was unloaded, on a path the release barrier does not cover (a plain
 * {@code Runnable} the plugin handed the host, a callback entered after the unload, the plugin's
 * own thread), and loads a class first used there gets a {@link PluginUnloadedError} naming the
 * plugin, its generation and the unload time, and the host counts it.
 */
class LateAccessIT {

    private static final Duration LONG = Duration.ofSeconds(30);

    private static Path late;

    private HostProbe probe;
    private PluginLoader loader;

    @BeforeAll
    static void buildPlugin() throws Exception {
        late = TestPlugins.plugin().driver("it.late.LateDriver")
                .source("it.late.LateDriver", """
                        package it.late;
                        import dev.unloadguard.device.Device;
                        import dev.unloadguard.driver.*;
                        import dev.unloadguard.it.support.HostProbe;
                        public final class LateDriver implements Driver {
                            private Device card;
                            public String id() { return "late"; }
                            public void init(DriverContext ctx) {
                                HostProbe probe = ctx.service(HostProbe.class).orElseThrow();
                                card = ctx.createDevice("card0");
                                // an unguarded path: a plain Runnable the host runs whenever it likes
                                probe.keep((Runnable) () -> probe.record(new LateWork().describe()));
                                // a guarded callback, but entered after the unload: the barrier cannot wait for it
                                probe.keep((ReleaseCallback) () -> probe.record(new LateCallbackWork().describe()));
                                // the plugin's own thread, waiting for the host in host code (no plugin frame while it
                                // waits, so the close audit lets the unload close), then running plugin code
                                Thread t = new Thread(probe.afterGate("late-thread", () -> {
                                    try {
                                        probe.record(new LateThreadWork().describe());
                                    } catch (NoClassDefFoundError e) {
                                        probe.record(e.toString());
                                    }
                                }), "late-plugin-thread");
                                t.setDaemon(true);
                                t.start();
                            }
                            public void exit() { card.release(); card = null; }
                        }
                        """)
                .source("it.late.LateWork", "package it.late; final class LateWork { String describe() { return \"runnable ran\"; } }")
                .source("it.late.LateCallbackWork",
                        "package it.late; final class LateCallbackWork { String describe() { return \"callback ran\"; } }")
                .source("it.late.LateThreadWork",
                        "package it.late; final class LateThreadWork { String describe() { return \"thread ran\"; } }")
                .build("late");
    }

    @BeforeEach
    void newLoader() {
        probe = new HostProbe().closeGate("late-thread"); // the plugin's thread waits until the test opens it
        // the host keeps plugin objects on purpose: skip the collection check (outcome UNLOADED). Release paths
        // only: with every entry guarded (the default) a late call into the plugin is refused at its entry
        // before it can ask for a class (the last test here; EntryGuardIT)
        loader = PluginLoader.builder().service(HostProbe.class, probe).guardScope(GuardScope.RELEASE_PATHS)
                .collectionTimeout(Duration.ZERO).build();
    }

    @AfterEach
    void cleanUp() throws InterruptedException {
        probe.openAllGates();
        Leftovers.stopThreads("late-plugin-thread");
        probe.forget();
        Leftovers.awaitLoadersCollected(loader); // nothing of the late accesses pins the plugin
    }

    /** What a late access threw, without keeping the error (its backtrace pins plugin classes). */
    private record Late(String type, boolean noClassDefFound, String pluginId, int generation, Instant unloadedAt, String message) {
    }

    private static Late lateAccess(Runnable plugInCode) {
        try {
            plugInCode.run();
        } catch (PluginUnloadedError e) {
            return new Late(e.getClass().getName(), e instanceof NoClassDefFoundError, e.pluginId(), e.generation(), e.unloadedAt(),
                    e.getMessage());
        } catch (Throwable t) {
            fail("expected a PluginUnloadedError, got " + t, t);
        }
        return fail("the plugin code ran after its loader was closed, without a PluginUnloadedError");
    }

    private Plugin loadAndUnload() throws Exception {
        // unmanaged: managed registrations would interrupt and join the late thread at unload (ManagedRegistrationsIT)
        Plugin plugin = loader.load(late, LoadOption.UNMANAGED_REGISTRATIONS);
        await().atMost(Duration.ofSeconds(10)).until(() -> probe.saw("reached late-thread"));
        UnloadReport report = loader.unload(plugin, LONG);
        assertEquals(PluginState.UNLOADED, report.outcome(), report::toString);
        assertTrue(plugin.unloadedAt().isPresent());
        return plugin;
    }

    private static void assertNames(Late late, Plugin plugin, String className) {
        Instant at = plugin.unloadedAt().orElseThrow();
        assertEquals(PluginUnloadedError.class.getName(), late.type());
        assertTrue(late.noClassDefFound(), "a NoClassDefFoundError, so code handling those keeps working");
        assertEquals("late", late.pluginId());
        assertEquals(1, late.generation());
        assertEquals(at, late.unloadedAt());
        assertTrue(late.message().contains(className) && late.message().contains("plugin late generation 1")
                && late.message().contains("was unloaded at " + at), late.message());
    }

    @Test
    void aRunnableTheHostRunsAfterUnloadFailsLoudlyAndIsCounted() throws Exception {
        Plugin plugin = loadAndUnload();
        assertEquals(0, plugin.lateAccesses());

        Late late = lateAccess(() -> probe.kept(Runnable.class).run());
        assertNames(late, plugin, "it.late.LateWork");
        assertFalse(probe.saw("runnable ran"));
        assertEquals(1, plugin.lateAccesses());
        assertEquals(1, loader.lateAccesses());
    }

    @Test
    void aCallbackEnteredAfterUnloadFailsLoudlyAndIsCounted() throws Exception {
        Plugin plugin = loadAndUnload();

        Late late = lateAccess(() -> probe.kept(ReleaseCallback.class).release());
        assertNames(late, plugin, "it.late.LateCallbackWork");
        assertFalse(probe.saw("callback ran"));
        assertEquals(1, plugin.lateAccesses());
        assertEquals(1, loader.lateAccesses());
    }

    @Test
    void aPluginThreadStillRunningAfterUnloadFailsLoudlyAndIsCounted() throws Exception {
        Plugin plugin = loadAndUnload();
        Instant at = plugin.unloadedAt().orElseThrow();

        probe.openGate("late-thread");
        String prefix = PluginUnloadedError.class.getName() + ": it.late.LateThreadWork cannot be loaded: plugin late generation 1"
                + " was unloaded at " + at;
        await("the plugin thread's late access; events: " + probe.events()).atMost(Duration.ofSeconds(10))
                .until(() -> probe.events().stream().anyMatch(e -> e.startsWith(prefix)));
        assertFalse(probe.saw("thread ran"), probe.events()::toString);
        assertEquals(1, plugin.lateAccesses());
        assertEquals(1, loader.lateAccesses());
    }

    /**
     * The same Runnable with every entry guarded (the default scope): the late call is refused at
     * its entry, before any plugin code runs, so no class is asked of the closed loader: a refused
     * entry, not a late access. The release callback is a release path (never refused), so it is
     * still a late access there.
     */
    @Test
    void withEveryEntryGuardedTheLateRunnableIsRefusedAtTheCallButALateCallbackIsStillALateAccess() throws Exception {
        PluginLoader entries = PluginLoader.builder().service(HostProbe.class, probe).collectionTimeout(Duration.ZERO).build();
        try {
            Plugin plugin = entries.load(late, LoadOption.UNMANAGED_REGISTRATIONS); // the late thread must outlive the unload
            assertEquals(GuardScope.ENTRIES, plugin.guardScope());
            await().atMost(Duration.ofSeconds(10)).until(() -> probe.saw("reached late-thread"));
            UnloadReport report = entries.unload(plugin, LONG);
            assertEquals(PluginState.UNLOADED, report.outcome(), report::toString);

            Late refused = lateAccess(() -> probe.kept(Runnable.class).run());
            assertTrue(refused.message().contains(" refused: plugin late generation 1 was unloaded at "), refused.message());
            assertFalse(probe.saw("runnable ran"));
            assertEquals(1, plugin.refusedEntries());
            assertEquals(0, plugin.lateAccesses(), "refused at the entry: no class was asked of the closed loader");

            Late callback = lateAccess(() -> probe.kept(ReleaseCallback.class).release());
            assertNames(callback, plugin, "it.late.LateCallbackWork");
            assertEquals(1, plugin.lateAccesses());

            probe.openGate("late-thread");                    // the plugin's thread enters its lambda: refused too
            await("the plugin thread's refused entry; events: " + probe.events()).atMost(Duration.ofSeconds(10))
                    .until(() -> probe.events().stream().anyMatch(e -> e.startsWith("threw " + PluginUnloadedError.class.getName())
                            && e.contains(" refused: plugin late generation 1")));
            assertFalse(probe.saw("thread ran"), probe.events()::toString);
            assertEquals(2, plugin.refusedEntries());
        } finally {
            probe.openAllGates();
            Leftovers.stopThreads("late-plugin-thread");
            probe.forget();
            Leftovers.awaitLoadersCollected(entries);
        }
    }
}
