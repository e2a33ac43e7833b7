package dev.unloadguard.bench;

import dev.unloadguard.bench.callback.CountingCallback;
import dev.unloadguard.driver.ReleaseCallback;
import dev.unloadguard.epoch.Guarded;
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
import org.openjdk.jmh.annotations.Warmup;

/**
 * Target 3: the same release callback, called through {@link ReleaseCallback}, as written
 * (unguarded) and as the agent weaves it in a plugin loader with a release epoch of its own
 * (guarded: {@code invokedynamic} enter of the plugin's epoch at entry, exit before the return, a
 * catch-all that exits and rethrows). The difference is what the guard costs per callback.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class GuardedCallbackBench {

    private ReleaseCallback unguarded;
    private ReleaseCallback guarded;

    @Setup(Level.Trial)
    public void setup() throws ReflectiveOperationException {
        unguarded = new CountingCallback();
        Class<?> woven = Class.forName(CountingCallback.class.getName(), true, new GuardingLoader(CountingCallback.class.getName()));
        if (!woven.getMethod("release").isAnnotationPresent(Guarded.class)) {
            throw new IllegalStateException("the woven callback is not guarded");
        }
        guarded = (ReleaseCallback) woven.getConstructor().newInstance();
    }

    @Benchmark
    public void unguarded() {
        unguarded.release();
    }

    @Benchmark
    public void guarded() {
        guarded.release();
    }
}
