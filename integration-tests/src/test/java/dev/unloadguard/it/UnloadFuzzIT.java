package dev.unloadguard.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.epoch.ReleaseGuard;
import dev.unloadguard.it.fuzz.FuzzBus;
import dev.unloadguard.it.fuzz.FuzzPlugins;
import dev.unloadguard.it.fuzz.Session;
import dev.unloadguard.loader.PluginLoader;
import dev.unloadguard.testkit.UnloadFuzzer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.opentest4j.AssertionFailedError;

/**
 * The test kit's unload-point fuzzing ({@link UnloadFuzzer}) through the real agent and loader,
 * against the storage plugin of {@link FuzzPlugins}: the scenario opens a session, writes to it
 * and commits it, three crossings into the plugin. The well-behaved plugin passes an unload at
 * every crossing and random runs; the buggy one leaks only when the unload starts at the
 * {@code write} crossing, and the fuzzer must find exactly that crossing, in an exact run and in
 * a random run whose seed plans it there, and say so.
 */
class UnloadFuzzIT {

    /** A seed whose random run unloads at crossing 2 of 3, the crossing thread awaiting GOING (as its message says). */
    private static final long SEED_AT_WRITE = 0xd1ceL;

    private final FuzzBus bus = new FuzzBus();
    private PluginLoader loader;

    @BeforeEach
    void loader() {
        assertTrue(ReleaseGuard.agentActive(), "the ITs run with the built agent jar");
        loader = PluginLoader.builder().service(FuzzBus.class, bus).collectionTimeout(Duration.ofSeconds(2)).build();
    }

    @AfterEach
    void close() throws Exception {
        bus.forget();
        loader.close();
    }

    private UnloadFuzzer.Builder fuzz(Path jar) {
        return UnloadFuzzer.builder()
                .loader(loader)
                .jar(jar)
                .timeout(Duration.ofSeconds(20))
                .scenario(plugin -> {
                    Session s = bus.storage().open("a");   // crossing 1
                    s.write("data");                        // crossing 2
                    s.commit();                             // crossing 3
                });
    }

    @Test
    void aWellBehavedPluginPassesAnUnloadAtEveryCrossingAndRandomRuns() throws Exception {
        UnloadFuzzer.Result r = fuzz(FuzzPlugins.wellBehaved()).randomRuns(6).seeds(SEED_AT_WRITE).run();
        assertEquals(List.of("it.fuzz.storage.PluginStorage.open(java.lang.String)", FuzzPlugins.WRITE,
                "it.fuzz.storage.PluginSession.commit()"), r.crossedMethods(), r.toString());
        assertEquals(3, r.crossings(), r.toString());
        assertEquals(1 + 3 + 7, r.runs(), "the counting run, one per crossing, the random runs");
        assertEquals(7, r.seeds().size());
        assertEquals(SEED_AT_WRITE, r.seeds().get(0));
        assertEquals(0, bus.flushers(), "no generation left a flush callback with the host");
        assertTrue(loader.plugins().isEmpty(), "every run unloaded its generation");
        assertEquals(0, loader.classLoadersNotCollected(), "every generation was collected");
    }

    @Test
    void theFuzzerFindsTheOneCrossingWhereABuggyPluginLeaksAndNamesItAndTheSeed() throws Exception {
        AssertionFailedError e = assertThrows(AssertionFailedError.class,
                () -> fuzz(FuzzPlugins.buggy()).randomRuns(0).seeds(SEED_AT_WRITE).run());
        String m = e.getMessage();
        System.out.println(m);                              // the message docs/testkit.md shows
        assertTrue(m.contains("(3 crossing(s)): 2 of 5 run(s) failed"), m);
        assertTrue(m.contains("exact run at crossing 2 of 3 (entering " + FuzzPlugins.WRITE + ")"), m);
        assertTrue(m.contains("replay: .crossings(2)"), m);
        assertTrue(m.contains("random run, seed 0xd1ce: unload at crossing 2 of 3 (entering " + FuzzPlugins.WRITE + ")"), m);
        assertTrue(m.contains("replay: .seeds(0xd1ceL)"), m);
        assertFalse(m.contains("exact run at crossing 1 of 3"), "an unload at open is clean: " + m);
        assertFalse(m.contains("exact run at crossing 3 of 3"), "an unload at commit is clean: " + m);
        assertFalse(m.contains("counting run"), "the plain run is clean: " + m);
        // built on UnloadAssertions: the whole unload report, its outcome and leak suspects
        assertTrue(m.contains("did not unload cleanly: its class loader was not collected (LEAKED)"), m);
        assertTrue(m.contains("unload of plugin " + FuzzPlugins.ID + " generation "), m);
        assertTrue(m.contains("entries refused while GOING: 1"), "the commit after the write was refused: " + m);
        assertFalse(m.contains("late access"), m);
        assertEquals(2, bus.flushers(), "each failing run left the callback the test says it did");
        assertEquals(2, loader.classLoadersNotCollected());
    }

    @Test
    void aRunThatNeverCrossesIntoThePluginIsReportedAsSuch() throws Exception {
        AssertionFailedError e = assertThrows(AssertionFailedError.class, () -> UnloadFuzzer.builder().loader(loader)
                .jar(FuzzPlugins.wellBehaved()).scenario(plugin -> bus.flushers()).run());
        assertTrue(e.getMessage().contains("never called into the plugin from outside (0 crossings)"), e.getMessage());
        assertTrue(loader.plugins().isEmpty(), "the counting run's generation was unloaded");
    }

    @Test
    void aScenarioThatFailsWithoutAnyUnloadIsReportedBeforeFuzzing() throws Exception {
        AssertionFailedError e = assertThrows(AssertionFailedError.class, () -> fuzz(FuzzPlugins.wellBehaved())
                .scenario(plugin -> {
                    bus.storage().open("a");
                    throw new IllegalArgumentException("scenario bug");
                }).run());
        String m = e.getMessage();
        assertTrue(m.contains("the scenario does not pass even without an unload during it"), m);
        assertTrue(m.contains("IllegalArgumentException: scenario bug"), m);
        assertEquals(List.of(), loader.plugins());
    }
}
