package dev.unloadguard.epoch.internal;

import dev.unloadguard.epoch.BarrierOutcome;
import static dev.unloadguard.epoch.internal.ReleaseEpochTestSupport.BOUND;
import static dev.unloadguard.epoch.internal.ReleaseEpochTestSupport.assertStillWaiting;
import static dev.unloadguard.epoch.internal.ReleaseEpochTestSupport.awaitDone;
import static dev.unloadguard.epoch.internal.ReleaseEpochTestSupport.barrierAsync;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** Per-thread cells: threads that died or idle leave no cell in the array; virtual threads work. */
class ReleaseEpochCellsTest {

    private final ReleaseEpoch epoch = new ReleaseEpoch();

    @Test
    void cellsOfDeadThreadsAreDroppedEvenWithoutBarriers() throws InterruptedException {
        for (int i = 0; i < 100; i++) {
            Thread t = new Thread(() -> epoch.exit(epoch.enter()), "short-lived-" + i);
            t.start();
            t.join();
        }
        assertTrue(epoch.cellCount() <= ReleaseEpoch.MIN_CELL_CAPACITY,
                "registration drops dead threads' cells when the array is full: " + epoch.cellCount());
        epoch.barrier();
        assertEquals(0, epoch.cellCount());
        int t = epoch.enter();
        assertEquals(1, epoch.cellCount());
        epoch.exit(t);
        epoch.barrier();
        assertEquals(0, epoch.cellCount(), "an idle live thread's cell is detached too");
        t = epoch.enter();
        assertEquals(1, epoch.cellCount(), "and put back by its next enter");
        CompletableFuture<BarrierOutcome> barrier = barrierAsync(epoch, BOUND.multipliedBy(2));
        assertStillWaiting(barrier);
        epoch.exit(t);
        assertEquals(BarrierOutcome.WAITED, awaitDone(barrier));
    }

    @Test
    void aThreadThatDiedInsideDoesNotBlockBarriersForever() throws InterruptedException {
        AtomicInteger token = new AtomicInteger(-1);
        Thread leaky = new Thread(() -> token.set(epoch.enter()), "leaky-enter-without-exit");
        leaky.start();
        leaky.join();
        assertNotEquals(-1, token.get());
        assertTrue(epoch.threadsInside().isEmpty(), "a dead thread is not reported inside");
        assertEquals(BarrierOutcome.IMMEDIATE, epoch.barrier(BOUND));
        assertEquals(0, epoch.cellCount());
        assertEquals(BarrierOutcome.IMMEDIATE, epoch.barrier(BOUND));
    }

    @Test
    void aWaitingBarrierNoticesAThreadThatDiesInside() {
        CountDownLatch die = new CountDownLatch(1);
        CountDownLatch entered = new CountDownLatch(1);
        Thread leaky = new Thread(() -> {
            epoch.enter();
            entered.countDown();
            try {
                die.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "leaky-dies-later");
        leaky.start();
        await().atMost(BOUND).until(() -> entered.getCount() == 0);
        CompletableFuture<BarrierOutcome> barrier = barrierAsync(epoch, BOUND.multipliedBy(2));
        assertStillWaiting(barrier);
        die.countDown();
        assertEquals(BarrierOutcome.WAITED, awaitDone(barrier));
    }

    @Test
    void manyVirtualThreads() throws Exception {
        Method ofVirtual;
        Method start;
        Object builder;
        try {
            ofVirtual = Thread.class.getMethod("ofVirtual");
            start = Class.forName("java.lang.Thread$Builder").getMethod("start", Runnable.class);
            builder = ofVirtual.invoke(null);
        } catch (NoSuchMethodException | ClassNotFoundException e) {
            Assumptions.abort("no virtual threads on Java " + Runtime.version());
            return;
        } catch (InvocationTargetException e) {
            Assumptions.abort("virtual threads are a preview on Java " + Runtime.version() + ": " + e.getCause());
            return;
        }

        // 300 virtual threads parked inside at once: all are reported, a barrier waits for them.
        int parked = 300;
        CountDownLatch entered = new CountDownLatch(parked);
        CountDownLatch leave = new CountDownLatch(1);
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < parked; i++) {
            threads.add((Thread) start.invoke(builder, (Runnable) () -> {
                int outer = epoch.enter();
                try {
                    int inner = epoch.enter();
                    epoch.exit(inner);
                    entered.countDown();
                    leave.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                } finally {
                    epoch.exit(outer);
                }
            }));
        }
        await().atMost(BOUND).until(() -> entered.getCount() == 0);
        assertEquals(parked, epoch.threadsInside().size());
        assertTrue(epoch.cellCount() >= parked);
        CompletableFuture<BarrierOutcome> barrier = barrierAsync(epoch, BOUND.multipliedBy(2));
        assertStillWaiting(barrier);
        leave.countDown();
        assertEquals(BarrierOutcome.WAITED, awaitDone(barrier));
        for (Thread t : threads) {
            t.join();
        }
        threads.clear();

        // 5000 short-lived ones: their cells go away with them.
        AtomicInteger sections = new AtomicInteger();
        for (int i = 0; i < 5000; i++) {
            threads.add((Thread) start.invoke(builder, (Runnable) () -> {
                int t = epoch.enter();
                sections.incrementAndGet();
                epoch.exit(t);
            }));
        }
        for (Thread t : threads) {
            t.join();
        }
        assertEquals(5000, sections.get());
        epoch.barrier();
        assertEquals(0, epoch.cellCount(), "every virtual thread died: no cell left");
        assertTrue(epoch.threadsInside().isEmpty());
    }
}
