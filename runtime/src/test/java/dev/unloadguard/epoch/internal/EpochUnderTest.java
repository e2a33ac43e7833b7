package dev.unloadguard.epoch.internal;

import dev.unloadguard.epoch.BarrierOutcome;
import java.time.Duration;

/**
 * What the litmus and race tests drive: the real {@link ReleaseEpoch}, or a {@link BrokenEpoch}
 * copy with a safety removed. The methods are {@code ReleaseEpoch}'s, including its
 * package-private test hooks.
 */
interface EpochUnderTest {

    String name();

    int enter();

    /** The first half of {@code enter}: the active index. */
    int readIndex();

    /** The second half of {@code enter} with an index read earlier, possibly stale: race (i). */
    int enterWithIndex(int idx);

    void exit(int token);

    /** One drain check of {@code idx}, running {@code betweenSums} between its two sums. */
    boolean drained(int idx, Runnable betweenSums);

    BarrierOutcome barrier(Duration timeout);

    /**
     * The barrier as the litmus tests run it. For the real epoch this is
     * {@link ReleaseEpoch#barrier(Duration)}; a broken copy runs its steps without taking the
     * barrier lock (see {@link BrokenEpoch#barrierSteps}).
     */
    BarrierOutcome barrierSteps(Duration timeout);

    static EpochUnderTest real() {
        return of(new ReleaseEpoch("real release epoch"));
    }

    static EpochUnderTest of(ReleaseEpoch epoch) {
        return new EpochUnderTest() {
            @Override
            public String name() {
                return "ReleaseEpoch";
            }

            @Override
            public int enter() {
                return epoch.enter();
            }

            @Override
            public int readIndex() {
                return epoch.readIndex();
            }

            @Override
            public int enterWithIndex(int idx) {
                return epoch.enterWithIndex(idx);
            }

            @Override
            public void exit(int token) {
                epoch.exit(token);
            }

            @Override
            public boolean drained(int idx, Runnable betweenSums) {
                return epoch.drained(idx, betweenSums);
            }

            @Override
            public BarrierOutcome barrier(Duration timeout) {
                return epoch.barrier(timeout);
            }

            @Override
            public BarrierOutcome barrierSteps(Duration timeout) {
                return epoch.barrier(timeout);
            }

            @Override
            public String toString() {
                return name();
            }
        };
    }
}
