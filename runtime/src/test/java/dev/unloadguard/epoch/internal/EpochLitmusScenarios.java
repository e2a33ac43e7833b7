package dev.unloadguard.epoch.internal;

import dev.unloadguard.epoch.BarrierOutcome;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.time.Duration;

/**
 * The litmus scenarios of {@link ReleaseEpochLitmusTest}. In each, thread 1 is a reader and
 * thread 2 the barrier side; the forbidden outcome is the store-buffering result a pair of full
 * fences rules out: both threads' loads miss the other thread's store.
 */
final class EpochLitmusScenarios {

    private EpochLitmusScenarios() {
    }

    /**
     * What the barrier's caller writes before the barrier (a plugin's GOING state), written and
     * read with opaque accesses (plain moves on x86): only the epoch's fences order them. On a
     * cache line of its own.
     */
    @SuppressWarnings("unused")
    static final class Going {
        long p01, p02, p03, p04, p05, p06, p07;
        long value;
        long q01, q02, q03, q04, q05, q06, q07;

        private static final VarHandle VALUE;

        static {
            try {
                VALUE = MethodHandles.lookup().findVarHandle(Going.class, "value", long.class);
            } catch (ReflectiveOperationException e) {
                throw new ExceptionInInitializerError(e);
            }
        }

        void set(long v) {
            VALUE.setOpaque(this, v);
        }

        long get() {
            return (long) VALUE.getOpaque(this);
        }
    }

    /**
     * Other writes the barrier's caller makes before it writes GOING and calls the barrier
     * (a host tears down a plugin's state field by field), to lines the reader has read: each
     * store needs the line back from the reader's cache, and stores leave the store buffer in
     * order, so GOING (or the flip) becomes visible later. This widens the window in which a
     * missing barrier-side fence shows; with the fence, no window is wide enough.
     */
    static final class CallerWrites {
        static final int COUNT = Integer.getInteger("unloadguard.litmus.callerWrites", 8);
        private final Going[] lines = new Going[COUNT];

        CallerWrites() {
            for (int k = 0; k < lines.length; k++) {
                lines[k] = new Going();
            }
        }

        /** The barrier side, before GOING. */
        void write(long i) {
            for (Going line : lines) {
                line.set(i);
            }
        }

        /** The reader, outside the race: brings the lines into its cache. */
        long read() {
            long sum = 0L;
            for (Going line : lines) {
                sum += line.get();
            }
            return sum;
        }
    }

    /** Outcome codes: bit 0 the reader's observation, bit 1 that the barrier side missed the reader. */
    private abstract static class TwoBits extends Litmus.Scenario {
        static final int READER_SAW = 1;
        static final int BARRIER_MISSED_READER = 2;

        final EpochUnderTest epoch;
        final CallerWrites callerWrites = new CallerWrites();
        /** Keeps the reader's loads of the caller's lines from being optimized away. */
        long sink;

        TwoBits(EpochUnderTest epoch) {
            this.epoch = epoch;
        }

        @Override
        boolean forbidden(int outcome) {
            return outcome == BARRIER_MISSED_READER;    // missed the reader, and the reader saw nothing
        }

        /**
         * The barrier side counted the reader and the reader saw the barrier side's write: each
         * one's write came before the other's read, which needs the two to overlap.
         */
        @Override
        boolean overlapped(int outcome) {
            return outcome == READER_SAW;
        }

        @Override
        boolean tellsOverlaps() {
            return true;
        }
    }

    /**
     * Fences A and B, the store-buffering pair of the drain check ({@code srcu_readers_active_idx_check})
     * and {@code enter}, as in the kernel ("smp_mb()s A and B act like the store buffering
     * pattern"). Reader: {@code enterWithIndex(0)} (lock increment, fence B), then load GOING.
     * Barrier side: store GOING, then one drain check of index 0 (unlock sum, fence A, lock sum).
     * The reader stays inside until the iteration is judged. Forbidden: the check found index 0
     * drained and the reader did not see GOING, (G3) broken: a reader runs on without seeing the
     * unload while the barrier believes no one is inside.
     */
    static final class CheckVsReader extends TwoBits {
        private final Going going = new Going();
        private int token;
        private boolean seen;
        private boolean drained;

        CheckVsReader(EpochUnderTest epoch) {
            super(epoch);
        }

        @Override
        void reset1(long i) {
            if (i > 0) {
                epoch.exit(token);
            }
            sink += callerWrites.read();
        }

        @Override
        void actor1(long i) {
            token = epoch.enterWithIndex(0);
            seen = going.get() >= i;
        }

        @Override
        void actor2(long i) {
            callerWrites.write(i);
            going.set(i);
            drained = epoch.drained(0, null);
        }

        @Override
        int outcome(long i) {
            return (seen ? READER_SAW : 0) | (drained ? BARRIER_MISSED_READER : 0);
        }

        @Override
        String describe(int outcome) {
            return (outcome & BARRIER_MISSED_READER) != 0
                    ? ((outcome & READER_SAW) != 0 ? "drained/reader saw GOING" : "drained/reader missed GOING")
                    : ((outcome & READER_SAW) != 0 ? "counted/reader saw GOING" : "counted/reader missed GOING");
        }
    }

    /**
     * Fence E, with race (i)'s reader. The reader read index {@code i} long ago and increments
     * {@code lock[i]} now, after the index flipped: it enters on the <em>inactive</em> index
     * (then loads GOING). The barrier side stores GOING and runs a barrier with a zero timeout:
     * fence E, step 1 checks the inactive index, the flip, step 3 checks the other. Forbidden: the
     * barrier returned {@code IMMEDIATE} (its step 1 missed the reader, so it flipped and
     * returned) and the reader did not see GOING.
     */
    static final class StaleReaderVsBarrier extends TwoBits {
        private final Going going = new Going();
        private int stale;
        private int token;
        private boolean seen;
        private boolean immediate;

        StaleReaderVsBarrier(EpochUnderTest epoch) {
            super(epoch);
        }

        @Override
        void reset1(long i) {
            if (i > 0) {
                epoch.exit(token);
            }
            sink += callerWrites.read();
            stale = epoch.readIndex() ^ 1;              // as if read before the last flip
        }

        @Override
        void actor1(long i) {
            token = epoch.enterWithIndex(stale);
            seen = going.get() >= i;
        }

        @Override
        void actor2(long i) {
            callerWrites.write(i);
            going.set(i);
            immediate = epoch.barrierSteps(Duration.ZERO) == BarrierOutcome.IMMEDIATE;
        }

        @Override
        int outcome(long i) {
            return (seen ? READER_SAW : 0) | (immediate ? BARRIER_MISSED_READER : 0);
        }

        @Override
        String describe(int outcome) {
            return ((outcome & BARRIER_MISSED_READER) != 0 ? "IMMEDIATE" : "TIMED_OUT (saw the reader)")
                    + ((outcome & READER_SAW) != 0 ? "/reader saw GOING" : "/reader missed GOING");
        }
    }

    /**
     * Fence D, race (ii). The reader read the active index {@code i} just before the flip and
     * increments {@code lock[i]} (fence B), then reads the index again, as its next enter would.
     * The barrier side runs a barrier with a zero timeout: step 1 (the other index is empty), the
     * flip, fence D, step 3 checks {@code i}. Forbidden: step 3 missed the reader's increment
     * (the barrier returned {@code IMMEDIATE}) and the reader's next index read missed the flip,
     * so the old index would keep gaining sections the barrier does not see.
     */
    static final class OldIndexReaderVsFlip extends TwoBits {
        private int old;
        private int token;
        private boolean seenFlip;
        private boolean immediate;

        OldIndexReaderVsFlip(EpochUnderTest epoch) {
            super(epoch);
        }

        @Override
        void reset1(long i) {
            if (i > 0) {
                epoch.exit(token);
            }
            sink += callerWrites.read();
            old = epoch.readIndex();
        }

        @Override
        void actor1(long i) {
            token = epoch.enterWithIndex(old);
            seenFlip = epoch.readIndex() != old;
        }

        @Override
        void actor2(long i) {
            callerWrites.write(i);
            immediate = epoch.barrierSteps(Duration.ZERO) == BarrierOutcome.IMMEDIATE;
        }

        @Override
        int outcome(long i) {
            return (seenFlip ? READER_SAW : 0) | (immediate ? BARRIER_MISSED_READER : 0);
        }

        @Override
        String describe(int outcome) {
            return ((outcome & BARRIER_MISSED_READER) != 0 ? "IMMEDIATE" : "TIMED_OUT (saw the reader)")
                    + ((outcome & READER_SAW) != 0 ? "/reader saw the flip" : "/reader missed the flip");
        }
    }

    /**
     * The order of the drain check's sums (the ordering fence A keeps, with the acquire unlock
     * loads). Thread 2 is inside a section on index 0 for the whole run and checks index 0; in
     * each iteration thread 1 runs one whole section on index 0 at the same moment. Forbidden:
     * the check reports index 0 drained while thread 2 is inside. Summing locks first, a section
     * whose lock increment the lock sum missed and whose unlock increment the unlock sum saw
     * cancels thread 2's open section. On x86, and with the unlock loads acquire, removing fence
     * A alone cannot reorder the loads (x86 keeps loads in order; acquire forbids moving the lock
     * loads before them); a reordering that A and acquire prevent would read the lock counters
     * first, which is what the copy with {@code LOCKS_SUMMED_FIRST} does.
     */
    static final class SectionDuringCheck extends Litmus.Scenario {
        private final EpochUnderTest epoch;
        private boolean inside;
        private boolean drained;

        SectionDuringCheck(EpochUnderTest epoch) {
            this.epoch = epoch;
        }

        @Override
        void actor1(long i) {
            epoch.exit(epoch.enterWithIndex(0));
        }

        @Override
        void actor2(long i) {
            if (!inside) {
                epoch.enterWithIndex(0);                // stays open for the whole run
                inside = true;
            }
            drained = epoch.drained(0, null);
        }

        @Override
        int outcome(long i) {
            return drained ? 1 : 0;
        }

        @Override
        boolean forbidden(int outcome) {
            return outcome == 1;
        }

        @Override
        String describe(int outcome) {
            return outcome == 1 ? "drained while a reader is inside" : "not drained";
        }
    }
}
