package dev.unloadguard.loader;

import dev.unloadguard.driver.PluginUnloadedError;
import dev.unloadguard.epoch.internal.ReleaseEpoch;

import dev.unloadguard.device.internal.PluginDevices;
import dev.unloadguard.driver.Driver;
import java.lang.ref.ReferenceQueue;
import java.lang.ref.WeakReference;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;

/**
 * The host's handle on one loaded plugin generation: its id, generation and state. Until it is
 * unloaded the handle holds the plugin's class loader, driver and devices; the unload drops those
 * strong references, after which the handle only remembers what happened (the unload report), so
 * a host may keep handles as long as it likes without keeping plugins alive.
 */
public final class Plugin {

    static {
        dev.unloadguard.loader.internal.PluginAccess.install(Plugin::epoch); // the test kit's crossing probe
    }

    private final PluginLoader owner;
    private final String id;
    private final int generation;
    private final Path jar;
    private final WeakReference<ClassLoader> classLoaderRef;
    private final String classLoaderName;
    private final Path copy;
    private final java.util.concurrent.atomic.AtomicLong lateAccesses = new java.util.concurrent.atomic.AtomicLong();
    private final ReferenceQueue<ClassLoader> collected = new ReferenceQueue<>();
    /** This generation's release epoch: holds no reference to the plugin, so it is kept for reports. */
    private final ReleaseEpoch epoch;
    private final IsolationPolicy isolation;

    private volatile PluginState state = PluginState.LOADING;
    /** Set once while loading, before the plugin is visible to anyone else. */
    private volatile PluginVersion version = PluginVersion.NONE;
    private volatile List<Plugin> dependencies = List.of();
    private volatile List<String> exports = List.of();
    // Strong references, dropped in step 6 of the unload protocol.
    private volatile PluginClassLoader classLoader;
    private volatile Driver driver;
    private volatile PluginDevices devices;

    /** The unload running now, if any; guarded by this (only to hand it over: no call runs under the lock). */
    private CompletableFuture<UnloadReport> unloading;
    private volatile UnloadReport report;
    private volatile Instant unloadedAt;
    /** Completed with the final report when step 7 (the collection check) ends. */
    private final CompletableFuture<UnloadReport> collectionCheck = new CompletableFuture<>();
    /** The unload whose collection check is pending, from its close to the end of the check. */
    private volatile PluginUnload pendingCheck;

    Plugin(PluginLoader owner, String id, int generation, Path jar, Path copy, PluginClassLoader classLoader,
           Driver driver, PluginDevices devices) {
        this.owner = owner;
        this.copy = copy;
        this.id = id;
        this.generation = generation;
        this.jar = jar;
        this.classLoader = classLoader;
        this.classLoaderRef = new WeakReference<>(classLoader, collected);
        this.classLoaderName = classLoader.getName();
        this.epoch = classLoader.releaseEpoch();
        this.isolation = classLoader.isolation();
        this.driver = driver;
        this.devices = devices;
    }

    /** The plugin id its driver declared. */
    public String id() {
        return id;
    }

    /** 1 for the first load of this id by its {@link PluginLoader}, then 2, 3, ... */
    public int generation() {
        return generation;
    }

    public PluginState state() {
        return state;
    }

    /**
     * Where this generation's class loader looks first for a class: the host (parent-first) or
     * the plugin (plugin-first).
     */
    public IsolationPolicy isolation() {
        return isolation;
    }

    /** The plugin the host loaded: a jar, a zip or a directory (see {@link PluginLoader#load}). */
    public Path jar() {
        return jar;
    }

    /**
     * The name of this generation's class loader, unique in the JVM (for example
     * {@code plugin:driver-sample.jar#12}): stack frames of plugin code carry it
     * ({@link StackTraceElement#getClassLoaderName()}).
     */
    public String classLoaderName() {
        return classLoaderName;
    }

    /**
     * How many times code still running in this plugin asked its closed class loader for a class
     * (each one got a {@link PluginUnloadedError}).
     */
    public long lateAccesses() {
        return lateAccesses.get();
    }

    /**
     * What the agent guards in this generation: every entry ({@link GuardScope#ENTRIES}: the
     * unload waits for all plugin code and refuses new calls once GOING) or its release paths only.
     */
    public GuardScope guardScope() {
        return epoch.guardsEntries() ? GuardScope.ENTRIES : GuardScope.RELEASE_PATHS;
    }

    /**
     * How many calls from outside into this generation were refused (each with a
     * {@link PluginUnloadedError}) because it was unloading or unloaded. Always 0 in
     * {@link GuardScope#RELEASE_PATHS}.
     */
    public long refusedEntries() {
        return epoch.refusedEntries();
    }

    /** The plugin's live-device count; 0 once unloaded. */
    public int liveDevices() {
        PluginDevices d = devices;
        return d == null ? 0 : d.liveCount();
    }

    /**
     * The current thread's nesting depth in this generation's release epoch: 0 outside, more while
     * it runs a guarded method of this plugin (or the release sequence of one of its devices).
     */
    public int releaseDepth() {
        return epoch.depth();
    }

    /**
     * A racy snapshot of the threads inside this generation's release epoch (for diagnostics: a
     * thread may have left by the time the list is returned).
     */
    public java.util.List<Thread> threadsInside() {
        return epoch.threadsInside();
    }

    /**
     * The report of the unload, once its class loader was closed: until the collection check
     * ends it says UNLOADED, then the check's outcome (COLLECTED, or LEAKED with suspects).
     */
    public Optional<UnloadReport> unloadReport() {
        return Optional.ofNullable(report);
    }

    /**
     * The outcome of the collection check (step 7 of the unload), which by default ends after
     * {@link PluginLoader#unload} returned: completes with the final report, whose
     * {@link UnloadReport#outcome() outcome} is {@link PluginState#COLLECTED} once a GC collected
     * the class loader, {@link PluginState#LEAKED} (with leak suspects) if it was still reachable
     * when the loader's {@link PluginLoader.Builder#collectionTimeout collection timeout} passed,
     * or {@link PluginState#UNLOADED} if the check was off (a zero timeout) or interrupted. Not
     * completed before the unload closed the class loader.
     *
     * <p>Each call returns a new future that completes with the same report (completing or
     * cancelling it changes nothing else). Actions attached to it without an executor run on the
     * thread that ended the check, often the collection watcher that all pending unloads share:
     * keep them short, or use the {@code ...Async} methods.
     */
    public CompletableFuture<UnloadReport> collectionCheck() {
        return collectionCheck.copy();
    }

    /**
     * Ends the collection check now, on this thread, the way an unload with
     * {@link PluginLoader.Builder#awaitCollection awaitCollection(true)} does: nudges the GC
     * ({@code System.gc()}, repeatedly, with growing waits) until the class loader is collected or
     * the loader's collection timeout, counted from now, passes; returns the final report (as
     * {@link #collectionCheck()} then gives). Returns at once if the check already ended. Each
     * nudge is a full collection of the whole heap on most collectors: for tests, tools and
     * demonstrations, not for a host that must not pause.
     *
     * @throws IllegalStateException if this generation's class loader was not closed yet (unload it first)
     * @throws InterruptedException  if interrupted while waiting for another thread's check to end
     *                               (interrupted during its own nudges, the check ends UNLOADED
     *                               with the interrupt status set)
     */
    public UnloadReport awaitCollectionCheck() throws InterruptedException {
        PluginUnload pending = pendingCheck;
        if (pending != null) {
            return pending.awaitCollection();
        }
        if (collectionCheck.isDone()) {
            return collectionCheck.join();
        }
        throw new IllegalStateException("the collection check of " + this + " has not started: unload it first "
                + "(PluginLoader.unload), then await its collection check");
    }

    /** When the class loader was closed, once it was. */
    public Optional<Instant> unloadedAt() {
        return Optional.ofNullable(unloadedAt);
    }

    @Override
    public String toString() {
        return "plugin " + id + " generation " + generation + " (" + state + ")";
    }

    // ---- used by PluginLoader -------------------------------------------------------------

    /** The plugin's version, from its manifest's {@code Plugin-Version} ({@link PluginVersion#NONE} if it declares none). */
    public PluginVersion version() {
        return version;
    }

    /**
     * The dependency generations this plugin was resolved against when it was loaded (its
     * manifest's {@code Plugin-Requires}), in declaration order: it sees exactly their
     * {@link #exports()}, and none of them can be unloaded while this plugin is loaded.
     */
    public List<Plugin> dependencies() {
        return dependencies;
    }

    /** The packages this plugin exports to its dependents (its manifest's {@code Plugin-Exports}). */
    public List<String> exports() {
        return exports;
    }

    void declared(PluginVersion version, List<Plugin> dependencies, List<String> exports) {
        this.version = version;
        this.dependencies = List.copyOf(dependencies);
        this.exports = List.copyOf(exports);
    }

    PluginLoader owner() {
        return owner;
    }

    /** The loader's private copy of the plugin (a file, or a directory with its libraries), which the class loader reads. */
    Path copy() {
        return copy;
    }

    void countLateAccess(String className) {
        lateAccesses.incrementAndGet();
        owner.countLateAccess(this, className);
    }

    void state(PluginState s) {
        state = s;
    }

    ReleaseEpoch epoch() {
        return epoch;
    }

    PluginClassLoader classLoader() {
        return classLoader;
    }

    Driver driver() {
        return driver;
    }

    PluginDevices devices() {
        return devices;
    }

    WeakReference<ClassLoader> classLoaderRef() {
        return classLoaderRef;
    }

    ReferenceQueue<ClassLoader> collectedQueue() {
        return collected;
    }

    /**
     * Makes {@code mine} this plugin's running unload, unless one is running: then returns that
     * one, for the caller to share its outcome.
     *
     * @throws IllegalStateException if this generation was already unloaded
     */
    synchronized CompletableFuture<UnloadReport> startUnload(CompletableFuture<UnloadReport> mine) {
        if (unloading == null && state.compareTo(PluginState.GOING) > 0) {
            throw new IllegalStateException(this + " was already unloaded at " + unloadedAt
                    + unloadReport().map(r -> "; its report: " + r.summary()).orElse(""));
        }
        if (unloading != null) {
            return unloading;
        }
        unloading = mine;
        return null;
    }

    synchronized void unloadEnded() {
        unloading = null;
    }

    void report(UnloadReport r) {
        report = r;
    }

    /** Step 6 ended, step 7 pending on {@code unload}. */
    void collectionPending(PluginUnload unload) {
        pendingCheck = unload;
    }

    /** Step 7 ended with {@code r}. */
    void collectionChecked(UnloadReport r) {
        collectionCheck.complete(r);
        pendingCheck = null; // after: a reader that finds no pending check finds the future done
    }

    /** Step 6: forget every strong reference; returns the loader so the caller can close it. */
    PluginClassLoader forget() {
        PluginClassLoader cl = classLoader;
        PluginDevices d = devices;
        if (d != null) {
            d.forgetPlugin();
        }
        classLoader = null;
        driver = null;
        devices = null;
        unloadedAt = Instant.now();
        return cl;
    }
}
