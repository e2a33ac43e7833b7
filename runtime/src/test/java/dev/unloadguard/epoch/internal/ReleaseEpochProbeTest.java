package dev.unloadguard.epoch.internal;

import static dev.unloadguard.epoch.internal.ReleaseEpochTestSupport.BOUND;
import static dev.unloadguard.epoch.internal.ReleaseEpochTestSupport.assertStillWaiting;
import static dev.unloadguard.epoch.internal.ReleaseEpochTestSupport.awaitDone;
import static dev.unloadguard.epoch.internal.ReleaseEpochTestSupport.barrierAsync;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.epoch.BarrierOutcome;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The crossing probe: while installed it counts every outermost gated entry (a crossing from
 * outside into the plugin) and tells its listener the ordinal, inside the counted section; nested
 * entries and ungated sections are not crossings; without a probe (never installed, stopped, or
 * replaced by a closing gate) nothing is counted and the gate behaves as before; probes never
 * replace a closed gate; concurrent crossings get distinct, gapless ordinals.
 */
class ReleaseEpochProbeTest {

    private static final String METHOD = "com.acme.Service.handle(java.lang.String)";

    private final ReleaseEpoch epoch = new ReleaseEpoch("plugin acme generation 3", true);
    private final ReleaseEpochTestSupport.Reader host = new ReleaseEpochTestSupport.Reader(epoch, "host-thread");
    private final List<String> heard = new CopyOnWriteArrayList<>();

    @AfterEach
    void close() {
        host.close();
    }

    /** One gated entry and its exit on the host thread: the error it threw, or null. */
    private Throwable entryOnHost(String method) {
        return host.gatedEntry(method);
    }

    @Test
    void countsOutermostGatedEntriesOnlyAndTellsTheListenerEachOrdinalAndMethod() {
        epoch.probeCrossings((ordinal, method) -> heard.add(ordinal + " " + method + " depth " + epoch.depth()));
        assertFalse(epoch.gateClosed(), "a probing gate is open");
        assertNull(entryOnHost(METHOD));
        host.call(() -> {
            int outer = epoch.enterEntry("com.acme.Service.outer()");
            int nested = epoch.enterEntry("com.acme.Service.helper()");   // plugin -> plugin: not a crossing
            epoch.exit(nested);
            epoch.exit(outer);
            int release = epoch.enter();                                    // a release path: never gated
            int inRelease = epoch.enterEntry("com.acme.Service.fromRelease()"); // nested in it: not a crossing
            epoch.exit(inRelease);
            epoch.exit(release);
            return null;
        });
        assertNull(entryOnHost("com.acme.Service.last()"));
        assertEquals(List.of("1 " + METHOD + " depth 1", "2 com.acme.Service.outer() depth 1",
                "3 com.acme.Service.last() depth 1"), heard, "the listener runs inside the counted section");
        assertEquals(3, epoch.crossings());
        assertEquals(0, epoch.refusedEntries());
        assertEquals(3, epoch.stopProbing());
        assertEquals(-1, epoch.crossings());
        assertNull(entryOnHost(METHOD));
        assertEquals(3, heard.size(), "a stopped probe hears nothing");
        assertEquals(0, host.depth());
    }

    @Test
    void withoutAProbeNothingIsCountedAndTheGateIsUnchanged() {
        assertEquals(-1, epoch.crossings());
        assertEquals(-1, epoch.stopProbing(), "nothing to stop");
        assertNull(entryOnHost(METHOD));
        assertFalse(epoch.gateClosed());
        epoch.probeCrossings((ordinal, method) -> heard.add(method));
        epoch.stopProbing();
        int token = host.call(() -> epoch.enterEntry(METHOD));
        assertEquals(1 << 1 | (token & 1), token, "an outermost section's token, as without any probe");
        host.exit(token);
        assertTrue(heard.isEmpty());
        epoch.closeGate("acme", 3, null);
        assertNotNull(entryOnHost(METHOD), "refused as before");
        assertEquals(1, epoch.refusedEntries());
    }

    @Test
    void anUnloadStartedFromTheListenerWaitsForTheCrossingAndRefusesTheNextOne() {
        AtomicReference<CompletableFuture<BarrierOutcome>> unload = new AtomicReference<>();
        epoch.probeCrossings((ordinal, method) -> {
            if (ordinal == 2) {
                // the unloader's first steps, on another thread: close the gate, then the barrier
                unload.set(CompletableFuture.supplyAsync(() -> {
                    epoch.closeGate("acme", 3, Thread.currentThread());
                    return epoch.barrier(BOUND);
                }, ReleaseEpochTestSupport.NEW_THREAD));
                await().atMost(BOUND).until(epoch::gateClosed);
            }
        });
        assertNull(entryOnHost(METHOD));
        int second = host.call(() -> epoch.enterEntry(METHOD));     // crossing 2: the unload starts inside it
        assertTrue(epoch.gateClosed(), "closing the gate replaced the probe");
        assertEquals(-1, epoch.crossings());
        assertStillWaiting(unload.get());
        host.exit(second);
        assertEquals(BarrierOutcome.WAITED, awaitDone(unload.get()));
        assertNotNull(entryOnHost(METHOD), "the crossing after it is refused");
        assertEquals(1, epoch.refusedEntries());
        assertThrows(IllegalStateException.class, () -> epoch.probeCrossings((o, m) -> { }),
                "no probe on a closed gate");
        assertTrue(epoch.gateClosed());
    }

    @Test
    void aSecondProbeIsRefusedAndAThrowingListenerDoesNotStopTheEntry() {
        epoch.probeCrossings((ordinal, method) -> {
            throw new IllegalStateException("listener bug");
        });
        IllegalStateException twice = assertThrows(IllegalStateException.class, () -> epoch.probeCrossings((o, m) -> { }));
        assertTrue(twice.getMessage().contains("has a crossing probe already"), twice.getMessage());
        int token = host.call(() -> epoch.enterEntry(METHOD));
        assertEquals(1, host.depth(), "the entry went in");
        host.exit(token);
        assertEquals(1, epoch.crossings());
        assertEquals(BarrierOutcome.IMMEDIATE, epoch.barrier(BOUND));
    }

    @Test
    void concurrentCrossingsGetDistinctGaplessOrdinals() throws Exception {
        int threads = 4;
        int each = 5_000;
        Set<Long> ordinals = ConcurrentHashMap.newKeySet();
        epoch.probeCrossings((ordinal, method) -> ordinals.add(ordinal));
        CyclicBarrier start = new CyclicBarrier(threads);
        List<CompletableFuture<Void>> runs = new ArrayList<>();
        for (int i = 0; i < threads; i++) {
            runs.add(CompletableFuture.runAsync(() -> {
                try {
                    start.await();
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
                for (int j = 0; j < each; j++) {
                    int outer = epoch.enterEntry(METHOD);
                    epoch.exit(epoch.enterEntry("nested"));
                    epoch.exit(outer);
                }
            }, ReleaseEpochTestSupport.NEW_THREAD));
        }
        await().atMost(BOUND).until(() -> runs.stream().allMatch(CompletableFuture::isDone));
        runs.forEach(CompletableFuture::join);
        assertEquals(threads * each, ordinals.size(), "no ordinal twice");
        assertEquals(threads * (long) each, epoch.crossings());
        for (long k = 1; k <= threads * (long) each; k++) {
            assertTrue(ordinals.contains(k), "ordinal " + k + " missing");
        }
    }

    @Test
    void aProbeRacingTheClosingGateNeverReopensIt() throws Exception {
        for (int round = 0; round < 1_000; round++) {
            ReleaseEpoch e = new ReleaseEpoch("race " + round, true);
            CyclicBarrier start = new CyclicBarrier(2);
            CompletableFuture<Void> closer = CompletableFuture.runAsync(() -> {
                awaitQuietly(start);
                e.closeGate("acme", 3, null);
            }, ReleaseEpochTestSupport.NEW_THREAD);
            awaitQuietly(start);
            try {
                e.probeCrossings((o, m) -> { });
                e.stopProbing();
            } catch (IllegalStateException closedFirst) {
                // the gate closed before the probe: refused, as it must be
            }
            closer.get(BOUND.toMillis(), TimeUnit.MILLISECONDS);
            assertTrue(e.gateClosed(), "round " + round + ": a probe replaced the closed gate");
            assertThrows(NoClassDefFoundError.class, () -> e.enterEntry(METHOD), "round " + round);
        }
    }

    private static void awaitQuietly(CyclicBarrier b) {
        try {
            b.await();
        } catch (Exception ex) {
            throw new IllegalStateException(ex);
        }
    }
}
