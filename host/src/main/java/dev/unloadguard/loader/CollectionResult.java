package dev.unloadguard.loader;

import java.lang.ref.ReferenceQueue;
import java.lang.ref.WeakReference;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * What step 7 found: whether the class loader was collected, and after how many GC nudges.
 *
 * @param outcome {@link PluginState#COLLECTED}, {@link PluginState#LEAKED}, or
 *                {@link PluginState#UNLOADED} when the check was skipped or interrupted
 * @param nudges  how many {@code System.gc()} calls the check made (the asynchronous check: 1 if the
 *                shared nudge was made while it was pending, else 0)
 */
record CollectionResult(PluginState outcome, int nudges) {

    CollectionResult {
        if (outcome != PluginState.COLLECTED && outcome != PluginState.LEAKED && outcome != PluginState.UNLOADED) {
            throw new IllegalArgumentException("not an outcome of the collection check: " + outcome);
        }
        if (nudges < 0) {
            throw new IllegalArgumentException("negative nudges: " + nudges);
        }
    }

    /** The check did not run (a zero bound): the report says UNLOADED. */
    static CollectionResult unchecked() {
        return new CollectionResult(PluginState.UNLOADED, 0);
    }

    boolean leaked() {
        return outcome == PluginState.LEAKED;
    }

    /**
     * Nudges the GC until the referent of {@code ref} is collected or {@code bound} passes. The
     * waits between nudges start at 2 ms and double to 128 ms: a loader still referenced from a
     * stack frame that is just returning is usually free a few ms later, a real leak never is.
     * An interrupt ends the check early as {@link PluginState#UNLOADED}, interrupt status set.
     */
    static <T> CollectionResult await(WeakReference<T> ref, ReferenceQueue<? super T> queue, Duration bound) {
        if (bound.isZero()) {
            return unchecked();
        }
        long start = System.nanoTime();
        long limit = StepClock.saturatedNanos(bound);
        int nudges = 0;
        long slice = 2;
        try {
            while (!ref.refersTo(null)) {
                long left = limit - (System.nanoTime() - start);
                if (left <= 0) {
                    return new CollectionResult(PluginState.LEAKED, nudges);
                }
                System.gc();
                nudges++;
                queue.remove(Math.max(1, Math.min(TimeUnit.NANOSECONDS.toMillis(left), slice)));
                slice = Math.min(slice * 2, 128);
            }
            return new CollectionResult(PluginState.COLLECTED, nudges);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new CollectionResult(PluginState.UNLOADED, nudges);
        }
    }
}
