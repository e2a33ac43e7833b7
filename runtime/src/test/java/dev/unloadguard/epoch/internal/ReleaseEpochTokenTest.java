package dev.unloadguard.epoch.internal;

import static dev.unloadguard.epoch.internal.ReleaseEpochTestSupport.BOUND;
import static dev.unloadguard.epoch.internal.ReleaseEpochTestSupport.assertStillWaiting;
import static dev.unloadguard.epoch.internal.ReleaseEpochTestSupport.awaitDone;
import static dev.unloadguard.epoch.internal.ReleaseEpochTestSupport.barrierAsync;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.epoch.BarrierOutcome;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

/**
 * The token rules: {@code exit(token)} closes only the calling thread's innermost open section in
 * this epoch; any other token throws {@link IllegalStateException} and changes no counter, so a
 * mistake can never end a section that is still running (its own or another thread's) and let a
 * barrier return early. "Changes nothing" is shown two ways: the drain check of each index still
 * gives the same answer, and a barrier still waits.
 */
class ReleaseEpochTokenTest extends TwoReaders {

    /**
     * The scenario: a thread inside section X (depth 1) runs {@code t = enter(); exit(t);
     * exit(t)}. Before tokens named sections, the second exit counted one more unlock on X's index
     * and cancelled X: a barrier returned while X still ran.
     */
    @Test
    void exitingANestedSectionTwiceThrowsAndTheBarrierStillWaitsForTheEnclosingSection() {
        int x = a.enter();
        assertEquals(1, x >>> 1);
        int t = a.enter();
        a.exit(t);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> a.exit(t));
        assertTrue(e.getMessage().contains("is not the innermost open section") && e.getMessage().contains("reader-a"),
                e.getMessage());
        assertEquals(1, a.depth(), "the refused exit changed nothing");
        assertFalse(epoch.drained(x & 1, null), "X is still counted");

        CompletableFuture<BarrierOutcome> barrier = barrierAsync(epoch, BOUND.multipliedBy(2));
        assertStillWaiting(barrier);
        a.exit(x);
        assertEquals(BarrierOutcome.WAITED, awaitDone(barrier));
        assertEquals(0, a.depth());
    }

    /** A double exit at depth 0 must not cancel another thread's section on the same index. */
    @Test
    void exitingTheOutermostSectionTwiceThrowsAndCannotCancelAnotherThreadsSection() {
        int tb = b.enter();
        int t = a.enter();
        assertEquals(tb & 1, t & 1, "both on the same index");
        a.exit(t);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> a.exit(t));
        assertTrue(e.getMessage().contains("without an open section"), e.getMessage());
        assertEquals(0, a.depth());
        assertFalse(epoch.drained(t & 1, null), "b's section is not cancelled by a's extra exit");
        assertTrue(epoch.drained((t & 1) ^ 1, null));

        CompletableFuture<BarrierOutcome> barrier = barrierAsync(epoch, BOUND.multipliedBy(2));
        assertStillWaiting(barrier);
        b.exit(tb);
        assertEquals(BarrierOutcome.WAITED, awaitDone(barrier));
    }

    @Test
    void exitingTheOuterSectionWhileTheInnerIsOpenThrowsAndChangesNothing() {
        int outer = a.enter();
        CompletableFuture<BarrierOutcome> first = barrierAsync(epoch, BOUND.multipliedBy(2));
        await().atMost(BOUND).until(() -> epoch.readIndex() != (outer & 1)); // flipped: waits for `outer`
        int inner = a.enter();
        assertEquals(outer & 1, inner & 1, "nested sections keep the outermost section's index");
        assertThrows(IllegalStateException.class, () -> a.exit(outer));
        // A made-up token with the inner section's depth and the other index.
        assertThrows(IllegalStateException.class, () -> a.exit(inner ^ 1));
        assertEquals(2, a.depth());
        assertFalse(epoch.drained(outer & 1, null));
        assertStillWaiting(first);

        a.exit(inner);
        assertStillWaiting(first);
        a.exit(outer);
        assertEquals(BarrierOutcome.WAITED, awaitDone(first));
        assertEquals(0, a.depth());
        assertTrue(epoch.drained(0, null) && epoch.drained(1, null));
    }

    @Test
    void aTokenFromAnotherThreadThrows() {
        int ta = a.enter();
        IllegalStateException outside = assertThrows(IllegalStateException.class, () -> b.exit(ta));
        assertTrue(outside.getMessage().contains("reader-b") && outside.getMessage().contains("without an open section"),
                outside.getMessage());
        int b1 = b.enter();
        int b2 = b.enter();
        assertThrows(IllegalStateException.class, () -> b.exit(ta), "b is at depth 2, a's token names depth 1");
        assertEquals(2, b.depth());
        assertEquals(1, a.depth());

        CompletableFuture<BarrierOutcome> barrier = barrierAsync(epoch, BOUND.multipliedBy(2));
        b.exit(b2);
        b.exit(b1);
        assertStillWaiting(barrier);                    // a is still inside: b's attempts cancelled nothing
        a.exit(ta);
        assertEquals(BarrierOutcome.WAITED, awaitDone(barrier));
    }

    @Test
    void aTokenFromAnotherEpochThrows() {
        ReleaseEpoch other = new ReleaseEpoch("other plugin");
        int t = epoch.enter();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> other.exit(t));
        assertTrue(e.getMessage().contains("other plugin") && e.getMessage().contains("without an open section"),
                e.getMessage());
        int o1 = other.enter();
        int o2 = other.enter();
        assertThrows(IllegalStateException.class, () -> other.exit(t), "other is at depth 2, the token names depth 1");
        assertEquals(2, other.depth());
        assertEquals(1, epoch.depth());
        assertFalse(other.drained(o2 & 1, null));
        other.exit(o2);
        other.exit(o1);
        assertTrue(other.drained(0, null) && other.drained(1, null));
        assertFalse(epoch.drained(t & 1, null));
        epoch.exit(t);
        assertTrue(epoch.drained(t & 1, null));
    }

    /**
     * 140 nested sections, with a barrier that times out after flipping at depth 70: every
     * section keeps the outermost section's index (only the outermost counts), wrong tokens throw
     * at every depth, the barrier waits at every depth, and exits run innermost first with the
     * returned tokens.
     */
    @Test
    void deepNestingWorksAndExitsInnermostFirst() {
        int depth = 140;
        int flipAt = 70;
        int[] tokens = new int[depth + 1];
        for (int d = 1; d <= flipAt; d++) {
            tokens[d] = epoch.enter();
        }
        int first = tokens[1] & 1;
        // Step 1 finds the inactive index empty and flips; step 3 times out waiting for us.
        assertEquals(BarrierOutcome.TIMED_OUT, awaitDone(barrierAsync(epoch, Duration.ofMillis(20))));
        assertNotEquals(first, epoch.readIndex(), "the timed-out barrier flipped");
        for (int d = flipAt + 1; d <= depth; d++) {
            tokens[d] = epoch.enter();
        }
        for (int d = 1; d <= depth; d++) {
            assertEquals(d << 1 | first, tokens[d], "token at depth " + d);
        }
        assertEquals(depth, epoch.depth());

        CompletableFuture<BarrierOutcome> barrier = barrierAsync(epoch, BOUND.multipliedBy(4));
        for (int d = depth; d >= 1; d--) {
            int token = tokens[d];
            if (d > 1) {
                int outer = tokens[d - 1];
                assertThrows(IllegalStateException.class, () -> epoch.exit(outer), "outer token at depth " + d);
            }
            assertThrows(IllegalStateException.class, () -> epoch.exit(token ^ 1), "wrong index at depth " + d);
            assertThrows(IllegalStateException.class, () -> epoch.exit(token + 2), "too deep at depth " + d);
            assertEquals(d, epoch.depth());
            if (d == depth || d == 71 || d == 70 || d == 2 || d == 1) {
                assertStillWaiting(barrier);
            }
            epoch.exit(token);
            assertEquals(d - 1, epoch.depth());
        }
        assertEquals(BarrierOutcome.WAITED, awaitDone(barrier));
        assertTrue(epoch.drained(0, null) && epoch.drained(1, null));
        assertEquals(BarrierOutcome.IMMEDIATE, epoch.barrier(BOUND));
    }

    /** Runaway nesting stops at {@link ReleaseEpoch#MAX_DEPTH}, and the refused enter counts nothing. */
    @Test
    void nestingBeyondTheMaximumThrowsAndLeavesTheCountersBalanced() {
        int max = ReleaseEpoch.MAX_DEPTH;
        int[] tokens = new int[max + 1];
        for (int d = 1; d <= max; d++) {
            tokens[d] = epoch.enter();
        }
        IllegalStateException e = assertThrows(IllegalStateException.class, epoch::enter);
        assertTrue(e.getMessage().contains("nested " + max + " deep"), e.getMessage());
        assertEquals(max, epoch.depth());
        for (int d = max; d >= 1; d--) {
            epoch.exit(tokens[d]);
        }
        assertEquals(0, epoch.depth());
        assertTrue(epoch.drained(0, null) && epoch.drained(1, null), "the refused enter was balanced");
        assertEquals(BarrierOutcome.IMMEDIATE, epoch.barrier(BOUND));
    }
}
