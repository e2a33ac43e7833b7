package dev.unloadguard.epoch.internal;

import dev.unloadguard.epoch.BarrierOutcome;
import static dev.unloadguard.epoch.internal.ReleaseEpochTestSupport.BOUND;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** Many readers and barriers at once: barriers finish, and never return early. */
class ReleaseEpochStressTest {

    private final ReleaseEpoch epoch = new ReleaseEpoch();

    @Test
    void barriersCompleteUnderAContinuousReaderStream() throws InterruptedException {
        AtomicBoolean stop = new AtomicBoolean();
        AtomicLong sections = new AtomicLong();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        List<Thread> readers = new ArrayList<>();
        long before;
        for (int r = 0; r < 3; r++) {
            Thread t = new Thread(() -> {
                try {
                    while (!stop.get()) {
                        int outer = epoch.enter();
                        if ((sections.incrementAndGet() & 3) == 0) {
                            int inner = epoch.enter();
                            epoch.exit(inner);
                        }
                        epoch.exit(outer);
                    }
                } catch (Throwable e) {
                    failure.set(e);
                }
            }, "stream-reader-" + r);
            t.setDaemon(true);
            t.start();
            readers.add(t);
        }
        try {
            // The stream must be running before the barriers start (on a loaded machine the
            // readers can take longer to be scheduled than 500 idle barriers take to finish).
            await().atMost(BOUND).until(() -> sections.get() > 1_000 || failure.get() != null);
            before = sections.get();
            for (int i = 0; i < 500; i++) {
                // A liveness bound, not a timing assertion: readers must never starve a barrier.
                assertNotEquals(BarrierOutcome.TIMED_OUT, epoch.barrier(BOUND), "barrier " + i + " starved");
                if (i % 50 == 0) {
                    epoch.barrier();
                }
            }
        } finally {
            stop.set(true);
            for (Thread t : readers) {
                t.join(BOUND.toMillis());
            }
        }
        assertNull(failure.get());
        assertTrue(sections.get() > before, "readers kept running while the barriers ran: " + before + " sections before, "
                + sections.get() + " after");
        assertEquals(BarrierOutcome.IMMEDIATE, epoch.barrier(BOUND));
    }

    /**
     * Many readers and two barrier callers at once, checking two guarantees of the class comment:
     *
     * <p>(G1) Each holding reader publishes the number of the section it is in right after
     * {@code enter()} returns, and records it as finished right before {@code exit()}. A barrier
     * caller reads the published numbers, calls the barrier, and checks that every section it
     * saw open has finished: those sections entered before the barrier began (the publication
     * happens after enter, and the caller read it), so the barrier must have waited for them.
     *
     * <p>(G3) Before each barrier its caller writes GOING, a number {@code k} (the plugin's state
     * changing). Every section reads GOING once inside (an opaque load: only the epoch's fences
     * order it) and, just before it exits, reads the largest {@code k} whose barrier has
     * returned. If that is above what the section saw, barrier {@code k} returned while the
     * section was inside, yet the section did not see GOING = k: barrier k neither waited for it
     * nor was seen by it.
     *
     * <p>To give the races room: readers stay inside for varying times (spins, yields), so that on
     * two cores they are often preempted inside; one enter in four is split into its two halves
     * with a pause between them ({@code readIndex()}, then {@code enterWithIndex()}), as a reader
     * descheduled inside {@code enter} would be, half of them until a whole barrier has returned
     * meanwhile. That puts readers on the inactive index (race (i)); such a reader stays inside
     * until a barrier called after it read GOING returns (none may) or a millisecond passed, and
     * barrier callers leave gaps between barriers, so that the next barrier is one that must wait
     * for it: without step 1 the test fails within a run. The store-buffering windows of the
     * fences and the order of the drain check's sums are too narrow for a stress test to hit
     * reliably; {@link ReleaseEpochLitmusTest} and {@link ReleaseEpochDrainCheckTest} cover those.
     */
    @Test
    void barrierReturnsOnlyAfterEverySectionThatWasOpenWhenItWasCalled() throws InterruptedException {
        int readerCount = 8;
        AtomicLongArray open = new AtomicLongArray(readerCount);       // section number, 0 when outside
        AtomicLongArray finished = new AtomicLongArray(readerCount);   // last finished section number
        AtomicLong going = new AtomicLong();                           // GOING: the number of the latest barrier call
        AtomicLong completed = new AtomicLong();                       // the largest k whose barrier returned
        AtomicBoolean stop = new AtomicBoolean();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        AtomicLong checked = new AtomicLong();
        AtomicLong stale = new AtomicLong();
        AtomicLong barriers = new AtomicLong();
        long end = System.nanoTime() + Duration.ofSeconds(3).toNanos();    // run length, not an assertion
        List<Thread> threads = new ArrayList<>();
        for (int r = 0; r < readerCount; r++) {
            int me = r;
            threads.add(new Thread(() -> {
                try {
                    ThreadLocalRandom random = ThreadLocalRandom.current();
                    for (long section = 1; !stop.get(); section++) {
                        int token;
                        boolean onStaleIndex = false;
                        if (random.nextInt(4) == 0) {
                            int idx = epoch.readIndex();                // enter's first half ...
                            long before = completed.get();
                            if (random.nextBoolean()) {
                                pause(random);
                            } else {
                                descheduledUntilABarrierReturned(completed, before, stop);
                            }
                            token = epoch.enterWithIndex(idx);         // ... and its second, maybe on a stale index
                            if ((token & 1) != epoch.readIndex()) {
                                stale.incrementAndGet();
                                onStaleIndex = true;
                            }
                        } else {
                            token = epoch.enter();
                        }
                        long sawGoing = going.getOpaque();
                        open.set(me, section);
                        int inner = random.nextInt(4) == 0 ? epoch.enter() : -1;
                        if (onStaleIndex) {
                            // Inside on the inactive index: stay until a barrier called after GOING
                            // was read returns. By (G3) none may (it did not write the GOING this
                            // section saw, so it must wait for it): this gives up after a millisecond.
                            descheduledUntilABarrierReturned(completed, sawGoing, stop);
                        } else {
                            pause(random);
                        }
                        if (inner >= 0) {
                            epoch.exit(inner);
                        }
                        open.set(me, 0L);
                        finished.set(me, section);
                        String problem = checkGoing(sawGoing, completed.get());
                        epoch.exit(token);
                        if (problem != null) {
                            throw new AssertionError(problem);
                        }
                    }
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
            }, "invariant-reader-" + r));
        }
        for (int c = 0; c < 2; c++) {
            threads.add(new Thread(() -> {
                try {
                    long[] seen = new long[readerCount];
                    ThreadLocalRandom random = ThreadLocalRandom.current();
                    while (System.nanoTime() - end < 0 && barriers.get() < 6000 && failure.get() == null) {
                        pause(random);                          // gaps between barriers: room for late enters
                        for (int r = 0; r < readerCount; r++) {
                            seen[r] = open.get(r);
                        }
                        long k = going.incrementAndGet();
                        epoch.barrier();
                        completed.accumulateAndGet(k, Math::max);
                        barriers.incrementAndGet();
                        for (int r = 0; r < readerCount; r++) {
                            if (seen[r] != 0L) {
                                checked.incrementAndGet();
                                long done = finished.get(r);
                                if (done < seen[r]) {
                                    throw new AssertionError("(G1) barrier returned while reader " + r + " was still in section "
                                            + seen[r] + " (last finished: " + done + ")");
                                }
                            }
                        }
                    }
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
            }, "invariant-barrier-" + c));
        }
        threads.forEach(t -> t.setDaemon(true));
        threads.forEach(Thread::start);
        for (Thread t : threads.subList(readerCount, threads.size())) {
            t.join(BOUND.toMillis());                                   // the barrier callers stop by themselves
        }
        stop.set(true);
        for (Thread t : threads) {
            t.join(BOUND.toMillis());
        }
        System.out.println("invariant: " + barriers.get() + " barriers, " + checked.get() + " open sections checked, "
                + stale.get() + " sections entered on a stale index");
        if (failure.get() != null) {
            throw new AssertionError(failure.get());
        }
        assertTrue(checked.get() > 100, "the barrier callers saw readers inside " + checked.get() + " times in "
                + barriers.get() + " barriers: too few to mean anything");
    }

    /**
     * Spins (and yields) until a barrier numbered above {@code before} returned, or for at most a
     * millisecond: a reader descheduled for as long as a whole barrier (inside {@code enter}, this
     * is race (i) whenever that barrier flipped the index the reader read).
     */
    private static void descheduledUntilABarrierReturned(AtomicLong completed, long before, AtomicBoolean stop) {
        long deadline = System.nanoTime() + 1_000_000L;
        for (int i = 0; completed.get() <= before && !stop.get() && System.nanoTime() - deadline < 0; i++) {
            Thread.onSpinWait();
            if ((i & 63) == 63) {
                Thread.yield();
            }
        }
    }

    /** Spins or yields for a random while: a reader inside a callback, or descheduled. */
    private static void pause(ThreadLocalRandom random) {
        int spins = random.nextInt(2000);
        for (int i = 0; i < spins; i++) {
            Thread.onSpinWait();
        }
        if (random.nextInt(8) == 0) {
            Thread.yield();
        }
    }

    /** (G3), see the test's comment: what is wrong, or null. */
    private static String checkGoing(long sawGoing, long completedBeforeExit) {
        if (completedBeforeExit > sawGoing) {
            return "(G3) barrier " + completedBeforeExit + " returned while " + Thread.currentThread().getName()
                    + " was inside, but the section saw GOING = " + sawGoing + ": the barrier neither waited for it nor was seen";
        }
        return null;
    }
}
