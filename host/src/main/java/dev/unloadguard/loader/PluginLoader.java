package dev.unloadguard.loader;

import dev.unloadguard.device.internal.PluginDevices;
import dev.unloadguard.driver.Driver;
import dev.unloadguard.driver.DriverContext;
import dev.unloadguard.driver.PluginUnloadedError;
import dev.unloadguard.epoch.ReleaseGuard;
import dev.unloadguard.epoch.internal.Registrations;
import dev.unloadguard.epoch.internal.ReleaseEpoch;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.net.URL;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.ServiceLoader;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * Loads driver plugins, each jar in its own class loader, and unloads them safely.
 *
 * <p>{@link #unload} is the unload protocol ({@link UnloadSequence}), the JVM twin of a kernel
 * driver module's exit with {@code try_module_get} and {@code drm_dev_release_barrier()}:
 * <ol>
 *   <li>GOING: the plugin refuses new devices and, in {@link GuardScope#ENTRIES} (the default),
 *       new calls from outside into its code;</li>
 *   <li>the driver's exit hook drops the driver's own references (and stops its threads);</li>
 *   <li>wait until the plugin's live-device count is zero (bounded by the timeout);</li>
 *   <li>the release barrier: every guarded section that started has returned (in ENTRIES every
 *       call into the plugin, in RELEASE_PATHS its release callbacks);</li>
 *   <li>the close audit: no platform or virtual thread has a frame of the plugin's class loader;</li>
 *   <li>close the class loader and drop every strong reference the host keeps;</li>
 *   <li>confirm the class loader is collected: by default after {@code unload} returned, from the
 *       GC cycles the host runs anyway, with at most one {@code System.gc()} nudge shared by all
 *       pending unloads ({@link Plugin#collectionCheck()}); or before it returns, nudging the GC
 *       until it is collected ({@link Builder#awaitCollection}, {@link Plugin#awaitCollectionCheck()}).</li>
 * </ol>
 * A timeout in step 3 or 4, or plugin frames found by the audit, closes nothing: the plugin stays
 * GOING and intact, and unload can be retried. A failed load is rolled back by the same sequence,
 * forced: it closes whatever happens. Unloading needs the unloadguard agent (it weaves the guards,
 * so the barrier covers the plugin's code); without it, unload refuses unless the host explicitly
 * allowed unguarded unloads, and then it warns.
 *
 * <p>Concurrency. No lock is held around a call into plugin or host code (the driver's init and
 * exit, the before-close observer) or a class loader's {@code close()}: such a call may block, or
 * call back into the loader from another thread, and would then stall every load, unload and query
 * of every plugin. The registry ({@link Generations}) guards itself with its own monitor, held for
 * a few map operations; each {@link Plugin}'s monitor hands its one running unload to concurrent
 * callers ({@link Plugin#startUnload}), who share its outcome. What is loaded and what leaked is
 * not stored: it is read from each generation's state.
 *
 * <p>Dependencies. A load resolves its {@code Plugin-Requires} and counts itself against the
 * chosen generations ({@code loadsResolvedAgainst}) under one monitor ({@code dependencyLock});
 * an unload checks for dependents (loaded plugins resolved against the generation, and counted
 * loads) and marks itself starting ({@code unloadsStarting}) under the same monitor. So either the
 * load sees the unload starting and refuses the generation, or the unload sees the load and
 * refuses; neither misses the other. A load's count ends when it ended (LIVE, or rolled back):
 * from then on the plugin's own {@link Plugin#dependencies()} say who depends on whom. The
 * monitor is held for a few map operations and reads of the registry, never around plugin code.
 */
public final class PluginLoader implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger("dev.unloadguard.loader");
    /** Makes every plugin class loader's name unique in the JVM: stack traces name the generation. */
    private static final AtomicLong LOADER_SEQ = new AtomicLong();
    /** How long the rollback of a failed load waits for its devices and release barrier. */
    private static final Duration ROLLBACK_TIMEOUT = Duration.ofSeconds(5);

    private final ClassLoader parent;
    final Map<Class<?>, Object> services;
    private final Map<String, String> config;
    private final boolean allowUnguardedUnload;
    private final Duration collectionTimeout;
    private final boolean awaitCollection;
    final CollectionWatcher collectionWatcher;
    private final Consumer<Plugin> beforeClose;
    private final boolean trackReferences;
    private final PrivateCopies copies;
    private final GuardScope guardScope;
    private final IsolationPolicy isolation;
    private final List<String> sharedPackages;
    private final boolean closeAudit;
    private final AtomicLong lateAccesses = new AtomicLong();
    private final AtomicLong refusedEntries = new AtomicLong();
    final Observability observability = new Observability();
    final Generations generations = new Generations();
    /**
     * Guards {@link #loadsResolvedAgainst} and {@link #unloadsStarting}, so a load resolving
     * against a plugin and an unload of that plugin see each other: the load refuses a plugin
     * whose unload is starting, the unload refuses a plugin a load resolved against.
     */
    private final Object dependencyLock = new Object();
    /** Loads in progress per dependency generation they resolved against. */
    private final Map<Plugin, Integer> loadsResolvedAgainst = new HashMap<>();
    /** Plugins whose unload passed the dependents check and has not ended. */
    private final java.util.Set<Plugin> unloadsStarting = new java.util.HashSet<>();

    private PluginLoader(Builder b) {
        this.parent = b.parent;
        this.services = Map.copyOf(b.services);
        this.config = Map.copyOf(b.config);
        this.allowUnguardedUnload = b.allowUnguardedUnload;
        this.collectionTimeout = b.collectionTimeout;
        this.awaitCollection = b.awaitCollection;
        this.collectionWatcher = b.collectionWatcher;
        this.beforeClose = b.beforeClose;
        this.trackReferences = b.trackReferences;
        this.copies = new PrivateCopies(b.copyDirectory);
        this.guardScope = b.guardScope;
        this.isolation = b.isolation;
        this.sharedPackages = List.copyOf(b.sharedPackages);
        this.closeAudit = b.closeAudit;
        if (!ReleaseGuard.agentActive()) {
            LOG.log(allowUnguardedUnload ? Level.WARNING : Level.INFO,
                    "the unloadguard agent is not attached: release callbacks are not guarded"
                            + (allowUnguardedUnload ? "; unguarded unloads are allowed and may close a loader under a running callback"
                                    : "; unload() will refuse until the JVM runs with -javaagent:unloadguard-agent.jar"));
        }
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Whether the unloadguard agent is installed in this JVM (release callbacks are guarded). */
    public boolean agentActive() {
        return ReleaseGuard.agentActive();
    }

    /** The plugins loaded and not yet unloaded (LIVE or GOING), in load order. */
    public List<Plugin> plugins() {
        return generations.loaded();
    }

    /** The newest loaded (LIVE or GOING) generation of a plugin id, if any. */
    public Optional<Plugin> plugin(String id) {
        return generations.newestLoaded(id);
    }

    /**
     * Late accesses so far: requests from code still running in an unloaded plugin for a class of
     * its closed loader (each answered with {@link PluginUnloadedError}).
     */
    public long lateAccesses() {
        return lateAccesses.get();
    }

    /**
     * Calls from outside into plugins of this loader refused so far because the plugin was
     * unloading or unloaded (each answered with {@link PluginUnloadedError} at the call); see
     * {@link Plugin#refusedEntries()}.
     */
    public long refusedEntries() {
        return refusedEntries.get();
    }

    /** The guard scope plugins get unless loaded with {@link LoadOption#GUARD_RELEASE_PATHS_ONLY}. */
    public GuardScope guardScope() {
        return guardScope;
    }

    /**
     * The isolation policy plugins get unless loaded with {@link LoadOption#PLUGIN_FIRST} or
     * {@link LoadOption#PARENT_FIRST}.
     */
    public IsolationPolicy isolation() {
        return isolation;
    }

    /** Whether unloads run the close audit (step 5); see {@link Builder#closeAudit}. */
    boolean closeAudit() {
        return closeAudit;
    }

    /** The listener of a generation's gate: on the refusing thread, must not throw or block. */
    private void countRefusedEntry(Plugin plugin, String method) {
        refusedEntries.incrementAndGet();
        observability.entryRefused(plugin, method);
    }

    void countLateAccess(Plugin plugin, String className) {
        lateAccesses.incrementAndGet();
        observability.lateAccess(plugin, className);
    }

    /** The JMX name of a plugin id of this loader ({@code dev.unloadguard:type=Plugin,loader=N,id=ID}). */
    public javax.management.ObjectName mbeanName(String id) {
        return observability.name(id);
    }

    /**
     * How many class loaders this loader created (failed loads included) are not yet garbage
     * collected. A diagnostic: call {@code System.gc()} first for a meaningful answer.
     */
    public int classLoadersNotCollected() {
        return generations.notCollected();
    }

    /** The directory holding the private copies of loaded jars. */
    public Path copyDirectory() {
        return copies.directory();
    }

    /**
     * The private copies in {@link #copyDirectory()} that no loaded generation uses, kept so that
     * loading the same content again (a reload, a load after an unload) reuses them: at most one
     * per plugin path, the copy of the content last loaded from it. Each is deleted once that path
     * is loaded with other content, or at {@link #close()}. Everything else in the directory
     * belongs to a loaded generation.
     */
    public List<Path> keptCopies() {
        return copies.kept();
    }

    // ---------------------------------------------------------------------------------------
    // Load

    /**
     * Loads a plugin in a class loader of its own, finds its one {@link Driver} in its
     * {@code META-INF/services} (as {@link ServiceLoader} does), and runs the driver's init. The
     * plugin is a jar, a jar with nested {@code lib/*.jar}, a jar whose manifest {@code Class-Path}
     * names libraries relative to it, or a directory or zip in the PF4J layout ({@code classes/},
     * {@code lib/*.jar}); see docs/plugin-guide.md, "Plugin layouts". The class loader reads a
     * private copy of the plugin and all its libraries (a jar's copy is made once per content and
     * shared: see {@link #keptCopies()}), so replacing or deleting any of them on disk never
     * disturbs the loaded generation; every class the plugin brought is defined
     * by that one loader (guarded, audited and collected with it). On any failure nothing is left
     * behind: no class loader, no copy this load made (a copy of the same content that
     * existed before it stays).
     *
     * <p>The plugin is guarded with the loader's {@link Builder#guardScope} (default
     * {@link GuardScope#ENTRIES}), or release paths only with {@link LoadOption#GUARD_RELEASE_PATHS_ONLY};
     * its classes are looked up with the loader's {@link Builder#isolation} (default
     * {@link IsolationPolicy#PARENT_FIRST}), or as {@link LoadOption#PLUGIN_FIRST} or
     * {@link LoadOption#PARENT_FIRST} say.
     *
     * <p>Dependencies ({@code Plugin-Requires}, {@code Plugin-Exports}, {@code Plugin-Version} in
     * the plugin's own manifest; docs/plugin-guide.md, "Plugin dependencies"): each required
     * plugin resolves to the newest LIVE generation of its id whose version is in the declared
     * range; the plugin's class loader takes the packages those generations export from their
     * loaders, and nothing else of them ({@link Plugin#dependencies()}).
     *
     * @throws PluginLoadException naming the plugin, what is wrong, and the fix (a class missing
     *                             because a library is: the class and what would provide it); also
     *                             when an earlier generation of the same id leaked (unless
     *                             {@link LoadOption#IGNORE_LEAKED_GENERATIONS}); for a required
     *                             plugin that is not loaded, or not in a version in the range, two
     *                             dependencies exporting one package, or a dependency cycle
     * @throws IllegalArgumentException for both {@link LoadOption#PLUGIN_FIRST} and {@link LoadOption#PARENT_FIRST}
     */
    public Plugin load(Path jar, LoadOption... options) throws PluginLoadException {
        Objects.requireNonNull(jar, "jar");
        List<LoadOption> opts = List.of(options);
        if (opts.contains(LoadOption.PLUGIN_FIRST) && opts.contains(LoadOption.PARENT_FIRST)) {
            throw new IllegalArgumentException("LoadOption.PLUGIN_FIRST and LoadOption.PARENT_FIRST together: pass one of them");
        }
        Object loadEvent = observability.loadStarted();
        Path path = jar.toAbsolutePath().normalize();
        boolean directory = PluginJars.check(path);
        PluginFiles files = PluginFiles.copy(path, directory, copies); // and the archive is a zip
        Path copy = files.copy;
        PluginManifest manifest;
        Resolution resolution;
        try {
            manifest = PluginManifest.of(files.manifest, path);
            resolution = resolve(manifest, path);
        } catch (PluginLoadException | RuntimeException | Error e) {
            dropFailed(files);
            throw e;
        }
        try {
            return load(path, opts, files, manifest, resolution, loadEvent);
        } finally {
            resolved(resolution);
        }
    }

    private Plugin load(Path path, List<LoadOption> opts, PluginFiles files, PluginManifest manifest, Resolution resolution,
                        Object loadEvent) throws PluginLoadException {
        Path copy = files.copy;
        PluginClassLoader cl;
        GuardScope scope = opts.contains(LoadOption.GUARD_RELEASE_PATHS_ONLY) ? GuardScope.RELEASE_PATHS : guardScope;
        IsolationPolicy policy = opts.contains(LoadOption.PLUGIN_FIRST) ? IsolationPolicy.PLUGIN_FIRST
                : opts.contains(LoadOption.PARENT_FIRST) ? IsolationPolicy.PARENT_FIRST : isolation;
        try {
            String loaderName = "plugin:" + path.getFileName() + "#" + LOADER_SEQ.incrementAndGet();
            URL[] classPath = files.classPath.toArray(new URL[0]);
            // One release epoch per generation: unloading it waits for its own sections only.
            cl = new PluginClassLoader(loaderName, classPath, parent, PluginLoader.class.getClassLoader(),
                    new ReleaseEpoch("plugin jar " + path.getFileName() + " (" + loaderName + ")", scope == GuardScope.ENTRIES),
                    policy, sharedPackages, resolution.imports);
        } catch (RuntimeException e) {
            dropFailed(files);
            throw new PluginLoadException(path, "cannot make a class loader for " + copy + ": " + e.getMessage(), e);
        }
        generations.made(cl);
        if (!opts.contains(LoadOption.UNMANAGED_REGISTRATIONS)) {
            Registrations.manage(cl, cl.getName()); // before any class of it runs: recorded from its first line
        }
        Plugin plugin = null;
        files.providers = className -> dependencyHint(className, resolution.dependencies);
        try {
            Driver driver = PluginJars.driver(cl, path, files);
            String id = PluginJars.id(driver, path);
            refuseCycle(id, manifest, resolution.dependencies, path);
            Plugin loading = plugin = generations.register(id, path, opts, generation -> {
                cl.releaseEpoch().describeAs("plugin " + id + " generation " + generation);
                Plugin made = new Plugin(this, id, generation, path, copy, cl, driver,
                        new PluginDevices(id, generation, driver, trackReferences, cl.releaseEpoch()));
                cl.releaseEpoch().onRefusedEntry(method -> countRefusedEntry(made, method));
                made.declared(manifest.version, resolution.dependencies, manifest.exports);
                return made;
            });
            callWithContextLoader(cl, () -> driver.init(new HostContext(loading, services, config)));
            loading.state(PluginState.LIVE);
            observability.loaded(loadEvent, loading);
            LOG.log(Level.DEBUG, () -> "loaded " + path + " as " + loading);
            return loading;
        } catch (PluginLoadException e) {
            rollBack(plugin, cl, copy);
            copies.discardIfCreated(files.lease);
            throw e;
        } catch (Throwable t) {
            String who = plugin == null ? path.toString() : "plugin " + plugin.id() + " from " + path;
            String missing = files.missingClass(t, cl); // while the loader is open
            rollBack(plugin, cl, copy);
            copies.discardIfCreated(files.lease);
            if (missing != null) {
                throw new PluginLoadException(path, "the driver of " + who + " needs a class that is missing: " + missing
                        + " (the load was rolled back)", t);
            }
            throw new PluginLoadException(path, "the driver of " + who + " failed in init: " + t
                    + " (fix the driver's init; the load was rolled back)", t);
        }
    }

    /** The dependency generations a load was resolved against, and the packages it imports from them. */
    private static final class Resolution {
        static final Resolution NONE = new Resolution(List.of(), Map.of());
        final List<Plugin> dependencies;
        final Map<String, PluginClassLoader> imports;

        Resolution(List<Plugin> dependencies, Map<String, PluginClassLoader> imports) {
            this.dependencies = dependencies;
            this.imports = imports;
        }
    }

    /**
     * Resolves a plugin's {@code Plugin-Requires} against the loaded plugins: for each, the newest
     * LIVE generation of that id whose version is in the range. Until {@link #resolved} the
     * chosen generations count as depended on ({@link #dependents}), so none of them starts
     * unloading under the load.
     */
    private Resolution resolve(PluginManifest manifest, Path path) throws PluginLoadException {
        if (manifest.requires.isEmpty()) {
            return Resolution.NONE;
        }
        String who = "plugin " + path;
        synchronized (dependencyLock) {
            List<Plugin> deps = new ArrayList<>();
            Map<String, PluginClassLoader> imports = new HashMap<>();
            Map<String, Plugin> exporters = new HashMap<>();
            List<Plugin> loaded = generations.loaded();
            for (PluginManifest.Requirement r : manifest.requires) {
                Plugin chosen = null;
                List<Plugin> sameId = new ArrayList<>();
                for (Plugin p : loaded) {
                    if (p.id().equals(r.id())) {
                        sameId.add(p);
                        if (p.state() == PluginState.LIVE && !unloadsStarting.contains(p) && r.range().contains(p.version())
                                && (chosen == null || p.generation() > chosen.generation())) {
                            chosen = p;
                        }
                    }
                }
                if (chosen == null) {
                    String fix = "; load " + r.id() + (r.range().isAny() ? "" : " in a version in " + r.range()) + " first";
                    if (sameId.isEmpty()) {
                        throw new PluginLoadException(path, who + " requires plugin " + r + ", which is not loaded" + fix
                                + " (or remove " + r.id() + " from the manifest's " + PluginManifest.REQUIRES + ")", null);
                    }
                    List<String> found = new ArrayList<>();
                    boolean versionMismatch = false;
                    for (Plugin p : sameId) {
                        boolean live = p.state() == PluginState.LIVE && !unloadsStarting.contains(p);
                        versionMismatch |= live;
                        found.add(p + " version " + p.version() + (live ? "" : " (unloading)"));
                    }
                    if (versionMismatch) {
                        throw new PluginLoadException(path, who + " requires plugin " + r.id() + " in a version in " + r.range()
                                + ", but the loaded " + String.join(", ", found) + (sameId.size() == 1 ? " is" : " are")
                                + " outside it" + fix + ", or widen the range in the manifest's " + PluginManifest.REQUIRES, null);
                    }
                    throw new PluginLoadException(path, who + " requires plugin " + r + ", which is being unloaded ("
                            + String.join(", ", found) + ")" + fix, null);
                }
                deps.add(chosen);
                for (String pkg : chosen.exports()) {
                    Plugin other = exporters.putIfAbsent(pkg, chosen);
                    if (other != null) {
                        throw new PluginLoadException(path, who + " requires both " + other + " and " + chosen
                                + ", which both export package " + pkg + ": a package is exported by one plugin; remove it "
                                + "from one of their " + PluginManifest.EXPORTS, null);
                    }
                    PluginClassLoader cl = chosen.classLoader();
                    if (cl == null) {
                        throw new IllegalStateException(chosen + " is LIVE without a class loader");
                    }
                    imports.put(pkg, cl);
                }
            }
            for (Plugin d : deps) {
                loadsResolvedAgainst.merge(d, 1, Integer::sum);
            }
            return new Resolution(List.copyOf(deps), Map.copyOf(imports));
        }
    }

    /** The load against {@code resolution} ended (LIVE or rolled back): its dependencies are held by the plugin only. */
    private void resolved(Resolution resolution) {
        if (resolution.dependencies.isEmpty()) {
            return;
        }
        synchronized (dependencyLock) {
            for (Plugin d : resolution.dependencies) {
                loadsResolvedAgainst.computeIfPresent(d, (k, n) -> n == 1 ? null : n - 1);
            }
        }
    }

    /** Refuses a plugin that requires itself, directly or through its dependencies. */
    private static void refuseCycle(String id, PluginManifest manifest, List<Plugin> deps, Path path) throws PluginLoadException {
        for (PluginManifest.Requirement r : manifest.requires) {
            if (r.id().equals(id)) {
                throw new PluginLoadException(path, "plugin " + id + " from " + path + " requires itself (" + r + " in its "
                        + PluginManifest.REQUIRES + "): a dependency cycle; remove " + id + " from it", null);
            }
        }
        for (Plugin d : deps) {
            String chain = chainTo(id, d, id + " -> " + d.id());
            if (chain != null) {
                throw new PluginLoadException(path, "plugin " + id + " from " + path + " would close a dependency cycle: "
                        + chain + " (plugins that require each other cannot be loaded or unloaded one at a time); move what "
                        + "they share into a plugin that both require, and remove " + id + " from the "
                        + PluginManifest.REQUIRES + " of " + d.id(), null);
            }
        }
    }

    private static String chainTo(String id, Plugin from, String chain) {
        for (Plugin d : from.dependencies()) {
            String next = chain + " -> " + d.id();
            if (d.id().equals(id)) {
                return next + " (generation " + d.generation() + ")";
            }
            String deeper = chainTo(id, d, next);
            if (deeper != null) {
                return deeper;
            }
        }
        return null;
    }

    /**
     * What would provide a class a loading plugin misses, if a loaded plugin has it: a dependency
     * that does not export its package, or a plugin it does not require; {@code null} otherwise.
     */
    private String dependencyHint(String className, List<Plugin> deps) {
        int dot = className.lastIndexOf('.');
        String pkg = dot < 0 ? "" : className.substring(0, dot);
        String file = className.replace('.', '/') + ".class";
        for (Plugin p : generations.loaded()) {
            PluginClassLoader cl = p.classLoader();
            if (cl == null || cl.findResource(file) == null) {
                continue;
            }
            if (deps.contains(p)) {
                return "its dependency " + p + " has it but does not export package " + pkg + ": add " + pkg
                        + " to the " + PluginManifest.EXPORTS + " manifest attribute of " + p.id();
            }
            return p + " has it, but this plugin does not require " + p.id() + ": add " + p.id()
                    + " to this plugin's " + PluginManifest.REQUIRES + " manifest attribute"
                    + (p.exports().contains(pkg) ? "" : " and " + pkg + " to the " + PluginManifest.EXPORTS + " of " + p.id());
        }
        return null;
    }

    /**
     * The loaded (LIVE or GOING) plugins resolved against this generation of a plugin, in load
     * order: while there are any, {@link #unload} refuses it ({@link #unloadWithDependents} unloads
     * them first).
     */
    public List<Plugin> dependents(Plugin plugin) {
        List<Plugin> out = new ArrayList<>();
        for (Plugin p : generations.loaded()) {
            if (p.dependencies().contains(plugin)) {
                out.add(p);
            }
        }
        return out;
    }

    /** A load failed before it had a class loader: its copy is released, and deleted if this load made it. */
    private void dropFailed(PluginFiles files) {
        copies.release(files.copy);
        copies.discardIfCreated(files.lease);
    }

    /**
     * A failed load leaves nothing behind: the unload sequence, forced; or just the loader and copy.
     * The caller then deletes the jar's shared copy if this load made it ({@link PrivateCopies#discardIfCreated}).
     */
    private void rollBack(Plugin plugin, PluginClassLoader cl, Path copy) {
        if (plugin == null) {
            UnloadSequence.undoRegistrations(cl, cl.getName(), UnloadSequence.UNDO_BOUND); // what the driver class's loading registered
            Registrations.forget(cl);
            discard(cl, null, copy);
            return;
        }
        try {
            new PluginUnload(this, plugin, ROLLBACK_TIMEOUT, Duration.ZERO, true).run();
        } catch (UnloadTimeoutException e) {
            throw new AssertionError("a forced unload sequence does not time out", e);
        } catch (InterruptedException e) {
            throw new AssertionError("a forced unload sequence is not interrupted", e);
        }
    }

    // ---------------------------------------------------------------------------------------
    // Unload

    /**
     * Unloads a plugin with the seven-step protocol and returns its report. Concurrent calls for
     * the same plugin share one unload and see the same outcome.
     *
     * <p>By default it returns once the class loader is closed: the plugin is
     * {@link PluginState#UNLOADED} and the report is complete but for the outcome of the collection
     * check (step 7), which says UNLOADED. The check goes on in the background and ends, within the
     * loader's {@link Builder#collectionTimeout collection timeout}, with
     * {@link PluginState#COLLECTED} or {@link PluginState#LEAKED}: the plugin's state, its
     * {@link Plugin#unloadReport() report}, its MXBean and JFR follow, and
     * {@link Plugin#collectionCheck()} completes. To have the outcome in the returned report, build
     * the loader with {@link Builder#awaitCollection awaitCollection(true)}, or call
     * {@link Plugin#awaitCollectionCheck()} after this.
     *
     * @param timeout bounds steps 2 to 4 (exit hook, live devices, release barrier); the
     *                collection check has its own bound ({@link Builder#collectionTimeout})
     * @throws UnloadTimeoutException if devices stayed live or guarded plugin code kept running
     *                                past the timeout, or ({@link CloseAuditException}) the close
     *                                audit found a thread still running the plugin's code; the
     *                                plugin stays GOING and intact
     * @throws IllegalStateException  without the agent (unless unguarded unloads were allowed),
     *                                if the plugin was already unloaded, or if the calling thread
     *                                runs inside one of the plugin's own release paths (a release
     *                                callback or action, the driver's release): the barrier would
     *                                wait for its own caller. Thrown before anything changes: the
     *                                plugin stays LIVE
     * @throws IllegalStateException  also if loaded plugins depend on it (see {@link #dependents}):
     *                                the message names them; the plugin stays LIVE. Unload them
     *                                first, or use {@link #unloadWithDependents}
     * @throws IllegalArgumentException if the plugin was loaded by another loader
     */
    public UnloadReport unload(Plugin plugin, Duration timeout) throws UnloadTimeoutException, InterruptedException {
        Objects.requireNonNull(plugin, "plugin");
        Objects.requireNonNull(timeout, "timeout");
        if (plugin.owner() != this) {
            throw new IllegalArgumentException(plugin + " was loaded by another PluginLoader: unload it with that loader");
        }
        PluginUnload unload = new PluginUnload(this, plugin, timeout, collectionTimeout, false);
        unload.refuseFromInside();
        requireGuardOrPermission(plugin);
        refuseIfDependedOn(plugin);
        try {
            CompletableFuture<UnloadReport> mine = new CompletableFuture<>();
            CompletableFuture<UnloadReport> running = plugin.startUnload(mine);
            if (running != null) {
                return join(running);
            }
            try {
                Object event = observability.unloadStarted();
                UnloadReport report = unload.run(awaitCollection);
                observability.unloaded(event, plugin, report);
                mine.complete(report);
                return report;
            } catch (Throwable t) {
                mine.completeExceptionally(t);
                throw t;
            } finally {
                plugin.unloadEnded();
            }
        } finally {
            synchronized (dependencyLock) {
                unloadsStarting.remove(plugin);
            }
        }
    }

    /**
     * Refuses to unload a plugin that loaded plugins (or loads in progress) were resolved against;
     * otherwise marks its unload as starting, so no load resolves against it from now on.
     */
    private void refuseIfDependedOn(Plugin plugin) {
        synchronized (dependencyLock) {
            List<Plugin> dependents = dependents(plugin);
            Integer loading = loadsResolvedAgainst.get(plugin);
            if (!dependents.isEmpty() || loading != null) {
                List<String> names = new ArrayList<>();
                for (Plugin d : dependents) {
                    names.add(d.toString());             // names the plugin, its generation and state
                }
                if (loading != null) {
                    names.add(loading + " plugin load(s) in progress");
                }
                throw new IllegalStateException("refusing to unload " + plugin + ": loaded plugins depend on it: "
                        + String.join(", ", names) + ". Unload them first, or unload them all with "
                        + "PluginLoader.unloadWithDependents (dependents first); " + plugin.id() + " stays " + plugin.state());
            }
            unloadsStarting.add(plugin);
        }
    }

    /**
     * Unloads a plugin and, first, every loaded plugin that depends on it, directly or through
     * others: dependents before their dependencies (reverse dependency order), each with the full
     * protocol of {@link #unload}; returns one report per plugin, in the order they were unloaded,
     * the given plugin's last. If one of them cannot be unloaded (it times out, or a new dependent
     * was loaded meanwhile), that exception is thrown: the plugins unloaded before it stay
     * unloaded (their reports are in {@link Plugin#unloadReport()}), it and the rest stay loaded,
     * and the exception carries, as a suppressed exception, which plugins the cascade unloaded and
     * which are still loaded.
     *
     * @throws UnloadTimeoutException as {@link #unload}, for the first plugin that did not unload
     */
    public List<UnloadReport> unloadWithDependents(Plugin plugin, Duration timeout) throws UnloadTimeoutException, InterruptedException {
        Objects.requireNonNull(plugin, "plugin");
        Objects.requireNonNull(timeout, "timeout");
        java.util.LinkedHashSet<Plugin> order = new java.util.LinkedHashSet<>();
        dependentsFirst(plugin, order);
        List<UnloadReport> reports = new ArrayList<>();
        List<String> unloaded = new ArrayList<>();
        for (Plugin p : order) {
            try {
                reports.add(unload(p, timeout));
            } catch (UnloadTimeoutException | RuntimeException e) {
                e.addSuppressed(cascadeStopped(plugin, p, unloaded, order));
                throw e;
            }
            unloaded.add(p.id() + " generation " + p.generation());
        }
        return List.copyOf(reports);
    }

    /**
     * What a cascade that stopped at {@code failed} leaves: a cascade is not atomic, so the caller
     * learns which plugins it unloaded already and which are still loaded (to retry, or to see what
     * the host still runs).
     */
    private static IllegalStateException cascadeStopped(Plugin root, Plugin failed, List<String> unloaded,
                                                        java.util.Set<Plugin> order) {
        List<String> stillLoaded = new ArrayList<>();
        for (Plugin p : order) {
            if (p.state() != PluginState.UNLOADED && p.state() != PluginState.COLLECTED && p.state() != PluginState.LEAKED) {
                stillLoaded.add(p.id() + " generation " + p.generation() + " (" + p.state() + ")");
            }
        }
        return new IllegalStateException("the cascade unloading " + root.id() + " with its dependents stopped at " + failed.id() + " generation " + failed.generation()
                + " (a cascade is not atomic): unloaded so far " + (unloaded.isEmpty() ? "none" : String.join(", ", unloaded))
                + "; still loaded " + String.join(", ", stillLoaded)
                + ". Retry unloadWithDependents once the cause above is fixed");
    }

    /** The loaded plugins that depend on {@code plugin}, directly or not, in the order to unload them (dependents first). */
    List<Plugin> dependentsInUnloadOrder(Plugin plugin) {
        java.util.LinkedHashSet<Plugin> order = new java.util.LinkedHashSet<>();
        dependentsFirst(plugin, order);
        order.remove(plugin);
        return List.copyOf(order);
    }

    /** Adds the plugin's dependents (theirs first), then the plugin: a post-order walk. */
    private void dependentsFirst(Plugin plugin, java.util.Set<Plugin> order) {
        if (order.contains(plugin)) {
            return;
        }
        for (Plugin d : dependents(plugin)) {
            dependentsFirst(d, order);
        }
        order.add(plugin);
    }

    /** Shares the outcome of the unload another caller runs: its report, or what it threw. */
    private static UnloadReport join(CompletableFuture<UnloadReport> running) throws UnloadTimeoutException, InterruptedException {
        try {
            return running.get();
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            if (c instanceof UnloadTimeoutException) {
                throw (UnloadTimeoutException) c;
            }
            if (c instanceof InterruptedException) {
                throw (InterruptedException) c;
            }
            if (c instanceof RuntimeException) {
                throw (RuntimeException) c;
            }
            if (c instanceof Error) {
                throw (Error) c;
            }
            throw new IllegalStateException(c);
        }
    }

    private void requireGuardOrPermission(Plugin plugin) {
        if (ReleaseGuard.agentActive()) {
            return;
        }
        if (!allowUnguardedUnload) {
            throw new IllegalStateException("refusing to unload " + plugin + ": the unloadguard agent is not attached, so the "
                    + "release barrier cannot cover the plugin's release callbacks. Start the JVM with "
                    + "-javaagent:unloadguard-agent.jar, or allow unguarded unloads explicitly with "
                    + "PluginLoader.builder().allowUnguardedUnload(true)");
        }
        LOG.log(Level.WARNING, "unloading " + plugin + " WITHOUT the unloadguard agent: a release callback still running "
                + "plugin code may find its class loader closed");
    }

    /** Step 6, just before the close: the host's observer (see {@link Builder#beforeClose}). No lock is held. */
    void beforeClose(Plugin plugin) {
        if (beforeClose != null) {
            try {
                beforeClose.accept(plugin);
            } catch (RuntimeException e) {
                LOG.log(Level.WARNING, "the before-close observer threw; closing " + plugin + " anyway", e);
            }
        }
    }

    /**
     * Closes a generation's class loader (late accesses then name {@code plugin}) and releases its
     * copy: a generation's directory is deleted, a jar's shared copy kept while it is its path's
     * latest content (see {@link PrivateCopies}).
     */
    void discard(PluginClassLoader cl, Plugin plugin, Path copy) {
        try {
            if (plugin != null) {
                cl.closeFor(plugin);
            } else {
                cl.close();
            }
        } catch (IOException e) {
            LOG.log(Level.WARNING, "closing " + cl + " failed", e);
        }
        copies.release(copy);
    }

    /**
     * Unloads every loaded plugin (30 s each), the last loaded first (so dependents before their
     * dependencies); plugins that do not unload in time stay GOING and are named in the exception.
     */
    @Override
    public void close() throws UnloadTimeoutException, InterruptedException {
        UnloadTimeoutException first = null;
        List<Plugin> all = new ArrayList<>(plugins());
        java.util.Collections.reverse(all);
        for (Plugin p : all) {
            try {
                unload(p, Duration.ofSeconds(30));
            } catch (UnloadTimeoutException e) {
                if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        copies.close();
        observability.close();
        if (first != null) {
            throw first;
        }
    }

    @FunctionalInterface
    interface Body {
        void run() throws Exception;
    }

    static void callWithContextLoader(ClassLoader cl, Body body) throws Exception {
        Thread me = Thread.currentThread();
        ClassLoader saved = me.getContextClassLoader();
        me.setContextClassLoader(cl);
        try {
            body.run();
        } finally {
            me.setContextClassLoader(saved);
        }
    }

    /** Configures a {@link PluginLoader}. */
    public static final class Builder {
        private ClassLoader parent = PluginLoader.class.getClassLoader();
        private final Map<Class<?>, Object> services = new HashMap<>();
        private final Map<String, String> config = new HashMap<>();
        private boolean allowUnguardedUnload;
        private Duration collectionTimeout = Duration.ofSeconds(5);
        private boolean awaitCollection;
        private CollectionWatcher collectionWatcher = CollectionWatcher.SHARED;
        private Consumer<Plugin> beforeClose;
        private boolean trackReferences = Boolean.getBoolean("unloadguard.trackReferences");
        private Path copyDirectory;
        private GuardScope guardScope = GuardScope.ENTRIES;
        private IsolationPolicy isolation = IsolationPolicy.PARENT_FIRST;
        private final java.util.Set<String> sharedPackages = new java.util.LinkedHashSet<>();
        private boolean closeAudit = true;

        private Builder() {
        }

        /**
         * What the agent guards in the plugins this loader loads (default
         * {@link GuardScope#ENTRIES}: every entry into plugin code; once an unload starts, new
         * calls from outside fail at the call and the unload waits for the calls already inside).
         * {@link GuardScope#RELEASE_PATHS} guards release paths only. A plugin loaded with
         * {@link LoadOption#GUARD_RELEASE_PATHS_ONLY} gets release paths only either way.
         */
        public Builder guardScope(GuardScope scope) {
            this.guardScope = Objects.requireNonNull(scope, "scope");
            return this;
        }

        /**
         * Where the plugins this loader loads look first for a class: the parent (default
         * {@link IsolationPolicy#PARENT_FIRST}: the host's classes win) or the plugin
         * ({@link IsolationPolicy#PLUGIN_FIRST}: a plugin's own version of a library wins over the
         * host's, except for the JDK, unloadguard's API and the {@link #sharedPackage shared
         * packages}). A plugin loaded with {@link LoadOption#PLUGIN_FIRST} or
         * {@link LoadOption#PARENT_FIRST} gets that policy either way.
         */
        public Builder isolation(IsolationPolicy policy) {
            this.isolation = Objects.requireNonNull(policy, "policy");
            return this;
        }

        /**
         * A package (with its subpackages) that plugin-first plugins still take from the parent
         * first: the host's API the plugins and the host must share (the same {@code Class} on
         * both sides), for example {@code "com.example.host.api"}. Parent-first plugins take
         * everything the parent has from it anyway.
         */
        public Builder sharedPackage(String packageName) {
            Objects.requireNonNull(packageName, "packageName");
            if (!packageName.matches("\\p{javaJavaIdentifierStart}\\p{javaJavaIdentifierPart}*(\\.\\p{javaJavaIdentifierStart}\\p{javaJavaIdentifierPart}*)*")) {
                throw new IllegalArgumentException("'" + packageName + "' is not a package name: pass one like com.example.host.api "
                        + "(no trailing dot or wildcard: subpackages are shared too)");
            }
            sharedPackages.add(packageName);
            return this;
        }

        /**
         * Records who acquires each device reference and where (the kernel's {@code ref_tracker}):
         * timeout reports then name each holder and its acquisition stack, and a double release
         * names both release sites. Costs a stack walk per acquire and release. Default: the
         * system property {@code unloadguard.trackReferences}, else off.
         */
        public Builder trackReferences(boolean track) {
            this.trackReferences = track;
            return this;
        }

        /**
         * Where the loader keeps the private copies of loaded jars (default: a new temporary
         * directory). A jar's copy is named by the SHA-256 of its content and shared by the
         * generations of that content; once none uses it, it is kept for a load of the same content
         * while it is the latest content of its path, and deleted when that path is loaded with other
         * content, when the load that made it fails, or at {@link PluginLoader#close()}
         * ({@link PluginLoader#keptCopies()}). A plugin with libraries or a folder layout gets a
         * directory per generation, deleted when that generation is unloaded or its load fails.
         */
        public Builder copyDirectory(Path directory) {
            this.copyDirectory = Objects.requireNonNull(directory, "directory");
            return this;
        }

        /**
         * An observer called in step 6 just before a plugin's class loader is closed, after the
         * release barrier and the close audit: for checks that must see the plugin at that moment (a torture test's
         * independent detector scanning all threads for frames of {@link Plugin#classLoaderName()}).
         * It must not block for long; what it throws is logged and the close goes on.
         */
        public Builder beforeClose(Consumer<Plugin> observer) {
            this.beforeClose = observer;
            return this;
        }

        /**
         * Whether an unload runs the close audit (step 5, default on): scan every platform and
         * virtual thread for frames of the plugin's class loader just before closing it, and
         * refuse to close (retryably, {@link CloseAuditException}) while there are some. Off, the
         * loader is closed even under running plugin code, as before the audit existed: for tests
         * and demonstrations of what then goes wrong (late accesses, leaks), not for production.
         * The report then says the audit did not run.
         */
        public Builder closeAudit(boolean audit) {
            this.closeAudit = audit;
            return this;
        }

        /** The parent of every plugin class loader (default: the loader of unloadguard's classes). */
        public Builder parent(ClassLoader parent) {
            this.parent = parent;
            return this;
        }

        /** A host service drivers can look up with {@link DriverContext#service}. */
        public <T> Builder service(Class<T> type, T implementation) {
            services.put(Objects.requireNonNull(type, "type"), type.cast(Objects.requireNonNull(implementation, "implementation")));
            return this;
        }

        /**
         * Names what keeps a LEAKED generation's class loader reachable with {@code explainer}
         * (for example {@code HeapDumpLeakExplainer} of the unloadguard-leaks artifact: the
         * shortest path of strong references from a GC root, from a heap dump it takes): its lines
         * join the report's leak suspects. Off by default: a heap dump pauses the JVM for a time
         * that grows with the live heap.
         */
        public Builder leakExplainer(LeakExplainer explainer) {
            // Kept with the services (a plugin cannot name this host-library type, so cannot look it up).
            services.put(LeakExplainer.class, Objects.requireNonNull(explainer, "explainer"));
            return this;
        }

        /** A configuration value drivers can read with {@link DriverContext#config}. */
        public Builder config(String key, String value) {
            config.put(Objects.requireNonNull(key, "key"), Objects.requireNonNull(value, "value"));
            return this;
        }

        /**
         * Allows unloading without the agent. The release barrier then covers only the device
         * core's own release sequence, not release callbacks that helpers call: a callback may
         * still be running plugin code when its loader is closed. Off by default.
         */
        public Builder allowUnguardedUnload(boolean allow) {
            this.allowUnguardedUnload = allow;
            return this;
        }

        /**
         * The deadline of the collection check (step 7, default 5 s), counted from the close of
         * the class loader: a class loader still reachable when it passes is declared
         * {@link PluginState#LEAKED}, with leak suspects. Asynchronously (the default) the check
         * waits for the GC cycles the host runs anyway and, if the class loader is not collected
         * by half the deadline, nudges the GC once ({@code System.gc()}) for every unload pending
         * then; with {@link #awaitCollection awaitCollection(true)} it nudges until the class loader
         * is collected or the deadline passes. {@link Duration#ZERO} skips the check (the report
         * then says UNLOADED).
         */
        public Builder collectionTimeout(Duration bound) {
            if (bound.isNegative()) {
                throw new IllegalArgumentException("collection timeout is negative: " + bound);
            }
            this.collectionTimeout = bound;
            return this;
        }

        /**
         * Whether {@link PluginLoader#unload} waits for the collection check and returns the
         * final report (COLLECTED or LEAKED), nudging the GC until the class loader is collected
         * or the {@link #collectionTimeout collection timeout} passes: unloadguard's behaviour
         * before the check became asynchronous. Default false: {@code unload} returns once the
         * class loader is closed and the check ends later ({@link Plugin#collectionCheck()}).
         * Each nudge is a full collection of the whole heap on most collectors, paid per unload:
         * for tests and tools that need the answer at once, not for a host that must not pause.
         */
        public Builder awaitCollection(boolean await) {
            this.awaitCollection = await;
            return this;
        }

        /** The watcher of asynchronous collection checks (tests: one with a counting nudge). */
        Builder collectionWatcher(CollectionWatcher watcher) {
            this.collectionWatcher = Objects.requireNonNull(watcher, "watcher");
            return this;
        }

        public PluginLoader build() {
            return new PluginLoader(this);
        }
    }
}
