package dev.unloadguard.epoch.internal;

import static dev.unloadguard.epoch.internal.ReleaseEpochTestSupport.BOUND;
import static dev.unloadguard.epoch.internal.ReleaseEpochTestSupport.assertStillWaiting;
import static dev.unloadguard.epoch.internal.ReleaseEpochTestSupport.awaitDone;
import static dev.unloadguard.epoch.internal.ReleaseEpochTestSupport.barrierAsync;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.epoch.BarrierOutcome;
import dev.unloadguard.epoch.internal.ReleaseEpochTestSupport.Reader;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * The sweep of the class comment's "Idle and dead threads": cells of idle threads leave the array
 * (so a barrier reads only the cells of threads that may be inside), and come back on their
 * thread's next enter before that section's first load; a sweep racing an enter keeps the cell.
 */
class ReleaseEpochSweepTest {

    private final ReleaseEpoch epoch = new ReleaseEpoch();

    @Test
    void anIdleThreadsCellLeavesTheArrayAndComesBackWhenItEntersAgain() {
        List<Reader> readers = new ArrayList<>();
        try {
            for (int i = 0; i < 20; i++) {
                Reader r = new Reader(epoch, "idle-" + i);
                readers.add(r);
                r.exit(r.enter());
            }
            assertTrue(epoch.cellCount() <= ReleaseEpoch.MIN_CELL_CAPACITY, "the 17th registration swept: " + epoch.cellCount());
            assertEquals(BarrierOutcome.IMMEDIATE, epoch.barrier(BOUND));
            assertEquals(0, epoch.cellCount(), "all 20 threads are alive and idle: no cell left to read");

            Reader back = readers.get(7);
            int token = back.enter();                             // its cell is detached: put back first
            assertEquals(1, epoch.cellCount());
            assertEquals(List.of(back.thread), epoch.threadsInside());
            CompletableFuture<BarrierOutcome> barrier = barrierAsync(epoch, BOUND.multipliedBy(2));
            assertStillWaiting(barrier);                          // fails if the enter did not attach the cell again
            back.exit(token);
            assertEquals(BarrierOutcome.WAITED, awaitDone(barrier));
            assertEquals(BarrierOutcome.IMMEDIATE, epoch.barrier(BOUND));
            assertEquals(0, epoch.cellCount(), "idle again: the next barrier's sweep detached it again");
        } finally {
            readers.forEach(Reader::close);
        }
    }

    @Test
    void aSweepKeepsTheCellOfAThreadThatEnteredAfterItsCountersWereRead() {
        try (Reader r = new Reader(epoch, "enters-during-the-sweep")) {
            r.exit(r.enter());                                    // idle: balanced counters
            AtomicInteger token = new AtomicInteger(-1);
            // The sweep read balanced counters; the thread enters before the sweep marks the cell
            // (so it does not see the mark): the sweep's re-read after fence F must see its lock.
            epoch.sweepCells(() -> token.set(r.enter()));
            assertNotEquals(-1, token.get());
            assertEquals(1, epoch.cellCount(), "a cell whose thread is inside stays in the array");
            CompletableFuture<BarrierOutcome> barrier = barrierAsync(epoch, BOUND.multipliedBy(2));
            assertStillWaiting(barrier);
            r.exit(token.get());
            assertEquals(BarrierOutcome.WAITED, awaitDone(barrier));
        }
    }

    /**
     * A reader inside while a crowd of threads (100,000 virtual ones on Java 21+, else 5,000
     * platform ones) enters and exits once each on both indexes, some staying alive and idle,
     * most dying: their cells leave the array without losing or adding a count, so the barrier
     * still waits exactly for the reader.
     */
    @Test
    void aBarrierStillWaitsForAReaderAfterACrowdOfThreadsWasSwept() throws Exception {
        Function<Runnable, Thread> starter = virtualThreadStarter();
        int crowd = starter != null ? 100_000 : 5_000;
        if (starter == null) {
            starter = body -> {
                Thread t = new Thread(body, "crowd");
                t.setDaemon(true);
                t.start();
                return t;
            };
        }
        CountDownLatch leave = new CountDownLatch(1);
        List<Thread> idle = new ArrayList<>();
        runCrowd(starter, crowd / 2, leave, idle);                // on the index active now
        assertEquals(BarrierOutcome.IMMEDIATE, epoch.barrier(BOUND));  // flips the index
        try (Reader reader = new Reader(epoch, "inside-during-the-crowd")) {
            int token = reader.enter();
            runCrowd(starter, crowd / 2, leave, idle);            // on the reader's index
            // Without sweeps the array would hold a cell per thread; with them, the reader's, the
            // threads inside at the last sweep (a few, but more on a loaded machine) and the newer ones.
            assertTrue(epoch.cellCount() <= 256,
                    "registrations swept idle and dead cells: " + epoch.cellCount() + " cells after " + crowd + " threads");
            CompletableFuture<BarrierOutcome> barrier = barrierAsync(epoch, BOUND.multipliedBy(2));
            assertStillWaiting(barrier);
            assertEquals(1, epoch.cellCount(), "only the reader's cell is left after the barrier's sweep");
            reader.exit(token);
            assertEquals(BarrierOutcome.WAITED, awaitDone(barrier));
        } finally {
            leave.countDown();
            for (Thread t : idle) {
                t.join();
            }
        }
        assertEquals(BarrierOutcome.IMMEDIATE, epoch.barrier(BOUND));
        assertEquals(BarrierOutcome.IMMEDIATE, epoch.barrier(BOUND));
    }

    /** Starts {@code n} threads that enter and exit once; one in 100 then stays alive (idle) until {@code leave}. */
    private void runCrowd(Function<Runnable, Thread> starter, int n, CountDownLatch leave, List<Thread> idle)
            throws InterruptedException {
        AtomicInteger sections = new AtomicInteger();
        CountDownLatch entered = new CountDownLatch(n);
        List<Thread> dying = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            boolean stays = i % 100 == 0;
            Thread t = starter.apply(() -> {
                int token = epoch.enter();
                sections.incrementAndGet();
                epoch.exit(token);
                entered.countDown();
                if (stays) {
                    try {
                        leave.await();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
            });
            (stays ? idle : dying).add(t);
        }
        entered.await();
        for (Thread t : dying) {
            t.join();
        }
        assertEquals(n, sections.get());
    }

    /** Starts virtual threads (Java 21+), or {@code null} on an older Java. */
    private static Function<Runnable, Thread> virtualThreadStarter() {
        try {
            Object builder = Thread.class.getMethod("ofVirtual").invoke(null);
            Method start = Class.forName("java.lang.Thread$Builder").getMethod("start", Runnable.class);
            return body -> {
                try {
                    return (Thread) start.invoke(builder, body);
                } catch (IllegalAccessException | InvocationTargetException e) {
                    throw new IllegalStateException(e);
                }
            };
        } catch (NoSuchMethodException | ClassNotFoundException | IllegalAccessException | InvocationTargetException e) {
            return null;
        }
    }

    /**
     * G1 and G3 (the stress test's checks) while sweeps detach readers between their sections all
     * the time: barriers sweep when they start and a churn of short-lived threads sweeps at every
     * full array, so readers keep coming back through the slow path while barriers run. A reader
     * publishes its section number after {@code enter()} returns; a barrier caller that saw it
     * open checks that it finished once the barrier returned (G1). Before each barrier its caller
     * writes GOING = k; a section that did not see GOING = k must not find barrier k returned
     * before it exits (G3).
     */
    @Test
    void barriersWaitForEverySectionWhileSweepsDetachAndReadersComeBack() throws InterruptedException {
        int readerCount = 4;
        AtomicLongArray open = new AtomicLongArray(readerCount);
        AtomicLongArray finished = new AtomicLongArray(readerCount);
        AtomicLong going = new AtomicLong();
        AtomicLong completed = new AtomicLong();
        AtomicBoolean stop = new AtomicBoolean();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        AtomicLong checked = new AtomicLong();
        AtomicLong barriers = new AtomicLong();
        AtomicLong churned = new AtomicLong();
        long end = System.nanoTime() + Duration.ofSeconds(3).toNanos();   // run length, not an assertion
        List<Thread> threads = new ArrayList<>();
        for (int r = 0; r < readerCount; r++) {
            int me = r;
            threads.add(new Thread(() -> {
                try {
                    ThreadLocalRandom random = ThreadLocalRandom.current();
                    for (long section = 1; !stop.get(); section++) {
                        int token = epoch.enter();
                        long sawGoing = going.getOpaque();
                        open.set(me, section);
                        pause(random);
                        open.set(me, 0L);
                        finished.set(me, section);
                        long done = completed.get();
                        epoch.exit(token);
                        if (done > sawGoing) {
                            throw new AssertionError("(G3) barrier " + done + " returned while a section was inside that saw "
                                    + "GOING = " + sawGoing);
                        }
                        if (random.nextInt(4) == 0) {
                            Thread.yield();                              // idle for a while: a sweep may detach the cell
                        }
                    }
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
            }, "sweep-reader-" + r));
        }
        threads.add(new Thread(() -> {
            try {
                while (!stop.get()) {
                    Thread t = new Thread(() -> epoch.exit(epoch.enter()), "churn");
                    t.start();
                    t.join();
                    churned.incrementAndGet();
                }
            } catch (Throwable e) {
                failure.compareAndSet(null, e);
            }
        }, "sweep-churn"));
        int barrierCallers = 2;
        for (int c = 0; c < barrierCallers; c++) {
            threads.add(new Thread(() -> {
                try {
                    long[] seen = new long[readerCount];
                    ThreadLocalRandom random = ThreadLocalRandom.current();
                    while (System.nanoTime() - end < 0 && failure.get() == null) {
                        pause(random);
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
                                if (finished.get(r) < seen[r]) {
                                    throw new AssertionError("(G1) barrier returned while reader " + r + " was still in section "
                                            + seen[r] + " (last finished: " + finished.get(r) + ")");
                                }
                            }
                        }
                    }
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
            }, "sweep-barrier-" + c));
        }
        threads.forEach(t -> t.setDaemon(true));
        threads.forEach(Thread::start);
        List<Thread> callers = threads.subList(threads.size() - barrierCallers, threads.size());
        for (Thread t : callers) {
            t.join(BOUND.toMillis());
        }
        stop.set(true);
        for (Thread t : threads) {
            t.join(BOUND.toMillis());
        }
        System.out.println("sweep stress: " + barriers.get() + " barriers, " + checked.get() + " open sections checked, "
                + churned.get() + " short-lived threads");
        if (failure.get() != null) {
            throw new AssertionError(failure.get());
        }
        assertTrue(checked.get() > 100, "the barrier callers saw readers inside " + checked.get() + " times in "
                + barriers.get() + " barriers: too few to mean anything");
        assertTrue(churned.get() > ReleaseEpoch.MIN_CELL_CAPACITY, "the churn filled the array at least once: " + churned.get());
    }

    /** Spins (and sometimes yields) for a random while: a reader inside a callback, or descheduled. */
    private static void pause(ThreadLocalRandom random) {
        int spins = random.nextInt(2000);
        for (int i = 0; i < spins; i++) {
            Thread.onSpinWait();
        }
        if (random.nextInt(8) == 0) {
            Thread.yield();
        }
    }
}
