package dev.unloadguard.epoch.internal;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A small litmus-test harness in the manner of jcstress, for JUnit (jcstress needs its own
 * runner). Two actor threads run a {@link Scenario} over and over in lockstep: before each
 * iteration they rendezvous (each publishes its phase in a volatile counter of its own and spins
 * until the other's counter catches up), run their actor for that iteration at the same moment,
 * rendezvous again, and then thread 2 judges the outcome while thread 1 resets its state for the
 * next iteration. The rendezvous are volatile writes followed by volatile reads, full fences on
 * every platform: each iteration starts from drained store buffers, and the only reorderings the
 * actors can show are the ones inside one iteration.
 *
 * <p>A run is bounded by time. A run that must never see the forbidden outcome lasts
 * {@link #cleanRun()} (optionally longer, within a bound, until the actors overlapped often
 * enough: see {@link Scenario#overlapped}); a run that looks for it with a broken copy stops at
 * the first one and is bounded by {@link #searchBound()}. {@code -Dunloadguard.litmus.seconds=N} selects the long mode:
 * clean runs last N seconds, searches up to max(N, 20) seconds, and tests that do not reliably
 * find their outcome within the default bound run only then.
 */
final class Litmus {

    static final String SECONDS_PROPERTY = "unloadguard.litmus.seconds";
    private static final long LONG_SECONDS = Long.getLong(SECONDS_PROPERTY, 0L);

    private Litmus() {
    }

    /** Whether {@code -Dunloadguard.litmus.seconds} selected the long mode. */
    static boolean longMode() {
        return LONG_SECONDS > 0;
    }

    /** How long a run that must never see the forbidden outcome runs. */
    static Duration cleanRun() {
        return longMode() ? Duration.ofSeconds(LONG_SECONDS) : Duration.ofSeconds(3);
    }

    /** The bound of a run that stops at the first forbidden outcome. */
    static Duration searchBound() {
        return Duration.ofSeconds(longMode() ? Math.max(LONG_SECONDS, 20) : 20);
    }

    /**
     * One litmus test. Thread 1 runs {@link #reset1} once before the first iteration and after
     * every iteration, {@link #actor1} in each; thread 2 runs {@link #actor2} and judges each
     * iteration with {@link #outcome}, concurrently with thread 1's reset. A scenario's fields
     * written by one actor and read by the other after the rendezvous need no special access mode.
     */
    abstract static class Scenario {
        /** Thread 1: undo iteration {@code i} (0: before the first) and prepare the next. */
        void reset1(long i) {
        }

        abstract void actor1(long i);

        abstract void actor2(long i);

        /** Thread 2, after both actors of iteration {@code i} finished: an outcome code, 0..7. */
        abstract int outcome(long i);

        abstract boolean forbidden(int outcome);

        /**
         * Whether {@code outcome} shows that the actors overlapped in time (an outcome no run of
         * one actor entirely before the other can give). A busy machine may run the two actors
         * one after the other on one core, where no reordering can show; overlaps tell runs that
         * tested something from runs that did not. False if the scenario cannot tell.
         */
        boolean overlapped(int outcome) {
            return false;
        }

        /** Whether {@link #overlapped} can tell overlapping iterations at all. */
        boolean tellsOverlaps() {
            return false;
        }

        abstract String describe(int outcome);
    }

    /** What a run saw. */
    static final class Result {
        final String name;
        final long iterations;
        final long[] outcomes;
        final long forbidden;
        final long overlaps;
        final long nanos;
        final boolean stoppedAtForbidden;

        Result(String name, long iterations, long[] outcomes, long forbidden, long overlaps, long nanos,
                boolean stoppedAtForbidden) {
            this.name = name;
            this.iterations = iterations;
            this.outcomes = outcomes;
            this.forbidden = forbidden;
            this.overlaps = overlaps;
            this.nanos = nanos;
            this.stoppedAtForbidden = stoppedAtForbidden;
        }

        String summary(Scenario scenario) {
            StringBuilder sb = new StringBuilder("LITMUS ").append(name).append(": ").append(iterations)
                    .append(" iterations in ").append(nanos / 1_000_000).append(" ms, forbidden ").append(forbidden)
                    .append(", overlapping ").append(overlaps);
            if (stoppedAtForbidden) {
                sb.append(" (stopped at the first)");
            }
            List<String> seen = new ArrayList<>();
            for (int code = 0; code < outcomes.length; code++) {
                if (outcomes[code] > 0) {
                    seen.add(outcomes[code] + " x " + scenario.describe(code) + (scenario.forbidden(code) ? " [FORBIDDEN]" : ""));
                }
            }
            return sb.append("; ").append(String.join(", ", seen)).toString();
        }
    }

    /** Runs {@code scenario} for {@code duration}, or until the first forbidden outcome if {@code stopAtForbidden}. */
    static Result run(String name, Scenario scenario, Duration duration, boolean stopAtForbidden) {
        return run(name, scenario, duration, 0, duration, stopAtForbidden);
    }

    /**
     * Runs {@code scenario} for at least {@code duration} and until it saw {@code minOverlaps}
     * overlapping iterations, but no longer than {@code bound}; or until the first forbidden
     * outcome if {@code stopAtForbidden}.
     */
    static Result run(String name, Scenario scenario, Duration duration, long minOverlaps, Duration bound,
            boolean stopAtForbidden) {
        Rendezvous rv = new Rendezvous();
        long[] outcomes = new long[8];
        long[] counts = new long[3];                     // iterations, forbidden, overlaps: thread 2 only
        boolean[] stopped = new boolean[1];
        AtomicReference<Throwable> failure = new AtomicReference<>();
        long start = System.nanoTime();
        long deadline = start + duration.toNanos();
        long hardDeadline = start + Math.max(duration.toNanos(), bound.toNanos());

        Thread t1 = new Thread(() -> {
            try {
                scenario.reset1(0);
                for (long i = 1; ; i++) {
                    if (!rv.arrive(rv.one, rv.two, 2 * i - 1)) {
                        return;
                    }
                    scenario.actor1(i);
                    if (!rv.arrive(rv.one, rv.two, 2 * i)) {
                        return;
                    }
                    scenario.reset1(i);
                }
            } catch (Throwable e) {
                failure.compareAndSet(null, e);
                rv.stop = true;
            }
        }, "litmus-actor-1");
        Thread t2 = new Thread(() -> {
            try {
                for (long i = 1; ; i++) {
                    if (!rv.arrive(rv.two, rv.one, 2 * i - 1)) {
                        return;
                    }
                    scenario.actor2(i);
                    if (!rv.arrive(rv.two, rv.one, 2 * i)) {
                        return;
                    }
                    int code = scenario.outcome(i);
                    outcomes[code]++;
                    counts[0] = i;
                    if (scenario.overlapped(code)) {
                        counts[2]++;
                    }
                    if (scenario.forbidden(code)) {
                        counts[1]++;
                        if (stopAtForbidden) {
                            stopped[0] = true;
                            return;
                        }
                    }
                    if ((i & 1023) == 0) {
                        long now = System.nanoTime();
                        if (now - hardDeadline > 0 || now - deadline > 0 && counts[2] >= minOverlaps) {
                            return;
                        }
                    }
                }
            } catch (Throwable e) {
                failure.compareAndSet(null, e);
            } finally {
                rv.stop = true;
            }
        }, "litmus-actor-2");
        t1.setDaemon(true);
        t2.setDaemon(true);
        t1.start();
        t2.start();
        try {
            t2.join(Math.max(duration.toMillis(), bound.toMillis()) + 30_000);
            rv.stop = true;
            t1.join(Duration.ofSeconds(30).toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
        if (failure.get() != null) {
            throw new AssertionError("litmus actor failed in " + name, failure.get());
        }
        if (t1.isAlive() || t2.isAlive()) {
            throw new AssertionError("litmus actors of " + name + " did not stop");
        }
        // join() orders the actors' plain writes before these reads.
        Result result = new Result(name, counts[0], outcomes, counts[1], counts[2], System.nanoTime() - start, stopped[0]);
        System.out.println(result.summary(scenario));
        return result;
    }

    /** Two phase counters on cache lines of their own, and the stop flag. */
    private static final class Rendezvous {
        final Phase one = new Phase();
        final Phase two = new Phase();
        volatile boolean stop;

        /** Publishes {@code phase} for {@code me} and spins until {@code other} reaches it; false once stopped. */
        boolean arrive(Phase me, Phase other, long phase) {
            me.value = phase;
            int spins = 0;
            while (other.value < phase) {
                if (stop) {
                    return false;
                }
                Thread.onSpinWait();
                if (++spins > 4096 && (spins & 255) == 0) {
                    Thread.yield();                      // the other actor is descheduled: 2 shared cores
                }
            }
            return !stop;
        }
    }

    @SuppressWarnings("unused")
    private static final class Phase {
        long p01, p02, p03, p04, p05, p06, p07;
        volatile long value;
        long q01, q02, q03, q04, q05, q06, q07;
    }
}
