package dev.unloadguard.epoch.internal;

import dev.unloadguard.epoch.BarrierOutcome;
import static dev.unloadguard.epoch.internal.ReleaseEpochTestSupport.BOUND;
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
        assertTrue(sections.get() > 500, "readers ran: " + sections.get());
        assertEquals(BarrierOutcome.IMMEDIATE, epoch.barrier(BOUND));
    }

    /**
     * Each reader publishes the number of the section it is in right after {@code enter()}
     * returns, and records it as finished right before {@code exit()}. A barrier caller reads
     * the published numbers, calls the barrier, and checks that every section it saw open
     * has finished: those sections entered before the barrier began (the publication happens
     * after enter, and the caller read it), so the barrier must have waited for them. Readers
     * stay inside for varying times (spins and yields) so that on two cores they are often
     * preempted inside: a barrier that returned early would be caught.
     */
    @Test
    void barrierReturnsOnlyAfterEverySectionThatWasOpenWhenItWasCalled() throws InterruptedException {
        int readerCount = 8;
        AtomicLongArray open = new AtomicLongArray(readerCount);       // section number, 0 when outside
        AtomicLongArray finished = new AtomicLongArray(readerCount);   // last finished section number
        AtomicBoolean stop = new AtomicBoolean();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        AtomicLong checked = new AtomicLong();
        AtomicLong barriers = new AtomicLong();
        long end = System.nanoTime() + Duration.ofSeconds(3).toNanos();    // run length, not an assertion
        List<Thread> threads = new ArrayList<>();
        for (int r = 0; r < readerCount; r++) {
            int me = r;
            threads.add(new Thread(() -> {
                try {
                    ThreadLocalRandom random = ThreadLocalRandom.current();
                    for (long section = 1; !stop.get(); section++) {
                        int token = epoch.enter();
                        open.set(me, section);
                        int inner = random.nextInt(4) == 0 ? epoch.enter() : -1;
                        int spins = random.nextInt(2000);
                        for (int i = 0; i < spins; i++) {
                            Thread.onSpinWait();
                        }
                        if (random.nextInt(8) == 0) {
                            Thread.yield();
                        }
                        if (inner >= 0) {
                            epoch.exit(inner);
                        }
                        open.set(me, 0L);
                        finished.set(me, section);
                        epoch.exit(token);
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
                    while (System.nanoTime() - end < 0 && barriers.get() < 6000 && failure.get() == null) {
                        for (int r = 0; r < readerCount; r++) {
                            seen[r] = open.get(r);
                        }
                        epoch.barrier();
                        barriers.incrementAndGet();
                        for (int r = 0; r < readerCount; r++) {
                            if (seen[r] != 0L) {
                                checked.incrementAndGet();
                                long done = finished.get(r);
                                if (done < seen[r]) {
                                    throw new AssertionError("barrier returned while reader " + r + " was still in section "
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
        System.out.println("invariant: " + barriers.get() + " barriers, " + checked.get() + " open sections checked");
        if (failure.get() != null) {
            throw new AssertionError(failure.get());
        }
        assertTrue(checked.get() > 100, "the barrier callers saw readers inside " + checked.get() + " times in "
                + barriers.get() + " barriers: too few to mean anything");
    }
}
