package dev.unloadguard.epoch.internal;

import java.lang.instrument.Instrumentation;
import java.util.Collections;
import java.util.Map;
import java.util.Objects;
import java.util.WeakHashMap;

/**
 * Which class loaders are plugin loaders and which release epoch each one's classes enter; whether
 * the agent is installed. Internal: the host library and the agent use it, plugin code cannot
 * (unloadguard's plugin loaders do not delegate this package, and the operations that change
 * anything check that no plugin code is on the caller's stack, see {@link HostOnly}).
 *
 * <p>unloadguard's own plugin loaders are {@link EpochHolder}s and carry their epoch. Loaders of
 * hosts unloadguard did not write are registered here ({@link #registerForeign}), each with an
 * epoch of its own; held weakly, so registering never keeps a loader alive.
 */
public final class Epochs {

    /** Foreign plugin loaders: their epoch and whether they need the bootstrap bridge. */
    private static final Map<ClassLoader, Foreign> FOREIGN = Collections.synchronizedMap(new WeakHashMap<>());

    /** One registered foreign loader. Holds no reference to the loader. */
    private record Foreign(ReleaseEpoch epoch, boolean needsBridge) {
    }

    /**
     * Written once by the agent, read by the transformer's fast path for every class load.
     * Volatile so a loader that registers in one thread is seen by class loads in others; false
     * in every JVM without foreign loaders, which then pays one type check per class.
     */
    private static volatile boolean anyForeignLoader;

    /** Appends and wires the bootstrap bridge; set by the agent, run at most once by it. */
    private static volatile Runnable bootBridgeInstaller;

    /** Set once by the agent's premain/agentmain. */
    private static volatile String agentVersion;

    private Epochs() {
    }

    /**
     * Records that the unloadguard agent is installed. Only the agent can: it must hand over the
     * JVM's own {@link Instrumentation} (which exists only in a JVM running an agent), and no plugin
     * code may be on the stack.
     *
     * @param bootBridgeInstaller appends and wires the bootstrap bridge (idempotent); run now if a
     *                            registered loader already needs it, else when one does
     * @throws IllegalCallerException if plugin code calls it, or {@code inst} is not the JVM's
     */
    public static void agentInstalled(Instrumentation inst, String version, Runnable bootBridgeInstaller) {
        HostOnly.check("recording that the unloadguard agent is installed");
        if (inst == null || !isJvmInstrumentation(inst)) {
            throw new IllegalCallerException("recording that the unloadguard agent is installed needs the JVM's own "
                    + "Instrumentation (the one premain/agentmain receive), not " + (inst == null ? "null" : inst.getClass().getName()));
        }
        Epochs.bootBridgeInstaller = Objects.requireNonNull(bootBridgeInstaller, "bootBridgeInstaller");
        agentVersion = Objects.requireNonNull(version, "version");
        boolean bridgeNeeded;
        synchronized (FOREIGN) {
            bridgeNeeded = FOREIGN.values().stream().anyMatch(Foreign::needsBridge);
        }
        if (bridgeNeeded) {
            bootBridgeInstaller.run();
        }
    }

    /** The JDK's implementation, defined in {@code java.instrument}: a plugin can neither make nor subclass one. */
    private static boolean isJvmInstrumentation(Instrumentation inst) {
        Class<?> c = inst.getClass();
        return c.getName().equals("sun.instrument.InstrumentationImpl")
                && c.getModule() == Instrumentation.class.getModule()
                && c.getClassLoader() == null;
    }

    /** Whether the unloadguard agent is installed in this JVM. */
    public static boolean agentActive() {
        return agentVersion != null;
    }

    /** The installed agent's version, or {@code null} without the agent. */
    public static String agentVersion() {
        return agentVersion;
    }

    /**
     * Whether classes defined by {@code loader} are plugin classes the agent guards. Decided
     * from the loader alone; {@code null} (the bootstrap loader) never is.
     */
    public static boolean isPluginLoader(ClassLoader loader) {
        if (loader instanceof EpochHolder) {
            return true;
        }
        return anyForeignLoader && loader != null && FOREIGN.containsKey(loader);
    }

    /**
     * The release epoch the classes of {@code loader} enter, or {@code null} if it is not a
     * plugin loader.
     */
    public static ReleaseEpoch of(ClassLoader loader) {
        if (loader instanceof EpochHolder) {
            return ((EpochHolder) loader).releaseEpoch();
        }
        if (!anyForeignLoader || loader == null) {
            return null;
        }
        Foreign f = FOREIGN.get(loader);
        return f == null ? null : f.epoch();
    }

    /**
     * Registers a class loader of another plugin host as a plugin loader with a release epoch of
     * its own: classes it defines from now on are guarded and enter that epoch. Registering the
     * same loader again returns its epoch. Held weakly.
     *
     * @param name names the plugin in reports
     * @throws IllegalArgumentException if {@code loader} is {@code null}
     * @throws IllegalCallerException if plugin code calls it
     */
    public static ReleaseEpoch registerForeign(ClassLoader loader, String name) {
        return registerForeign(loader, name, false);
    }

    /**
     * {@link #registerForeign(ClassLoader, String)} with a guard scope: if {@code guardsEntries},
     * every entry into the classes {@code loader} defines is a section of its epoch (gated once
     * the plugin is GOING), not only their release paths. A loader registered before keeps the
     * epoch, and so the scope, it was registered with.
     */
    public static ReleaseEpoch registerForeign(ClassLoader loader, String name, boolean guardsEntries) {
        if (loader == null) {
            throw new IllegalArgumentException("loader is null: the bootstrap loader is never a plugin loader");
        }
        HostOnly.check("registering a plugin class loader");
        if (loader instanceof EpochHolder) {
            return ((EpochHolder) loader).releaseEpoch();
        }
        synchronized (FOREIGN) {
            Foreign known = FOREIGN.get(loader);
            if (known != null) {
                return known.epoch();
            }
        }
        boolean needsBridge = !seesRuntime(loader);
        if (needsBridge) {
            Runnable installer = bootBridgeInstaller;
            if (installer != null) {
                installer.run(); // before the loader is listed: its classes must never be woven unwired
            }
        }
        synchronized (FOREIGN) {
            Foreign f = FOREIGN.computeIfAbsent(loader, l -> new Foreign(new ReleaseEpoch(name, guardsEntries), needsBridge));
            anyForeignLoader = true;
            return f.epoch();
        }
    }

    /**
     * Whether the agent weaves calls to the bootstrap bridge, rather than to
     * {@code dev.unloadguard.epoch.ReleaseGuard}, into classes defined by {@code loader}: a
     * registered foreign loader that cannot see the runtime.
     */
    public static boolean needsBootBridge(ClassLoader loader) {
        if (!anyForeignLoader || loader == null) {
            return false;
        }
        Foreign f = FOREIGN.get(loader);
        return f != null && f.needsBridge();
    }

    /**
     * Enters the epoch of {@code pluginClass}'s plugin: the bootstrap bridge's entry for pre-Java-7
     * class files ({@code ReleaseGuard.enterCaller} is the same for loaders that see the runtime).
     */
    public static int enterFor(Class<?> pluginClass) {
        return epochOf(pluginClass).enter();
    }

    /** Enters {@code pluginClass}'s plugin's epoch as a gated entry; the bridge's entry for pre-Java-7 class files. */
    public static int enterEntryFor(Class<?> pluginClass, String method) {
        return epochOf(pluginClass).enterEntry(method);
    }

    /** Exits the innermost section of {@code pluginClass}'s plugin's epoch; see {@link #enterFor}. */
    public static void exitFor(Class<?> pluginClass, int token) {
        epochOf(pluginClass).exit(token);
    }

    /**
     * The epoch of {@code pluginClass}'s plugin.
     *
     * @throws IllegalStateException if the class is not plugin code
     */
    public static ReleaseEpoch epochOf(Class<?> pluginClass) {
        ReleaseEpoch epoch = of(pluginClass.getClassLoader());
        if (epoch == null) {
            throw new IllegalStateException(pluginClass.getName() + " is not plugin code (its class loader "
                    + pluginClass.getClassLoader() + " is no plugin loader): it has no release epoch");
        }
        return epoch;
    }

    private static boolean seesRuntime(ClassLoader loader) {
        try {
            Class<?> guard = dev.unloadguard.epoch.ReleaseGuard.class;
            return Class.forName(guard.getName(), false, loader) == guard;
        } catch (ClassNotFoundException | LinkageError e) {
            return false;
        }
    }
}
