package dev.unloadguard.loader;

import dev.unloadguard.driver.PluginUnloadedError;
import dev.unloadguard.epoch.internal.EpochHolder;
import dev.unloadguard.epoch.internal.ReleaseEpoch;
import java.net.URL;
import java.net.URLClassLoader;
import java.time.Instant;

/**
 * The class loader of one plugin generation: one jar (the loader's private copy), parent-first
 * delegation, with two exceptions for unloadguard's own classes:
 * <ul>
 * <li>the plugin API ({@code dev.unloadguard.driver}, {@code dev.unloadguard.device}: the
 *     unloadguard-api artifact) and the woven code's runtime ({@code dev.unloadguard.epoch})
 *     always come from unloadguard's
 *     own loader, whatever the parent, so a plugin whose parent is the platform loader still links
 *     against the one {@code Device} and the one runtime the host uses;
 * <li>the rest of unloadguard (the host library, the agent and its tools, every
 *     {@code *.internal} package) is never delegated: a plugin cannot make epochs,
 *     count devices, register loaders or claim the agent is attached.
 * </ul>
 * It owns its generation's release epoch ({@link EpochHolder}): the agent guards every class it
 * defines, and their woven code enters that epoch.
 *
 * <p>Once closed, a request for a class it would have defined is a late access: it throws
 * {@link PluginUnloadedError} (naming the plugin, generation and unload time) and counts it —
 * including a request that raced the close and failed inside the JDK's zip layer.
 */
final class PluginClassLoader extends URLClassLoader implements EpochHolder {

    static {
        registerAsParallelCapable();
    }

    private static final String UNLOADGUARD = "dev.unloadguard.";
    /**
     * unloadguard's own packages, each with its subpackages: the api, the runtime, the host
     * library, the agent and its tools (not the test kit, the samples or a host's own
     * {@code dev.unloadguard.*} libraries, which come through the parent as usual).
     */
    private static final String[] OWN_PACKAGES = {
        "dev.unloadguard.agent.", "dev.unloadguard.boot.", "dev.unloadguard.check.", "dev.unloadguard.cli.",
        "dev.unloadguard.device.", "dev.unloadguard.driver.", "dev.unloadguard.epoch.", "dev.unloadguard.loader.",
        "dev.unloadguard.maven.", "dev.unloadguard.observe.", "dev.unloadguard.pf4j.", "dev.unloadguard.shaded.",
        "dev.unloadguard.weave.",
    };
    /**
     * Of those, what a plugin links against, these packages exactly (not their subpackages, so
     * never an {@code *.internal} one): the api and the woven code's runtime.
     */
    private static final String[] API_PACKAGES = {"dev.unloadguard.driver.", "dev.unloadguard.device.", "dev.unloadguard.epoch."};

    private final ClassLoader unloadguardLoader;
    private final ReleaseEpoch epoch;
    /** Set once, when the plugin is unloaded; read by every class request afterwards. */
    private volatile Plugin unloaded;

    PluginClassLoader(String name, URL jar, ClassLoader parent, ClassLoader unloadguardLoader, ReleaseEpoch epoch) {
        super(name, new URL[] {jar}, parent);
        this.unloadguardLoader = unloadguardLoader;
        this.epoch = epoch;
    }

    @Override
    public ReleaseEpoch releaseEpoch() {
        return epoch;
    }

    @Override
    protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
        if (name.startsWith(UNLOADGUARD) && isOwn(name)) {
            if (!isApi(name)) {
                throw new ClassNotFoundException(name + " is part of unloadguard's host library or internals, which plugins "
                        + "cannot use (plugin " + getName() + "): a plugin links only against unloadguard-api "
                        + "(dev.unloadguard.driver, dev.unloadguard.device) and dev.unloadguard.epoch");
            }
            return Class.forName(name, false, unloadguardLoader);
        }
        return super.loadClass(name, resolve);
    }

    private static boolean isOwn(String name) {
        for (String p : OWN_PACKAGES) {
            if (name.startsWith(p)) {
                return true;
            }
        }
        return false;
    }

    private static boolean isApi(String name) {
        for (String p : API_PACKAGES) {
            if (name.startsWith(p) && name.indexOf('.', p.length()) < 0) {
                return true;
            }
        }
        return false;
    }

    @Override
    protected Class<?> findClass(String name) throws ClassNotFoundException {
        Plugin gone = unloaded;
        if (gone == null) {
            try {
                return super.findClass(name);
            } catch (ClassNotFoundException e) {
                gone = unloaded; // closed while we looked?
                if (gone == null) {
                    throw e;
                }
            } catch (RuntimeException | Error e) {
                // A read racing the close fails inside the JDK's zip layer ("zip file closed",
                // "Inflater has been closed", ...): that is a late access too, whatever it says.
                gone = unloaded;
                if (gone == null) {
                    throw e;
                }
            }
        }
        gone.countLateAccess(name);
        throw new PluginUnloadedError(name, gone.id(), gone.generation(), gone.unloadedAt().orElse(Instant.now()), getName());
    }

    /** Marks the loader unloaded (late accesses are reported against {@code plugin}), then closes it. */
    void closeFor(Plugin plugin) throws java.io.IOException {
        unloaded = plugin;
        close();
    }

    @Override
    public String toString() {
        return getName();
    }
}
