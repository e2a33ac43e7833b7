package dev.unloadguard.epoch.internal;

import dev.unloadguard.epoch.BarrierOutcome;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.time.Duration;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A deliberately broken copy of {@link ReleaseEpoch}, kept in the tests so that each safety of
 * the real class can be shown to matter: the litmus and race tests find the forbidden outcome
 * with the copy that lacks a safety and never with the real epoch. Without {@link Fault faults}
 * the copy runs the real algorithm, access mode for access mode and fence for fence (enter, exit
 * with the token rules, the unlocks-first drain check, the barrier's steps 1-3), so the difference
 * the tests see comes from the removed safety alone. It leaves out only what the tests do not
 * exercise: dead threads' cells (race (iv): the tests' threads stay alive), nesting beyond depth
 * 64, the spin/yield/park tuning and the barrier-inside-the-epoch check.
 *
 * <p>The faults are instance flags read in the hot paths. The JIT does not fold an instance final
 * field, so each costs a load and a well-predicted branch; neither orders memory, so a run without
 * faults orders exactly as {@code ReleaseEpoch} does.
 *
 * <p>Never use this class outside tests.
 */
final class BrokenEpoch implements EpochUnderTest {

    /** A safety of {@link ReleaseEpoch} that a copy lacks. */
    enum Fault {
        /** The full fence between the unlock and lock sums of the drain check. */
        NO_FENCE_A,
        /** The full fence after the lock increment in {@code enter}. */
        NO_FENCE_B,
        /** The full fence after the flip. */
        NO_FENCE_D,
        /** The full fence when a barrier starts. */
        NO_FENCE_E,
        /** The drain check sums the lock counters before the unlock counters. */
        LOCKS_SUMMED_FIRST,
        /** The barrier does not wait for the inactive index to drain before flipping: race (i). */
        SKIP_STEP_1,
        /**
         * Not a missing fence: the flip is a release store (one writer: barriers are serialized)
         * instead of a volatile read-modify-write. On x86 the read-modify-write is a
         * {@code lock}-prefixed instruction, a full fence of its own that hides whether fence D
         * is there; the JMM does not promise that a volatile RMW orders its write before later
         * loads of other variables (on AArch64 it does not), so D is what the algorithm relies on.
         */
        FLIP_BY_STORE
    }

    private final String name;
    private final boolean fenceA;
    private final boolean fenceB;
    private final boolean fenceD;
    private final boolean fenceE;
    private final boolean unlocksFirst;
    private final boolean step1;
    private final boolean flipByStore;

    private volatile int flips;
    private volatile CellArray cellArray = new CellArray(new Cell[16], 0);
    private final ThreadLocal<Cell> myCell = new ThreadLocal<>();
    private final ReentrantLock barrierLock = new ReentrantLock();
    private final ReentrantLock cellsLock = new ReentrantLock();

    private static final VarHandle FLIPS;
    private static final VarHandle CELL_ARRAY;
    private static final VarHandle LOCK0;
    private static final VarHandle LOCK1;
    private static final VarHandle UNLOCK0;
    private static final VarHandle UNLOCK1;

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            FLIPS = l.findVarHandle(BrokenEpoch.class, "flips", int.class);
            CELL_ARRAY = l.findVarHandle(BrokenEpoch.class, "cellArray", CellArray.class);
            LOCK0 = l.findVarHandle(CellFields.class, "lock0", long.class);
            LOCK1 = l.findVarHandle(CellFields.class, "lock1", long.class);
            UNLOCK0 = l.findVarHandle(CellFields.class, "unlock0", long.class);
            UNLOCK1 = l.findVarHandle(CellFields.class, "unlock1", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private BrokenEpoch(Set<Fault> faults) {
        this.name = faults.isEmpty() ? "BrokenEpoch copy without faults" : "BrokenEpoch " + faults;
        this.fenceA = !faults.contains(Fault.NO_FENCE_A);
        this.fenceB = !faults.contains(Fault.NO_FENCE_B);
        this.fenceD = !faults.contains(Fault.NO_FENCE_D);
        this.fenceE = !faults.contains(Fault.NO_FENCE_E);
        this.unlocksFirst = !faults.contains(Fault.LOCKS_SUMMED_FIRST);
        this.step1 = !faults.contains(Fault.SKIP_STEP_1);
        this.flipByStore = faults.contains(Fault.FLIP_BY_STORE);
    }

    /** A copy lacking {@code faults} (none: the real algorithm). */
    static BrokenEpoch without(Fault... faults) {
        EnumSet<Fault> set = EnumSet.noneOf(Fault.class);
        set.addAll(Arrays.asList(faults));
        return new BrokenEpoch(set);
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String toString() {
        return name;
    }

    @Override
    public int enter() {
        return enterOn(cell(), readIndex());
    }

    @Override
    public int readIndex() {
        return (int) FLIPS.getVolatile(this) & 1;
    }

    @Override
    public int enterWithIndex(int idx) {
        return enterOn(cell(), idx & 1);
    }

    private Cell cell() {
        Cell c = myCell.get();
        return c != null ? c : register();
    }

    private int enterOn(Cell c, int idx) {
        if (idx == 0) {
            LOCK0.setOpaque(c, c.lock0 + 1L);
        } else {
            LOCK1.setOpaque(c, c.lock1 + 1L);
        }
        if (fenceB) {
            VarHandle.fullFence();                      // B
        }
        int d = c.depth + 1;
        if (d > 64) {
            throw new IllegalStateException("the broken copy nests 64 deep at most");
        }
        long m = 1L << (d - 1);
        c.indexBits = idx == 0 ? c.indexBits & ~m : c.indexBits | m;
        c.depth = d;
        return d << 1 | idx;
    }

    @Override
    public void exit(int token) {
        Cell c = myCell.get();
        int d = c == null ? 0 : c.depth;
        int idx = token & 1;
        if (d == 0 || (token >>> 1) != d || (int) (c.indexBits >>> (d - 1) & 1) != idx) {
            throw new IllegalStateException("token [depth " + (token >>> 1) + ", index " + idx
                    + "] is not the innermost open section of this thread in " + name);
        }
        c.depth = d - 1;
        if (idx == 0) {
            UNLOCK0.setRelease(c, c.unlock0 + 1L);
        } else {
            UNLOCK1.setRelease(c, c.unlock1 + 1L);
        }
    }

    @Override
    public boolean drained(int idx, Runnable betweenSums) {
        CellArray snapshot = (CellArray) CELL_ARRAY.getVolatile(this);
        Cell[] cells = snapshot.cells;
        int n = snapshot.size;
        long unlocks;
        long locks;
        if (unlocksFirst) {
            unlocks = sumUnlocks(cells, n, idx);
            if (fenceA) {
                VarHandle.fullFence();                  // A
            }
            if (betweenSums != null) {
                betweenSums.run();
            }
            locks = sumLocks(cells, n, idx);
        } else {
            locks = sumLocks(cells, n, idx);
            if (fenceA) {
                VarHandle.fullFence();
            }
            if (betweenSums != null) {
                betweenSums.run();
            }
            unlocks = sumUnlocks(cells, n, idx);
        }
        return locks == unlocks;
    }

    // Constant VarHandles per index, as in ReleaseEpoch: a VarHandle the JIT cannot see as a
    // constant is invoked through a slow generic path.
    private static long sumUnlocks(Cell[] cells, int n, int idx) {
        long sum = 0L;
        for (int i = 0; i < n; i++) {
            sum += idx == 0 ? (long) UNLOCK0.getAcquire(cells[i]) : (long) UNLOCK1.getAcquire(cells[i]);
        }
        return sum;
    }

    private static long sumLocks(Cell[] cells, int n, int idx) {
        long sum = 0L;
        for (int i = 0; i < n; i++) {
            sum += idx == 0 ? (long) LOCK0.getOpaque(cells[i]) : (long) LOCK1.getOpaque(cells[i]);
        }
        return sum;
    }

    /** The barrier as {@link ReleaseEpoch#barrier(Duration)} runs it: serialized by a lock. */
    @Override
    public BarrierOutcome barrier(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        boolean waited = false;
        if (!barrierLock.tryLock()) {
            waited = true;
            barrierLock.lock();
        }
        try {
            BarrierOutcome outcome = steps(deadline, timeout.toNanos() > 0);
            return waited && outcome == BarrierOutcome.IMMEDIATE ? BarrierOutcome.WAITED : outcome;
        } finally {
            barrierLock.unlock();
        }
    }

    /**
     * Steps 1-3 without taking the barrier lock, for litmus tests with a single barrier caller
     * (nothing to serialize). Taking a {@link ReentrantLock} is a CAS, on x86 a
     * {@code lock}-prefixed instruction and so a full fence right before fence E: it would hide
     * what E alone orders. The JMM does not let a lock acquire order an earlier write before
     * later reads (the "roach motel"), so E is what the algorithm relies on.
     */
    @Override
    public BarrierOutcome barrierSteps(Duration timeout) {
        return steps(System.nanoTime() + timeout.toNanos(), timeout.toNanos() > 0);
    }

    private BarrierOutcome steps(long deadline, boolean mayWait) {
        if (fenceE) {
            VarHandle.fullFence();                      // E
        }
        int active = (int) FLIPS.getOpaque(this) & 1;
        boolean waited = false;
        if (step1) {
            if (!drained(active ^ 1, null)) {           // step 1: race (i)
                waited = true;
                if (!awaitDrained(active ^ 1, deadline, mayWait)) {
                    return BarrierOutcome.TIMED_OUT;
                }
            }
        }
        if (flipByStore) {
            FLIPS.setRelease(this, flips + 1);          // step 2
        } else {
            FLIPS.getAndAdd(this, 1);
        }
        if (fenceD) {
            VarHandle.fullFence();                      // D
        }
        if (!drained(active, null)) {                   // step 3
            waited = true;
            if (!awaitDrained(active, deadline, mayWait)) {
                return BarrierOutcome.TIMED_OUT;
            }
        }
        return waited ? BarrierOutcome.WAITED : BarrierOutcome.IMMEDIATE;
    }

    private boolean awaitDrained(int idx, long deadline, boolean mayWait) {
        while (mayWait && deadline - System.nanoTime() > 0) {
            LockSupport.parkNanos(this, TimeUnit.MICROSECONDS.toNanos(50));
            if (drained(idx, null)) {
                return true;
            }
        }
        return false;
    }

    private Cell register() {
        Cell c = new Cell();
        cellsLock.lock();
        try {
            CellArray current = cellArray;
            Cell[] cells = current.cells;
            if (current.size == cells.length) {
                cells = Arrays.copyOf(cells, 2 * cells.length);
            }
            cells[current.size] = c;
            CELL_ARRAY.setVolatile(this, new CellArray(cells, current.size + 1));
        } finally {
            cellsLock.unlock();
        }
        myCell.set(c);
        return c;
    }

    private static final class CellArray {
        final Cell[] cells;
        final int size;

        CellArray(Cell[] cells, int size) {
            this.cells = cells;
            this.size = size;
        }
    }

    @SuppressWarnings("unused")
    private static class CellPad0 {
        long p01, p02, p03, p04, p05, p06, p07;
    }

    private static class CellFields extends CellPad0 {
        long lock0;
        long lock1;
        long unlock0;
        long unlock1;
        int depth;
        long indexBits;
    }

    @SuppressWarnings("unused")
    private static final class Cell extends CellFields {
        long q01, q02, q03, q04, q05, q06, q07;
    }
}
