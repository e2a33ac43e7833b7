package dev.unloadguard.epoch.internal;

import static dev.unloadguard.epoch.internal.ReleaseEpochTestSupport.BOUND;
import static dev.unloadguard.epoch.internal.ReleaseEpochTestSupport.assertStillWaiting;
import static dev.unloadguard.epoch.internal.ReleaseEpochTestSupport.awaitDone;
import static dev.unloadguard.epoch.internal.ReleaseEpochTestSupport.barrierAsync;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.unloadguard.epoch.BarrierOutcome;
import dev.unloadguard.epoch.internal.ReleaseEpochTestSupport.Reader;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

/**
 * A barrier that waited for the barrier lock — another barrier of the same epoch was running —
 * waited, and says so: {@link BarrierOutcome#WAITED}, even if by the time it got the lock nothing
 * was left inside. (Before, it said IMMEDIATE: an unload held 600 ms behind another one reported
 * that its barrier had not waited.)
 */
class ReleaseEpochLockWaitTest {

    private final ReleaseEpoch epoch = new ReleaseEpoch();

    @Test
    void aBarrierThatWaitedForAnotherBarrierReportsWaited() {
        try (Reader reader = new Reader(epoch, "reader")) {
            int token = reader.enter();
            CompletableFuture<BarrierOutcome> first = barrierAsync(epoch, BOUND);
            assertStillWaiting(first);                        // holds the barrier lock, waits for the reader
            CompletableFuture<BarrierOutcome> second = barrierAsync(epoch, BOUND);
            await().atMost(BOUND).until(() -> epoch.barrierLockQueueLength() == 1);   // blocked on the lock
            reader.exit(token);
            assertEquals(BarrierOutcome.WAITED, awaitDone(first));
            assertEquals(BarrierOutcome.WAITED, awaitDone(second), "it waited behind the first barrier");
        }
        assertEquals(BarrierOutcome.IMMEDIATE, epoch.barrier(BOUND), "nothing to wait for, nobody ahead");
    }
}
