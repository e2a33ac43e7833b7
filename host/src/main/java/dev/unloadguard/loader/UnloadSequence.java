package dev.unloadguard.loader;

import dev.unloadguard.epoch.BarrierOutcome;
import dev.unloadguard.epoch.internal.Registrations;
import dev.unloadguard.epoch.internal.ReleaseEpoch;
import dev.unloadguard.epoch.internal.ThreadFrames;
import java.lang.System.Logger.Level;
import java.lang.ref.ReferenceQueue;
import java.lang.ref.WeakReference;
import java.time.Duration;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The unload protocol, written once: {@link #run} is the seven steps in order, for every way a
 * plugin leaves — {@link PluginLoader#unload}, the rollback of a failed load, and
 * {@link ForeignPluginLoaders#unload}. A subclass is one host's part in the steps:
 * <ol>
 *   <li>GOING: the release epoch's gate closes (in {@link GuardScope#ENTRIES} new entries from
 *       outside are refused from now on; the thread running the unload stays exempt, so it can
 *       call the exit hook), then {@link #going} refuses new devices (a foreign host has no device
 *       count);</li>
 *   <li>{@link #exit}: the driver's exit hook, or the foreign host's stop; then, for a plugin whose
 *       JDK registrations are managed, their undo newest first ({@link Registrations#undo}: its
 *       threads interrupted and joined, executors shut down, hooks, drivers, MBeans, handlers,
 *       providers removed, ...; bounded by {@link #UNDO_BOUND}), so that a thread it left running
 *       is stopped before the barrier would wait for it;</li>
 *   <li>{@link #awaitNoLiveDevices}: wait until no device is live (a foreign host: no DRAIN);</li>
 *   <li>the release barrier on the generation's epoch;</li>
 *   <li>the close audit: no platform or virtual thread has a frame of the generation's class
 *       loader ({@link ThreadFrames}; re-scanned over a grace of up to {@link #AUDIT_GRACE});</li>
 *   <li>{@link #close}: close the class loader and drop every strong reference; the gate then says
 *       "unloaded";</li>
 *   <li>confirm collection, suspects if it leaked: by default later, from the GC cycles the host
 *       runs anyway, by the shared {@link CollectionWatcher} ({@link #run} returns a report that
 *       says UNLOADED, the final one completes {@link #endedReport}); or at once, on the calling
 *       thread, nudging the GC as long as it takes ({@link #awaitCollection},
 *       {@link CollectionResult#await}).</li>
 * </ol>
 * Before it, {@link #refuseFromInside} refuses a caller inside the plugin's own release epoch (the
 * barrier would wait for its caller) with nothing changed. The timeout bounds steps 1 to 4 together
 * ({@link StepClock}); the audit's grace is its own. A timeout in step 3 or 4, an interrupt in step
 * 3, or an audit that finds plugin frames throws before anything is closed: the plugin stays GOING
 * and intact (its gate closed, the exemption of the thread that ran the unload dropped) and the
 * unload can be run again. A <em>forced</em> sequence (the rollback of a failed load, which must
 * leave nothing behind) logs the timeout or the audit's finding instead, closes anyway, and skips
 * the collection check.
 *
 * <p>Concurrency: a sequence is run once, by one thread; it takes no lock. Step 7 is the exception:
 * when it is left to the watcher, it ends on the watcher thread, or on a thread that calls
 * {@link #awaitCollection} meanwhile; whichever sets {@code checkEnding} first (a CAS) ends it, and
 * the others get its report from {@link #endedReport}. What steps 1 to 6 found is written before
 * the watch is registered under the watcher's monitor, which the watcher thread takes before it
 * reads them; {@code awaitCollection} is reached through a volatile field written after them
 * ({@link Plugin#awaitCollectionCheck}). Whoever runs a sequence makes sure one plugin has one
 * sequence running at a time (for a plugin, {@link Plugin#startUnload}).
 * The host's steps call plugin and host code (exit hooks, stop and close callbacks, observers), so
 * they must not be called under a lock either: a callback that blocks, or calls back into the
 * loader, would stall or deadlock every other thread that needs that lock. The gate is closed
 * before the barrier: the barrier pairs with each gated entry's fence, so an entry either sees the
 * closed gate (and is refused) or is waited for.
 */
abstract class UnloadSequence {

    private static final System.Logger LOG = System.getLogger("dev.unloadguard.loader");
    private static final Set<UnloadStep> ALL_STEPS = EnumSet.allOf(UnloadStep.class);
    private static final Set<UnloadStep> NO_DEVICE_STEPS = EnumSet.complementOf(EnumSet.of(UnloadStep.DRAIN));
    /**
     * How long the close audit re-scans a thread it saw inside before failing: a thread between a
     * woven exit and its method's return instruction, or unwinding from a refused entry, is seen
     * there for an instant.
     */
    static final Duration AUDIT_GRACE = Duration.ofMillis(100);
    /**
     * How long step 2 waits, at most, for the plugin's threads to stop once interrupted and its
     * executors to terminate once shut down (all of them together; never past the unload's timeout).
     */
    static final Duration UNDO_BOUND = Duration.ofSeconds(2);

    /** Names the plugin in reports and messages: {@code plugin xe generation 3}, or a foreign host's name. */
    final String name;
    private final String id;
    private final int generation;
    private final ReleaseEpoch epoch;
    private final WeakReference<ClassLoader> loader;
    private final ReferenceQueue<ClassLoader> collected;
    private final String loaderName;
    private final Map<Class<?>, Object> services;
    private final boolean countsDevices;
    private final Duration timeout;
    private final Duration collectionTimeout;
    private final boolean forced;
    private final boolean audits;
    private final CollectionWatcher watcher;
    /** Set by the thread that ends step 7: the watcher's callback or {@link #awaitCollection}, once. */
    private final java.util.concurrent.atomic.AtomicBoolean checkEnding = new java.util.concurrent.atomic.AtomicBoolean();
    private final java.util.concurrent.CompletableFuture<UnloadReport> endedReport = new java.util.concurrent.CompletableFuture<>();
    // What steps 1 to 6 found, for the report step 7 ends with; written by run() before the
    // watch is registered (the watcher's monitor publishes them to its thread).
    private java.util.Map<UnloadStep, Duration> closedTimes;
    private long closedAt;
    private BarrierOutcome barrierOutcome;
    private UnloadReports.Kept kept;
    private CloseAudit audit;
    /** What step 2 undid of the plugin's managed registrations; written and read by the thread running steps 1 to 6. */
    private List<UndoneRegistration> registrations = List.of();
    /** The pending asynchronous check, if any. */
    private volatile CollectionWatcher.Watch watch;

    /**
     * @param loader     a weak reference to the class loader, enqueued on {@code collected}
     * @param loaderName the class loader's name, which its frames carry; {@code null} or empty:
     *                   the close audit cannot run
     * @param services   the host's registries to scan for leak suspects
     * @param countsDevices whether the host counts devices (has DRAIN)
     * @param forced     close even if step 3, 4 or 5 fails, and skip the collection check
     * @param audits     whether step 5 runs (the host may turn the close audit off)
     * @param watcher    confirms collection when the caller does not wait for it
     */
    UnloadSequence(String id, int generation, String name, ReleaseEpoch epoch, WeakReference<ClassLoader> loader,
                   ReferenceQueue<ClassLoader> collected, String loaderName, Map<Class<?>, Object> services,
                   boolean countsDevices, Duration timeout, Duration collectionTimeout, boolean forced, boolean audits,
                   CollectionWatcher watcher) {
        this.id = id;
        this.generation = generation;
        this.name = name;
        this.epoch = epoch;
        this.loader = loader;
        this.collected = collected;
        this.loaderName = loaderName == null ? "" : loaderName;
        this.services = services;
        this.countsDevices = countsDevices;
        this.timeout = timeout;
        this.collectionTimeout = forced ? Duration.ZERO : collectionTimeout;
        this.forced = forced;
        this.audits = audits;
        this.watcher = watcher;
    }

    /** The guard scope in force: what the epoch covers. */
    final GuardScope scope() {
        return epoch.guardsEntries() ? GuardScope.ENTRIES : GuardScope.RELEASE_PATHS;
    }

    /** The seven steps, step 7 on this thread (nudging). Call {@link #refuseFromInside} first, before anything changes. */
    final UnloadReport run() throws UnloadTimeoutException, InterruptedException {
        return run(false);
    }

    /**
     * The seven steps; with {@code awaitCollection} false, step 7 is left to the
     * {@link CollectionWatcher} and the report returned says UNLOADED (its final one completes
     * {@link #endedReport}). Call {@link #refuseFromInside} first, before anything changes.
     */
    final UnloadReport run(boolean awaitCollection) throws UnloadTimeoutException, InterruptedException {
        StepClock clock = new StepClock(timeout, countsDevices ? ALL_STEPS : NO_DEVICE_STEPS);
        epoch.closeGate(id, generation, Thread.currentThread());           // 1. no new entries (but ours),
        BarrierOutcome barrier;
        CloseAudit audit;
        boolean closing = false;
        try {
            going();                                                       //    no new devices
            clock.lap(UnloadStep.GOING);
            exit();                                                        // 2. driver exit, host stop,
            registrations = undoRegistrations(clock);                      //    then undo its registrations
            clock.lap(UnloadStep.EXIT);
            drain(clock.deadline());                                       // 3. live devices = 0
            clock.lap(UnloadStep.DRAIN);
            barrier = barrier(clock.left());                               // 4. release barrier
            clock.lap(UnloadStep.BARRIER);
            audit = audit();                                               // 5. close audit
            clock.lap(UnloadStep.AUDIT);
            closing = true;
        } finally {
            if (!closing) {
                epoch.closeGate(id, generation, null); // stays GOING: this thread is no longer the unloader
            }
        }
        UnloadReports.Kept kept = close();                                 // 6. close, forget
        forgetRegistrations();
        epoch.markUnloaded(java.time.Instant.now());
        clock.lap(UnloadStep.CLOSE);
        this.closedTimes = clock.times();
        this.closedAt = System.nanoTime();
        this.barrierOutcome = barrier;
        this.kept = kept;
        this.audit = audit;
        if (collectionTimeout.isZero()) {                                  // 7. collected? not checked
            return end(CollectionResult.unchecked());
        }
        UnloadReport closedReport = report(new CollectionResult(PluginState.UNLOADED, 0), 0);
        closed(closedReport);
        if (awaitCollection) {
            return awaitCollection();                                      // 7. collected? (now, nudging)
        }
        ClassLoader cl = loader.get();                                     // 7. collected? (later)
        if (cl == null) {
            return end(new CollectionResult(PluginState.COLLECTED, 0));
        }
        watch = watcher.watch(cl, collectionTimeout, this::watched);
        cl = null; // no strong reference to the loader in this frame from here on (interpreted frames too)
        return closedReport;
    }

    /**
     * Step 7 now, on the calling thread, as the synchronous check always did: nudges the GC until
     * the class loader is collected or the collection timeout (counted from now) passes, and
     * returns the final report. If the asynchronous check already ended (or another caller is
     * ending it), waits for and returns its report instead. Call only after {@link #run} closed
     * the loader.
     */
    final UnloadReport awaitCollection() throws InterruptedException {
        if (!checkEnding.compareAndSet(false, true)) {
            try {
                return endedReport.get(); // the watcher (or another caller) ends it
            } catch (java.util.concurrent.ExecutionException e) {
                throw new IllegalStateException("the collection check failed", e.getCause()); // finish() never completes exceptionally
            }
        }
        CollectionWatcher.Watch w = watch;
        if (w != null) {
            watcher.cancel(w); // no nudge for it from the watcher any more
        }
        CollectionResult collection = CollectionResult.await(loader, collected, collectionTimeout);
        return finish(collection);
    }

    /** The final report once step 7 ended (COLLECTED, LEAKED, or UNLOADED if not checked or interrupted). */
    final java.util.concurrent.CompletableFuture<UnloadReport> endedReport() {
        return endedReport;
    }

    /** The watcher's end of step 7, on its thread. */
    private void watched(CollectionResult collection) {
        if (checkEnding.compareAndSet(false, true)) {
            finish(collection);
        }
    }

    private UnloadReport end(CollectionResult collection) {
        checkEnding.set(true);
        return finish(collection);
    }

    private UnloadReport finish(CollectionResult collection) {
        UnloadReport report = report(collection, System.nanoTime() - closedAt);
        watch = null;
        try {
            finished(report);
            LOG.log(report.outcome() == PluginState.LEAKED ? Level.WARNING : Level.DEBUG, report::summary);
        } finally {
            endedReport.complete(report);
        }
        return report;
    }

    private UnloadReport report(CollectionResult collection, long collectNanos) {
        java.util.Map<UnloadStep, Duration> times = new java.util.EnumMap<>(closedTimes);
        times.put(UnloadStep.COLLECT, Duration.ofNanos(collectNanos));
        return UnloadReports.unloaded(id, generation, times, barrierOutcome, kept, collection,
                collection.leaked() ? leakSuspects() : List.of(), scope(), epoch.refusedEntries(), audit, registrations);
    }

    /** Before anything changes: plugin code (a release path; in ENTRIES any) cannot wait for itself. */
    final void refuseFromInside() {
        int depth = epoch.depth();
        if (depth > 0) {
            throw new IllegalStateException("unload of " + name + " called from inside "
                    + (epoch.guardsEntries() ? "the plugin's own code" : "one of its own release paths") + " (thread \""
                    + Thread.currentThread().getName() + "\" is inside its release epoch, depth " + depth + "): the release "
                    + "barrier would wait for its own caller. Nothing was changed; unload it from another thread (for "
                    + "example hand the unload to an executor)");
        }
    }

    private void drain(long deadline) throws UnloadTimeoutException, InterruptedException {
        boolean drained;
        try {
            drained = awaitNoLiveDevices(deadline);
        } catch (InterruptedException e) {
            if (!forced) {
                throw e; // nothing closed: the plugin stays GOING, the unload can be retried
            }
            Thread.currentThread().interrupt();
            drained = false;
        }
        if (!drained) {
            timedOut(UnloadStep.DRAIN);
        }
    }

    private BarrierOutcome barrier(Duration left) throws UnloadTimeoutException {
        if (forced && epoch.isInside()) {
            return BarrierOutcome.IMMEDIATE; // a rollback on a thread still inside: closing beats waiting for itself
        }
        Object event = barrierStarted();
        BarrierOutcome outcome = epoch.barrier(left);
        barrierEnded(event, outcome);
        if (outcome == BarrierOutcome.TIMED_OUT) {
            timedOut(UnloadStep.BARRIER);
        }
        return outcome;
    }

    /**
     * Step 5: scans every thread for frames of the generation's class loader; fails (nothing
     * closed) if one still has some after the grace, unless forced.
     */
    private CloseAudit audit() throws CloseAuditException {
        if (!audits) {
            return CloseAudit.notRun("turned off (PluginLoader.Builder.closeAudit(false))");
        }
        if (loaderName.isEmpty()) {
            return CloseAudit.notRun("the class loader has no name, so its frames cannot be told apart (give it a unique name)");
        }
        ThreadFrames.Audit a = ThreadFrames.audit(loaderName, AUDIT_GRACE);
        CloseAudit audit = new CloseAudit(a.platformThreads(), a.virtualThreads(), a.virtualThreadsVisible(), a.visibility(),
                a.framesFound(), a.scans(), Duration.ofNanos(a.nanos()));
        if (!a.virtualThreadsVisible()) {
            LOG.log(Level.DEBUG, () -> "close audit of " + name + ": " + a.visibility());
        }
        if (a.passed()) {
            return audit;
        }
        CloseAuditException e = UnloadReports.auditFailed(plugin(), name, scope(), loaderName, a.inside(), audit, registrations);
        if (forced) {
            LOG.log(Level.WARNING, "rolling back " + name + " although its close audit failed; closing its class loader anyway: "
                    + e.getMessage());
            return audit;
        }
        timedOut(e);
        throw e;
    }

    private void timedOut(UnloadStep step) throws UnloadTimeoutException {
        List<String> live = countsDevices ? liveDevices() : null;
        if (forced) {
            LOG.log(Level.WARNING, "rolling back " + name + ": step " + (step.ordinal() + 1) + " (" + step.label()
                    + ") timed out (live devices: " + live + ", threads inside its release epoch: " + epoch.threadsInside()
                    + "); closing its class loader anyway");
            return;
        }
        UnloadTimeoutException e = UnloadReports.timeout(plugin(), name, scope(), step, timeout, live,
                countsDevices && !tracking(), epoch.threadsInside(), registrations);
        timedOut(e);
        throw e;
    }

    /**
     * Step 2, after the exit hook: undoes the plugin's managed JDK registrations, newest first
     * ({@link Registrations#undo}); threads and executors are awaited until {@link #UNDO_BOUND} or
     * the unload's deadline, whichever is first. A leftover is logged with the stack that
     * registered it, reported, and named again if a later step times out.
     */
    private List<UndoneRegistration> undoRegistrations(StepClock clock) {
        ClassLoader cl = loader.get();
        if (cl == null) {
            return List.of();
        }
        long bound = Math.min(clock.left().toNanos(), UNDO_BOUND.toNanos());
        return undoRegistrations(cl, name, Duration.ofNanos(bound));
    }

    /** {@link #undoRegistrations(StepClock)} for {@code cl} within {@code bound}: also for a load rolled back before it had a plugin. */
    static List<UndoneRegistration> undoRegistrations(ClassLoader cl, String name, Duration bound) {
        if (!Registrations.isManaged(cl)) {
            return List.of();
        }
        List<UndoneRegistration> out = new java.util.ArrayList<>();
        for (Registrations.Undone u : Registrations.undo(cl, System.nanoTime() + bound.toNanos())) {
            UndoneRegistration r = new UndoneRegistration(u.kind().label(), u.what(), u.site(),
                    UndoneRegistration.Outcome.valueOf(u.outcome().name()), u.note(), u.stack());
            out.add(r);
            LOG.log(r.leftOver() ? Level.WARNING : Level.DEBUG, () -> "unload of " + name + ": " + r);
        }
        return List.copyOf(out);
    }

    /** Step 6, once the loader is closed: its registry of registrations is dropped. */
    private void forgetRegistrations() {
        Registrations.forget(loader.get());
    }

    private List<String> leakSuspects() {
        ClassLoader cl = loader.get();
        return cl == null ? List.of() : LeakSuspects.find(cl, loaderName, services);
    }

    // ---- one host's part ---------------------------------------------------------------------

    /** Step 1, after the gate closed: refuse new devices. Not called under a lock. */
    void going() {
    }

    /** Step 2: the driver's exit hook, or the foreign host's stop. */
    abstract void exit();

    /** Step 3: waits until no device is live; false if the {@link System#nanoTime} deadline passed first. */
    boolean awaitNoLiveDevices(long deadline) throws InterruptedException {
        return true;
    }

    /** Step 6: closes the class loader, drops every strong reference; returns what the report keeps. */
    abstract UnloadReports.Kept close();

    /** The live devices with their reference counts (and holders), for a timeout report. */
    List<String> liveDevices() {
        return List.of();
    }

    /** Whether reference tracking is on (a timeout report then names holders instead of saying how). */
    boolean tracking() {
        return false;
    }

    /** The plugin handle a timeout names, or {@code null} (a foreign host has none). */
    Plugin plugin() {
        return null;
    }

    /** Observation points: the barrier started and ended, a timeout or failed audit, the report is made. */
    Object barrierStarted() {
        return null;
    }

    void barrierEnded(Object event, BarrierOutcome outcome) {
    }

    void timedOut(UnloadTimeoutException e) {
    }

    /** Step 6 ended and step 7 goes on (its report says UNLOADED); not called if the check is skipped. */
    void closed(UnloadReport report) {
    }

    /** Step 7 ended: the final report. On the watcher thread if the check was asynchronous. */
    void finished(UnloadReport report) {
    }
}
