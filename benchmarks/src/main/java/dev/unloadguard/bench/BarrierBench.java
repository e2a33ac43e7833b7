package dev.unloadguard.bench;

import dev.unloadguard.bench.process.CrowdThreads;

import dev.unloadguard.epoch.internal.ReleaseEpoch;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
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
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Release barriers: with no reader inside, racing a reader in a tight enter/exit loop, and (issue
 * 11, target 3) with many threads that each entered once and are now idle (alive, parked outside
 * the epoch) or dead. The third case of issue 2, a reader parked inside, is timed by
 * {@code process.Probe park}: it is about waking up, not about nanoseconds.
 *
 * <p>The crowds: {@code 1-cell} (only the benchmark thread entered), {@code 10k-platform-alive}
 * and {@code -dead} (10,000 platform threads entered and exited once; then they park, or end),
 * {@code 100k-virtual-alive} and {@code -dead} (the same with 100,000 virtual threads; needs a JDK
 * 21+, the setup fails with a message on 17 and JMH goes on with the next case). {@link #crowd}
 * times a barrier again and again on one crowd (the steady state); {@link #firstBarrier} times the
 * first barrier after a fresh crowd entered (single shot, a new crowd per iteration).
 */
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
@Threads(1)
public class BarrierBench {

    /** An epoch some threads have entered and left (their cells are registered), none inside. */
    @State(Scope.Benchmark)
    public static class Idle {
        final ReleaseEpoch epoch = new ReleaseEpoch();

        @Setup(Level.Trial)
        public void setup() throws InterruptedException {
            for (int i = 0; i < 4; i++) {
                Thread t = new Thread(() -> epoch.exit(epoch.enter()));
                t.start();
                t.join();
            }
            epoch.exit(epoch.enter());
        }
    }

    /** An epoch with a reader thread that enters and exits as fast as it can. */
    @State(Scope.Benchmark)
    public static class Busy {
        final ReleaseEpoch epoch = new ReleaseEpoch();
        volatile boolean running;
        Thread reader;
        /** Sections the reader completed: shows it really ran during the trial. */
        volatile long sections;
        volatile boolean started;

        @Setup(Level.Trial)
        public void start() {
            running = true;
            reader = new Thread(() -> {
                long n = 0;
                while (running) {
                    int t = epoch.enter();
                    epoch.exit(t);
                    if (n++ == 0) {
                        started = true;
                    }
                }
                sections = n;
            }, "tight-reader");
            reader.setDaemon(true);
            reader.start();
            while (!started) {
                Thread.onSpinWait(); // until the reader's cell is registered and it runs
            }
        }

        @TearDown(Level.Trial)
        public void stop() throws InterruptedException {
            running = false;
            reader.join();
            if (sections == 0) {
                throw new IllegalStateException("the reader never ran");
            }
        }
    }

    /**
     * An epoch that a crowd of threads entered once each (one section, exited), plus the benchmark
     * thread. Alive crowds stay parked outside the epoch until tear-down; dead ones have ended (and
     * nothing keeps their {@code Thread} objects).
     * (A state only for its parameter: the benchmarks use its two subclasses.)
     */
    @State(Scope.Benchmark)
    public static class CrowdBase {
        @Param({"1-cell", "10k-platform-alive", "10k-platform-dead", "100k-virtual-alive", "100k-virtual-dead"})
        public String crowd;

        ReleaseEpoch epoch;
        private CountDownLatch release;
        private List<Thread> alive;

        void enterCrowd() throws InterruptedException {
            epoch = new ReleaseEpoch();
            epoch.exit(epoch.enter());
            release = new CountDownLatch(1);
            alive = new ArrayList<>();
            if (crowd.equals("1-cell")) {
                return;
            }
            boolean virtual = crowd.contains("virtual");
            int n = crowd.startsWith("100k") ? 100_000 : 10_000;
            boolean stay = crowd.endsWith("alive");
            CountDownLatch entered = new CountDownLatch(n);
            ReleaseEpoch e = epoch;
            CountDownLatch r = release;
            Runnable body = () -> {
                e.exit(e.enter());
                entered.countDown();
                if (stay) {
                    try {
                        r.await();
                    } catch (InterruptedException ex) {
                        Thread.currentThread().interrupt();
                    }
                }
            };
            List<Thread> started = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                started.add(virtual ? CrowdThreads.startVirtual(body, "run the virtual-thread crowds with a newer java, or pick -p crowd=1-cell,10k-platform-alive,...")
                        : CrowdThreads.startPlatform(body, "crowd-" + i));
            }
            entered.await();
            if (stay) {
                alive = started;
            } else {
                for (Thread t : started) {
                    t.join();
                }
            }
        }

        void leaveCrowd() throws InterruptedException {
            release.countDown();
            for (Thread t : alive) {
                t.join();
            }
            alive = new ArrayList<>();
        }
    }

    /** A crowd made once per trial: {@link #crowd} times its barriers in the steady state. */
    @State(Scope.Benchmark)
    public static class Crowd extends CrowdBase {
        @Setup(Level.Trial)
        public void setup() throws InterruptedException {
            enterCrowd();
        }

        @TearDown(Level.Trial)
        public void tearDown() throws InterruptedException {
            leaveCrowd();
        }
    }

    /** A fresh crowd per iteration: {@link #firstBarrier} times the first barrier after it entered. */
    @State(Scope.Benchmark)
    public static class FreshCrowd extends CrowdBase {
        @Setup(Level.Iteration)
        public void setup() throws InterruptedException {
            enterCrowd();
        }

        @TearDown(Level.Iteration)
        public void tearDown() throws InterruptedException {
            leaveCrowd();
        }
    }

    /** A barrier with no reader inside (a few idle cells registered). */
    @Benchmark
    @BenchmarkMode(Mode.AverageTime)
    @OutputTimeUnit(TimeUnit.NANOSECONDS)
    public void idle(Idle s) {
        s.epoch.barrier();
    }

    /** A barrier racing one reader thread in a tight enter/exit loop; sampled for its median. */
    @Benchmark
    public void busyReader(Busy s) {
        s.epoch.barrier();
    }

    /** An idle barrier after a crowd entered once each, again and again (the steady state). */
    @Benchmark
    @BenchmarkMode(Mode.AverageTime)
    public void crowd(Crowd s) {
        s.epoch.barrier();
    }

    /** The first barrier after a fresh crowd entered once each (one per iteration). */
    @Benchmark
    @BenchmarkMode(Mode.SingleShotTime)
    public void firstBarrier(FreshCrowd s) {
        s.epoch.barrier();
    }
}
