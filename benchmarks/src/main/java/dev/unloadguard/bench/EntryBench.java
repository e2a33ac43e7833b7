package dev.unloadguard.bench;

import dev.unloadguard.bench.callback.EntryService;
import dev.unloadguard.epoch.Guarded;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.concurrent.TimeUnit;
import java.util.function.LongUnaryOperator;
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
 * Issue 10 target 5: what guarding every entry costs. The same plugin service
 * ({@link EntryService}), called by the host through a JDK interface, as written (unguarded) and
 * as the agent weaves it in a plugin loader whose epoch guards every entry (guarded): an entry
 * call costs {@code guardedEntry - unguardedEntry} (target ≤ 7 ns); one entry making
 * {@link EntryService#NESTED_CALLS} plugin-to-plugin calls costs the entry plus the nested
 * sections, so a nested call costs {@code (guardedNested - unguardedNested - entry cost) / 16}
 * (target ≤ 2 ns: a depth check).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class EntryBench {

    private LongUnaryOperator unguarded;
    private LongUnaryOperator guarded;
    private Object unguardedService;
    private Object guardedService;
    /** Both nested benchmarks call through a method handle of the same shape: the same overhead on both sides. */
    private MethodHandle unguardedNested;
    private MethodHandle guardedNested;
    private long x = 3;

    @Setup(Level.Trial)
    public void setup() throws ReflectiveOperationException {
        EntryService plain = new EntryService();
        unguardedService = plain;
        unguarded = plain;
        unguardedNested = nestedOf(EntryService.class);
        Class<?> woven = Class.forName(EntryService.class.getName(), true,
                GuardingLoader.guardingEntries("bench-entries", EntryService.class.getName()));
        if (!woven.getMethod("nested", long.class).isAnnotationPresent(Guarded.class)
                || !woven.getMethod("applyAsLong", long.class).isAnnotationPresent(Guarded.class)) {
            throw new IllegalStateException("the woven service is not guarded at every entry");
        }
        guardedService = woven.getConstructor().newInstance();
        guarded = (LongUnaryOperator) guardedService;
        guardedNested = nestedOf(woven);
    }

    private static MethodHandle nestedOf(Class<?> service) throws ReflectiveOperationException {
        return MethodHandles.publicLookup().findVirtual(service, "nested", MethodType.methodType(long.class, long.class))
                .asType(MethodType.methodType(long.class, Object.class, long.class));
    }

    @Benchmark
    public long unguardedEntry() {
        return unguarded.applyAsLong(x);
    }

    @Benchmark
    public long guardedEntry() {
        return guarded.applyAsLong(x);
    }

    @Benchmark
    public long unguardedNested() throws Throwable {
        return (long) unguardedNested.invokeExact(unguardedService, x);
    }

    @Benchmark
    public long guardedNested() throws Throwable {
        return (long) guardedNested.invokeExact(guardedService, x);
    }
}
