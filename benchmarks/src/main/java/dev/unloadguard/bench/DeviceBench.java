package dev.unloadguard.bench;

import dev.unloadguard.device.Device;
import dev.unloadguard.device.internal.PluginDevices;
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
import org.openjdk.jmh.annotations.Warmup;

/**
 * Target 4: a device reference taken and dropped ({@code acquire()} + {@code release()}, the
 * {@code drm_dev_get/put} pair), with the device's creation reference held throughout so the
 * release sequence never runs. Compared with {@link EpochBench#atomicInteger()} of the same run.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class DeviceBench {

    private Device device;
    private Device tracked;
    private final Object holder = new Object();

    @Setup(Level.Trial)
    public void setup() {
        device = new PluginDevices("bench", 1, new NoopDriver()).create("card0");
        tracked = new PluginDevices("bench-tracked", 1, new NoopDriver(), true).create("card0");
    }

    @TearDown(Level.Trial)
    public void check() {
        if (device.references() != 1 || tracked.references() != 1) {
            throw new IllegalStateException("unbalanced: " + device.references() + " and " + tracked.references() + " references");
        }
    }

    /** acquire + release, reference tracking off (the default). */
    @Benchmark
    public boolean acquireRelease() {
        return device.acquire().release();
    }

    /**
     * acquire + release on behalf of a holder, reference tracking on (the host turned
     * {@code PluginLoader.Builder.trackReferences} on): each records a stack and a timestamp.
     */
    @Benchmark
    public boolean acquireReleaseTracked() {
        return tracked.acquire(holder).release(holder);
    }

    /** tryAcquire + release ({@code kref_get_unless_zero} + put). */
    @Benchmark
    public boolean tryAcquireRelease() {
        return device.tryAcquire() && device.release();
    }
}
