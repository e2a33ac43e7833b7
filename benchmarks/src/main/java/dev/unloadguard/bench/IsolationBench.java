package dev.unloadguard.bench;

import dev.unloadguard.bench.callback.CountingCallback;
import dev.unloadguard.bench.callback.ParkingCallback;
import dev.unloadguard.driver.ReleaseCallback;
import dev.unloadguard.epoch.BarrierOutcome;
import dev.unloadguard.epoch.internal.ReleaseEpoch;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Issue 8, target 2: one plugin's release barrier must not wait for other plugins' readers. All
 * plugins here are {@link GuardingLoader}s (a plugin loader with a release epoch of its own) whose
 * release callbacks the agent's transformer wove; every reader is a platform thread parked inside
 * a woven {@link ParkingCallback} until the trial ends.
 * <ul>
 * <li>{@link #othersInside}: the barrier on plugin X while {@value #OTHERS} other plugins each have
 *     a reader inside their own epoch. Each reader ran one of X's callbacks first, as a host pool
 *     thread serving several plugins would, so X's epoch has a cell for every one of them: its
 *     barrier really looks at those threads, and must find them outside X.
 * <li>{@link #loneIdle}, the baseline: the same barrier on a lone plugin's epoch with the same
 *     number of cells ({@value #OTHERS} threads that ran its callback and wait outside any epoch),
 *     and no other plugin.
 * <li>{@link #sharedEpoch}, the contrast: the design before per-plugin epochs, where all plugins
 *     shared one epoch: the same {@value #OTHERS} readers inside that one epoch, and a barrier with
 *     a {@value #SHARED_TIMEOUT_MS} ms timeout. It waits for them every time (times out).
 * </ul>
 * The states check at tear-down that every barrier on X or the lone epoch returned {@code
 * IMMEDIATE} (never waited) and every barrier on the shared epoch {@code TIMED_OUT}; otherwise the
 * trial fails. Timed like the host's unload: {@code barrier(Duration)}.
 */
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
@Threads(1)
public class IsolationBench {

    static final int OTHERS = 100;
    static final long SHARED_TIMEOUT_MS = 1;
    private static final Duration TIMEOUT = Duration.ofSeconds(10);
    private static final Duration SHARED_TIMEOUT = Duration.ofMillis(SHARED_TIMEOUT_MS);

    /** Reader threads, parked until the gate opens at tear-down; and the outcomes seen. */
    public abstract static class Readers {
        final CountDownLatch gate = new CountDownLatch(1);
        final CountDownLatch inside = new CountDownLatch(OTHERS);
        final List<Thread> threads = new ArrayList<>();
        ReleaseEpoch epoch;
        BarrierOutcome expected;
        long barriers;
        long unexpected;
        BarrierOutcome firstUnexpected;

        void start(String name, Runnable reader) {
            Thread t = new Thread(reader, name);
            t.setDaemon(true);
            threads.add(t);
            t.start();
        }

        void awaitInside() throws InterruptedException {
            if (!inside.await(30, TimeUnit.SECONDS)) {
                throw new IllegalStateException("the readers did not all start: " + inside.getCount() + " missing");
            }
        }

        BarrierOutcome barrier(Duration timeout) {
            BarrierOutcome o = epoch.barrier(timeout);
            barriers++;
            if (o != expected) {
                if (unexpected++ == 0) {
                    firstUnexpected = o;
                }
            }
            return o;
        }

        @TearDown(Level.Trial)
        public void stop() throws InterruptedException {
            gate.countDown();
            for (Thread t : threads) {
                t.join(TimeUnit.SECONDS.toMillis(30));
                if (t.isAlive()) {
                    throw new IllegalStateException("reader " + t.getName() + " did not finish");
                }
            }
            if (unexpected > 0) {
                throw new IllegalStateException(unexpected + " of " + barriers + " barriers on the " + epoch + " returned "
                        + firstUnexpected + " (and maybe others), not " + expected);
            }
        }

        static ReleaseCallback woven(GuardingLoader loader, Class<?> type, Object... args) {
            try {
                Class<?> c = Class.forName(type.getName(), true, loader);
                Class<?>[] types = new Class<?>[args.length];
                for (int i = 0; i < args.length; i++) {
                    types[i] = args[i].getClass();
                }
                return (ReleaseCallback) c.getConstructor(types).newInstance(args);
            } catch (ReflectiveOperationException e) {
                throw new IllegalStateException(e);
            }
        }

        static GuardingLoader plugin(String name) {
            return GuardingLoader.named(name, CountingCallback.class.getName(), ParkingCallback.class.getName());
        }
    }

    /** Plugin X, idle; {@value #OTHERS} other plugins, each with a reader parked inside its own epoch. */
    @State(Scope.Benchmark)
    public static class OthersInside extends Readers {
        @Setup(Level.Trial)
        public void setup() throws InterruptedException {
            GuardingLoader x = plugin("plugin-x");
            epoch = x.releaseEpoch();
            expected = BarrierOutcome.IMMEDIATE;
            List<GuardingLoader> others = new ArrayList<>();
            for (int i = 0; i < OTHERS; i++) {
                GuardingLoader other = plugin("plugin-" + i);
                others.add(other);
                ReleaseCallback ofX = woven(x, CountingCallback.class);
                ReleaseCallback parks = woven(other, ParkingCallback.class, inside, gate);
                start("reader-in-plugin-" + i, () -> {
                    ofX.release();      // X's epoch now has this thread's cell; the thread left X
                    parks.release();    // inside the other plugin's epoch until the gate opens
                });
            }
            awaitInside();
            for (GuardingLoader other : others) {
                if (other.releaseEpoch().threadsInside().size() != 1) {
                    throw new IllegalStateException("no reader inside the " + other.releaseEpoch());
                }
            }
            if (!epoch.threadsInside().isEmpty()) {
                throw new IllegalStateException("a reader is inside X: " + epoch.threadsInside());
            }
        }
    }

    /** One plugin alone: {@value #OTHERS} threads ran its callback and wait outside any epoch. */
    @State(Scope.Benchmark)
    public static class LoneIdle extends Readers {
        @Setup(Level.Trial)
        public void setup() throws InterruptedException {
            GuardingLoader lone = plugin("plugin-alone");
            epoch = lone.releaseEpoch();
            expected = BarrierOutcome.IMMEDIATE;
            for (int i = 0; i < OTHERS; i++) {
                ReleaseCallback cb = woven(lone, CountingCallback.class);
                start("idle-" + i, () -> {
                    cb.release();
                    inside.countDown();
                    awaitUninterruptibly(gate);  // host code: outside every epoch
                });
            }
            awaitInside();
            if (!epoch.threadsInside().isEmpty()) {
                throw new IllegalStateException("a thread is inside the lone epoch: " + epoch.threadsInside());
            }
        }
    }

    /** The old design: one epoch for all plugins, {@value #OTHERS} readers inside it. */
    @State(Scope.Benchmark)
    public static class SharedInside extends Readers {
        @Setup(Level.Trial)
        public void setup() throws InterruptedException {
            GuardingLoader shared = plugin("one-epoch-for-all-plugins");
            epoch = shared.releaseEpoch();
            expected = BarrierOutcome.TIMED_OUT;
            for (int i = 0; i < OTHERS; i++) {
                ReleaseCallback parks = woven(shared, ParkingCallback.class, inside, gate);
                start("reader-in-shared-" + i, parks::release);
            }
            awaitInside();
            if (epoch.threadsInside().size() != OTHERS) {
                throw new IllegalStateException(epoch.threadsInside().size() + " readers inside the shared epoch");
            }
        }
    }

    /** The barrier on X while {@value #OTHERS} other plugins have a reader inside. */
    @Benchmark
    public BarrierOutcome othersInside(OthersInside s) {
        return s.barrier(TIMEOUT);
    }

    /** The same barrier on a lone plugin's idle epoch: the baseline. */
    @Benchmark
    public BarrierOutcome loneIdle(LoneIdle s) {
        return s.barrier(TIMEOUT);
    }

    /** The old design: a barrier on the one shared epoch with the readers inside it. */
    @Benchmark
    public BarrierOutcome sharedEpoch(SharedInside s) {
        return s.barrier(SHARED_TIMEOUT);
    }

    static void awaitUninterruptibly(CountDownLatch latch) {
        boolean interrupted = false;
        for (;;) {
            try {
                latch.await();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }
}
