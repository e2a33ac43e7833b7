package dev.unloadguard.epoch.internal;

import static dev.unloadguard.epoch.internal.ReleaseEpochTestSupport.BOUND;
import static dev.unloadguard.epoch.internal.ReleaseEpochTestSupport.assertStillWaiting;
import static dev.unloadguard.epoch.internal.ReleaseEpochTestSupport.awaitDone;
import static dev.unloadguard.epoch.internal.ReleaseEpochTestSupport.barrierAsync;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.epoch.BarrierOutcome;
import java.lang.ref.WeakReference;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * The fast path to a thread's own cell (the class comment's "Finding the own cell"): threads whose
 * ids share a slot each get their own cell, and a slot never keeps a dead thread reachable.
 */
class ReleaseEpochFastSlotTest {

    private final ReleaseEpoch epoch = new ReleaseEpoch();

    @Test
    void threadsWhoseIdsShareASlotGetTheirOwnCells() throws Exception {
        try (Worker a = new Worker(3, "slot-3-a"); Worker b = new Worker(3, "slot-3-b")) {
            assertEquals(ReleaseEpoch.slot(a.thread), ReleaseEpoch.slot(b.thread));
            assertNotEquals(a.thread.getId(), b.thread.getId());

            int a1 = a.call(epoch::enter);
            int a2 = a.call(epoch::enter);                        // nested, through the slot
            assertTrue(a.call(() -> epoch.slotHoldsCellOf(Thread.currentThread())));
            assertEquals(2, a2 >>> 1);

            int b1 = b.call(epoch::enter);                        // registers: takes the shared slot
            assertTrue(b.call(() -> epoch.slotHoldsCellOf(Thread.currentThread())));
            assertFalse(a.call(() -> epoch.slotHoldsCellOf(Thread.currentThread())));
            int b2 = b.call(epoch::enter);
            int a3 = a.call(epoch::enter);                        // nested, the slot holds b's cell: the thread-local path
            assertEquals(3, a3 >>> 1);
            assertEquals(2, b2 >>> 1);
            assertEquals(3, a.call(epoch::depth));
            assertEquals(2, b.call(epoch::depth));
            assertEquals(2, epoch.cellCount());

            // a's innermost token is not b's: rejected on b, nothing changed.
            assertThrows(IllegalStateException.class, () -> b.call(() -> {
                epoch.exit(a3);
                return null;
            }));
            assertEquals(2, b.call(epoch::depth));

            CompletableFuture<BarrierOutcome> barrier = barrierAsync(epoch, BOUND.multipliedBy(2));
            assertStillWaiting(barrier);
            a.run(() -> epoch.exit(a3));
            a.run(() -> epoch.exit(a2));
            a.run(() -> epoch.exit(a1));
            assertEquals(0, a.call(epoch::depth));
            assertStillWaiting(barrier);                          // b is still inside, on its own cell
            b.run(() -> epoch.exit(b2));
            b.run(() -> epoch.exit(b1));
            assertEquals(0, b.call(epoch::depth));
            assertEquals(BarrierOutcome.WAITED, awaitDone(barrier));

            // Outside again, both enter and nest correctly through whichever path they get.
            for (Worker w : new Worker[] {a, b, a, b}) {
                w.run(() -> {
                    int o = epoch.enter();
                    int n = epoch.enter();
                    assertEquals(2, epoch.depth());
                    epoch.exit(n);
                    epoch.exit(o);
                    assertEquals(0, epoch.depth());
                });
            }
            assertEquals(BarrierOutcome.IMMEDIATE, epoch.barrier(BOUND));
        }
    }

    @Test
    void aDeadThreadsSlotDoesNotKeepItReachable() throws Exception {
        AtomicBoolean heldSlot = new AtomicBoolean();
        Thread dead = threadIn(5, () -> {
            int o = epoch.enter();
            int n = epoch.enter();
            heldSlot.set(epoch.slotHoldsCellOf(Thread.currentThread()));
            epoch.exit(n);
            epoch.exit(o);
        }, "slot-5-dies");
        dead.start();
        dead.join();
        assertTrue(heldSlot.get(), "the thread's cell was in its slot");
        WeakReference<Thread> ref = new WeakReference<>(dead);
        dead = null;
        awaitCollected(ref);                                      // no barrier ran: the slot still holds the cell

        assertLaterThreadGetsItsOwnCell(5);
    }

    @Test
    void aThreadThatDiedInsideIsNotKeptByItsSlotAndItsCellIsDropped() throws Exception {
        Thread leaky = threadIn(7, () -> {
            epoch.enter();                                        // no exit: dies inside, at depth 2
            epoch.enter();
        }, "slot-7-dies-inside");
        leaky.start();
        leaky.join();
        WeakReference<Thread> ref = new WeakReference<>(leaky);
        leaky = null;
        awaitCollected(ref);                                      // its cell and slot hold it weakly only
        assertEquals(BarrierOutcome.IMMEDIATE, epoch.barrier(BOUND));  // drops the dead thread's cell, clears its slot
        assertEquals(0, epoch.cellCount());

        assertLaterThreadGetsItsOwnCell(7);
    }

    private void assertLaterThreadGetsItsOwnCell(int slot) throws Exception {
        AtomicInteger depthInside = new AtomicInteger();
        AtomicInteger depthAfter = new AtomicInteger(-1);
        AtomicBoolean holdsSlot = new AtomicBoolean();
        AtomicInteger nested = new AtomicInteger();
        Thread later = threadIn(slot, () -> {
            assertEquals(0, epoch.depth(), "a new thread starts outside");
            int o = epoch.enter();
            int n = epoch.enter();
            nested.set(n);
            depthInside.set(epoch.depth());
            holdsSlot.set(epoch.slotHoldsCellOf(Thread.currentThread()));
            epoch.exit(n);
            epoch.exit(o);
            depthAfter.set(epoch.depth());
        }, "slot-" + slot + "-later");
        AtomicInteger failures = new AtomicInteger();
        later.setUncaughtExceptionHandler((t, e) -> failures.incrementAndGet());
        later.start();
        later.join();
        assertEquals(0, failures.get());
        assertEquals(2, depthInside.get());
        assertEquals(2, nested.get() >>> 1);
        assertEquals(0, depthAfter.get());
        assertTrue(holdsSlot.get(), "the later thread's own cell is in the slot");
        assertEquals(BarrierOutcome.IMMEDIATE, epoch.barrier(BOUND));
        assertEquals(0, epoch.cellCount());
    }

    private static void awaitCollected(WeakReference<Thread> ref) {
        await().atMost(BOUND).pollInterval(java.time.Duration.ofMillis(50)).until(() -> {
            System.gc();
            return ref.get() == null;
        });
    }

    /** A new, unstarted thread whose id falls into fast-path slot {@code slot}. */
    static Thread threadIn(int slot, Runnable body, String name) {
        for (int i = 0; i < 100_000; i++) {
            Thread t = new Thread(body, name);
            if (ReleaseEpoch.slot(t) == slot) {
                return t;
            }
        }
        throw new AssertionError("no thread id fell into slot " + slot);
    }

    /** A thread in a given slot that runs what it is given, one call at a time. */
    private static final class Worker implements AutoCloseable {
        private final BlockingQueue<FutureTask<?>> tasks = new LinkedBlockingQueue<>();
        final Thread thread;

        Worker(int slot, String name) {
            thread = threadIn(slot, this::loop, name);
            thread.setDaemon(true);
            thread.start();
        }

        private void loop() {
            try {
                for (;;) {
                    tasks.take().run();
                }
            } catch (InterruptedException e) {
                // closed
            }
        }

        <T> T call(Callable<T> c) throws Exception {
            FutureTask<T> f = new FutureTask<>(c);
            tasks.add(f);
            try {
                return f.get(BOUND.toMillis(), TimeUnit.MILLISECONDS);
            } catch (ExecutionException e) {
                if (e.getCause() instanceof Exception) {
                    throw (Exception) e.getCause();
                }
                throw e;
            }
        }

        void run(Runnable r) throws Exception {
            call(() -> {
                r.run();
                return null;
            });
        }

        @Override
        public void close() throws InterruptedException {
            thread.interrupt();
            thread.join(BOUND.toMillis());
        }
    }
}
