package dev.unloadguard.bench;

import dev.unloadguard.bench.binding.PluginBindings;
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
 * Issue 8, target 1: what one read section (enter + exit) costs plugin code now that every plugin
 * generation has a release epoch of its own, against the binding it replaced and the CPU floor.
 * Every benchmark calls one method of the same plugin class ({@link PluginBindings}, defined by a
 * {@link GuardingLoader}: a plugin loader with its own epoch, the class woven by the agent's real
 * transformer), through the same interface call, so they differ only in the binding:
 * <ul>
 * <li>{@link #sharedStatic()}, the baseline: the design before per-plugin epochs, one epoch in a
 *     {@code static final} field reached through static methods ({@link SharedEpoch}, shaped like
 *     the old {@code ReleaseGuard.enter()/exit(t)}); today's epoch class behind it;
 * <li>{@link #indy()}, what ships: a method the transformer wove, {@code invokedynamic} whose
 *     bootstrap ({@code ReleaseGuard.bootstrap}) returns a constant call site bound to the plugin's
 *     epoch;
 * <li>{@link #boundHandle()}: the same handle ({@code ReleaseGuard.handle}) in a {@code static
 *     final MethodHandle}, {@code invokeExact} (what the JIT also treats as a constant);
 * <li>{@link #classValue()}: the epoch looked up in a {@code ClassValue} at enter and at exit;
 * <li>{@link #loaderCast()}: the epoch asked of the class loader ({@code EpochHolder}) at enter
 *     and at exit;
 * <li>{@link #atomicInteger()} and {@link #fence()}: no epoch; a shared counter incremented and
 *     decremented, and one full fence (the fence {@code enter} needs: the floor).
 * </ul>
 * The plugin's methods are small and monomorphic, so the JIT inlines them into the benchmark
 * loop, as it would inline a small release callback into its caller. {@code -prof gc} gives the
 * allocation per call ({@code gc.alloc.rate.norm}: an enter must allocate nothing).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class BindingBench {

    private EpochBinding plugin;

    @Setup(Level.Trial)
    public void setup() throws Throwable {
        GuardingLoader loader = GuardingLoader.named("bench-binding", PluginBindings.class.getName());
        Class<?> c = Class.forName(PluginBindings.class.getName(), true, loader);
        if (c.getClassLoader() != loader || !c.getMethod("indy").isAnnotationPresent(Guarded.class)) {
            throw new IllegalStateException("PluginBindings is not woven plugin code: " + c.getClassLoader());
        }
        plugin = (EpochBinding) c.getConstructor().newInstance();
        if (plugin.depthInside() != 1) {
            throw new IllegalStateException("the woven method does not run inside its plugin's epoch");
        }
        plugin.indy();
        plugin.boundHandle();
        plugin.classValue();
        plugin.loaderCast();
        plugin.sharedStatic();
        if (loader.releaseEpoch().depth() != 0) {
            throw new IllegalStateException("unbalanced sections");
        }
    }

    @Benchmark
    public int sharedStatic() {
        return plugin.sharedStatic();
    }

    @Benchmark
    public int indy() {
        return plugin.indy();
    }

    @Benchmark
    public int boundHandle() throws Throwable {
        return plugin.boundHandle();
    }

    @Benchmark
    public int classValue() {
        return plugin.classValue();
    }

    @Benchmark
    public int loaderCast() {
        return plugin.loaderCast();
    }

    @Benchmark
    public int atomicInteger() {
        return plugin.atomicInteger();
    }

    @Benchmark
    public int fence() {
        return plugin.fence();
    }
}
