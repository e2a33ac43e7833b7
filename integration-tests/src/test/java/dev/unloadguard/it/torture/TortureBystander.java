package dev.unloadguard.it.torture;

import dev.unloadguard.driver.ReleaseCallback;
import dev.unloadguard.epoch.BarrierOutcome;
import dev.unloadguard.loader.Plugin;
import dev.unloadguard.loader.PluginLoader;
import dev.unloadguard.loader.UnloadReport;
import dev.unloadguard.loader.UnloadTimeoutException;
import dev.unloadguard.sample.helper.PagemapCache;
import java.lang.ref.ReferenceQueue;
import java.lang.ref.WeakReference;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/**
 * The torture test's second plugin, Y (the {@linkplain TorturePlugin#buildBystander bystander
 * plugin}, id {@value #ID}), and its host side. Y is loaded beside the torture plugin X for the
 * whole run and keeps sections of <em>its own</em> release epoch open all along:
 * <ul>
 * <li>a release callback of Y parked inside its guarded method on {@link #HOLDER}, a host thread
 *     of its own;
 * <li>another one parked the same way on {@link #POOL}, the thread of a long-lived host pool;
 * <li>an <em>unbalanced</em> section on the helper's worker thread ({@link TortureScenario#HELPER_WORKER}) (the long-lived host thread
 *     that also runs X's release callbacks all run long): Y's plain (unguarded) plugin code binds
 *     its epoch's {@code enter} with {@code ReleaseGuard.handle(MethodHandles.lookup(), "enter",
 *     ...)}, invokes it, and returns without exiting.
 * </ul>
 * With one release epoch per plugin, none of this may delay an unload of X. With the design
 * before (one epoch shared by all plugins), every unload of X would wait for these sections and
 * time out. At the end, Y's own unload must time out while they are open, with a report naming
 * Y and the threads inside; once the gate opens and the helper's worker ends (a dead thread's
 * sections count as exited: {@code ReleaseEpoch} race (iv)), Y unloads cleanly and is collected.
 *
 * <p>Public: Y's plugin code is compiled against it and gets it as a host service.
 */
public final class TortureBystander {

    static final String ID = "bystander";
    static final String HOLDER = "bystander-holder";
    static final String POOL = "host-pool-1";
    /** The unload timeout while Y's sections are open: short, it is expected to run out. */
    static final Duration SHORT = Duration.ofMillis(300);
    private static final long BOUND_MILLIS = TimeUnit.SECONDS.toMillis(30);

    private final CountDownLatch gate = new CountDownLatch(1);
    private final CountDownLatch parked = new CountDownLatch(2);
    private volatile ReleaseCallback holderCallback;
    private volatile ReleaseCallback pooledCallback;
    private volatile Runnable unbalanced;

    private Plugin plugin;
    private Thread holder;
    private ExecutorService pool;
    private Future<?> pooled;
    private WeakReference<ClassLoader> loaderRef;
    private final ReferenceQueue<ClassLoader> collectedQueue = new ReferenceQueue<>();
    private final Map<String, Object> out = new LinkedHashMap<>();
    /** Time spent in {@link #start} and {@link #finish}: what the two-plugin mode adds to a run. */
    private long nanos;

    // ---- called by Y's plugin code -----------------------------------------------------------

    /** Called by Y's driver at init: two parking release callbacks and the unbalanced enter. */
    public void attach(ReleaseCallback holderCallback, ReleaseCallback pooledCallback, Runnable unbalanced) {
        this.holderCallback = holderCallback;
        this.pooledCallback = pooledCallback;
        this.unbalanced = unbalanced;
    }

    /** Called from inside Y's guarded callbacks: waits (inside Y's epoch) until the gate opens. */
    public void parkInside() {
        parked.countDown();
        boolean interrupted = false;
        for (;;) {
            try {
                gate.await();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    // ---- called by the scenario ---------------------------------------------------------------

    /**
     * Loads Y beside X and opens its sections: the two parked callbacks, and the unbalanced enter
     * on the helper's worker (waits until the worker ran it).
     */
    void start(PluginLoader loader, Path jar, PagemapCache cache) throws Exception {
        long t0 = System.nanoTime();
        plugin = loader.load(jar);
        if (!plugin.id().equals(ID) || holderCallback == null) {
            throw new IllegalStateException("the bystander plugin did not publish its callbacks: " + plugin);
        }
        loaderRef = new WeakReference<>(holderCallback.getClass().getClassLoader(), collectedQueue);
        ReleaseCallback h = holderCallback;
        ReleaseCallback p = pooledCallback;
        Runnable u = unbalanced;
        holderCallback = null;                           // from now on only the threads hold Y's objects
        pooledCallback = null;
        unbalanced = null;
        holder = new Thread(h::release, HOLDER);
        holder.setDaemon(true);
        holder.start();
        pool = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, POOL);
            t.setDaemon(true);
            return t;
        });
        pooled = pool.submit(p::release);
        CountDownLatch ran = new CountDownLatch(1);
        cache.hold(() -> {                               // host code on the helper's worker ...
            u.run();                                     // ... calls Y's code, which enters Y's epoch and returns
            ran.countDown();
        });
        cache.dropAllLater();
        if (!parked.await(BOUND_MILLIS, TimeUnit.MILLISECONDS) || !ran.await(BOUND_MILLIS, TimeUnit.MILLISECONDS)) {
            throw new IllegalStateException("the bystander's sections did not open");
        }
        out.put("bystanderInsideAtStart", names(plugin.threadsInside()));
        nanos += System.nanoTime() - t0;
    }

    /**
     * After X's last cycle: Y's unload times out while its sections are open; after the gate opens
     * only the unbalanced section is left; once the helper's worker ends (the cache closes), Y
     * unloads and is collected. Every outcome is printed; the test judges them.
     */
    Map<String, Object> finish(PluginLoader loader, PagemapCache cache) throws Exception {
        long t0 = System.nanoTime();
        out.put("bystanderInsideAtEnd", names(plugin.threadsInside()));
        unloadExpectingTimeout(loader, "bystanderUnload1");
        gate.countDown();                                // the parked callbacks return, exiting their sections
        holder.join(BOUND_MILLIS);
        pooled.get(BOUND_MILLIS, TimeUnit.MILLISECONDS);
        out.put("bystanderInsideAfterGate", names(plugin.threadsInside()));
        unloadExpectingTimeout(loader, "bystanderUnload2");
        cache.close();                                   // ends the helper's worker, still inside Y (unbalanced)
        try {
            UnloadReport r = loader.unload(plugin, Duration.ofSeconds(10));
            out.put("bystanderUnload3", "unloaded, barrier " + r.barrier());
            out.put("bystanderUnload3Barrier", r.barrier());
        } catch (UnloadTimeoutException e) {
            out.put("bystanderUnload3", "TIMED_OUT in " + e.step() + ": " + oneLine(e.getMessage()));
            out.put("bystanderUnload3Barrier", BarrierOutcome.TIMED_OUT);
        }
        pool.shutdown();
        pool.awaitTermination(BOUND_MILLIS, TimeUnit.MILLISECONDS);
        plugin = null;
        holder = null;                                   // a dead Thread may keep its task (Y's lambda) on JDK 21+
        pooled = null;
        pool = null;
        out.put("bystanderCollected", collected());
        nanos += System.nanoTime() - t0;
        out.put("bystanderMs", TimeUnit.NANOSECONDS.toMillis(nanos));
        return out;
    }

    private void unloadExpectingTimeout(PluginLoader loader, String key) throws InterruptedException {
        try {
            UnloadReport r = loader.unload(plugin, SHORT);
            out.put(key, "unloaded, barrier " + r.barrier());
        } catch (UnloadTimeoutException e) {
            out.put(key, "TIMED_OUT in " + e.step());
            out.put(key + "Threads", e.threadsInsideEpoch().stream().sorted().collect(Collectors.joining(",")));
            out.put(key + "Report", oneLine(e.getMessage()));
        }
    }

    private boolean collected() throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(3);
        while (!loaderRef.refersTo(null)) {
            if (System.nanoTime() - deadline > 0) {
                return false;
            }
            System.gc();
            collectedQueue.remove(100);
        }
        return true;
    }

    private static String names(List<Thread> threads) {
        return threads.stream().map(Thread::getName).sorted().collect(Collectors.joining(","));
    }

    private static String oneLine(String s) {
        return s.replace('\n', ' ').replaceAll(" {2,}", " ");
    }
}
