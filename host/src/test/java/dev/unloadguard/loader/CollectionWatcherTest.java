package dev.unloadguard.loader;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.ref.Reference;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** The shared watcher of asynchronous collection checks, on plain objects, with a counting nudge. */
class CollectionWatcherTest {

    private final AtomicInteger gcCalls = new AtomicInteger();
    private final CollectionWatcher watcher = new CollectionWatcher(() -> {
        gcCalls.incrementAndGet();
        System.gc();
    }, "test-collection-watcher");

    @Test
    void oneNudgeServesEveryPendingWatchAndTheLeaksEndAtTheirDeadline() throws Exception {
        List<Object> pinned = new ArrayList<>();
        List<CompletableFuture<CollectionResult>> results = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            Object o = new Object();
            pinned.add(o);
            CompletableFuture<CollectionResult> r = new CompletableFuture<>();
            watcher.watch(o, Duration.ofSeconds(4), r::complete);
            results.add(r);
        }
        for (CompletableFuture<CollectionResult> r : results) {
            assertEquals(new CollectionResult(PluginState.LEAKED, 1), r.get(30, TimeUnit.SECONDS));
        }
        assertEquals(1, gcCalls.get(), "20 pending watches, one nudge");
        assertEquals(1, watcher.nudges());
        Reference.reachabilityFence(pinned);
    }

    /**
     * A nudge that is a concurrent cycle may leave a young class loader behind (G1 with
     * ExplicitGCInvokesConcurrent): such a watcher repeats its shared nudge until the referent is
     * gone. Here the referent is held until the third nudge, as a loader that survives the first
     * cycles would be; a watcher that nudged once would end it LEAKED at its deadline.
     */
    @Test
    void aConcurrentNudgeIsRepeatedSharedUntilTheReferentIsCollected() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        AtomicReference<Object> holder = new AtomicReference<>(new Object());
        CollectionWatcher repeating = new CollectionWatcher(() -> {
            if (calls.incrementAndGet() >= 3) {
                holder.set(null);                        // released after the third cycle
            }
            System.gc();
        }, "test-repeating-watcher", true);
        CompletableFuture<CollectionResult> first = new CompletableFuture<>();
        CompletableFuture<CollectionResult> second = new CompletableFuture<>();
        repeating.watch(holder.get(), Duration.ofSeconds(20), first::complete);
        Object pinned = new Object();
        CollectionWatcher.Watch pinnedWatch = repeating.watch(pinned, Duration.ofSeconds(20), second::complete);
        CollectionResult result = first.get(60, TimeUnit.SECONDS);
        assertEquals(PluginState.COLLECTED, result.outcome(), result::toString);
        assertTrue(result.nudges() >= 3, "collected after repeated nudges: " + result);
        long nudgesThen = repeating.nudges();
        assertEquals(calls.get(), nudgesThen, "every repeat is one shared nudge for both watches");
        assertTrue(repeating.cancel(pinnedWatch), "the pinned watch was still pending");
        await("the idle watcher thread ends").atMost(Duration.ofSeconds(10)).until(() -> repeating.thread() == null);
        assertTrue(!second.isDone(), "a cancelled watch is never ended");
        Reference.reachabilityFence(pinned);
    }

    @Test
    void anUnreachableReferentEndsCollectedAndTheThreadIsADaemonThatStopsWhenIdle() throws Exception {
        CompletableFuture<CollectionResult> r = new CompletableFuture<>();
        watcher.watch(new Object(), Duration.ofSeconds(2), r::complete);
        Thread t = watcher.thread();
        assertNotNull(t, "a pending watch has a watcher thread");
        assertTrue(t.isDaemon(), "the watcher thread never keeps the JVM alive");
        assertNull(t.getContextClassLoader(), "the watcher thread has no context class loader to pin");
        CollectionResult result = r.get(30, TimeUnit.SECONDS);
        assertEquals(PluginState.COLLECTED, result.outcome());
        assertTrue(result.nudges() <= 1, result::toString);
        await("the idle watcher thread ends").atMost(Duration.ofSeconds(10)).until(() -> watcher.thread() == null && !t.isAlive());
        assertEquals(0, watcher.pending());
    }

    @Test
    void aCancelledWatchIsNeverEndedByTheWatcher() throws Exception {
        Object held = new Object();
        AtomicInteger ended = new AtomicInteger();
        CollectionWatcher.Watch w = watcher.watch(held, Duration.ofMillis(300), r -> ended.incrementAndGet());
        assertTrue(watcher.cancel(w));
        assertFalse(watcher.cancel(w), "removed once");
        await().atMost(Duration.ofSeconds(10)).until(() -> watcher.thread() == null);
        assertEquals(0, ended.get());
        assertEquals(0, gcCalls.get(), "no nudge for a cancelled watch");
        Reference.reachabilityFence(held);
    }

    @Test
    void aWatchWithAnEarlierNudgeTimeWakesTheSleepingThread() throws Exception {
        Object longHeld = new Object();
        CompletableFuture<CollectionResult> slow = new CompletableFuture<>();
        CollectionWatcher.Watch slowWatch = watcher.watch(longHeld, Duration.ofSeconds(600), slow::complete);
        Object held = new Object();
        CompletableFuture<CollectionResult> fast = new CompletableFuture<>();
        watcher.watch(held, Duration.ofMillis(400), fast::complete);
        assertEquals(PluginState.LEAKED, fast.get(30, TimeUnit.SECONDS).outcome(),
                "the short watch ended although the thread slept until the long one's nudge time");
        assertFalse(slow.isDone());
        assertTrue(watcher.cancel(slowWatch));
        Reference.reachabilityFence(held);
        Reference.reachabilityFence(longHeld);
    }

    @Test
    void theExplicitGcCaveatNamesTheFlagOnlyWhenG1InvokesItConcurrently() {
        boolean g1 = java.lang.management.ManagementFactory.getGarbageCollectorMXBeans().stream()
                .anyMatch(b -> b.getName().startsWith("G1 "));
        boolean concurrent = java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments()
                .contains("-XX:+ExplicitGCInvokesConcurrent");
        var caveat = CollectionWatcher.explicitGcCaveat();
        assertEquals(g1 && concurrent, caveat.isPresent(), () -> caveat.toString());
        caveat.ifPresent(c -> assertTrue(c.contains("ExplicitGCInvokesConcurrent") && c.contains("awaitCollectionCheck"), c));
    }

    /** Prints this JVM's caveat, for {@link #g1WithConcurrentExplicitGcGetsTheCaveat}. */
    static final class PrintCaveat {
        public static void main(String[] args) {
            System.out.println(CollectionWatcher.explicitGcCaveat().orElse("none"));
        }
    }

    @Test
    void g1WithConcurrentExplicitGcGetsTheCaveat() throws Exception {
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-XX:+UseG1GC", "-XX:+ExplicitGCInvokesConcurrent", "-cp", System.getProperty("java.class.path"),
                PrintCaveat.class.getName()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), out);
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.startsWith("G1 runs with -XX:+ExplicitGCInvokesConcurrent") && out.contains("LEAKED"), out);
    }
}
