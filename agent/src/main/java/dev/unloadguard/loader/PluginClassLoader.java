package dev.unloadguard.loader;

import dev.unloadguard.epoch.GuardedClassLoader;
import java.net.URL;
import java.net.URLClassLoader;

/**
 * The class loader of one plugin generation: one jar, parent-first delegation, except that the
 * unloadguard API packages always come from unloadguard's own loader, whatever the parent, so a
 * plugin whose parent is the platform loader still links against the one {@code Device} and the
 * one release epoch the host uses. Implements {@link GuardedClassLoader}: the agent guards the
 * release callbacks of every class it defines.
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
    public String toString() {
        return getName();
    }
}
