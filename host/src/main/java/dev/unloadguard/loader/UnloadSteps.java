package dev.unloadguard.loader;

import java.lang.ref.ReferenceQueue;
import java.lang.ref.WeakReference;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** Pieces of the unload sequence shared by {@link PluginLoader} and {@link ForeignPluginLoaders}. */
final class UnloadSteps {

    private UnloadSteps() {
    }

    /** Records the time since {@code start} for {@code step}; returns now, the next step's start. */
    static long lap(Map<UnloadStep, Duration> times, UnloadStep step, long start) {
        long now = System.nanoTime();
        times.put(step, Duration.ofNanos(now - start));
        return now;
    }

    /**
     * Step 6: nudges the GC until the class loader behind {@code ref} is collected or the bound
     * passes. The waits between nudges start at 2 ms and double to 128 ms: a loader still
     * referenced from a stack frame that is just returning is usually free a few ms later, a real
     * leak never is.
     *
     * @return the number of nudges if collected, minus the number of nudges if not
     */
    static int confirmCollected(WeakReference<ClassLoader> ref, ReferenceQueue<ClassLoader> queue, Duration bound)
            throws InterruptedException {
        if (bound.isZero()) {
            return 0;
        }
        long start = System.nanoTime();
        long limit = saturatedNanos(bound);
        int nudges = 0;
        long slice = 2;
        while (!ref.refersTo(null)) {
            long left = limit - (System.nanoTime() - start);
            if (left <= 0) {
                return -nudges;
            }
            System.gc();
            nudges++;
            queue.remove(Math.max(1, Math.min(TimeUnit.NANOSECONDS.toMillis(left), slice)));
            slice = Math.min(slice * 2, 128);
        }
        return nudges;
    }

    /** The threads inside {@code epochOf}'s release epoch, with their stacks, for a timeout report. */
    static void appendThreadsInside(StringBuilder sb, String epochOf, List<Thread> inside) {
        sb.append("  threads inside the release epoch of ").append(epochOf).append(": ")
                .append(inside.isEmpty() ? "none" : "").append('\n');
        for (Thread th : inside) {
            sb.append("    \"").append(th.getName()).append("\" (").append(th.getState()).append(")\n");
            for (StackTraceElement e : th.getStackTrace()) {
                sb.append("        at ").append(e).append('\n');
            }
        }
    }

    static long saturatedNanos(Duration d) {
        try {
            return d.toNanos();
        } catch (ArithmeticException e) {
            return d.isNegative() ? Long.MIN_VALUE : Long.MAX_VALUE;
        }
    }
}
