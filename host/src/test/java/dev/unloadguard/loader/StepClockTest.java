package dev.unloadguard.loader;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import java.util.EnumSet;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class StepClockTest {

    private final AtomicLong now = new AtomicLong(1_000);

    private StepClock clock(Duration timeout, EnumSet<UnloadStep> measured) {
        return new StepClock(timeout, measured, now::get);
    }

    @Test
    void eachLapChargesItsStepTheTimeSinceThePreviousLap() {
        StepClock clock = clock(Duration.ofSeconds(1), EnumSet.allOf(UnloadStep.class));
        now.addAndGet(5);
        clock.lap(UnloadStep.GOING);
        now.addAndGet(70);
        clock.lap(UnloadStep.EXIT);
        clock.lap(UnloadStep.DRAIN);
        now.addAndGet(300);
        clock.lap(UnloadStep.BARRIER);
        now.addAndGet(40);
        clock.lap(UnloadStep.AUDIT);
        assertEquals(List.of(5L, 70L, 0L, 300L, 40L, 0L, 0L),
                clock.times().values().stream().map(Duration::toNanos).collect(java.util.stream.Collectors.toList()));
        assertEquals(List.of(UnloadStep.values()), List.copyOf(clock.times().keySet()), "every step, in protocol order");
    }

    @Test
    void aStepNotMeasuredTakesZeroTimeAndTheNextStepGetsItsShare() {
        StepClock clock = clock(Duration.ofSeconds(1), EnumSet.complementOf(EnumSet.of(UnloadStep.GOING, UnloadStep.DRAIN)));
        // (a foreign host measures GOING, its gate; this is any set of steps left out)
        now.addAndGet(5);
        clock.lap(UnloadStep.GOING);
        now.addAndGet(70);
        clock.lap(UnloadStep.EXIT);
        now.addAndGet(9);
        clock.lap(UnloadStep.DRAIN);
        now.addAndGet(300);
        clock.lap(UnloadStep.BARRIER);
        assertEquals(Duration.ZERO, clock.times().get(UnloadStep.GOING));
        assertEquals(Duration.ofNanos(75), clock.times().get(UnloadStep.EXIT));
        assertEquals(Duration.ZERO, clock.times().get(UnloadStep.DRAIN));
        assertEquals(Duration.ofNanos(309), clock.times().get(UnloadStep.BARRIER));
    }

    @Test
    void theTimeoutRunsFromTheStartAcrossSteps() {
        StepClock clock = clock(Duration.ofNanos(1_000), EnumSet.allOf(UnloadStep.class));
        assertEquals(2_000, clock.deadline());
        now.addAndGet(400);
        clock.lap(UnloadStep.EXIT);
        assertEquals(Duration.ofNanos(600), clock.left());
        now.addAndGet(5_000);
        assertEquals(Duration.ZERO, clock.left(), "never negative");
    }

    @Test
    void aHugeTimeoutSaturatesAndItsDeadlineStillComparesRight() {
        now.set(Long.MAX_VALUE - 10); // nanoTime may be anywhere, even near the wrap
        StepClock clock = clock(Duration.ofSeconds(Long.MAX_VALUE), EnumSet.allOf(UnloadStep.class));
        now.addAndGet(100);
        assertEquals(Long.MAX_VALUE - 100, clock.deadline() - now.get(), "deadline - now, wrapping, is what is left");
        assertEquals(Duration.ofNanos(Long.MAX_VALUE - 100), clock.left());
    }
}
