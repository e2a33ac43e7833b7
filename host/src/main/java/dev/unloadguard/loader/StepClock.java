package dev.unloadguard.loader;

import java.time.Duration;
import java.util.EnumMap;
import java.util.Map;
import java.util.Set;
import java.util.function.LongSupplier;

/**
 * The stopwatch of one unload: each {@link #lap} ends a step and charges it the time since the
 * previous lap, and the unload's timeout is measured from the clock's start. A step the host has
 * no counterpart for is not measured: it takes zero time and its lap charges nothing (the few
 * nanoseconds of its no-op go to the next measured step). Used by one thread.
 */
final class StepClock {

    private final LongSupplier nanoTime;
    private final Set<UnloadStep> measured;
    private final long start;
    private final long bound;
    private final long[] nanos = new long[UnloadStep.values().length];
    private long last;

    /** Starts now; {@code timeout} bounds the steps up to the barrier. */
    StepClock(Duration timeout, Set<UnloadStep> measured) {
        this(timeout, measured, System::nanoTime);
    }

    StepClock(Duration timeout, Set<UnloadStep> measured, LongSupplier nanoTime) {
        this.nanoTime = nanoTime;
        this.measured = measured;
        this.bound = saturatedNanos(timeout);
        this.start = nanoTime.getAsLong();
        this.last = start;
    }

    /** Ends {@code step}: it took the time since the previous lap (or the start). */
    void lap(UnloadStep step) {
        if (measured.contains(step)) {
            long now = nanoTime.getAsLong();
            nanos[step.ordinal()] += now - last;
            last = now;
        }
    }

    /**
     * The timeout as a {@link System#nanoTime()} deadline. It may wrap around for a huge timeout:
     * compare it only as {@code deadline - now}, which stays right.
     */
    long deadline() {
        return start + bound;
    }

    /** What is left of the timeout now, never negative. */
    Duration left() {
        return Duration.ofNanos(Math.max(0, bound - (nanoTime.getAsLong() - start)));
    }

    /** Every step's time, in protocol order; zero for a step not measured. */
    Map<UnloadStep, Duration> times() {
        Map<UnloadStep, Duration> times = new EnumMap<>(UnloadStep.class);
        for (UnloadStep s : UnloadStep.values()) {
            times.put(s, Duration.ofNanos(nanos[s.ordinal()]));
        }
        return times;
    }

    static long saturatedNanos(Duration d) {
        try {
            return d.toNanos();
        } catch (ArithmeticException e) {
            return d.isNegative() ? Long.MIN_VALUE : Long.MAX_VALUE;
        }
    }
}
