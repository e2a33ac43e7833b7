package dev.unloadguard.epoch.internal;

import static dev.unloadguard.epoch.internal.ReleaseEpochTestSupport.BOUND;
import static dev.unloadguard.epoch.internal.ReleaseEpochTestSupport.NEW_THREAD;
import static dev.unloadguard.epoch.internal.ReleaseEpochTestSupport.assertStillWaiting;
import static dev.unloadguard.epoch.internal.ReleaseEpochTestSupport.awaitDone;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import dev.unloadguard.epoch.BarrierOutcome;
import dev.unloadguard.epoch.internal.BrokenEpoch.Fault;
import dev.unloadguard.epoch.internal.ReleaseEpochTestSupport.Reader;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Race (i) of the class comment, driven step by step: a reader reads the active index, is
 * "descheduled" while a barrier flips the index and finishes, and only then increments the lock
 * counter of the index it read, which is now the inactive one. The next barrier must wait for it
 * (step 1). Without step 1 it would flip that index active again, drain the other one and return
 * while the reader is inside.
 */
class ReleaseEpochRaceTest {

    private final Reader reader = new Reader("stale-reader");

    @AfterEach
    void closeReader() {
        reader.close();
    }

    @Test
    void theNextBarrierWaitsForAReaderThatEnteredOnAStaleIndex() {
        EpochUnderTest epoch = EpochUnderTest.real();
        int token = enterOnAStaleIndex(epoch);

        CompletableFuture<BarrierOutcome> next = CompletableFuture.supplyAsync(() -> epoch.barrier(BOUND.multipliedBy(2)),
                NEW_THREAD);
        assertStillWaiting(next);
        assertFalse(epoch.drained(token & 1, null), "the stale section is counted on the inactive index");
        reader.call(() -> {
            epoch.exit(token);
            return null;
        });
        assertEquals(BarrierOutcome.WAITED, awaitDone(next));
        assertEquals(BarrierOutcome.IMMEDIATE, epoch.barrier(BOUND));
    }

    @Test
    void theCopyWithoutFaultsWaitsToo() {
        EpochUnderTest epoch = BrokenEpoch.without();
        int token = enterOnAStaleIndex(epoch);
        CompletableFuture<BarrierOutcome> next = CompletableFuture.supplyAsync(() -> epoch.barrier(BOUND.multipliedBy(2)),
                NEW_THREAD);
        assertStillWaiting(next);
        reader.call(() -> {
            epoch.exit(token);
            return null;
        });
        assertEquals(BarrierOutcome.WAITED, awaitDone(next));
    }

    /** The forbidden outcome, with the copy that skips step 1: the barrier returns at once. */
    @Test
    void withoutStep1TheNextBarrierReturnsWhileTheReaderIsInside() {
        EpochUnderTest epoch = BrokenEpoch.without(Fault.SKIP_STEP_1);
        int token = enterOnAStaleIndex(epoch);

        BarrierOutcome next = awaitDone(CompletableFuture.supplyAsync(() -> epoch.barrier(BOUND), NEW_THREAD));
        assertEquals(BarrierOutcome.IMMEDIATE, next, "returned without waiting for the reader");
        assertFalse(epoch.drained(token & 1, null), "the reader is still inside, on what is now the active index");
        reader.call(() -> {
            epoch.exit(token);
            return null;
        });
    }

    /**
     * A timed barrier that timed out after its flip leaves an old section on the inactive index,
     * the other way into race (i); the next barrier's step 1 waits for it as well.
     */
    @Test
    void aSectionLeftOnTheInactiveIndexByATimedOutBarrierIsWaitedFor() {
        EpochUnderTest epoch = EpochUnderTest.real();
        int token = reader.call(epoch::enter);
        assertEquals(BarrierOutcome.TIMED_OUT, epoch.barrier(Duration.ofMillis(20)));
        assertNotEquals(token & 1, epoch.readIndex(), "the timed-out barrier flipped");
        CompletableFuture<BarrierOutcome> next = CompletableFuture.supplyAsync(() -> epoch.barrier(BOUND.multipliedBy(2)),
                NEW_THREAD);
        assertStillWaiting(next);
        reader.call(() -> {
            epoch.exit(token);
            return null;
        });
        assertEquals(BarrierOutcome.WAITED, awaitDone(next));

        EpochUnderTest broken = BrokenEpoch.without(Fault.SKIP_STEP_1);
        int left = reader.call(broken::enter);
        assertEquals(BarrierOutcome.TIMED_OUT, broken.barrier(Duration.ofMillis(20)));
        assertEquals(BarrierOutcome.IMMEDIATE, broken.barrier(BOUND), "without step 1: returned while the reader is inside");
        reader.call(() -> {
            broken.exit(left);
            return null;
        });
    }

    /**
     * The reader reads the active index (the first half of enter); a barrier, which rightly does
     * not wait for it (its enter has not returned), flips and finishes; then the reader increments
     * the lock counter of the index it read (the second half). Returns the section's token.
     */
    private int enterOnAStaleIndex(EpochUnderTest epoch) {
        reader.call(() -> {
            epoch.exit(epoch.enter());                  // the reader's cell exists
            return null;
        });
        int stale = reader.call(epoch::readIndex);
        assertEquals(BarrierOutcome.IMMEDIATE, awaitDone(CompletableFuture.supplyAsync(() -> epoch.barrier(BOUND), NEW_THREAD)));
        assertNotEquals(stale, epoch.readIndex(), "the barrier flipped");
        int token = reader.call(() -> epoch.enterWithIndex(stale));
        assertEquals(1 << 1 | stale, token, "inside, at depth 1, on the now inactive index");
        return token;
    }
}
