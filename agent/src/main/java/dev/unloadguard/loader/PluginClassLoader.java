package dev.unloadguard.loader;

import dev.unloadguard.epoch.GuardedClassLoader;
import java.net.URL;
import java.net.URLClassLoader;
import java.time.Instant;

/**
 * The class loader of one plugin generation: one jar (the loader's private copy), parent-first
 * delegation, except that the unloadguard API packages always come from unloadguard's own loader,
 * whatever the parent, so a plugin whose parent is the platform loader still links against the
 * one {@code Device} and the one release epoch the host uses. Implements
 * {@link GuardedClassLoader}: the agent guards the release callbacks of every class it defines.
 *
 * <p>Once closed, a request for a class it would have defined is a late access: it throws
 * {@link PluginUnloadedError} (naming the plugin, generation and unload time) and counts it.
 */
final class PluginClassLoader extends URLClassLoader implements GuardedClassLoader {

    static {
        registerAsParallelCapable();
    }

    /** Packages a plugin links against, shared with the host: never defined by a plugin loader. */
    private static final String[] SHARED_PACKAGES = {
        "dev.unloadguard.driver.", "dev.unloadguard.device.", "dev.unloadguard.epoch.",
    };

    private final ClassLoader unloadguardLoader;
    /** Set once, when the plugin is unloaded; read by every class request afterwards. */
    private volatile Plugin unloaded;

    PluginClassLoader(String name, URL jar, ClassLoader parent, ClassLoader unloadguardLoader) {
        super(name, new URL[] {jar}, parent);
        this.unloadguardLoader = unloadguardLoader;
    }

    @Override
    protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
        for (String pkg : SHARED_PACKAGES) {
            if (name.startsWith(pkg)) {
                return Class.forName(name, false, unloadguardLoader);
            }
        }
        return super.loadClass(name, resolve);
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
