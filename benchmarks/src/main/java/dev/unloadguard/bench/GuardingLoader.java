package dev.unloadguard.bench;

import dev.unloadguard.weave.internal.GuardPlan;
import dev.unloadguard.weave.internal.GuardTransformer;
import dev.unloadguard.epoch.internal.PluginEpochClass;
import dev.unloadguard.epoch.internal.ReleaseEpoch;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Set;

/**
 * A plugin loader for benchmarks: defines the named classes itself from the agent transformer's
 * output ({@link GuardTransformer#guard}), everything else comes from the parent. What the agent
 * would do to a class of a real plugin loader, without an agent in the JVM. Like the host's plugin
 * loader it defines the epoch class itself ({@link PluginEpochClass.Definer}), so the woven code
 * reads its epoch from that class's field, as in a real plugin.
 */
final class GuardingLoader extends ClassLoader implements PluginEpochClass.Definer {

    private final Set<String> guarded;
    private final ReleaseEpoch epoch;

    @Override
    public ReleaseEpoch releaseEpoch() {
        return epoch;
    }

    GuardingLoader(String... binaryNames) {
        this("bench-guarding", Set.of(binaryNames));
    }

    /** A loader named {@code name} (as its epoch is): one plugin of many. */
    static GuardingLoader named(String name, String... binaryNames) {
        return new GuardingLoader(name, Set.of(binaryNames));
    }

    /** A loader named {@code name} whose epoch guards every entry (the host's default), not only release paths. */
    static GuardingLoader guardingEntries(String name, String... binaryNames) {
        return new GuardingLoader(name, Set.of(binaryNames), true);
    }

    private GuardingLoader(String name, Set<String> binaryNames) {
        this(name, binaryNames, false);
    }

    private GuardingLoader(String name, Set<String> binaryNames, boolean guardsEntries) {
        super(name, GuardingLoader.class.getClassLoader());
        this.guarded = binaryNames;
        this.epoch = new ReleaseEpoch(name, guardsEntries);
    }

    static byte[] classBytes(String binaryName) {
        String resource = binaryName.replace('.', '/') + ".class";
        try (InputStream in = GuardingLoader.class.getClassLoader().getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalArgumentException("no class file " + resource + " on the class path");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
        if (name.equals(PluginEpochClass.NAME)) {
            synchronized (getClassLoadingLock(name)) {
                Class<?> c = findLoadedClass(name);
                if (c == null) {
                    byte[] b = PluginEpochClass.bytes();
                    c = defineClass(name, b, 0, b.length);
                }
                return c;
            }
        }
        if (!guarded.contains(name)) {
            return super.loadClass(name, resolve);
        }
        synchronized (getClassLoadingLock(name)) {
            Class<?> c = findLoadedClass(name);
            if (c == null) {
                byte[] original = classBytes(name);
                byte[] woven = GuardTransformer.guard(original, this,
                        epoch.guardsEntries() ? GuardPlan.Scope.ENTRIES : GuardPlan.Scope.RELEASE_PATHS);
                if (woven == null) {
                    throw new IllegalStateException(name + " has nothing to guard: the benchmark would time the unguarded class");
                }
                c = defineClass(name, woven, 0, woven.length);
            }
            if (resolve) {
                resolveClass(c);
            }
            return c;
        }
    }
}
