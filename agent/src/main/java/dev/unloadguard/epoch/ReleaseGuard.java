package dev.unloadguard.epoch;

import java.util.Collections;
import java.util.Map;
import java.util.WeakHashMap;

/**
 * The tiny runtime the agent's woven bytecode calls: {@code int t = ReleaseGuard.enter(); try
 * { body } finally { ReleaseGuard.exit(t); }} around every guarded release callback, on the
 * {@linkplain ReleaseEpoch#shared() shared release epoch}. Plugin loaders see it through
 * delegation: unloadguard's own plugin loaders delegate {@code dev.unloadguard.epoch} to
 * unloadguard's loader whatever their parent is. A foreign host's loader that cannot see it is
 * served by a bridge on the bootstrap class path instead ({@code dev.unloadguard.boot.BootGuard}),
 * appended only when such a loader is registered: appending to the bootstrap class path makes
 * HotSpot print a warning and turn class-data sharing off for application classes, so it is not
 * done for hosts that do not need it.
 *
 * <p>It also holds the two facts the agent and the plugin loader share: whether the agent is
 * installed in this JVM, and which class loaders are plugin loaders.
 */
public final class ReleaseGuard {

    private static final ReleaseEpoch EPOCH = ReleaseEpoch.shared();

    /**
     * Plugin loaders of hosts the project did not write (they cannot implement
     * {@link GuardedClassLoader}), each mapped to whether it needs the bootstrap bridge (it cannot
     * see this class). Weak keys: registering never keeps a loader alive.
     */
    private static final Map<ClassLoader, Boolean> FOREIGN_LOADERS =
            Collections.synchronizedMap(new WeakHashMap<>());

    /** Appends and wires the bootstrap bridge; set by the agent, run at most once by it. */
    private static volatile Runnable bootBridgeInstaller;

    /**
     * Written once by the agent, read by the transformer's fast path for every class load.
     * Volatile so a loader that registers in one thread is seen by class loads in others;
     * on the read side it is a plain load on x86/ARM64 (acquire), and it is false in every JVM
     * without foreign loaders, which then pays one type check only.
     */
    private static volatile boolean anyForeignLoader;

    /** Set once by the agent's premain/agentmain; read by the plugin loader for its report. */
    private static volatile String agentVersion;

    private ReleaseGuard() {
    }

    /** Enters the shared release epoch; woven at the entry of every guarded method. */
    public static int enter() {
        return EPOCH.enter();
    }

    /** Exits the shared release epoch; woven before every return and throw of a guarded method. */
    public static void exit(int token) {
        EPOCH.exit(token);
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
     * Called by the agent once it installed its transformer. Not for hosts or plugins: it only
     * records a fact; calling it without the agent makes the plugin loader's report lie.
     *
     * @param bootBridgeInstaller appends and wires the bootstrap bridge (idempotent); run now if a
     *                            registered loader already needs it, else when one does
     */
    public static void agentInstalled(String version, Runnable bootBridgeInstaller) {
        ReleaseGuard.bootBridgeInstaller = bootBridgeInstaller;
        agentVersion = version;
        if (FOREIGN_LOADERS.containsValue(Boolean.TRUE)) {
            bootBridgeInstaller.run();
        }
    }

    /**
     * Whether classes defined by {@code loader} are plugin classes the agent guards. Decided
     * from the loader alone; {@code null} (the bootstrap loader) never is.
     */
    public static boolean isPluginLoader(ClassLoader loader) {
        if (loader instanceof GuardedClassLoader) {
            return true;
        }
        return anyForeignLoader && loader != null && FOREIGN_LOADERS.containsKey(loader);
    }

    /**
     * Registers a class loader of another plugin host (one that cannot implement
     * {@link GuardedClassLoader}) as a plugin loader: classes it defines from now on are guarded.
     * Register it before it loads the plugin's classes; classes it already defined are guarded
     * only if the agent retransforms them. The loader is held weakly.
     */
    public static void registerPluginLoader(ClassLoader loader) {
        if (loader == null) {
            throw new IllegalArgumentException("loader is null: the bootstrap loader is never a plugin loader");
        }
        boolean needsBridge = !seesRuntime(loader);
        if (needsBridge) {
            Runnable installer = bootBridgeInstaller;
            if (installer != null) {
                installer.run(); // before the loader is listed: its classes must never be woven unwired
            }
        }
        FOREIGN_LOADERS.put(loader, needsBridge);
        anyForeignLoader = true;
    }

    /**
     * Whether the agent weaves calls to the bootstrap bridge, rather than to this class, into
     * classes defined by {@code loader}: a registered foreign loader that cannot see this class.
     */
    public static boolean needsBootBridge(ClassLoader loader) {
        return anyForeignLoader && loader != null && Boolean.TRUE.equals(FOREIGN_LOADERS.get(loader));
    }

    private static boolean seesRuntime(ClassLoader loader) {
        try {
            return Class.forName(ReleaseGuard.class.getName(), false, loader) == ReleaseGuard.class;
        } catch (ClassNotFoundException | LinkageError e) {
            return false;
        }
    }
}
