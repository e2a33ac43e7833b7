package dev.unloadguard.bench;

import dev.unloadguard.epoch.internal.ReleaseEpoch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.concurrent.locks.StampedLock;
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
 * Target 1: one release-epoch read section (enter + exit) against what a user would pick
 * instead to mark "a thread is inside", each as one enter/exit pair on state shared by all
 * benchmark threads. Run with {@code -t 1} and {@code -t 2}: every alternative is shared, so two
 * threads show what sharing costs (the epoch's readers write only their own cell).
 *
 * <p>Every method does the pair and returns something that depends on it, so nothing is
 * eliminated. No barrier runs here: this is the reader's fast path.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class EpochBench {

    private final ReleaseEpoch epoch = new ReleaseEpoch();
    private final AtomicInteger atomic = new AtomicInteger();
    private final LongAdder adder = new LongAdder();
    private final ReentrantReadWriteLock.ReadLock rrwl = new ReentrantReadWriteLock().readLock();
    private final StampedLock stamped = new StampedLock();

    /** The release epoch: {@code enter()} then {@code exit(token)}. */
    @Benchmark
    public int epoch() {
        int t = epoch.enter();
        epoch.exit(t);
        return t;
    }

    /** One shared {@link AtomicInteger}: increment then decrement (the design's baseline). */
    @Benchmark
    public int atomicInteger() {
        atomic.incrementAndGet();
        return atomic.decrementAndGet();
    }

    /** One shared {@link LongAdder}: increment then decrement (striped cells). */
    @Benchmark
    public void longAdder() {
        adder.increment();
        adder.decrement();
    }

    /** A {@link ReentrantReadWriteLock}'s read lock: lock then unlock. */
    @Benchmark
    public void rrwlRead() {
        rrwl.lock();
        rrwl.unlock();
    }

    /** A {@link StampedLock}'s (pessimistic) read lock: lock then unlock. */
    @Benchmark
    public long stampedRead() {
        long s = stamped.readLock();
        stamped.unlockRead(s);
        return s;
    }
}
