package dev.unloadguard.loader;

import dev.unloadguard.driver.PluginUnloadedError;
import dev.unloadguard.device.Device;
import dev.unloadguard.device.internal.PluginDevices;
import dev.unloadguard.driver.Driver;
import dev.unloadguard.driver.DriverContext;
import dev.unloadguard.epoch.BarrierOutcome;
import dev.unloadguard.epoch.ReleaseGuard;
import dev.unloadguard.epoch.internal.ReleaseEpoch;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.net.MalformedURLException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarFile;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * Loads driver plugins, each jar in its own class loader, and unloads them safely.
 *
 * <p>{@link #unload} is the unload protocol, the JVM twin of a kernel driver module's exit with
 * {@code drm_dev_release_barrier()}:
 * <ol>
 *   <li>GOING: the plugin refuses new devices;</li>
 *   <li>the driver's exit hook drops the driver's own references;</li>
 *   <li>wait until the plugin's live-device count is zero (bounded by the timeout);</li>
 *   <li>the release barrier: every release callback that started has returned;</li>
 *   <li>close the class loader and drop every strong reference the host keeps;</li>
 *   <li>confirm the class loader is collected (weak reference, bounded GC nudges).</li>
 * </ol>
 * A timeout in step 3 or 4 closes nothing: the plugin stays GOING and intact, and unload can be
 * retried. Unloading needs the unloadguard agent (it guards the plugin's release callbacks, so
 * the barrier covers them); without it, unload refuses unless the host explicitly allowed
 * unguarded unloads, and then it warns.
 */
public final class PluginLoader implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger("dev.unloadguard.loader");
    private static final Pattern ID = Pattern.compile("[A-Za-z0-9._-]{1,64}");
    /** Makes every plugin class loader's name unique in the JVM: stack traces name the generation. */
    private static final java.util.concurrent.atomic.AtomicLong LOADER_SEQ = new java.util.concurrent.atomic.AtomicLong();

    private final ClassLoader parent;
    private final Map<Class<?>, Object> services;
    private final Map<String, String> config;
    private final boolean allowUnguardedUnload;
    private final Duration collectionTimeout;
    private final java.util.function.Consumer<Plugin> beforeClose;
    private final boolean trackReferences;
    private final PrivateCopies copies;
    private final java.util.concurrent.atomic.AtomicLong lateAccesses = new java.util.concurrent.atomic.AtomicLong();
    private final Observability observability = new Observability();

    // Guarded by this.
    /** Loaded generations (LOADING, LIVE or GOING) per id, oldest first. */
    private final Map<String, List<Plugin>> active = new LinkedHashMap<>();
    private final Map<String, Integer> generations = new HashMap<>();
    /** Unloaded generations that were not collected, per id, until they are. */
    private final Map<String, List<Plugin>> leaked = new HashMap<>();
    /** Every class loader this loader made, failed loads included, until collected. */
    private final List<java.lang.ref.WeakReference<ClassLoader>> madeLoaders = new ArrayList<>();

    private PluginLoader(Builder b) {
        this.parent = b.parent;
        this.services = Map.copyOf(b.services);
        this.config = Map.copyOf(b.config);
        this.allowUnguardedUnload = b.allowUnguardedUnload;
        this.collectionTimeout = b.collectionTimeout;
        this.beforeClose = b.beforeClose;
        this.trackReferences = b.trackReferences;
        this.copies = new PrivateCopies(b.copyDirectory);
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
    public synchronized List<Plugin> plugins() {
        List<Plugin> all = new ArrayList<>();
        active.values().forEach(all::addAll);
        return List.copyOf(all);
    }

    /**
     * Late accesses so far: requests from code still running in an unloaded plugin for a class of
     * its closed loader (each answered with {@link PluginUnloadedError}).
     */
    public long lateAccesses() {
        return lateAccesses.get();
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
    public synchronized int classLoadersNotCollected() {
        madeLoaders.removeIf(r -> r.refersTo(null));
        return madeLoaders.size();
    }

    /** The directory holding the private copies of loaded jars. */
    public Path copyDirectory() {
        return copies.directory();
    }

    /** The newest loaded (LIVE or GOING) generation of a plugin id, if any. */
    public synchronized Optional<Plugin> plugin(String id) {
        List<Plugin> gens = active.get(id);
        return gens == null ? Optional.empty() : Optional.of(gens.get(gens.size() - 1));
    }

    // ---------------------------------------------------------------------------------------
    // Load

    /**
     * Loads a plugin jar in a class loader of its own, finds its one {@link Driver} with
     * {@link ServiceLoader}, and runs the driver's init. The class loader reads a private copy of
     * the jar, so replacing or deleting the jar on disk never disturbs the loaded generation.
     * On any failure nothing is left behind: no class loader, no copy.
     *
     * @throws PluginLoadException naming the jar, what is wrong, and the fix; also when an earlier
     *                             generation of the same id leaked (unless
     *                             {@link LoadOption#IGNORE_LEAKED_GENERATIONS})
     */
    public Plugin load(Path jar, LoadOption... options) throws PluginLoadException {
        Objects.requireNonNull(jar, "jar");
        Object loadEvent = observability.loadStarted();
        Path path = jar.toAbsolutePath().normalize();
        checkJar(path);
        Path copy = copies.copyOf(path);
        PluginClassLoader cl;
        try {
            String loaderName = "plugin:" + path.getFileName() + "#" + LOADER_SEQ.incrementAndGet();
            // One release epoch per generation: unloading it waits for its own sections only.
            cl = new PluginClassLoader(loaderName, copy.toUri().toURL(), parent, PluginLoader.class.getClassLoader(),
                    new ReleaseEpoch("plugin jar " + path.getFileName() + " (" + loaderName + ")"));
        } catch (MalformedURLException | RuntimeException e) {
            copies.delete(copy);
            throw new PluginLoadException(path, "cannot turn " + copy + " into a class path URL: " + e.getMessage(), e);
        }
        synchronized (this) {
            madeLoaders.removeIf(r -> r.refersTo(null)); // keeps it to the loaders not collected yet
            madeLoaders.add(new java.lang.ref.WeakReference<>(cl));
        }
        Plugin plugin = null;
        try {
            Driver driver = findDriver(cl, path);
            String id = driverId(driver, path);
            refuseIfLeaked(id, path, options);
            int generation = reserve(id, path, options);
            cl.releaseEpoch().describeAs("plugin " + id + " generation " + generation);
            PluginDevices devices = new PluginDevices(id, generation, driver, trackReferences, cl.releaseEpoch());
            Plugin loading = new Plugin(this, id, generation, path, copy, cl, driver, devices);
            plugin = loading;
            synchronized (this) {
                active.computeIfAbsent(id, k -> new ArrayList<>(1)).add(loading);
            }
            callWithContextLoader(cl, () -> driver.init(new Context(loading)));
            loading.state(PluginState.LIVE);
            observability.loaded(loadEvent, loading);
            LOG.log(Level.DEBUG, () -> "loaded " + path + " as plugin " + id + " generation " + generation);
            return loading;
        } catch (PluginLoadException e) {
            abandon(plugin, cl, copy);
            throw e;
        } catch (Throwable t) {
            abandon(plugin, cl, copy);
            String who = plugin == null ? path.toString() : "plugin " + plugin.id() + " from " + path;
            throw new PluginLoadException(path, "the driver of " + who + " failed in init: " + t
                    + " (fix the driver's init; the load was rolled back)", t);
        }
    }

    private static void checkJar(Path path) throws PluginLoadException {
        if (!Files.exists(path)) {
            throw new PluginLoadException(path, "plugin jar " + path + " does not exist: pass the path of a built plugin jar", null);
        }
        if (!Files.isRegularFile(path)) {
            throw new PluginLoadException(path, "plugin jar " + path + " is not a regular file (a directory?): pass the path of a .jar file", null);
        }
        if (!Files.isReadable(path)) {
            throw new PluginLoadException(path, "plugin jar " + path + " is not readable: check its permissions", null);
        }
        try (JarFile ignored = new JarFile(path.toFile())) {
            // opened: it is a zip
        } catch (IOException e) {
            throw new PluginLoadException(path, "plugin jar " + path + " is not a jar (zip) file or is corrupt: "
                    + e.getMessage() + "; rebuild the plugin", e);
        }
    }

    private static Driver findDriver(PluginClassLoader cl, Path path) throws PluginLoadException {
        List<Driver> drivers = new ArrayList<>();
        try {
            for (ServiceLoader.Provider<Driver> p : ServiceLoader.load(Driver.class, cl).stream().collect(Collectors.toList())) {
                if (p.type().getClassLoader() == cl) { // parent loaders' drivers are not this jar's
                    drivers.add(p.get());
                }
            }
        } catch (ServiceConfigurationError e) {
            throw new PluginLoadException(path, "plugin jar " + path + " declares a driver that cannot be created: "
                    + e.getMessage() + " (check META-INF/services/" + Driver.class.getName()
                    + " and the driver's public no-argument constructor)", e);
        } catch (LinkageError e) { // ServiceLoader lets a corrupt or incompatible class file through as is
            throw new PluginLoadException(path, "plugin jar " + path + " declares a driver class that cannot be loaded: "
                    + e + " (the jar is corrupt or built for a newer Java: rebuild the plugin for Java "
                    + Runtime.version().feature() + " or older)", e);
        }
        if (drivers.isEmpty()) {
            throw new PluginLoadException(path, "plugin jar " + path + " contains no driver: add the file META-INF/services/"
                    + Driver.class.getName() + " naming the class that implements " + Driver.class.getName(), null);
        }
        if (drivers.size() > 1) {
            throw new PluginLoadException(path, "plugin jar " + path + " declares " + drivers.size() + " drivers ("
                    + drivers.stream().map(d -> d.getClass().getName()).collect(Collectors.joining(", "))
                    + "): a plugin jar holds exactly one driver; split them into separate jars", null);
        }
        return drivers.get(0);
    }

    private static String driverId(Driver driver, Path path) throws PluginLoadException {
        String id;
        try {
            id = driver.id();
        } catch (RuntimeException e) {
            throw new PluginLoadException(path, "driver " + driver.getClass().getName() + " in " + path
                    + " threw from id(): " + e + "; id() must return a constant", e);
        }
        if (id == null || !ID.matcher(id).matches()) {
            throw new PluginLoadException(path, "driver " + driver.getClass().getName() + " in " + path
                    + " has an invalid id " + (id == null ? "null" : "'" + id + "'")
                    + ": use 1 to 64 characters of letters, digits, '.', '_' or '-'", null);
        }
        return id;
    }

    private synchronized void refuseIfLeaked(String id, Path path, LoadOption... options) throws PluginLoadException {
        List<Plugin> gens = leaked.get(id);
        if (gens == null) {
            return;
        }
        gens.removeIf(p -> p.classLoaderRef().refersTo(null));
        if (gens.isEmpty()) {
            leaked.remove(id);
            return;
        }
        if (List.of(options).contains(LoadOption.IGNORE_LEAKED_GENERATIONS)) {
            LOG.log(Level.WARNING, "loading plugin " + id + " again although " + gens.size()
                    + " earlier generation(s) are still reachable: " + gens);
            return;
        }
        Plugin g = gens.get(gens.size() - 1);
        throw new PluginLoadException(path, "plugin id '" + id + "' (from " + path + "): generation " + g.generation()
                + " was unloaded but is still reachable (LEAKED), so loading it again would leak another class loader. "
                + "Suspects: " + g.unloadReport().map(r -> r.leakSuspects().isEmpty() ? "none found (take a heap dump)"
                        : String.join("; ", r.leakSuspects())).orElse("unknown")
                + ". Fix the leak, or load anyway with LoadOption.IGNORE_LEAKED_GENERATIONS", null);
    }

    private synchronized int reserve(String id, Path path, LoadOption... options) throws PluginLoadException {
        List<Plugin> loaded = active.get(id);
        if (loaded != null && !List.of(options).contains(LoadOption.ALONGSIDE_LOADED_GENERATIONS)) {
            Plugin previous = loaded.get(loaded.size() - 1);
            throw new PluginLoadException(path, "plugin id '" + id + "' (from " + path + ") is already loaded as generation "
                    + previous.generation() + " from " + previous.jar() + " (" + previous.state() + "): unload it first"
                    + (previous.state() == PluginState.GOING ? " (its unload is still waiting: retry it, or see its timeout report)" : "")
                    + ", or load the new generation alongside it with LoadOption.ALONGSIDE_LOADED_GENERATIONS", null);
        }
        return generations.merge(id, 1, Integer::sum);
    }

    /** Rolls back a failed load: GOING, let the driver drop what it made, wait briefly, close. */
    private void abandon(Plugin plugin, PluginClassLoader cl, Path copy) {
        if (plugin != null) {
            plugin.state(PluginState.GOING);
            PluginDevices devices = plugin.devices();
            devices.beginGoing();
            if (devices.liveCount() > 0) {
                runExitHook(plugin);
                try {
                    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
                    if (!devices.awaitNoLiveDevices(deadline)) {
                        LOG.log(Level.WARNING, "failed load of plugin " + plugin.id() + ": devices still live after rollback: "
                                + devices.liveDevices() + "; closing its class loader anyway");
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            ReleaseEpoch epoch = cl.releaseEpoch();
            if (!epoch.isInside()) {
                epoch.barrier(Duration.ofSeconds(5));
            }
            plugin.forget();
            plugin.state(PluginState.UNLOADED);
            synchronized (this) {
                forgetLoaded(plugin);
            }
        }
        closeQuietly(cl, plugin);
        copies.delete(copy);
    }

    // ---------------------------------------------------------------------------------------
    // Unload

    /**
     * Unloads a plugin with the six-step protocol and returns its report. Concurrent calls for
     * the same plugin share one unload and see the same outcome.
     *
     * @param timeout bounds steps 2 to 4 (exit hook, live devices, release barrier); the
     *                collection check has its own bound ({@link Builder#collectionTimeout})
     * @throws UnloadTimeoutException if devices stayed live or a release callback kept running
     *                                past the timeout; the plugin stays GOING and intact
     * @throws IllegalStateException  without the agent (unless unguarded unloads were allowed),
     *                                if the plugin was already unloaded, or if the calling thread
     *                                runs inside one of the plugin's own release paths (a release
     *                                callback or action, the driver's release): the barrier would
     *                                wait for its own caller. Thrown before anything changes: the
     *                                plugin stays LIVE
     * @throws IllegalArgumentException if the plugin was loaded by another loader
     */
    public UnloadReport unload(Plugin plugin, Duration timeout) throws UnloadTimeoutException, InterruptedException {
        Objects.requireNonNull(plugin, "plugin");
        Objects.requireNonNull(timeout, "timeout");
        if (plugin.owner() != this) {
            throw new IllegalArgumentException(plugin + " was loaded by another PluginLoader: unload it with that loader");
        }
        refuseFromInside(plugin);
        requireGuardOrPermission(plugin);
        CompletableFuture<UnloadReport> mine = new CompletableFuture<>();
        CompletableFuture<UnloadReport> running;
        synchronized (plugin) {
            running = plugin.unloading();
            if (running == null) {
                UnloadReport done = plugin.report();
                if (done != null) {
                    throw new IllegalStateException(plugin + " was already unloaded at " + plugin.unloadedAt().orElse(null)
                            + "; its report: " + done.summary());
                }
                plugin.unloading(mine);
            }
        }
        if (running != null) {
            return join(running);
        }
        try {
            UnloadReport report = runProtocol(plugin, timeout);
            mine.complete(report);
            return report;
        } catch (Throwable t) {
            mine.completeExceptionally(t);
            throw t;
        } finally {
            synchronized (plugin) {
                plugin.unloading(null);
            }
        }
    }

    /** The six steps, in order. */
    private UnloadReport runProtocol(Plugin plugin, Duration timeout) throws UnloadTimeoutException, InterruptedException {
        Object unloadEvent = observability.unloadStarted();
        long deadline = System.nanoTime() + timeout.toNanos();
        Map<UnloadStep, Duration> times = new EnumMap<>(UnloadStep.class);
        long t = System.nanoTime();
        beginGoing(plugin);                                           // 1. no new devices
        t = UnloadSteps.lap(times, UnloadStep.GOING, t);
        runExitHook(plugin);                                          // 2. driver exit
        t = UnloadSteps.lap(times, UnloadStep.EXIT, t);
        awaitNoLiveDevices(plugin, deadline, timeout);                // 3. live devices = 0
        t = UnloadSteps.lap(times, UnloadStep.DRAIN, t);
        BarrierOutcome barrier = releaseBarrier(plugin, deadline, timeout); // 4. release barrier
        t = UnloadSteps.lap(times, UnloadStep.BARRIER, t);
        long devicesCreated = plugin.devices().createdCount();
        List<String> failures = plugin.devices().releaseFailures().stream().map(Object::toString).collect(Collectors.toList());
        closeAndForget(plugin);                                       // 5. close, drop references
        t = UnloadSteps.lap(times, UnloadStep.CLOSE, t);
        int nudges = confirmCollected(plugin);                        // 6. collected?
        UnloadSteps.lap(times, UnloadStep.COLLECT, t);
        PluginState outcome = collectionTimeout.isZero() ? PluginState.UNLOADED
                : nudges >= 0 ? PluginState.COLLECTED : PluginState.LEAKED;
        List<String> suspects = outcome == PluginState.LEAKED ? leakSuspects(plugin) : List.of();
        plugin.state(outcome);
        UnloadReport report = new UnloadReport(plugin.id(), plugin.generation(), ReleaseGuard.agentActive(), times,
                barrier, outcome, Math.abs(nudges), devicesCreated, failures, suspects);
        plugin.report(report);
        observability.unloaded(unloadEvent, plugin, report);
        if (outcome == PluginState.LEAKED) {
            synchronized (this) {
                leaked.computeIfAbsent(plugin.id(), k -> new ArrayList<>()).add(plugin);
            }
        }
        LOG.log(outcome == PluginState.LEAKED ? Level.WARNING : Level.DEBUG, report::summary);
        return report;
    }

    /** Before anything changes: a release path of the plugin cannot wait for itself. */
    private static void refuseFromInside(Plugin plugin) {
        int depth = plugin.epoch().depth();
        if (depth > 0) {
            throw new IllegalStateException("unload of " + plugin + " called from inside one of its own release paths (thread \""
                    + Thread.currentThread().getName() + "\" is inside its release epoch, depth " + depth + "): the release "
                    + "barrier would wait for its own caller. Nothing was changed, the plugin stays " + plugin.state()
                    + "; unload it from another thread (for example hand the unload to an executor)");
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

    private static void beginGoing(Plugin plugin) {
        PluginDevices devices = plugin.devices();
        devices.beginGoing();
        plugin.state(PluginState.GOING);
    }

    private static void runExitHook(Plugin plugin) {
        if (!plugin.takeExitCall()) {
            return; // a retried unload: exit already ran
        }
        Driver driver = plugin.driver();
        try {
            callWithContextLoader(plugin.classLoader(), driver::exit);
        } catch (Throwable t) {
            LOG.log(Level.WARNING, "the exit hook of " + plugin + " threw; unload goes on and waits for its devices", t);
        }
    }

    private void awaitNoLiveDevices(Plugin plugin, long deadline, Duration timeout)
            throws UnloadTimeoutException, InterruptedException {
        if (!plugin.devices().awaitNoLiveDevices(deadline)) {
            throw timeout(plugin, UnloadStep.DRAIN, timeout);
        }
    }

    private BarrierOutcome releaseBarrier(Plugin plugin, long deadline, Duration timeout) throws UnloadTimeoutException {
        Object barrierEvent = observability.barrierStarted();
        BarrierOutcome outcome = plugin.epoch().barrier(Duration.ofNanos(Math.max(0, deadline - System.nanoTime())));
        observability.barrierEnded(barrierEvent, plugin, outcome);
        if (outcome == BarrierOutcome.TIMED_OUT) {
            throw timeout(plugin, UnloadStep.BARRIER, timeout);
        }
        return outcome;
    }

    private synchronized void closeAndForget(Plugin plugin) {
        if (beforeClose != null) {
            try {
                beforeClose.accept(plugin);
            } catch (RuntimeException e) {
                LOG.log(Level.WARNING, "the before-close observer threw; closing " + plugin + " anyway", e);
            }
        }
        forgetLoaded(plugin);
        PluginClassLoader cl = plugin.forget();
        plugin.state(PluginState.UNLOADED);
        closeQuietly(cl, plugin);
        copies.delete(plugin.copy());
    }

    /**
     * Step 6 (see {@link UnloadSteps#confirmCollected}).
     *
     * @return the number of nudges if collected, minus the number of nudges if not
     */
    private int confirmCollected(Plugin plugin) throws InterruptedException {
        return UnloadSteps.confirmCollected(plugin.classLoaderRef(), plugin.collectedQueue(), collectionTimeout);
    }

    private void forgetLoaded(Plugin plugin) {
        List<Plugin> gens = active.get(plugin.id());
        if (gens != null && gens.remove(plugin) && gens.isEmpty()) {
            active.remove(plugin.id());
        }
    }

    private List<String> leakSuspects(Plugin plugin) {
        ClassLoader cl = plugin.classLoaderRef().get();
        return cl == null ? List.of() : LeakSuspects.find(cl, plugin.classLoaderName(), services);
    }

    private UnloadTimeoutException timeout(Plugin plugin, UnloadStep step, Duration timeout) {
        List<String> live = plugin.devices().liveDevices().stream()
                .map(d -> d + " with " + d.references() + " reference(s)"
                        + d.holders().stream().map(h -> "\n      " + h).collect(Collectors.joining()))
                .collect(Collectors.toList());
        List<Thread> inside = plugin.threadsInside();
        StringBuilder sb = new StringBuilder();
        sb.append("unload of ").append(plugin).append(" timed out after ").append(timeout.toMillis()).append(" ms in step ")
                .append(step.ordinal() + 1).append(" (").append(step.label()).append(")");
        sb.append(step == UnloadStep.DRAIN ? ": devices are still held" : ": a release callback is still running").append('\n');
        sb.append("  live devices: ").append(live.isEmpty() ? "none" : "").append('\n');
        live.forEach(d -> sb.append("    ").append(d).append('\n'));
        UnloadSteps.appendThreadsInside(sb, "plugin " + plugin.id() + " generation " + plugin.generation(), inside);
        if (!plugin.devices().tracking() && step == UnloadStep.DRAIN) {
            sb.append("  (turn reference tracking on to see who holds each device and where they acquired it:\n"
                    + "   PluginLoader.builder().trackReferences(true) or -Dunloadguard.trackReferences=true)\n");
        }
        sb.append("  nothing was closed: the plugin stays GOING and intact; call unload again to retry");
        List<String> threadNames = inside.stream().map(Thread::getName).collect(Collectors.toList());
        observability.timedOut(plugin, step, live, threadNames);
        return new UnloadTimeoutException(plugin, step, sb.toString(), live, threadNames);
    }

    /**
     * Unloads every loaded plugin (30 s each); plugins that do not unload in time stay GOING and
     * are named in the exception.
     */
    @Override
    public void close() throws UnloadTimeoutException, InterruptedException {
        UnloadTimeoutException first = null;
        for (Plugin p : plugins()) {
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
        copies.deleteDirectoryIfEmpty();
        observability.close();
        if (first != null) {
            throw first;
        }
    }

    // ---------------------------------------------------------------------------------------

    private static UnloadReport join(CompletableFuture<UnloadReport> f) throws UnloadTimeoutException, InterruptedException {
        try {
            return f.get();
        } catch (ExecutionException | CompletionException e) {
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

    @FunctionalInterface
    private interface Body {
        void run() throws Exception;
    }

    private static void callWithContextLoader(ClassLoader cl, Body body) throws Exception {
        Thread me = Thread.currentThread();
        ClassLoader saved = me.getContextClassLoader();
        me.setContextClassLoader(cl);
        try {
            body.run();
        } finally {
            me.setContextClassLoader(saved);
        }
    }

    private static void closeQuietly(PluginClassLoader cl, Plugin plugin) {
        if (cl == null) {
            return;
        }
        try {
            if (plugin != null) {
                cl.closeFor(plugin);
            } else {
                cl.close();
            }
        } catch (IOException e) {
            LOG.log(Level.WARNING, "closing " + cl + " failed", e);
        }
    }

    /** What a driver sees of its host at init. */
    private final class Context implements DriverContext {
        private final Plugin plugin;

        Context(Plugin plugin) {
            this.plugin = plugin;
        }

        @Override
        public String pluginId() {
            return plugin.id();
        }

        @Override
        public int generation() {
            return plugin.generation();
        }

        @Override
        public Device createDevice(String name) {
            PluginDevices devices = plugin.devices();
            if (devices == null) {
                throw new IllegalStateException(plugin + " is unloaded: it cannot create device '" + name + "'");
            }
            return devices.create(name);
        }

        @Override
        public <T> Optional<T> service(Class<T> type) {
            return Optional.ofNullable(type.cast(services.get(type)));
        }

        @Override
        public Optional<String> config(String key) {
            return Optional.ofNullable(config.get(key));
        }
    }

    /** Configures a {@link PluginLoader}. */
    public static final class Builder {
        private ClassLoader parent = PluginLoader.class.getClassLoader();
        private final Map<Class<?>, Object> services = new HashMap<>();
        private final Map<String, String> config = new HashMap<>();
        private boolean allowUnguardedUnload;
        private Duration collectionTimeout = Duration.ofSeconds(5);
        private java.util.function.Consumer<Plugin> beforeClose;
        private boolean trackReferences = Boolean.getBoolean("unloadguard.trackReferences");
        private Path copyDirectory;

        private Builder() {
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
         * directory). Each copy is deleted when its generation is unloaded or its load fails.
         */
        public Builder copyDirectory(Path directory) {
            this.copyDirectory = Objects.requireNonNull(directory, "directory");
            return this;
        }

        /**
         * An observer called in step 5 just before a plugin's class loader is closed, after the
         * release barrier: for checks that must see the plugin at that moment (a torture test's
         * independent detector scanning all threads for frames of {@link Plugin#classLoaderName()}).
         * It must not block for long; what it throws is logged and the close goes on.
         */
        public Builder beforeClose(java.util.function.Consumer<Plugin> observer) {
            this.beforeClose = observer;
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
         * How long step 6 may nudge the GC to confirm the class loader was collected (default
         * 5 s); {@link Duration#ZERO} skips the check (the report then says UNLOADED).
         */
        public Builder collectionTimeout(Duration bound) {
            if (bound.isNegative()) {
                throw new IllegalArgumentException("collection timeout is negative: " + bound);
            }
            this.collectionTimeout = bound;
            return this;
        }

        public PluginLoader build() {
            return new PluginLoader(this);
        }
    }
}
