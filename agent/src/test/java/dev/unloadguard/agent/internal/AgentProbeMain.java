package dev.unloadguard.agent.internal;

import dev.unloadguard.weave.internal.GuardTransformer;
import dev.unloadguard.agent.Probe;
import static org.awaitility.Awaitility.await;

import dev.unloadguard.driver.ReleaseCallback;
import dev.unloadguard.epoch.Guarded;
import dev.unloadguard.epoch.ReleaseGuard;
import dev.unloadguard.epoch.internal.EpochHolder;
import dev.unloadguard.epoch.internal.Epochs;
import dev.unloadguard.epoch.internal.ReleaseEpoch;
import java.io.File;
import java.net.MalformedURLException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Path;
import java.time.Duration;
import net.bytebuddy.agent.ByteBuddyAgent;

/**
 * Runs in a JVM forked by {@link AgentJarTest}, with the agent as a real agent jar; prints
 * {@code key=value} lines the test asserts on. Fixtures are loaded by a plugin loader from the
 * test classes directory, child-first for the fixture package and {@link Probe} (so the plugin
 * has its own copy of both), the driver API from the application loader, everything else from
 * the given parent.
 */
public final class AgentProbeMain {

    private static final String FIXTURES = "dev.unloadguard.agent.fixture.";

    private AgentProbeMain() {
    }

    public static void main(String[] args) throws Exception {
        Path testClasses = Path.of(args[1]);
        if (args[0].equals("premain")) {
            premain(testClasses);
        } else if (args[0].equals("cache")) {
            cache(Path.of(args[1]), args[2].split(","));
        } else if (args[0].equals("premain-app-only")) {
            common();
            try (Plugin app = new Plugin(testClasses, AgentProbeMain.class.getClassLoader())) {
                out("app.callback.depth", callbackDepth(app));
            }
        } else {
            attach(testClasses, new File(args[2]));
        }
        System.out.flush();
    }

    /**
     * Defines the named classes of {@code jar} by a plugin loader of the shape the woven-class
     * cache keeps on disk (one jar, the application loader as parent), and prints the cache's
     * counters.
     */
    private static void cache(Path jar, String[] classes) throws Exception {
        try (JarPlugin plugin = new JarPlugin(jar)) {
            for (String c : classes) {
                Class.forName(c, false, plugin);
            }
        }
        WovenClassCache cache = AgentInstaller.cache();
        out("cache.woven", cache.woven());
        out("cache.diskHits", cache.diskHits());
        out("cache.dir", cache.disk() == null ? "off" : cache.disk().directory());
    }

    /** A plugin loader over one jar, parent-first under the application loader, scope ENTRIES. */
    static final class JarPlugin extends URLClassLoader implements EpochHolder {
        private final ReleaseEpoch epoch = new ReleaseEpoch("jar probe plugin", true);

        JarPlugin(Path jar) throws MalformedURLException {
            super("plugin:jar-probe", new URL[] {jar.toUri().toURL()}, AgentProbeMain.class.getClassLoader());
        }

        @Override
        public ReleaseEpoch releaseEpoch() {
            return epoch;
        }
    }

    private static void premain(Path testClasses) throws Exception {
        common();
        try (Plugin app = new Plugin(testClasses, AgentProbeMain.class.getClassLoader())) {
            out("app.callback.depth", callbackDepth(app));
        }
        try (Plugin platform = new Plugin(testClasses, ClassLoader.getPlatformClassLoader())) {
            out("platform.marker.callback.depth", callbackDepth(platform));
        }
        // A foreign host's loader (no GuardedClassLoader marker) under the platform loader, that
        // does not delegate dev.unloadguard.epoch: it cannot see the runtime, so registering it
        // installs the bootstrap bridge and its classes are woven against the bridge.
        try (ForeignPlugin platform = new ForeignPlugin(testClasses, ClassLoader.getPlatformClassLoader())) {
            out("platform.sees.runtime", canLoad(platform, "dev.unloadguard.epoch.ReleaseGuard"));
            ReleaseEpoch foreignEpoch = Epochs.registerForeign(platform, "foreign probe plugin");
            platform.loadClass(Probe.class.getName()).getField("depth")
                    .set(null, (java.util.function.IntSupplier) foreignEpoch::depth);
            out("platform.callback.depth", callbackDepth(platform));
            Object thrower = platform.loadClass(FIXTURES + "AnnotatedThrower").getConstructor().newInstance();
            try {
                thrower.getClass().getMethod("boom").invoke(thrower);
            } catch (java.lang.reflect.InvocationTargetException expected) {
                out("platform.annotated.thrown", expected.getCause().getMessage());
            }
            out("platform.annotated.depth", last(platform));
            out("platform.guard.loader", String.valueOf(platform.loadClass("dev.unloadguard.boot.BootGuard").getClassLoader()));
        }
        // The same kind of foreign loader in scope ENTRIES: every method woven against the bridge.
        try (ForeignPlugin foreign = new ForeignPlugin(testClasses, ClassLoader.getPlatformClassLoader())) {
            ReleaseEpoch epoch = Epochs.registerForeign(foreign, "foreign entries plugin", true);
            foreign.loadClass(Probe.class.getName()).getField("depth").set(null, (java.util.function.IntSupplier) epoch::depth);
            Class<?> service = Class.forName(FIXTURES + "entries.Service", true, foreign);
            Object s = service.getConstructor(int.class).newInstance(2);
            out("foreign.entries.handle", service.getMethod("handle", String.class).invoke(s, "ab"));
            epoch.closeGate("foreign entries plugin", 1, null);
            out("foreign.entries.refused", refusal(() -> service.getMethod("handle", String.class).invoke(s, "x")));
            out("foreign.entries.cleanup", s.hashCode());
            out("foreign.entries.depth", epoch.depth());
        }
        // A method reference to a class loaded before the class holding the reference: guarded on
        // its very first call, through the bridge the referring class got when it was defined.
        // Nothing waits, nothing is retransformed.
        try (Plugin late = new Plugin(testClasses, AgentProbeMain.class.getClassLoader())) {
            Class<?> helper = Class.forName(FIXTURES + "Helper", true, late);
            Class<?> registrar = Class.forName(FIXTURES + "LambdaRegistrar", true, late);
            ((ReleaseCallback) registrar.getMethod("reference").invoke(null)).release();
            out("methodref.depth", last(late));
            out("methodref.owner.guarded", helper.getMethod("cleanup").isAnnotationPresent(Guarded.class));
            out("methodref.bridge.guarded", registrar.getDeclaredMethod("unloadguard$ref$0").isAnnotationPresent(Guarded.class));
            // A release callback whose body is inherited from a plain plugin superclass.
            ((ReleaseCallback) late.loadClass(FIXTURES + "InheritsRelease").getConstructor().newInstance()).release();
            out("inherited.depth", last(late));
            // A class that gained a bridge, retransformed later because a serializable reference
            // names a body in it: the JVM replays its original bytes through the transformer, and
            // the retransformation fails unless the bridge comes out again.
            Class<?> serialTarget = Class.forName(FIXTURES + "SerialTarget", true, late);
            Class<?> serialRefs = Class.forName(FIXTURES + "SerialRefs", true, late);
            ReleaseCallback serial = (ReleaseCallback) serialRefs.getMethod("serial").invoke(null);
            await().atMost(Duration.ofSeconds(30))
                    .until(() -> serialTarget.getMethod("cleanup").isAnnotationPresent(Guarded.class));
            serial.release();
            out("replay.serial.depth", last(late));
            ((ReleaseCallback) serialTarget.getMethod("bridged").invoke(null)).release();
            out("replay.bridge.depth", last(late));
        }
        // Guard scope ENTRIES: every method of the plugin is a section, woven when defined.
        try (Plugin entries = new Plugin(testClasses, AgentProbeMain.class.getClassLoader(), true)) {
            Probe.drain();
            Class<?> service = Class.forName(FIXTURES + "entries.Service", true, entries);
            Object s = service.getConstructor(int.class).newInstance(2);
            service.getMethod("handle", String.class).invoke(s, "ab");
            out("entries.depths", Probe.drain());
            out("entries.ctor.guarded", service.getConstructor(int.class).isAnnotationPresent(Guarded.class));
            // A dynamic proxy of a plugin interface is defined by the plugin's loader: woven like plugin code.
            Class<?> defaults = Class.forName(FIXTURES + "entries.Defaults", true, entries);
            Object proxy = java.lang.reflect.Proxy.newProxyInstance(entries, new Class<?>[] {defaults},
                    (p, m, a) -> m.getName().equals("name") ? "proxied" : java.lang.reflect.InvocationHandler.invokeDefault(p, m, a));
            out("entries.proxy", proxy.getClass().getMethod("greet").invoke(proxy) + ", "
                    + proxy.getClass().getMethod("greet").isAnnotationPresent(Guarded.class));
            Probe.drain();
            entries.releaseEpoch().closeGate("probe-plugin", 1, null);
            out("entries.refused", refusal(() -> service.getMethod("handle", String.class).invoke(s, "x")));
            out("entries.cleanup.after.gate", s.hashCode());
        }
        out("outside.depth", Plugin.LAST_EPOCH_DEPTH.getAsInt());
        out("stats.transformed", GuardTransformer.stats().classesTransformed() > 0);
    }

    /** What {@code call} threw (class and message), or "none". */
    private static String refusal(java.util.concurrent.Callable<?> call) {
        try {
            call.call();
            return "none";
        } catch (java.lang.reflect.InvocationTargetException e) {
            return e.getCause().getClass().getSimpleName() + ": " + e.getCause().getMessage();
        } catch (Exception e) {
            return e.toString();
        }
    }

    private static void attach(Path testClasses, File agentJar) throws Exception {
        try (Plugin app = new Plugin(testClasses, AgentProbeMain.class.getClassLoader());
                Plugin entries = new Plugin(testClasses, AgentProbeMain.class.getClassLoader(), true)) {
            // Scope ENTRIES, loaded before the agent: retransformed, every method woven, none added.
            Class<?> service = Class.forName(FIXTURES + "entries.Service", true, entries);
            Object s = service.getConstructor(int.class).newInstance(2);
            ReleaseCallback cb = (ReleaseCallback) app.loadClass(FIXTURES + "DirectCallback").getConstructor().newInstance();
            cb.release();
            out("before.depth", last(app));
            // Loaded before the agent: their classes cannot gain bridges or overrides.
            ReleaseCallback ref = (ReleaseCallback) app.loadClass(FIXTURES + "LambdaRegistrar").getMethod("reference").invoke(null);
            ReleaseCallback inherits = (ReleaseCallback) app.loadClass(FIXTURES + "InheritsRelease").getConstructor().newInstance();
            String pid = String.valueOf(ProcessHandle.current().pid());
            ByteBuddyAgent.attach(agentJar, pid);
            ByteBuddyAgent.attach(agentJar, pid);
            common();
            cb.release(); // the same instance, its class retransformed
            out("after.depth", last(app));
            out("after.guarded", cb.getClass().getMethod("release").isAnnotationPresent(Guarded.class));
            // The fallback: the bodies are guarded in their own classes, retransformed by the worker.
            Class<?> helper = app.loadClass(FIXTURES + "Helper");
            Class<?> plainBase = app.loadClass(FIXTURES + "PlainBase");
            await().atMost(Duration.ofSeconds(30)).until(() -> helper.getMethod("cleanup").isAnnotationPresent(Guarded.class)
                    && plainBase.getMethod("release").isAnnotationPresent(Guarded.class));
            ref.release();
            out("after.methodref.depth", last(app));
            inherits.release();
            out("after.inherited.depth", last(app));
            await().atMost(Duration.ofSeconds(30)).until(() -> service.getMethod("handle", String.class).isAnnotationPresent(Guarded.class));
            Probe.drain();
            service.getMethod("handle", String.class).invoke(s, "ab");
            out("after.entries.depths", Probe.drain());
            out("after.entries.ctor.guarded", service.getConstructor(int.class).isAnnotationPresent(Guarded.class));
            out("after.added", java.util.Arrays.stream(app.loadClass(FIXTURES + "LambdaRegistrar").getDeclaredMethods())
                    .anyMatch(m -> m.getName().startsWith("unloadguard$"))
                    || java.util.Arrays.stream(inherits.getClass().getDeclaredMethods()).anyMatch(m -> m.getName().equals("release")));
        }
        out("outside.depth", Plugin.LAST_EPOCH_DEPTH.getAsInt());
    }

    private static void common() {
        out("installed.transformers", AgentInstaller.installedTransformers());
        out("agent.version", ReleaseGuard.agentVersion());
        out("epoch.loader", String.valueOf(ReleaseGuard.class.getClassLoader()));
    }

    private static boolean canLoad(ClassLoader loader, String name) {
        try {
            loader.loadClass(name);
            return true;
        } catch (ClassNotFoundException e) {
            return false;
        }
    }

    private static int callbackDepth(ClassLoader plugin) throws Exception {
        ReleaseCallback cb = (ReleaseCallback) plugin.loadClass(FIXTURES + "DirectCallback").getConstructor().newInstance();
        cb.release();
        return last(plugin);
    }

    private static int last(ClassLoader plugin) throws Exception {
        return (int) plugin.loadClass(Probe.class.getName()).getMethod("last").invoke(null);
    }

    private static void out(String key, Object value) {
        System.out.println(key + "=" + value);
    }

    /**
     * Child-first for the fixture package and {@link Probe} (so each plugin has its own copy of
     * both), the driver API from the application loader, everything else from the parent.
     */
    abstract static class ChildFirst extends URLClassLoader {
        /** Whether the plugin has its own {@link Probe} (else the application's, which reads the calling plugin's depth). */
        private final boolean ownProbe;

        ChildFirst(String name, Path classes, ClassLoader parent) throws MalformedURLException {
            this(name, classes, parent, true);
        }

        ChildFirst(String name, Path classes, ClassLoader parent, boolean ownProbe) throws MalformedURLException {
            super(name, new URL[] {classes.toUri().toURL()}, parent);
            this.ownProbe = ownProbe;
        }

        @Override
        protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
            if (name.startsWith("dev.unloadguard.driver.") || name.startsWith("dev.unloadguard.device.")) {
                return AgentProbeMain.class.getClassLoader().loadClass(name);
            }
            if (name.startsWith(FIXTURES) || ownProbe && name.equals(Probe.class.getName())) {
                synchronized (getClassLoadingLock(name)) {
                    Class<?> c = findLoadedClass(name);
                    return c != null ? c : findClass(name);
                }
            }
            return super.loadClass(name, resolve);
        }
    }

    /**
     * The test's plugin loader: marked, and like unloadguard's own loader it delegates the runtime
     * package to the application loader whatever its parent is.
     */
    static final class Plugin extends ChildFirst implements EpochHolder {
        /** The calling thread's depth in the epochs of every Plugin made so far: 0 when outside all. */
        static final java.util.function.IntSupplier LAST_EPOCH_DEPTH = () -> Plugin.EPOCHS.stream().mapToInt(ReleaseEpoch::depth).sum();
        private static final java.util.List<ReleaseEpoch> EPOCHS = new java.util.concurrent.CopyOnWriteArrayList<>();
        private final ReleaseEpoch epoch;

        Plugin(Path classes, ClassLoader parent) throws MalformedURLException {
            this(classes, parent, false);
        }

        /**
         * @param guardsEntries guard scope ENTRIES: every method of the plugin is a section (the
         *     plugin then uses the application's {@link Probe}: a copy of its own would be woven too)
         */
        Plugin(Path classes, ClassLoader parent, boolean guardsEntries) throws MalformedURLException {
            super("probe-plugin", classes, parent, !guardsEntries);
            epoch = new ReleaseEpoch("probe-plugin", guardsEntries);
            EPOCHS.add(epoch);
        }

        @Override
        public ReleaseEpoch releaseEpoch() {
            return epoch;
        }

        @Override
        protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
            if (name.startsWith("dev.unloadguard.epoch.")) {
                return AgentProbeMain.class.getClassLoader().loadClass(name);
            }
            return super.loadClass(name, resolve);
        }
    }

    /** A foreign host's loader: not marked, and it does not delegate the runtime package. */
    static final class ForeignPlugin extends ChildFirst {
        ForeignPlugin(Path classes, ClassLoader parent) throws MalformedURLException {
            super("foreign-plugin", classes, parent);
        }
    }
}
