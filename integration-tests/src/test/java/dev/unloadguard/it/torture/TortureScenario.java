package dev.unloadguard.it.torture;

import dev.unloadguard.device.Device;
import dev.unloadguard.driver.PluginUnloadedError;
import dev.unloadguard.driver.ReleaseCallback;
import dev.unloadguard.epoch.ReleaseGuard;
import dev.unloadguard.loader.Plugin;
import dev.unloadguard.loader.PluginLoader;
import dev.unloadguard.loader.UnloadReport;
import dev.unloadguard.loader.UnloadStep;
import dev.unloadguard.loader.UnloadTimeoutException;
import dev.unloadguard.sample.helper.PagemapCache;
import java.lang.management.ManagementFactory;
import java.lang.ref.ReferenceQueue;
import java.lang.ref.WeakReference;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Collectors;

/**
 * The torture test's scenario, run in a forked JVM (with or without {@code -javaagent}), in the
 * spirit of the kernel's rcutorture and the JDK's {@code TestHandshake}: unload/reload cycles of
 * the {@linkplain TorturePlugin torture plugin} raced, at random delays, by threads that acquire
 * and release device references and run release callbacks, and by the helper
 * ({@link PagemapCache}) dropping callbacks from its worker thread.
 *
 * <p>One cycle: load a new generation; start the workers (platform threads, or virtual threads
 * created reflectively on JDK 21+); after a random delay, unload it on this thread while they run.
 * Each worker performs a bounded number of random operations on random devices of the generation:
 * take a reference with {@code tryAcquire} (host code: it fails once the device is gone), then
 * either release it directly (maybe after a nested acquire/release and a park), or have the plugin
 * wrap it into a release callback of a random shape, run at once, kept for a while and run later
 * in random order, or handed to the helper, which drops it later from its worker thread after a
 * random delay. Every callback's tail parks a random time after dropping its reference, then loads
 * classes no earlier code loaded (a tail that dropped a device's last reference parks again first). Then the host joins the workers, waits until the helper's worker
 * has finished every drop queued so far, and checks that the generation's class loader is
 * collected (a weak reference and bounded {@code System.gc()} nudges).
 *
 * <p>Host callers race the same cycles: threads (platform or virtual, like the workers) that call
 * the plugin's host service ({@link TortureBus.Service}) continuously, holding nothing of it, from
 * the generation's start until a call is refused at its entry ({@link PluginUnloadedError} "...
 * refused: plugin ... is unloading") or the unload returned; a caller never refused then makes one
 * late call. With the agent (guard scope ENTRIES) calls inside when the unload begins are waited
 * for and later ones are refused at the call; a worker's call into the plugin's callback factory
 * after GOING is refused the same way (and the worker drops its reference). Without the agent the
 * calls run on: into the drain, past the close.
 *
 * <p>Checked on every cycle: the {@linkplain TortureDetector independent detector} (a stack scan
 * just before the class loader is closed); no {@link NoClassDefFoundError} other than a refusal
 * at the call (or any other error) in a worker, a caller, the helper's worker, or in the unload
 * report's release failures; every callback made was run exactly once; every generation
 * collected.
 *
 * <p>With {@code bystander=<jar>}, a second plugin Y ({@link TortureBystander}) is loaded beside
 * the torture plugin X before the first cycle and keeps sections of its own release epoch open
 * for the whole run (release callbacks parked inside on a host thread and a host pool thread, an
 * unbalanced enter on the helper's worker, which runs X's callbacks too): no unload of X may wait
 * for them. After the last cycle Y is unloaded (expected to time out while they are open, then to
 * succeed once they are closed or their thread has ended).
 *
 * <p>Random delays are {@link LockSupport#parkNanos} of a seeded {@link SplittableRandom} (they
 * are the scenario); every wait for a condition uses a synchronizer with a bound (thread join,
 * latch, reference queue).
 *
 * <p>Arguments, {@code key=value}: {@code plugin} (the torture plugin jar, required),
 * {@code cycles} (100), {@code seed} (random), {@code virtual} (false), {@code workers} (4, or 16
 * virtual), {@code callers} (host service callers per cycle, 2, or 4 virtual), {@code ops} (operations per worker per cycle, 48), {@code devices} (4), {@code shapes}
 * (callback shapes used, 1 to 3), {@code tailParkMicros} (longest park in a tail and longest
 * helper delay, 300), {@code unloadDelayMicros} (longest delay before the unload, 2000),
 * {@code paceMicros} (longest pause between a worker's operations, 50), {@code lastTailParkMicros}
 * (how long a tail that dropped a device's last reference parks before loading its retirement
 * class, 1000), {@code checkCollection}
 * (true with the agent; without it, failed tails keep their generation reachable through the
 * errors the helper stores), {@code collectionMillis} (how long a generation may take to be
 * collected, 3000), {@code bystander} (the bystander plugin jar: the two-plugin mode; none),
 * {@code closeAudit} (the loader's close audit, true; false only to show what goes wrong without
 * any safety).
 *
 * <p>Prints {@code key=value} lines: cycles, callbacks (tails run), callbacksByHelper, acquires,
 * driverReleases, barriersWaited, barriersTimedOut (unloads of X whose release barrier ran out of
 * time), auditFrames (frames of the generation the loader's close audit saw on its first scan,
 * summed over the unloads that completed), scans, violations, epilogues, detectorErrors, ncdfe,
 * otherErrors, lost (callbacks made but not run), collectionChecked, notCollected,
 * maxCollectionMs, timeouts, serviceViolations (violations inside a service call), agent, virtual, workers, callers, serviceCalls (service calls that
 * returned), refused (service calls refused at the entry while GOING), factoryRefused (workers'
 * calls into the callback factory refused at the entry while GOING), refusedLate (late
 * calls refused after the unload), lateCallsRan (late calls that ran plugin code after the
 * unload), refusing (detector: callers seen in a refused call's frame), seed, jvm, elapsedMs,
 * violation.N,
 * firstViolation, firstError, firstOtherError (the first error that is not a NoClassDefFoundError);
 * bystander (true in the two-plugin mode) and, then, what {@link TortureBystander#finish} reports.
 * Exit status 0 when every cycle ran (whatever was found), 2 when an
 * unload timed out or a thread hung, 3 when a generation was not collected (the run stops there:
 * the error names the suspects), 1 on an unexpected failure.
 */
public final class TortureScenario {

    private static final Duration UNLOAD_TIMEOUT = Duration.ofSeconds(30);
    /** The helper's worker thread: runs X's release callbacks, and, in the two-plugin mode, holds Y's unbalanced section. */
    static final String HELPER_WORKER = "pagemap-cache-worker";
    private static final long JOIN_BOUND_MILLIS = TimeUnit.SECONDS.toMillis(60);
    private static final int MAX_STASH = 3;

    private final Config cfg;
    private final ThreadFactory threads;
    private final TortureDetector detector = new TortureDetector();
    private final TortureBus bus = new TortureBus();
    private final TortureBystander bystander = new TortureBystander();
    /** What the bystander reported at the end (two-plugin mode). */
    private final Map<String, Object> bystanderResults = new java.util.LinkedHashMap<>();
    private final Totals totals = new Totals();

    private TortureScenario(Config cfg) {
        this.cfg = cfg;
        TortureBus.lastTailParkNanos(cfg.lastTailParkNanos);
        this.threads = cfg.virtual ? virtualThreads() : r -> {
            Thread t = new Thread(r);
            t.setDaemon(true);
            return t;
        };
    }

    public static void main(String[] args) throws Exception {
        Config cfg = Config.parse(args);
        int status;
        try {
            status = new TortureScenario(cfg).run();
        } catch (Throwable t) {
            t.printStackTrace(System.out);
            status = 1;
        }
        System.out.flush();
        System.exit(status);
    }

    private int run() throws Exception {
        boolean agent = ReleaseGuard.agentActive();
        boolean checkCollection = cfg.checkCollection == null ? agent : cfg.checkCollection;
        long start = System.nanoTime();
        int status = 0;
        try (PagemapCache cache = new PagemapCache(HELPER_WORKER)) {
            PluginLoader loader = PluginLoader.builder()
                    .service(TortureBus.class, bus)
                    .service(PagemapCache.class, cache)
                    .service(TortureBystander.class, bystander)
                    .config("torture.devices", Integer.toString(cfg.devices))
                    .beforeClose(detector)
                    .allowUnguardedUnload(!agent)        // only to show the failure without the agent
                    .closeAudit(cfg.closeAudit)          // off only to show the failure without any safety
                    .collectionTimeout(Duration.ZERO)    // checked below, once the workers let go
                    .awaitCollection(true).build();
            if (cfg.bystander != null) {
                bystander.start(loader, cfg.bystander, cache); // Y: sections of its own epoch open from now on
            }
            SplittableRandom root = new SplittableRandom(cfg.seed);
            for (int c = 1; c <= cfg.cycles; c++) {
                Cycle cycle = runCycle(c, loader, cache, root.split());
                if (cycle.aborted != null) {
                    System.out.println("aborted=cycle " + c + ": " + cycle.aborted.replace('\n', ' '));
                    status = 2;
                    break;
                }
                totals.cycles++;
                if (checkCollection) {
                    long t0 = System.nanoTime();
                    boolean collected = collected(cycle.loader, cycle.collectedQueue, cfg.collectionBound);
                    totals.maxCollectionNanos = Math.max(totals.maxCollectionNanos, System.nanoTime() - t0);
                    if (!collected) {
                        totals.notCollected++;
                        totals.error("cycle " + c + ": the class loader " + cycle.loaderName + " was not collected within "
                                + cfg.collectionBound.toMillis() + " ms of its unload; " + suspects(cycle.loader));
                        status = 3;                      // every later cycle would wait as long: stop here
                        break;
                    }
                }
            }
            if (cfg.bystander != null) {
                bystanderResults.putAll(bystander.finish(loader, cache));
            }
        }
        long elapsed = System.nanoTime() - start;
        print(agent, checkCollection, elapsed);
        return status;
    }

    /** What a cycle leaves behind: nothing of the plugin but a weak reference to its loader. */
    private record Cycle(WeakReference<ClassLoader> loader, ReferenceQueue<ClassLoader> collectedQueue,
                         String loaderName, String aborted) {
    }

    private Cycle runCycle(int c, PluginLoader loader, PagemapCache cache, SplittableRandom rnd) throws Exception {
        long tailsBefore = TortureBus.tails();
        long droppedBefore = cache.dropped();
        int failuresBefore = cache.failures().size();

        Plugin plugin = loader.load(cfg.plugin);
        TortureBus.Generation gen = bus.take();
        ReferenceQueue<ClassLoader> queue = new ReferenceQueue<>();
        ClassLoader pluginLoader = gen.factory().getClass().getClassLoader();
        WeakReference<ClassLoader> ref = new WeakReference<>(pluginLoader, queue);
        String loaderName = plugin.classLoaderName();
        if (!loaderName.equals(pluginLoader.getName()) || gen.generation() != plugin.generation()) {
            throw new IllegalStateException("generation mix-up: " + plugin + " (" + loaderName + ") published generation "
                    + gen.generation() + " from " + pluginLoader);
        }
        pluginLoader = null;

        CycleStats stats = new CycleStats();
        List<Thread> workers = new ArrayList<>();
        for (int w = 0; w < cfg.workers; w++) {
            Thread t = threads.newThread(new Worker(gen, rnd.split(), cache, stats));
            t.setName("torture-" + c + "-" + w);
            detector.track(t);
            workers.add(t);
        }
        AtomicBoolean unloadReturned = new AtomicBoolean();
        for (int k = 0; k < cfg.callers; k++) {
            Thread t = threads.newThread(new Caller(gen.service(), rnd.split(), stats, unloadReturned));
            t.setName("torture-caller-" + c + "-" + k);
            detector.track(t);
            workers.add(t);
        }
        workers.forEach(Thread::start);
        park(rnd, cfg.unloadDelayNanos);                  // the unload comes at a random moment

        String aborted = null;
        try {
            UnloadReport report = loader.unload(plugin, UNLOAD_TIMEOUT);
            totals.barriersWaited += report.barrierWaited() ? 1 : 0;
            totals.auditFrames += report.audit().framesFound();
            for (String f : report.releaseFailures()) {
                // PluginUnloadedError is the loader's NoClassDefFoundError for a late access
                boolean ncdfe = f.contains("NoClassDefFoundError") || f.contains("PluginUnloadedError");
                totals.failure(ncdfe, "release failure in " + plugin + ": " + f);
            }
        } catch (UnloadTimeoutException e) {
            totals.timeouts++;
            totals.barriersTimedOut += e.step() == UnloadStep.BARRIER ? 1 : 0;
            aborted = e.getMessage();
        } finally {
            unloadReturned.set(true);
        }
        for (Thread t : workers) {
            t.join(JOIN_BOUND_MILLIS);
            if (t.isAlive()) {
                aborted = "worker " + t.getName() + " still runs after " + JOIN_BOUND_MILLIS + " ms: "
                        + java.util.Arrays.toString(t.getStackTrace());
            }
            detector.untrack(t);
            TortureBus.forgetCalls(t);
        }
        if (!helperQuiescent(cache)) {
            aborted = "the helper's worker did not finish its queued drops in " + JOIN_BOUND_MILLIS + " ms";
        }
        long byHelper = cache.dropped() - droppedBefore - 1;  // minus the quiescence sentinel
        List<Throwable> failures = cache.failures();
        for (Throwable t : failures.subList(failuresBefore, failures.size())) {
            totals.failure(t instanceof NoClassDefFoundError, "helper worker: " + describe(t));
        }
        long tails = TortureBus.tails() - tailsBefore;
        totals.callbacks += tails;
        totals.callbacksByHelper += byHelper;
        totals.acquires += stats.acquires.get();
        totals.serviceCalls += stats.served.get();
        totals.refused += stats.refused.get();
        totals.factoryRefused += stats.factoryRefused.get();
        totals.refusedLate += stats.refusedLate.get();
        totals.lateCallsRan += stats.lateRan.get();
        totals.ncdfe += stats.ncdfe.get();
        totals.otherErrors += stats.otherErrors.get();
        if (stats.firstError.get() != null) {
            totals.error(stats.firstError.get());
        }
        if (stats.firstOtherError.get() != null && totals.firstOtherError == null) {
            totals.firstOtherError = stats.firstOtherError.get();
        }
        long lost = stats.made.get() - tails;
        if (lost != 0) {
            totals.lost += Math.abs(lost);
            totals.error("cycle " + c + ": " + stats.made.get() + " callbacks made, " + tails + " run");
        }
        return new Cycle(ref, queue, loaderName, aborted);
    }

    /**
     * Waits until the helper's worker has run every drop queued so far: a host callback held last
     * and dropped by a new work item is dropped after every batch taken before it (one worker,
     * batches in order), so when it runs, they have all returned.
     */
    private static boolean helperQuiescent(PagemapCache cache) throws InterruptedException {
        CountDownLatch sentinel = new CountDownLatch(1);
        cache.hold(sentinel::countDown);
        cache.dropAllLater();
        return sentinel.await(JOIN_BOUND_MILLIS, TimeUnit.MILLISECONDS);
    }

    /** A weak reference and bounded GC nudges; the reference queue is the wait. */
    private static boolean collected(WeakReference<ClassLoader> ref, ReferenceQueue<ClassLoader> queue, Duration bound)
            throws InterruptedException {
        long deadline = System.nanoTime() + bound.toNanos();
        while (!ref.refersTo(null)) {
            if (System.nanoTime() - deadline > 0) {
                return false;
            }
            System.gc();
            queue.remove(100);
        }
        return true;
    }

    /** Who keeps a loader that was not collected, as far as threads tell: context class loaders, stacks. */
    private static String suspects(WeakReference<ClassLoader> ref) {
        ClassLoader cl = ref.get();
        if (cl == null) {
            return "it was collected just after the bound";
        }
        List<String> found = new ArrayList<>();
        for (Map.Entry<Thread, StackTraceElement[]> e : Thread.getAllStackTraces().entrySet()) {
            Thread t = e.getKey();
            if (t.getContextClassLoader() == cl) {
                found.add("thread \"" + t.getName() + "\" has it as its context class loader (at "
                        + (e.getValue().length > 0 ? e.getValue()[e.getValue().length - 1] : "?") + ")");
            }
            for (StackTraceElement f : e.getValue()) {
                if (cl.getName().equals(f.getClassLoaderName())) {
                    found.add("thread \"" + t.getName() + "\" runs its code at " + f);
                    break;
                }
            }
        }
        return found.isEmpty() ? "no thread holds it as context class loader or runs its code (look for static caches)"
                : "suspects: " + String.join("; ", found);
    }

    /** One racing thread of one cycle. Host code: it enters the plugin only holding a reference, or through a callback. */
    private final class Worker implements Runnable {
        private final List<Device> devices;
        private final TortureBus.CallbackFactory factory;
        private final SplittableRandom rnd;
        private final PagemapCache cache;
        private final CycleStats stats;

        Worker(TortureBus.Generation gen, SplittableRandom rnd, PagemapCache cache, CycleStats stats) {
            this.devices = gen.devices();
            this.factory = gen.factory();
            this.rnd = rnd;
            this.cache = cache;
            this.stats = stats;
        }

        @Override
        public void run() {
            List<ReleaseCallback> stash = new ArrayList<>();
            try {
                for (int op = 0; op < cfg.ops; op++) {
                    if (rnd.nextInt(4) == 0) {
                        park(rnd, cfg.paceNanos);
                    }
                    int k = rnd.nextInt(devices.size());
                    Device d = devices.get(k);
                    if (!d.tryAcquire()) {
                        if (allGone()) {
                            break;                       // the generation is drained: nothing left to race
                        }
                        continue;
                    }
                    stats.acquires.incrementAndGet();
                    int choice = rnd.nextInt(100);
                    if (choice < 15) {                   // a plain holder
                        if (rnd.nextBoolean()) {
                            d.acquire();
                            d.release();
                        }
                        park(rnd, cfg.paceNanos);
                        d.release();                     // maybe the last: the release sequence runs here
                        continue;
                    }
                    ReleaseCallback cb;
                    try {
                        cb = factory.make(d, k, rnd.nextInt(cfg.shapes), rnd.nextBoolean() ? 0 : rnd.nextLong(cfg.tailParkNanos + 1),
                                rnd.nextInt(2000));
                    } catch (Throwable t) {
                        if (refusedAtTheCall(t)) {
                            stats.factoryRefused.incrementAndGet(); // GOING: a new entry into the plugin is refused
                        } else {
                            stats.failed(t);
                        }
                        d.release();
                        continue;
                    }
                    stats.made.incrementAndGet();
                    if (choice < 45) {
                        runCallback(cb);                 // at once, on this thread
                    } else if (choice < 70) {
                        stash.add(cb);                   // held a while, run later in random order
                    } else {
                        cache.hold(cb);                  // dropped by the helper's worker after a random delay
                        cache.dropAllLater(Duration.ofNanos(rnd.nextLong(cfg.tailParkNanos + 1)));
                    }
                    if (stash.size() > MAX_STASH || !stash.isEmpty() && rnd.nextInt(4) == 0) {
                        runCallback(stash.remove(rnd.nextInt(stash.size())));
                    }
                }
            } catch (Throwable t) {
                stats.failed(t);
            } finally {
                while (!stash.isEmpty()) {
                    runCallback(stash.remove(stash.size() - 1));
                }
                TortureBus.forget(Thread.currentThread());
            }
        }

        private void runCallback(ReleaseCallback cb) {
            try {
                cb.release();
            } catch (Throwable t) {
                stats.failed(t);
            }
        }

        private boolean allGone() {
            for (Device d : devices) {
                if (d.references() > 0) {
                    return false;
                }
            }
            return true;
        }
    }

    /**
     * One host caller of a cycle: calls the plugin's service continuously, holding nothing of the
     * plugin but the service it was given, until a call is refused at its entry or the cycle's
     * unload returned; a caller never refused makes one late call after that.
     */
    private final class Caller implements Runnable {
        private final TortureBus.Service service;
        private final SplittableRandom rnd;
        private final CycleStats stats;
        private final AtomicBoolean unloadReturned;

        Caller(TortureBus.Service service, SplittableRandom rnd, CycleStats stats, AtomicBoolean unloadReturned) {
            this.service = service;
            this.rnd = rnd;
            this.stats = stats;
            this.unloadReturned = unloadReturned;
        }

        @Override
        public void run() {
            try {
                for (long seq = 1; ; seq++) {
                    boolean late = unloadReturned.get();
                    TortureBus.calling(seq);
                    try {
                        service.serve(seq);
                        (late ? stats.lateRan : stats.served).incrementAndGet();
                    } catch (Throwable t) {
                        if (refusedAtTheCall(t)) {
                            (late ? stats.refusedLate : stats.refused).incrementAndGet();
                        } else {
                            stats.failed(t);
                        }
                        break;
                    }
                    if (late) {
                        break;
                    }
                    if (rnd.nextBoolean()) {
                        park(rnd, cfg.paceNanos);
                    }
                }
            } finally {
                TortureBus.forget(Thread.currentThread());
            }
        }
    }

    /** A {@link PluginUnloadedError} thrown at the entry of a call into a GOING or unloaded plugin (not a late class load). */
    private static boolean refusedAtTheCall(Throwable t) {
        return t instanceof PluginUnloadedError && String.valueOf(t.getMessage()).contains(" refused: plugin ");
    }

    private static void park(SplittableRandom rnd, long maxNanos) {
        if (maxNanos > 0) {
            LockSupport.parkNanos(rnd.nextLong(maxNanos + 1));
        }
    }

    /** Per-cycle counters the workers share; no reference to a Throwable is kept (its backtrace would pin the plugin). */
    private static final class CycleStats {
        final AtomicLong acquires = new AtomicLong();
        final AtomicLong made = new AtomicLong();
        final AtomicLong served = new AtomicLong();
        final AtomicLong refused = new AtomicLong();
        final AtomicLong factoryRefused = new AtomicLong();
        final AtomicLong refusedLate = new AtomicLong();
        final AtomicLong lateRan = new AtomicLong();
        final AtomicLong ncdfe = new AtomicLong();
        final AtomicLong otherErrors = new AtomicLong();
        final AtomicReference<String> firstError = new AtomicReference<>();
        final AtomicReference<String> firstOtherError = new AtomicReference<>();

        void failed(Throwable t) {
            boolean isNcdfe = t instanceof NoClassDefFoundError;
            (isNcdfe ? ncdfe : otherErrors).incrementAndGet();
            String s = "worker " + Thread.currentThread().getName() + ": " + describe(t);
            firstError.compareAndSet(null, s);
            if (!isNcdfe) {
                firstOtherError.compareAndSet(null, s);
            }
        }
    }

    private static final class Totals {
        long cycles;
        long callbacks;
        long callbacksByHelper;
        long acquires;
        long serviceCalls;
        long auditFrames;
        long refused;
        long factoryRefused;
        long refusedLate;
        long lateCallsRan;
        long barriersWaited;
        long barriersTimedOut;
        long ncdfe;
        long otherErrors;
        long lost;
        long notCollected;
        long timeouts;
        long maxCollectionNanos;
        String firstError;
        String firstOtherError;

        void error(String s) {
            if (firstError == null) {
                firstError = s;
            }
        }

        void failure(boolean isNcdfe, String s) {
            if (isNcdfe) {
                ncdfe++;
            } else {
                otherErrors++;
                if (firstOtherError == null) {
                    firstOtherError = s;
                }
            }
            error(s);
        }
    }

    private static String describe(Throwable t) {
        StringBuilder sb = new StringBuilder(String.valueOf(t));
        StackTraceElement[] st = t.getStackTrace();
        for (int i = 0; i < Math.min(st.length, 8); i++) {
            sb.append(" <- ").append(st[i]);
        }
        return sb.toString();
    }

    private void print(boolean agent, boolean checkCollection, long elapsedNanos) {
        Map<String, Object> out = new java.util.LinkedHashMap<>();
        out.put("cycles", totals.cycles);
        out.put("callbacks", totals.callbacks);
        out.put("callbacksByHelper", totals.callbacksByHelper);
        out.put("acquires", totals.acquires);
        out.put("driverReleases", TortureBus.driverReleases());
        out.put("barriersWaited", totals.barriersWaited);
        out.put("barriersTimedOut", totals.barriersTimedOut);
        out.put("auditFrames", totals.auditFrames);
        out.put("scans", detector.scans());
        out.put("violations", detector.violations());
        out.put("serviceViolations", detector.serviceViolations());
        out.put("epilogues", detector.epilogues());
        out.put("refusing", detector.refusing());
        out.put("detectorErrors", detector.errors());
        out.put("ncdfe", totals.ncdfe);
        out.put("otherErrors", totals.otherErrors);
        out.put("lost", totals.lost);
        out.put("collectionChecked", checkCollection);
        out.put("notCollected", totals.notCollected);
        out.put("maxCollectionMs", TimeUnit.NANOSECONDS.toMillis(totals.maxCollectionNanos));
        out.put("timeouts", totals.timeouts);
        out.put("agent", agent);
        out.put("virtual", cfg.virtual);
        out.put("workers", cfg.workers);
        out.put("callers", cfg.callers);
        out.put("serviceCalls", totals.serviceCalls);
        out.put("refused", totals.refused);
        out.put("factoryRefused", totals.factoryRefused);
        out.put("refusedLate", totals.refusedLate);
        out.put("lateCallsRan", totals.lateCallsRan);
        out.put("seed", cfg.seed);
        out.put("jvm", jvm());
        out.put("elapsedMs", TimeUnit.NANOSECONDS.toMillis(elapsedNanos));
        out.put("bystander", cfg.bystander != null);
        out.putAll(bystanderResults);
        List<String> reports = detector.reports();
        for (int i = 0; i < reports.size(); i++) {
            out.put("violation." + (i + 1), reports.get(i));
        }
        out.put("firstViolation", reports.isEmpty() ? "none" : reports.get(0));
        out.put("firstError", totals.firstError == null ? "none" : totals.firstError);
        out.put("firstOtherError", totals.firstOtherError == null ? "none" : totals.firstOtherError);
        out.forEach((k, v) -> System.out.println(k + "=" + v));
    }

    /** The Java version, VM and compiler mode (from {@code java.vm.info} and the JVM's options). */
    static String jvm() {
        List<String> flags = ManagementFactory.getRuntimeMXBean().getInputArguments().stream()
                .filter(a -> a.equals("-Xint") || a.startsWith("-XX:TieredStopAtLevel") || a.startsWith("-XX:-TieredCompilation")
                        || a.equals("-Xcomp"))
                .collect(Collectors.toList());
        String mode = flags.contains("-Xint") ? "interpreter"
                : flags.stream().anyMatch(f -> f.equals("-XX:TieredStopAtLevel=1")) ? "C1 only"
                : flags.contains("-XX:-TieredCompilation") ? "C2 only" : "tiered";
        return System.getProperty("java.version") + " " + System.getProperty("java.vm.name") + " ("
                + System.getProperty("java.vm.info") + "), " + mode + (flags.isEmpty() ? "" : " " + flags);
    }

    private static ThreadFactory virtualThreads() {
        try {
            Object builder = Thread.class.getMethod("ofVirtual").invoke(null);
            return (ThreadFactory) Class.forName("java.lang.Thread$Builder").getMethod("factory").invoke(builder);
        } catch (NoSuchMethodException | ClassNotFoundException e) {
            throw new IllegalStateException("virtual=true needs virtual threads (JDK 21+); this is Java "
                    + System.getProperty("java.version"), e);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot create a virtual thread factory", e);
        }
    }

    private static final class Config {
        Path plugin;
        int cycles = 100;
        long seed = System.nanoTime();
        boolean virtual;
        int workers = -1;
        int callers = -1;
        int ops = 48;
        int devices = 4;
        int shapes = 3;
        long tailParkNanos = TimeUnit.MICROSECONDS.toNanos(300);
        long unloadDelayNanos = TimeUnit.MICROSECONDS.toNanos(2000);
        long paceNanos = TimeUnit.MICROSECONDS.toNanos(50);
        long lastTailParkNanos = TimeUnit.MICROSECONDS.toNanos(1000);
        Boolean checkCollection;
        boolean closeAudit = true;
        Duration collectionBound = Duration.ofSeconds(3);
        Path bystander;

        static Config parse(String[] args) {
            Map<String, String> kv = new HashMap<>();
            for (String a : args) {
                int eq = a.indexOf('=');
                if (eq <= 0) {
                    throw new IllegalArgumentException("argument '" + a + "' is not key=value");
                }
                kv.put(a.substring(0, eq), a.substring(eq + 1));
            }
            Config c = new Config();
            String plugin = kv.remove("plugin");
            if (plugin == null) {
                throw new IllegalArgumentException("plugin=<torture plugin jar> is required");
            }
            c.plugin = Path.of(plugin);
            c.cycles = Integer.parseInt(kv.getOrDefault("cycles", "" + c.cycles));
            c.seed = Long.parseLong(kv.getOrDefault("seed", "" + c.seed));
            c.virtual = Boolean.parseBoolean(kv.getOrDefault("virtual", "false"));
            c.workers = Integer.parseInt(kv.getOrDefault("workers", c.virtual ? "16" : "4"));
            c.callers = Integer.parseInt(kv.getOrDefault("callers", c.virtual ? "4" : "2"));
            c.ops = Integer.parseInt(kv.getOrDefault("ops", "" + c.ops));
            c.devices = Integer.parseInt(kv.getOrDefault("devices", "" + c.devices));
            c.shapes = Integer.parseInt(kv.getOrDefault("shapes", "" + c.shapes));
            c.tailParkNanos = TimeUnit.MICROSECONDS.toNanos(Long.parseLong(kv.getOrDefault("tailParkMicros", "300")));
            c.unloadDelayNanos = TimeUnit.MICROSECONDS.toNanos(Long.parseLong(kv.getOrDefault("unloadDelayMicros", "2000")));
            c.paceNanos = TimeUnit.MICROSECONDS.toNanos(Long.parseLong(kv.getOrDefault("paceMicros", "50")));
            c.lastTailParkNanos = TimeUnit.MICROSECONDS.toNanos(Long.parseLong(kv.getOrDefault("lastTailParkMicros", "1000")));
            c.collectionBound = Duration.ofMillis(Long.parseLong(kv.getOrDefault("collectionMillis", "3000")));
            String bystander = kv.remove("bystander");
            c.bystander = bystander == null ? null : Path.of(bystander);
            c.closeAudit = Boolean.parseBoolean(kv.getOrDefault("closeAudit", "true"));
            kv.remove("closeAudit");
            String check = kv.remove("checkCollection");
            c.checkCollection = check == null ? null : Boolean.parseBoolean(check);
            kv.keySet().removeAll(List.of("cycles", "seed", "virtual", "workers", "callers", "ops", "devices", "shapes", "tailParkMicros",
                    "unloadDelayMicros", "paceMicros", "lastTailParkMicros", "collectionMillis"));
            if (!kv.isEmpty()) {
                throw new IllegalArgumentException("unknown arguments " + kv.keySet());
            }
            if (c.cycles < 1 || c.workers < 1 || c.callers < 0 || c.ops < 1 || c.devices < 1 || c.devices > TorturePlugin.MAX_DEVICES
                    || c.shapes < 1 || c.shapes > 3) {
                throw new IllegalArgumentException("need cycles, workers, ops >= 1, 1 <= devices <= " + TorturePlugin.MAX_DEVICES
                        + ", 1 <= shapes <= 3");
            }
            return c;
        }
    }
}
