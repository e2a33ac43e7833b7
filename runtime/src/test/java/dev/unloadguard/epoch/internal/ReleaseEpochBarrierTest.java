package dev.unloadguard.epoch.internal;

import dev.unloadguard.epoch.BarrierOutcome;
import static dev.unloadguard.epoch.internal.ReleaseEpochTestSupport.BOUND;
import static dev.unloadguard.epoch.internal.ReleaseEpochTestSupport.assertStillWaiting;
import static dev.unloadguard.epoch.internal.ReleaseEpochTestSupport.awaitDone;
import static dev.unloadguard.epoch.internal.ReleaseEpochTestSupport.barrierAsync;
import static dev.unloadguard.epoch.internal.ReleaseEpochTestSupport.untimedBarrierAsync;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** What a barrier waits for, and what it does not wait for, with readers driven step by step. */
class ReleaseEpochBarrierTest extends TwoReaders {

    @Test
    void barrierWaitsForAReaderThatEnteredBeforeIt() {
        CountDownLatch release = new CountDownLatch(1);
        CountDownLatch entered = new CountDownLatch(1);
        CompletableFuture<Void> callback = CompletableFuture.runAsync(() -> {
            int t = epoch.enter();
            try {
                entered.countDown();
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                epoch.exit(t);
            }
        }, ReleaseEpochTestSupport.NEW_THREAD);
        await().atMost(BOUND).until(() -> entered.getCount() == 0);

        CompletableFuture<BarrierOutcome> barrier = barrierAsync(epoch, BOUND.multipliedBy(2));
        assertStillWaiting(barrier);
        release.countDown();
        assertEquals(BarrierOutcome.WAITED, awaitDone(barrier));
        awaitDone(callback);
    }

    @Test
    void untimedBarrierWaitsForAReaderThatEnteredBeforeIt() {
        int t = a.enter();
        CompletableFuture<Void> barrier = untimedBarrierAsync(epoch);
        assertStillWaiting(barrier);
        a.exit(t);
        awaitDone(barrier);
    }

    @Test
    void barrierWaitsUntilTheOutermostExit() {
        int outer = a.enter();
        int inner = a.enter();
        CompletableFuture<BarrierOutcome> barrier = barrierAsync(epoch, BOUND.multipliedBy(2));
        assertStillWaiting(barrier);
        a.exit(inner);
        assertEquals(1, a.depth());
        assertStillWaiting(barrier);
        a.exit(outer);
        assertEquals(BarrierOutcome.WAITED, awaitDone(barrier));
        assertEquals(0, a.depth());
    }

    /**
     * Only the outermost section counts: a section nested after the barrier flipped keeps the
     * outer section's index and adds nothing to any counter (the other index stays drained), and
     * the barrier waits for the outer one, which covers it.
     */
    @Test
    void nestedSectionEnteredAfterTheFlipCountsNothingAndTheBarrierWaitsForTheOuterOne() {
        int outer = a.enter();
        CompletableFuture<BarrierOutcome> barrier = barrierAsync(epoch, BOUND.multipliedBy(2));
        await().atMost(BOUND).until(() -> epoch.readIndex() != (outer & 1)); // the barrier flipped and now waits for `outer`
        int inner = a.enter();
        assertEquals(outer & 1, inner & 1, "a nested section keeps the outermost section's index");
        assertEquals(2, inner >>> 1);
        assertEquals(2, a.depth());
        assertTrue(epoch.drained((outer & 1) ^ 1, null), "the nested section counted nothing on the new index");
        assertStillWaiting(barrier);
        a.exit(inner);
        assertStillWaiting(barrier);
        a.exit(outer);
        assertEquals(BarrierOutcome.WAITED, awaitDone(barrier));
        assertEquals(BarrierOutcome.IMMEDIATE, epoch.barrier(BOUND));
    }

    /**
     * Sections exit innermost first, so a nested section can never outlive the section around it:
     * the nested sections a barrier need not wait for are those of a thread whose outermost
     * section began after the barrier did. Here reader-b enters after the flip and nests; the
     * barrier returns as soon as reader-a exits, with both of b's sections still open, and the
     * next barrier waits for both of them.
     */
    @Test
    void barrierDoesNotWaitForNestedSectionsEnteredAfterItBegan() {
        int ta = a.enter();
        CompletableFuture<BarrierOutcome> barrier = barrierAsync(epoch, BOUND.multipliedBy(2));
        int outer = b.enterOtherIndexThan(ta);         // after the flip
        int inner = b.enter();
        assertEquals(outer & 1, inner & 1);
        assertEquals(2, b.depth());
        assertStillWaiting(barrier);                    // still waiting for a
        a.exit(ta);
        assertEquals(BarrierOutcome.WAITED, awaitDone(barrier), "returns while b's two newer sections are open");
        assertEquals(2, b.depth());
        // The next barrier waits for them, though: they entered before that one.
        CompletableFuture<BarrierOutcome> next = barrierAsync(epoch, BOUND.multipliedBy(2));
        assertStillWaiting(next);
        b.exit(inner);
        assertStillWaiting(next);
        b.exit(outer);
        assertEquals(BarrierOutcome.WAITED, awaitDone(next));
    }

    @Test
    void barrierDoesNotWaitForReadersThatEnteredAfterItBegan() {
        int ta = a.enter();
        CompletableFuture<BarrierOutcome> barrier = barrierAsync(epoch, BOUND.multipliedBy(2));
        int tb = b.enterOtherIndexThan(ta);            // b entered after the barrier flipped
        assertNotEquals(ta & 1, tb & 1);
        assertEquals(1, b.depth());
        assertStillWaiting(barrier);                    // still waiting for a
        a.exit(ta);
        assertEquals(BarrierOutcome.WAITED, awaitDone(barrier), "completes while b is still inside");
        assertEquals(1, b.depth());
        assertTrue(epoch.threadsInside().contains(b.thread));
        b.exit(tb);
        assertEquals(BarrierOutcome.IMMEDIATE, epoch.barrier(BOUND));
    }

    @Test
    void timedOutBarriersLeaveTheEpochConsistent() {
        int ta = a.enter();

        // Step 1 finds the inactive index empty and flips; step 3 times out waiting for a.
        assertEquals(BarrierOutcome.TIMED_OUT, epoch.barrier(Duration.ofMillis(50)));
        int tb = b.enter();
        assertNotEquals(ta & 1, tb & 1, "the timed-out barrier had flipped");
        b.exit(tb);

        // a is now inside on the inactive index: the next barrier's step 1 waits for it, and
        // times out before flipping.
        assertEquals(BarrierOutcome.TIMED_OUT, epoch.barrier(Duration.ofMillis(50)));
        assertEquals(tb & 1, b.enter() & 1, "no flip after a timeout in step 1");
        b.exit(tb);
        assertEquals(BarrierOutcome.TIMED_OUT, epoch.barrier(Duration.ZERO));

        // A later barrier still waits for a, which entered long before it.
        CompletableFuture<BarrierOutcome> barrier = barrierAsync(epoch, BOUND.multipliedBy(2));
        assertStillWaiting(barrier);
        a.exit(ta);
        assertEquals(BarrierOutcome.WAITED, awaitDone(barrier));
        assertEquals(BarrierOutcome.IMMEDIATE, epoch.barrier(BOUND));
    }

    @Test
    void timedBarrierTimesOutWhileAnotherBarrierHoldsTheLock() {
        int ta = a.enter();
        CompletableFuture<Void> first = untimedBarrierAsync(epoch);
        assertStillWaiting(first);
        assertEquals(BarrierOutcome.TIMED_OUT, epoch.barrier(Duration.ofMillis(50)));
        assertEquals(BarrierOutcome.TIMED_OUT, epoch.barrier(Duration.ZERO));
        assertFalse(first.isDone());
        a.exit(ta);
        awaitDone(first);
        assertEquals(BarrierOutcome.IMMEDIATE, epoch.barrier(BOUND));
    }

    @Test
    void concurrentBarriersAllWait() {
        int ta = a.enter();
        CompletableFuture<BarrierOutcome> first = barrierAsync(epoch, BOUND.multipliedBy(2));
        CompletableFuture<BarrierOutcome> second = barrierAsync(epoch, BOUND.multipliedBy(2));
        CompletableFuture<Void> third = untimedBarrierAsync(epoch);
        assertStillWaiting(CompletableFuture.anyOf(first, second, third));
        a.exit(ta);
        awaitDone(first);
        awaitDone(second);
        awaitDone(third);
    }

    @Test
    void untimedBarrierIsNotInterruptibleAndKeepsTheInterrupt() {
        int ta = a.enter();
        AtomicReference<Thread> caller = new AtomicReference<>();
        AtomicBoolean interruptedAfter = new AtomicBoolean();
        CompletableFuture<Void> barrier = CompletableFuture.runAsync(() -> {
            caller.set(Thread.currentThread());
            epoch.barrier();
            interruptedAfter.set(Thread.currentThread().isInterrupted());
        }, ReleaseEpochTestSupport.NEW_THREAD);
        assertStillWaiting(barrier);
        caller.get().interrupt();
        assertStillWaiting(barrier);
        a.exit(ta);
        awaitDone(barrier);
        assertTrue(interruptedAfter.get(), "interrupt status kept");
    }

    @Test
    void timedBarrierIsNotInterruptibleAndKeepsTheInterrupt() {
        int ta = a.enter();
        AtomicBoolean interruptedAfter = new AtomicBoolean();
        CompletableFuture<BarrierOutcome> interruptedBefore = CompletableFuture.supplyAsync(() -> {
            Thread.currentThread().interrupt();
            BarrierOutcome outcome = epoch.barrier(Duration.ofMillis(100));
            interruptedAfter.set(Thread.currentThread().isInterrupted());
            return outcome;
        }, ReleaseEpochTestSupport.NEW_THREAD);
        assertEquals(BarrierOutcome.TIMED_OUT, awaitDone(interruptedBefore));
        assertTrue(interruptedAfter.get());

        AtomicReference<Thread> caller = new AtomicReference<>();
        CompletableFuture<BarrierOutcome> barrier = CompletableFuture.supplyAsync(() -> {
            caller.set(Thread.currentThread());
            BarrierOutcome outcome = epoch.barrier(BOUND.multipliedBy(2));
            interruptedAfter.set(Thread.currentThread().isInterrupted());
            return outcome;
        }, ReleaseEpochTestSupport.NEW_THREAD);
        assertStillWaiting(barrier);
        interruptedAfter.set(false);
        caller.get().interrupt();
        assertStillWaiting(barrier);
        a.exit(ta);
        assertEquals(BarrierOutcome.WAITED, awaitDone(barrier));
        assertTrue(interruptedAfter.get());
    }
}
