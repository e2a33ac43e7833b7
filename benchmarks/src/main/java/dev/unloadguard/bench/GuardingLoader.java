package dev.unloadguard.bench;

import dev.unloadguard.weave.internal.GuardTransformer;
import dev.unloadguard.epoch.internal.EpochHolder;
import dev.unloadguard.epoch.internal.ReleaseEpoch;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;

/**
 * A plugin loader for benchmarks: defines the named classes itself from the agent transformer's
 * output ({@link GuardTransformer#guard}), everything else comes from the parent. What the agent
 * would do to a class of a real plugin loader, without an agent in the JVM.
 */
final class GuardingLoader extends ClassLoader implements EpochHolder {

    private final java.util.Set<String> guarded;
    private final ReleaseEpoch epoch = new ReleaseEpoch("bench-guarding");

    @Override
    public ReleaseEpoch releaseEpoch() {
        return epoch;
    }

    GuardingLoader(String... binaryNames) {
        super("bench-guarding", GuardingLoader.class.getClassLoader());
        this.guarded = java.util.Set.of(binaryNames);
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
        if (!guarded.contains(name)) {
            return super.loadClass(name, resolve);
        }
        synchronized (getClassLoadingLock(name)) {
            Class<?> c = findLoadedClass(name);
            if (c == null) {
                byte[] original = classBytes(name);
                byte[] woven = GuardTransformer.guard(original, this);
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
