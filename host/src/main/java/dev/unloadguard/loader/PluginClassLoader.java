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
 * <li>the plugin API ({@code dev.unloadguard.driver}, {@code dev.unloadguard.device},
 *     {@code dev.unloadguard.epoch} and {@link PluginUnloadedError}) always comes from unloadguard's
 *     own loader, whatever the parent, so a plugin whose parent is the platform loader still links
 *     against the one {@code Device} and the one runtime the host uses;
 * <li>the rest of unloadguard (the host library, the agent, every {@code *.internal} package, and
 *     the device core's {@code PluginDevices}) is never delegated: a plugin cannot make epochs,
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
    /** unloadguard's own packages (the agent jar's), each with its subpackages. */
    private static final String[] OWN_PACKAGES = {
        "dev.unloadguard.agent.", "dev.unloadguard.boot.", "dev.unloadguard.check.", "dev.unloadguard.cli.",
        "dev.unloadguard.device.", "dev.unloadguard.driver.", "dev.unloadguard.epoch.", "dev.unloadguard.loader.",
        "dev.unloadguard.observe.", "dev.unloadguard.shaded.",
    };
    /** Of those, what a plugin links against: these packages exactly (not their subpackages). */
    private static final String[] API_PACKAGES = {"dev.unloadguard.driver.", "dev.unloadguard.device.", "dev.unloadguard.epoch."};
    /** Single API classes outside the API packages, and host-only classes inside them. */
    private static final String API_CLASS = PluginUnloadedError.class.getName();
    private static final String[] HOST_ONLY_CLASSES = {"dev.unloadguard.device.internal.PluginDevices"};

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
                        + "cannot use (plugin " + getName() + "): a plugin links only against dev.unloadguard.driver, "
                        + "dev.unloadguard.device (but PluginDevices), dev.unloadguard.epoch and PluginUnloadedError");
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
        if (name.equals(API_CLASS)) {
            return true;
        }
        for (String c : HOST_ONLY_CLASSES) {
            if (name.equals(c) || name.startsWith(c + "$")) {
                return false;
            }
        }
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
