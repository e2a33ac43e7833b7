package dev.unloadguard.loader;

import java.lang.System.Logger.Level;
import java.lang.ref.Reference;
import java.lang.ref.ReferenceQueue;
import java.lang.ref.WeakReference;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * Confirms, asynchronously and for every pending unload at once, that unloaded class loaders are
 * garbage collected (step 7 of the unload protocol when the caller does not wait for it).
 *
 * <p>Policy. A watched class loader is confirmed COLLECTED as soon as a GC the host runs anyway
 * collects it. HotSpot unloads classes only in a full GC or at the end of a concurrent mark, so a
 * quiet host may never collect it by itself: when half of a watch's bound has passed and it is
 * still not collected, the watcher nudges the GC once ({@code System.gc()}), and that one nudge
 * covers <em>every</em> watch pending at that moment, however many. A watch registered after a
 * nudge gets (at most) its own, half its bound later, shared with every watch pending then. When
 * a watch's bound passes and its class loader is still reachable, it ends LEAKED. One exception:
 * when the nudge is a concurrent cycle (G1 with {@code -XX:+ExplicitGCInvokesConcurrent}, see
 * {@link #explicitGcCaveat}), one cycle does not unload a young class loader, so the shared nudge is
 * repeated every {@link #REPEAT_NANOS} while watches past their nudge time are pending.
 *
 * <p>Algorithm. Each watch is a {@link WeakReference} to the class loader, registered with the
 * watcher's one {@link ReferenceQueue}, with its nudge time and deadline; the set of pending
 * watches is guarded by this watcher's monitor. One daemon thread runs while any watch is pending:
 * it blocks in {@link ReferenceQueue#remove(long)} until the next nudge time or deadline, ends
 * every enqueued (or already cleared) watch COLLECTED, nudges once if some pending watch reached
 * its nudge time and no nudge covered it yet (marking all pending watches covered), and ends
 * LEAKED every watch past its deadline. When nothing is pending it clears its own field under the
 * monitor and returns; the next {@link #watch} starts a new thread. A watch whose nudge time or
 * deadline is earlier than the time the thread sleeps until wakes it by enqueueing a token
 * reference ({@link Reference#enqueue}) on the same queue. Ending a watch (its callback) runs on
 * the watcher thread, outside the monitor, once: {@link #cancel} and the thread both remove the
 * watch from the pending set under the monitor, and only the one that removed it ends it.
 *
 * <p>Memory: every shared field ({@code pending}, {@code thread}, {@code wakeAt}, each watch's
 * {@code nudged}, {@code nudgeAt}, {@code nudgesSeen}) is read and written under this watcher's
 * monitor, so the monitor orders them; {@code nudgesSeen} is read once more without it by the watcher thread itself after it removed the
 * watch (its own earlier write under the monitor). What a callback reads of its caller's state
 * (the unload's step times, report parts) was written before {@link #watch} took the monitor, and
 * the thread takes it before it calls back. The referent's collection is seen through the JDK's
 * own ordering of {@link Reference#refersTo} and the queue. {@code nudges} is a plain counter.
 *
 * <p>Nothing here pins a plugin: a watch refers to its class loader weakly and its callback must
 * not hold the class loader (or anything that does) strongly. The thread is created with no
 * context class loader, no inherited thread locals and the access control context of this class
 * (not of the stack of the thread that called {@link #watch}, which may run a plugin's code).
 */
final class CollectionWatcher {

    private static final System.Logger LOG = System.getLogger("dev.unloadguard.loader");

    /** The watcher of the JVM: all loaders share it, so one nudge serves all their pending unloads. */
    static final CollectionWatcher SHARED = new CollectionWatcher(System::gc, "unloadguard-collection-watcher",
            explicitGcCaveat().isPresent());

    /**
     * Between repeated nudges when one nudge cannot unload a young class loader (G1 with
     * {@code -XX:+ExplicitGCInvokesConcurrent}): each concurrent cycle ages the loader's objects
     * until one cycle unloads them; measured before the watcher, about 17 cycles over 1.6 s.
     */
    static final long REPEAT_NANOS = TimeUnit.MILLISECONDS.toNanos(100);

    private final Runnable nudge;
    private final String threadName;
    /** Whether a nudge is repeated every {@link #REPEAT_NANOS} while watches are pending (see there). */
    private final boolean repeatNudges;
    private final AtomicLong nudges = new AtomicLong();
    private final ReferenceQueue<Object> queue = new ReferenceQueue<>();
    /** Guarded by this. */
    private final Set<Watch> pending = new HashSet<>();
    /** The running watcher thread, or null; guarded by this. */
    private Thread thread;
    /** When the watcher thread wakes up next ({@link System#nanoTime}); guarded by this. */
    private long wakeAt;
    /** Whether {@link #explicitGcCaveat} was logged (once per watcher); guarded by this. */
    private boolean caveatChecked;

    /**
     * @param nudge what one nudge does ({@code System::gc}; a test counts its calls)
     * @param threadName the watcher thread's name
     */
    CollectionWatcher(Runnable nudge, String threadName) {
        this(nudge, threadName, false);
    }

    /**
     * @param repeatNudges whether to repeat the shared nudge every {@link #REPEAT_NANOS} after the
     *        first, while watches are pending, instead of nudging once per watch (for a nudge that
     *        is a concurrent cycle)
     */
    CollectionWatcher(Runnable nudge, String threadName, boolean repeatNudges) {
        this.nudge = Objects.requireNonNull(nudge, "nudge");
        this.threadName = threadName;
        this.repeatNudges = repeatNudges;
    }

    /** One pending check: the referent weakly, its nudge time and deadline, and what ends it. */
    static final class Watch extends WeakReference<Object> {
        /** When this watch wants a nudge next; guarded by the watcher. */
        long nudgeAt;
        final long deadline;
        final Consumer<CollectionResult> ended;
        /** A nudge was made while this watch was pending, and no other is due for it; guarded by the watcher. */
        boolean nudged;
        /** Nudges made while this watch was pending; guarded by the watcher. */
        int nudgesSeen;

        private Watch(Object referent, ReferenceQueue<Object> queue, long now, long bound, Consumer<CollectionResult> ended) {
            super(referent, queue);
            this.nudgeAt = now + bound / 2;
            this.deadline = now + bound;
            this.ended = ended;
        }
    }

    /** How many nudges this watcher made. */
    long nudges() {
        return nudges.get();
    }

    /** Watches pending now. */
    synchronized int pending() {
        return pending.size();
    }

    /** The running watcher thread, if any (for tests: it must be a daemon, and gone when idle). */
    synchronized Thread thread() {
        return thread;
    }

    /**
     * Starts watching {@code referent} for at most {@code bound} (positive); {@code ended} is called
     * once, on the watcher thread, with COLLECTED (0 or 1 nudge, more only when nudges repeat) or LEAKED, unless {@link #cancel}
     * removes the watch first.
     */
    Watch watch(Object referent, Duration bound, Consumer<CollectionResult> ended) {
        Objects.requireNonNull(referent, "referent");
        long now = System.nanoTime();
        Watch w = new Watch(referent, queue, now, StepClock.saturatedNanos(bound), ended);
        boolean wake;
        synchronized (this) {
            pending.add(w);
            if (thread == null) {
                if (!caveatChecked) {
                    caveatChecked = true;
                    explicitGcCaveat().ifPresent(c -> LOG.log(Level.INFO, c));
                }
                wakeAt = w.nudgeAt;
                thread = newThread();
                thread.start();
                wake = false;
            } else {
                wake = w.nudgeAt - wakeAt < 0;
            }
        }
        if (wake) {
            new WeakReference<>(new Object(), queue).enqueue(); // a token: the thread recomputes its sleep
        }
        return w;
    }

    /**
     * What is wrong with this JVM's nudge, if anything: on G1 with
     * {@code -XX:+ExplicitGCInvokesConcurrent}, {@code System.gc()} starts a concurrent cycle, which
     * does not unload a class loader that is still in the young generation (its own young pause
     * keeps it alive), so a recently unloaded plugin may be declared LEAKED although nothing holds it.
     */
    static java.util.Optional<String> explicitGcCaveat() {
        try {
            boolean g1 = java.lang.management.ManagementFactory.getGarbageCollectorMXBeans().stream()
                    .anyMatch(b -> b.getName().startsWith("G1 "));
            com.sun.management.HotSpotDiagnosticMXBean hotspot = java.lang.management.ManagementFactory
                    .getPlatformMXBean(com.sun.management.HotSpotDiagnosticMXBean.class);
            if (g1 && hotspot != null && Boolean.parseBoolean(hotspot.getVMOption("ExplicitGCInvokesConcurrent").getValue())) {
                return java.util.Optional.of("G1 runs with -XX:+ExplicitGCInvokesConcurrent: the collection check's GC nudge is a "
                        + "concurrent cycle, which does not unload a plugin whose class loader is still young, so the check "
                        + "repeats its shared nudge every 100 ms while unloaded plugins are pending (short pauses, but a "
                        + "concurrent cycle's CPU each time) until they are collected or declared LEAKED at the deadline. "
                        + "Drop the flag for one full GC per batch instead, or confirm at once with Plugin.awaitCollectionCheck()");
            }
        } catch (RuntimeException | LinkageError e) {
            // no jdk.management, or not HotSpot: nothing known to warn about
        }
        return java.util.Optional.empty();
    }

    /** Stops watching: true if this call removed the watch (its callback will not be called). */
    synchronized boolean cancel(Watch w) {
        return pending.remove(w);
    }

    @SuppressWarnings("removal") // until JDK 24 a new thread inherits the caller's access control context
    private Thread newThread() {
        return java.security.AccessController.doPrivileged((java.security.PrivilegedAction<Thread>) () -> {
            Thread t = new Thread(null, this::loop, threadName, 0, false);
            t.setDaemon(true);
            t.setContextClassLoader(null);
            return t;
        });
    }

    private void loop() {
        List<Watch> collected = new ArrayList<>();
        List<Watch> leaked = new ArrayList<>();
        while (true) {
            long sleep;
            boolean nudgeNow = false;
            synchronized (this) {
                if (pending.isEmpty()) {
                    thread = null;
                    return;
                }
                long now = System.nanoTime();
                long next = Long.MAX_VALUE;
                boolean first = true;
                for (Watch w : pending) {
                    long t = w.nudged ? w.deadline : w.nudgeAt;
                    if (!w.nudged && w.nudgeAt - now <= 0) {
                        nudgeNow = true;
                    }
                    if (first || t - next < 0) {
                        next = t;
                        first = false;
                    }
                }
                if (nudgeNow) {
                    for (Watch w : pending) {            // this nudge covers every pending watch
                        w.nudgesSeen++;
                        if (repeatNudges) {
                            w.nudgeAt = now + REPEAT_NANOS; // one concurrent cycle may not unload it: again, shared
                        } else {
                            w.nudged = true;
                        }
                    }
                    sleep = 0;
                } else {
                    sleep = Math.max(0, next - now);
                }
                wakeAt = now + sleep;
            }
            try {
                if (nudgeNow) {
                    nudges.incrementAndGet();
                    LOG.log(Level.DEBUG, "nudging the GC once for the unloaded class loaders pending collection");
                    nudge.run();
                } else {
                    long millis = TimeUnit.NANOSECONDS.toMillis(sleep) + 1;
                    Reference<?> r = queue.remove(millis);
                    while (r != null) {
                        r = queue.poll(); // drain: the scan below finds every cleared watch
                    }
                }
            } catch (InterruptedException e) {
                // nobody interrupts this thread but a shutdown: go on, it is a daemon
            } catch (RuntimeException | Error e) {
                LOG.log(Level.WARNING, "the collection watcher's nudge threw", e);
            }
            synchronized (this) {
                long now = System.nanoTime();
                for (var it = pending.iterator(); it.hasNext(); ) {
                    Watch w = it.next();
                    if (w.refersTo(null)) {
                        collected.add(w);
                        it.remove();
                    } else if (w.deadline - now <= 0) {
                        leaked.add(w);
                        it.remove();
                    }
                }
            }
            for (Watch w : collected) {
                end(w, PluginState.COLLECTED);
            }
            for (Watch w : leaked) {
                end(w, PluginState.LEAKED);
            }
            collected.clear();
            leaked.clear();
        }
    }

    private static void end(Watch w, PluginState outcome) {
        try {
            w.ended.accept(new CollectionResult(outcome, w.nudgesSeen));
        } catch (RuntimeException | Error e) {
            LOG.log(Level.WARNING, "ending the collection check of a class loader threw", e);
        }
    }
}
