package dev.unloadguard.epoch.internal;

import static dev.unloadguard.epoch.internal.ReleaseEpochTestSupport.BOUND;
import static dev.unloadguard.epoch.internal.ReleaseEpochTestSupport.assertStillWaiting;
import static dev.unloadguard.epoch.internal.ReleaseEpochTestSupport.awaitDone;
import static dev.unloadguard.epoch.internal.ReleaseEpochTestSupport.barrierAsync;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.epoch.BarrierOutcome;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The gate: once closed, an outermost gated entry on any thread but the unloader is refused,
 * counted, reported to the listener, and leaves no section open; nested entries, ungated
 * sections and the unloader are never refused. (The api's {@code PluginUnloadedError} is not on
 * this module's class path, so the runtime's stand-in, a {@link NoClassDefFoundError} with the
 * same message, is what these tests see.)
 */
class ReleaseEpochGateTest {

    private static final String METHOD = "com.acme.Service.handle(java.lang.String)";

    private final ReleaseEpoch epoch = new ReleaseEpoch("plugin acme generation 3", true);
    private final ReleaseEpochTestSupport.Reader host = new ReleaseEpochTestSupport.Reader(epoch, "host-thread");
    private final List<String> heard = new CopyOnWriteArrayList<>();

    @AfterEach
    void close() {
        host.close();
    }

    /** Runs a gated entry on the host thread: the error it threw, or null (the section is then exited). */
    private Throwable entryOnHost(String method) {
        return host.gatedEntry(method);
    }

    @Test
    void anOpenGateLetsEveryEntryIn() {
        assertTrue(epoch.guardsEntries());
        assertFalse(epoch.gateClosed());
        assertNull(entryOnHost(METHOD));
        assertEquals(0, epoch.refusedEntries());
        assertFalse(new ReleaseEpoch("release paths only").guardsEntries());
    }

    @Test
    void aClosedGateRefusesANewEntryNamingPluginGenerationAndMethodAndLeavesNothingOpen() {
        epoch.onRefusedEntry(heard::add);
        epoch.closeGate("acme", 3, Thread.currentThread());
        Throwable refused = entryOnHost(METHOD);
        assertNotNull(refused, "the entry must be refused");
        String m = refused.getMessage();
        assertTrue(m.contains(METHOD) && m.contains("plugin acme generation 3") && m.contains("is unloading"), m);
        assertEquals(1, epoch.refusedEntries());
        assertEquals(List.of(METHOD), heard);
        assertEquals(0, host.depth(), "no section is left open");
        assertTrue(epoch.drained(0, null) && epoch.drained(1, null));
        assertEquals(BarrierOutcome.IMMEDIATE, epoch.barrier(BOUND));
    }

    @Test
    void callsAlreadyInsideRunOnAndNestedEntriesAreNotRefused() {
        int outer = host.call(() -> epoch.enterEntry(METHOD));
        epoch.closeGate("acme", 3, Thread.currentThread());
        int nested = host.call(() -> epoch.enterEntry("com.acme.Service.helper()"));
        assertEquals(2, nested >>> 1);
        assertEquals(0, epoch.refusedEntries());
        CompletableFuture<BarrierOutcome> barrier = barrierAsync(epoch, BOUND);
        assertStillWaiting(barrier);
        host.exit(nested);
        assertStillWaiting(barrier);
        host.exit(outer);
        assertEquals(BarrierOutcome.WAITED, awaitDone(barrier));
    }

    @Test
    void theUnloaderAndUngatedSectionsAreNeverRefused() {
        epoch.closeGate("acme", 3, host.thread);
        assertNull(entryOnHost(METHOD), "the unloading thread calls the driver's exit()");
        int t = epoch.enter();                             // a release path on this (not exempt) thread
        epoch.exit(t);
        assertThrows(NoClassDefFoundError.class, () -> epoch.enterEntry(METHOD), "this thread is not exempt");
        assertEquals(0, epoch.depth());
        epoch.closeGate("acme", 3, null);                  // the unload failed: the exemption ends
        assertNotNull(entryOnHost(METHOD));
        assertEquals(2, epoch.refusedEntries());
    }

    @Test
    void afterTheCloseRefusalsSayUnloadedAndNoThreadIsExempt() {
        epoch.closeGate("acme", 3, host.thread);
        Instant at = Instant.parse("2026-12-02T08:00:00Z");
        epoch.markUnloaded(at);
        Throwable refused = entryOnHost(METHOD);
        assertNotNull(refused);
        assertTrue(refused.getMessage().contains("was unloaded at " + at), refused.getMessage());
    }

    @Test
    void aListenerThatThrowsDoesNotChangeTheRefusal() {
        epoch.onRefusedEntry(m -> {
            throw new IllegalStateException("listener bug");
        });
        epoch.closeGate("acme", 3, null);
        Throwable refused = entryOnHost(METHOD);
        assertNotNull(refused);
        assertTrue(refused.getMessage().contains(METHOD));
        assertEquals(1, epoch.refusedEntries());
    }
}
