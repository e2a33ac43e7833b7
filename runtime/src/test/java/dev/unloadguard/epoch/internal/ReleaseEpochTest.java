package dev.unloadguard.epoch.internal;

import dev.unloadguard.epoch.BarrierOutcome;
import static dev.unloadguard.epoch.internal.ReleaseEpochTestSupport.BOUND;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.time.temporal.ChronoUnit;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The release epoch's single-thread contract: nesting, tokens, misuse, and the barrier's own rules. */
class ReleaseEpochTest {

    private final ReleaseEpoch epoch = new ReleaseEpoch();

    @Test
    void nestingCountsTheDepthAndTokensNameDepthAndIndex() {
        assertEquals(0, epoch.depth());
        assertFalse(epoch.isInside());
        int outer = epoch.enter();
        int idx = outer & 1;
        assertEquals(1 << 1 | idx, outer, "token = depth << 1 | index");
        assertEquals(1, epoch.depth());
        int inner = epoch.enter();
        assertEquals(2 << 1 | idx, inner, "no barrier ran: same index, one deeper");
        assertEquals(2, epoch.depth());
        assertTrue(epoch.isInside());
        epoch.exit(inner);
        assertEquals(1, epoch.depth());
        epoch.exit(outer);
        assertEquals(0, epoch.depth());
        assertFalse(epoch.isInside());
        assertEquals(BarrierOutcome.IMMEDIATE, epoch.barrier(BOUND));
        int again = epoch.enter();
        assertEquals(1 << 1 | idx ^ 1, again, "depth 1 again, on the index the barrier flipped to");
        epoch.exit(again);
    }

    @Test
    void sectionsExitInnermostFirst() {
        int outer = epoch.enter();
        int inner = epoch.enter();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> epoch.exit(outer));
        assertTrue(e.getMessage().contains("is not the innermost open section")
                && e.getMessage().contains(describe(outer)) && e.getMessage().contains(describe(inner))
                && e.getMessage().contains("nothing was changed"), e.getMessage());
        assertEquals(2, epoch.depth(), "a refused exit changes nothing");
        assertFalse(epoch.drained(outer & 1, null), "both sections still counted");
        epoch.exit(inner);
        epoch.exit(outer);
        assertEquals(0, epoch.depth());
        assertTrue(epoch.drained(outer & 1, null));
        assertEquals(BarrierOutcome.IMMEDIATE, epoch.barrier(BOUND));
    }

    private static String describe(int token) {
        return "[depth " + (token >>> 1) + ", index " + (token & 1) + "]";
    }

    @Test
    void exitOnEveryPathOfTryFinallyLeavesTheEpoch() {
        AtomicInteger depthInside = new AtomicInteger();
        IllegalStateException thrown = assertThrows(IllegalStateException.class, () -> guarded(() -> guarded(() -> {
            depthInside.set(epoch.depth());
            throw new IllegalStateException("callback failed");
        })));
        assertEquals("callback failed", thrown.getMessage());
        assertEquals(2, depthInside.get());
        assertEquals(0, epoch.depth());
        assertEquals(BarrierOutcome.IMMEDIATE, epoch.barrier(BOUND));
        epoch.barrier();
    }

    private void guarded(Runnable body) {
        int token = epoch.enter();
        try {
            body.run();
        } finally {
            epoch.exit(token);
        }
    }

    @Test
    void exitWithoutEnterThrows() {
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> epoch.exit(1 << 1));
        assertTrue(e.getMessage().contains(Thread.currentThread().getName())
                && e.getMessage().contains("without an open section") && e.getMessage().contains(describe(1 << 1)),
                e.getMessage());
        int t = epoch.enter();
        epoch.exit(t);
        assertThrows(IllegalStateException.class, () -> epoch.exit(t), "one exit per enter");
        assertEquals(0, epoch.depth());
        assertTrue(epoch.drained(0, null) && epoch.drained(1, null), "the refused exit counted nothing");
        assertEquals(BarrierOutcome.IMMEDIATE, epoch.barrier(BOUND));
    }

    @Test
    void badTokenThrowsAndChangesNothing() {
        assertThrows(IllegalStateException.class, () -> epoch.exit(2));
        int t = epoch.enter();
        int idx = t & 1;
        int[] bad = {-1, 0, 1, t ^ 1, t + 2, t - 2, 2 << 1 | idx, Integer.MIN_VALUE, Integer.MAX_VALUE,
            Integer.MIN_VALUE | t};
        for (int b : bad) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> epoch.exit(b), "token " + b);
            assertTrue(e.getMessage().contains(describe(b)), e.getMessage());
            assertEquals(1, epoch.depth());
            assertFalse(epoch.drained(idx, null), "the open section is still counted after token " + b);
            assertTrue(epoch.drained(idx ^ 1, null), "nothing counted on the other index after token " + b);
        }
        epoch.exit(t);
        assertEquals(0, epoch.depth());
        assertTrue(epoch.drained(idx, null));
    }

    @Test
    void tokenOfAnIndexThisThreadHasNoSectionOnThrows() {
        int t = epoch.enter();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> epoch.exit(t ^ 1));
        assertTrue(e.getMessage().contains("is not the innermost open section"), e.getMessage());
        assertEquals(1, epoch.depth());
        assertFalse(epoch.drained(t & 1, null));
        assertTrue(epoch.drained((t & 1) ^ 1, null));
        epoch.exit(t);
        assertEquals(BarrierOutcome.IMMEDIATE, epoch.barrier(BOUND));
    }

    @Test
    void barrierInsideTheEpochOnTheSameThreadThrowsInsteadOfDeadlocking() {
        int outer = epoch.enter();
        int inner = epoch.enter();
        IllegalStateException untimed = assertThrows(IllegalStateException.class, epoch::barrier);
        assertTrue(untimed.getMessage().startsWith(
                "release barrier called inside the release epoch on the same thread: it would wait for itself"),
                untimed.getMessage());
        IllegalStateException timed = assertThrows(IllegalStateException.class, () -> epoch.barrier(Duration.ofSeconds(1)));
        assertTrue(timed.getMessage().contains("it would wait for itself"), timed.getMessage());
        assertThrows(IllegalStateException.class, () -> epoch.barrier(Duration.ZERO));
        assertEquals(2, epoch.depth(), "a refused barrier changes nothing");
        epoch.exit(inner);
        assertThrows(IllegalStateException.class, epoch::barrier);
        epoch.exit(outer);
        // Still usable, and nothing was left behind.
        epoch.barrier();
        assertEquals(BarrierOutcome.IMMEDIATE, epoch.barrier(BOUND));
        int again = epoch.enter();
        epoch.exit(again);
        assertEquals(BarrierOutcome.IMMEDIATE, epoch.barrier(BOUND));
    }

    @Test
    void nullTimeoutIsRejected() {
        NullPointerException e = assertThrows(NullPointerException.class, () -> epoch.barrier(null));
        assertTrue(e.getMessage().contains("timeout"), e.getMessage());
    }

    @Test
    void idleBarrierIsImmediateForAnyTimeout() {
        epoch.barrier();
        assertEquals(BarrierOutcome.IMMEDIATE, epoch.barrier(Duration.ZERO));
        assertEquals(BarrierOutcome.IMMEDIATE, epoch.barrier(Duration.ofNanos(-1)));
        assertEquals(BarrierOutcome.IMMEDIATE, epoch.barrier(ChronoUnit.FOREVER.getDuration()));
        assertEquals(BarrierOutcome.IMMEDIATE, epoch.barrier(ChronoUnit.FOREVER.getDuration().negated()));
        for (int i = 0; i < 1000; i++) {
            int t = epoch.enter();
            epoch.exit(t);
            assertEquals(BarrierOutcome.IMMEDIATE, epoch.barrier(BOUND));
        }
    }

    @Test
    void depthIsPerThreadAndPerEpoch() throws InterruptedException {
        ReleaseEpoch other = new ReleaseEpoch();
        int t = epoch.enter();
        assertEquals(0, other.depth());
        AtomicInteger seen = new AtomicInteger(-1);
        Thread th = new Thread(() -> seen.set(epoch.depth()));
        th.start();
        th.join();
        assertEquals(0, seen.get());
        // Inside one epoch, a barrier on another epoch is fine.
        assertEquals(BarrierOutcome.IMMEDIATE, other.barrier(BOUND));
        epoch.exit(t);
    }

    @Test
    void threadsInsideNamesAThreadThatIsInside() throws InterruptedException {
        CountDownLatch entered = new CountDownLatch(1);
        CountDownLatch leave = new CountDownLatch(1);
        Thread reader = new Thread(() -> {
            int t = epoch.enter();
            try {
                entered.countDown();
                leave.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                epoch.exit(t);
            }
        }, "epoch-reader-in-callback");
        reader.start();
        entered.await();
        assertTrue(epoch.threadsInside().contains(reader), () -> "threads inside: " + epoch.threadsInside());
        assertFalse(epoch.threadsInside().contains(Thread.currentThread()));
        assertTrue(epoch.threadsInside().stream().anyMatch(th -> th.getName().equals("epoch-reader-in-callback")));
        leave.countDown();
        await().atMost(BOUND).until(() -> !epoch.threadsInside().contains(reader));
        reader.join();
        assertTrue(epoch.threadsInside().isEmpty());
    }
}
