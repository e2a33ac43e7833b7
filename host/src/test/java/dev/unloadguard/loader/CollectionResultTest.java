package dev.unloadguard.loader;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.ref.Reference;
import java.lang.ref.ReferenceQueue;
import java.lang.ref.WeakReference;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class CollectionResultTest {

    @Test
    void aZeroBoundSkipsTheCheck() {
        Object held = new Object();
        CollectionResult r = CollectionResult.await(new WeakReference<>(held), new ReferenceQueue<>(), Duration.ZERO);
        assertEquals(new CollectionResult(PluginState.UNLOADED, 0), r);
        assertEquals(CollectionResult.unchecked(), r);
        assertFalse(r.leaked());
    }

    @Test
    void anUnreachableReferentIsCollected() {
        ReferenceQueue<Object> queue = new ReferenceQueue<>();
        WeakReference<Object> ref = new WeakReference<>(new Object(), queue);
        CollectionResult r = CollectionResult.await(ref, queue, Duration.ofSeconds(10));
        assertEquals(PluginState.COLLECTED, r.outcome());
        assertFalse(r.leaked());
    }

    @Test
    void aReachableReferentLeaksAfterTheBoundCountingItsNudges() {
        Object held = new Object();
        ReferenceQueue<Object> queue = new ReferenceQueue<>();
        CollectionResult r = CollectionResult.await(new WeakReference<>(held, queue), queue, Duration.ofMillis(30));
        assertEquals(PluginState.LEAKED, r.outcome());
        assertTrue(r.leaked());
        assertTrue(r.nudges() > 0, r::toString);
        Reference.reachabilityFence(held);
    }

    @Test
    void anInterruptEndsTheCheckUnloadedWithTheInterruptKept() {
        Object held = new Object();
        ReferenceQueue<Object> queue = new ReferenceQueue<>();
        Thread.currentThread().interrupt();
        try {
            CollectionResult r = CollectionResult.await(new WeakReference<>(held, queue), queue, Duration.ofSeconds(10));
            assertEquals(PluginState.UNLOADED, r.outcome());
            assertEquals(1, r.nudges());
            assertTrue(Thread.currentThread().isInterrupted());
        } finally {
            Thread.interrupted();
        }
        Reference.reachabilityFence(held);
    }

    @Test
    void onlyOutcomesOfTheCheckAndNoNegativeNudges() {
        assertThrows(IllegalArgumentException.class, () -> new CollectionResult(PluginState.GOING, 0));
        assertThrows(IllegalArgumentException.class, () -> new CollectionResult(PluginState.LEAKED, -3));
    }
}
