package dev.unloadguard.bench;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Where the release epoch's reader time goes (perf counters and perfasm are not available on
 * every machine, so the profile is taken apart by construction instead). Each method is one
 * piece of {@code ReleaseEpoch.enter()} + {@code exit()}; none of them is a correct epoch:
 * <ul>
 * <li>{@link #fence()}: the one full fence (fence B) alone;
 * <li>{@link #cellFence()}: a per-thread cell already in hand: increment, fence, increment
 *     (the design's "per-thread cell with one full fence", the floor of this algorithm);
 * <li>{@link #threadLocalFence()}: the same with the cell looked up in a {@link ThreadLocal} at
 *     enter and again at exit, as {@code exit(int)} must (the token is only the index);
 * <li>{@link #threadLocalTwice()}: the two lookups without the fence.
 * </ul>
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class EpochFloorBench {

    /** A cell: one lock and one unlock counter. */
    static final class Cell {
        long lock;
        long unlock;
    }

    private static final VarHandle LOCK;
    private static final VarHandle UNLOCK;

    static {
        try {
            LOCK = MethodHandles.lookup().findVarHandle(Cell.class, "lock", long.class);
            UNLOCK = MethodHandles.lookup().findVarHandle(Cell.class, "unlock", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final ThreadLocal<Cell> cells = ThreadLocal.withInitial(Cell::new);
    private final Cell cell = new Cell();

    @Benchmark
    public void fence() {
        VarHandle.fullFence();
    }

    @Benchmark
    public void cellFence() {
        Cell c = cell;
        LOCK.setOpaque(c, c.lock + 1);
        VarHandle.fullFence();
        UNLOCK.setRelease(c, c.unlock + 1);
    }

    @Benchmark
    public void threadLocalFence() {
        Cell c = cells.get();
        LOCK.setOpaque(c, c.lock + 1);
        VarHandle.fullFence();
        Cell d = cells.get();
        UNLOCK.setRelease(d, d.unlock + 1);
    }

    @Benchmark
    public long threadLocalTwice() {
        return cells.get().lock + cells.get().unlock;
    }
}
