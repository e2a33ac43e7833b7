package dev.unloadguard.loader;

import dev.unloadguard.epoch.BarrierOutcome;
import dev.unloadguard.observe.PluginMXBean;
import dev.unloadguard.observe.UnloadguardEvents;
import java.lang.management.ManagementFactory;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import javax.management.JMException;
import javax.management.MBeanServer;
import javax.management.ObjectName;

/**
 * What one {@link PluginLoader} shows the outside: JFR events (see {@link UnloadguardEvents})
 * and one {@link PluginMXBean} per plugin id in the platform MBean server. JFR is optional in a
 * Java runtime (a jlinked one may lack {@code jdk.jfr}): every reference to an event class sits
 * in {@link Jfr}, reached only when the module is present, so its absence costs nothing else.
 */
final class Observability {

    private static final System.Logger LOG = System.getLogger("dev.unloadguard.loader");
    private static final boolean JFR_PRESENT = ModuleLayer.boot().findModule("jdk.jfr").isPresent();
    private static final AtomicInteger LOADERS = new AtomicInteger();

    private final int loaderNumber = LOADERS.incrementAndGet();

    /**
     * Whether events can be recorded now: the runtime has JFR and Flight Recorder was started
     * (a recording, or {@code -XX:StartFlightRecording}). Until then the event classes are not
     * even loaded: JFR instruments event classes when they load, tens of milliseconds that a host
     * without a recording should not pay on its first plugin load. Checked per event, so events
     * flow as soon as a recording starts.
     */
    private static boolean jfr() {
        return JFR_PRESENT && Jfr.recorderStarted();
    }
    private final Map<String, View> views = new ConcurrentHashMap<>();

    /** The JMX name of a plugin id of this loader. */
    ObjectName name(String id) {
        try {
            return new ObjectName("dev.unloadguard", new java.util.Hashtable<>(Map.of(
                    "type", "Plugin", "loader", Integer.toString(loaderNumber), "id", ObjectName.quote(id))));
        } catch (JMException e) {
            throw new IllegalStateException(e);
        }
    }

    Object loadStarted() {
        return jfr() ? Jfr.begin(new UnloadguardEvents.PluginLoad()) : null;
    }

    void loaded(Object token, Plugin plugin) {
        View view = views.computeIfAbsent(plugin.id(), id -> register(new View(id)));
        view.current = plugin;
        if (jfr()) {
            Jfr.loaded(token, plugin);
        }
    }

    Object unloadStarted() {
        return jfr() ? Jfr.begin(new UnloadguardEvents.PluginUnload()) : null;
    }

    Object barrierStarted() {
        return jfr() ? Jfr.begin(new UnloadguardEvents.BarrierWait()) : null;
    }

    void barrierEnded(Object token, Plugin plugin, BarrierOutcome outcome) {
        if (jfr() && outcome != BarrierOutcome.IMMEDIATE) {
            Jfr.barrier(token, plugin, outcome);
        }
    }

    /**
     * The unload returned (its class loader closed); the collection check may still be pending
     * (the report then says UNLOADED), {@link #collectionChecked} follows.
     */
    void unloaded(Object token, Plugin plugin, UnloadReport report) {
        View view = views.get(plugin.id());
        if (view != null) {
            view.lastUnloaded = plugin; // its report, read when asked: UNLOADED, later COLLECTED or LEAKED
        }
        if (jfr()) {
            Jfr.unloaded(token, report);
        }
    }

    /** The collection check ended (perhaps on the watcher thread, after the unload returned). */
    void collectionChecked(Plugin plugin, UnloadReport report) {
        if (jfr() && report.outcome() != PluginState.UNLOADED) {
            Jfr.collectionChecked(report);
            if (report.outcome() == PluginState.LEAKED) {
                Jfr.leak(report);
            }
        }
    }

    void timedOut(Plugin plugin, UnloadStep step, List<String> liveDevices, List<String> threads) {
        if (jfr()) {
            Jfr.timeout(plugin, step, liveDevices, threads);
        }
    }

    void lateAccess(Plugin plugin, String className) {
        View view = views.get(plugin.id());
        if (view != null) {
            view.lateAccesses.incrementAndGet();
        }
        if (jfr()) {
            Jfr.lateAccess(plugin, className);
        }
    }

    /** On the refusing thread (the gate's listener): cheap, never throws out. */
    void entryRefused(Plugin plugin, String method) {
        View view = views.get(plugin.id());
        if (view != null) {
            view.refusedEntries.incrementAndGet();
        }
        if (jfr()) {
            Jfr.entryRefused(plugin, method);
        }
    }

    private static boolean loaded(Plugin p) {
        PluginState s = p.state();
        return s == PluginState.LOADING || s == PluginState.LIVE || s == PluginState.GOING;
    }

    /** A plugin's dependencies as {@code "ID generation N version V"}. */
    static List<String> describeDependencies(Plugin p) {
        List<String> out = new java.util.ArrayList<>();
        for (Plugin d : p.dependencies()) {
            out.add(d.id() + " generation " + d.generation() + " version " + d.version());
        }
        return out;
    }

    /** Unregisters this loader's MBeans. */
    void close() {
        MBeanServer server = ManagementFactory.getPlatformMBeanServer();
        for (String id : views.keySet()) {
            try {
                server.unregisterMBean(name(id));
            } catch (JMException e) {
                LOG.log(System.Logger.Level.DEBUG, "unregistering the MBean of plugin " + id, e);
            }
        }
        views.clear();
    }

    private View register(View view) {
        try {
            ManagementFactory.getPlatformMBeanServer().registerMBean(view, name(view.id));
        } catch (JMException | RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "could not register the MBean of plugin " + view.id, e);
        }
        return view;
    }

    /** The MXBean of one id: the newest generation's handle (which pins no plugin once unloaded). */
    private final class View implements PluginMXBean {
        private final String id;
        private volatile Plugin current;
        /** The newest unloaded generation: its report is shown (a handle pins no plugin). */
        private volatile Plugin lastUnloaded;
        private final AtomicLong lateAccesses = new AtomicLong();
        private final AtomicLong refusedEntries = new AtomicLong();

        View(String id) {
            this.id = id;
        }

        @Override
        public String getId() {
            return id;
        }

        @Override
        public int getGeneration() {
            Plugin p = current;
            return p == null ? 0 : p.generation();
        }

        @Override
        public String getState() {
            Plugin p = current;
            return p == null ? "" : p.state().name();
        }

        @Override
        public int getLiveDevices() {
            Plugin p = current;
            return p == null ? 0 : p.liveDevices();
        }

        @Override
        public int getReadersInEpoch() {
            Plugin p = current;
            return p == null ? 0 : p.threadsInside().size();
        }

        @Override
        public int getLoadedGenerations() {
            Plugin p = current;
            return p == null ? 0 : (int) p.owner().plugins().stream().filter(q -> q.id().equals(id)).count();
        }

        @Override
        public long getLateAccesses() {
            return lateAccesses.get();
        }

        @Override
        public long getRefusedEntries() {
            return refusedEntries.get();
        }

        @Override
        public String getGuardScope() {
            Plugin p = current;
            return p == null ? "" : p.guardScope().name();
        }

        @Override
        public String getJar() {
            Plugin p = current;
            return p == null ? "" : p.jar().toString();
        }

        @Override
        public String getVersion() {
            Plugin p = current;
            return p == null ? "" : p.version().toString();
        }

        @Override
        public List<String> getDependencies() {
            Plugin p = current;
            return p == null || !loaded(p) ? List.of() : describeDependencies(p);
        }

        @Override
        public List<String> getDependents() {
            Plugin p = current;
            if (p == null || !loaded(p)) {
                return List.of();
            }
            List<String> out = new java.util.ArrayList<>();
            for (Plugin d : p.owner().dependents(p)) {
                out.add(d.id() + " generation " + d.generation());
            }
            return out;
        }

        @Override
        public List<String> getExports() {
            Plugin p = current;
            return p == null ? List.of() : p.exports();
        }

        @Override
        public String getLastUnloadReport() {
            Plugin p = lastUnloaded;
            return p == null ? "" : p.unloadReport().map(UnloadReport::toString).orElse("");
        }
    }

    /** Every use of a jfr() class; loaded only when the runtime has {@code jdk.jfr}. */
    private static final class Jfr {
        static boolean recorderStarted() {
            return jdk.jfr.FlightRecorder.isInitialized();
        }

        static Object begin(jdk.jfr.Event e) {
            if (!e.isEnabled()) {
                return null;
            }
            e.begin();
            return e;
        }

        static void loaded(Object token, Plugin p) {
            if (token instanceof UnloadguardEvents.PluginLoad) {
                UnloadguardEvents.PluginLoad e = (UnloadguardEvents.PluginLoad) token;
                e.pluginId = p.id();
                e.generation = p.generation();
                e.jar = p.jar().toString();
                e.classLoader = p.classLoaderName();
                e.version = p.version().toString();
                e.dependencies = String.join(", ", describeDependencies(p));
                e.commit();
            }
        }

        static void barrier(Object token, Plugin p, BarrierOutcome outcome) {
            if (token instanceof UnloadguardEvents.BarrierWait) {
                UnloadguardEvents.BarrierWait e = (UnloadguardEvents.BarrierWait) token;
                e.pluginId = p.id();
                e.generation = p.generation();
                e.outcome = outcome.name();
                e.commit();
            }
        }

        static void unloaded(Object token, UnloadReport r) {
            if (token instanceof UnloadguardEvents.PluginUnload) {
                UnloadguardEvents.PluginUnload e = (UnloadguardEvents.PluginUnload) token;
                e.pluginId = r.pluginId();
                e.generation = r.generation();
                e.outcome = r.outcome().name();
                e.barrier = r.barrier().name();
                e.going = r.time(UnloadStep.GOING).toNanos();
                e.exit = r.time(UnloadStep.EXIT).toNanos();
                e.drain = r.time(UnloadStep.DRAIN).toNanos();
                e.releaseBarrier = r.time(UnloadStep.BARRIER).toNanos();
                e.audit = r.time(UnloadStep.AUDIT).toNanos();
                e.close = r.time(UnloadStep.CLOSE).toNanos();
                e.collect = r.time(UnloadStep.COLLECT).toNanos();
                e.agentActive = r.agentActive();
                e.guardScope = r.guardScope().name();
                e.refusedEntries = r.refusedEntries();
                e.auditPlatformThreads = r.audit().platformThreads();
                e.auditVirtualThreads = r.audit().virtualThreads();
                e.auditVirtualThreadsVisible = r.audit().virtualThreadsVisible();
                e.commit();
            }
        }

        static void collectionChecked(UnloadReport r) {
            UnloadguardEvents.CollectionCheck e = new UnloadguardEvents.CollectionCheck();
            if (e.isEnabled()) {
                e.pluginId = r.pluginId();
                e.generation = r.generation();
                e.outcome = r.outcome().name();
                e.gcNudges = r.gcNudges();
                e.collect = r.time(UnloadStep.COLLECT).toNanos();
                e.commit();
            }
        }

        static void leak(UnloadReport r) {
            UnloadguardEvents.LeakDetected e = new UnloadguardEvents.LeakDetected();
            if (e.isEnabled()) {
                e.pluginId = r.pluginId();
                e.generation = r.generation();
                e.suspects = String.join("; ", r.leakSuspects());
                e.commit();
            }
        }

        static void timeout(Plugin p, UnloadStep step, List<String> live, List<String> threads) {
            UnloadguardEvents.UnloadTimeout e = new UnloadguardEvents.UnloadTimeout();
            if (e.isEnabled()) {
                e.pluginId = p.id();
                e.generation = p.generation();
                e.step = step.name();
                e.liveDevices = String.join("; ", live);
                e.threadsInsideEpoch = String.join(", ", threads);
                e.commit();
            }
        }

        static void entryRefused(Plugin p, String method) {
            UnloadguardEvents.EntryRefused e = new UnloadguardEvents.EntryRefused();
            if (e.isEnabled()) {
                e.pluginId = p.id();
                e.generation = p.generation();
                e.method = method;
                e.commit();
            }
        }

        static void lateAccess(Plugin p, String className) {
            UnloadguardEvents.LateAccess e = new UnloadguardEvents.LateAccess();
            if (e.isEnabled()) {
                e.pluginId = p.id();
                e.generation = p.generation();
                e.className = className;
                e.commit();
            }
        }
    }
}
