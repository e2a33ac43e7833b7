package dev.unloadguard.bench;

import dev.unloadguard.epoch.internal.ReleaseEpoch;
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
 * Target 2, the two cases JMH can time: a release barrier with no reader inside, and a barrier
 * while another thread enters and exits the epoch in a tight loop (so the barrier always finds
 * the flip racing a reader). The third case, a reader parked inside, is timed by
 * {@code process.Probe park}: it is about waking up, not about nanoseconds.
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
}
