package dev.unloadguard.weave.internal;

import dev.unloadguard.epoch.internal.EpochHolder;
import dev.unloadguard.epoch.internal.PluginEpochClass;
import dev.unloadguard.epoch.internal.ReleaseEpoch;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.instrument.ClassFileTransformer;
import java.lang.instrument.IllegalClassFormatException;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A plugin loader for tests: child-first for the fixture package, whose classes it defines from
 * the transformer's output (run {@code passes} times over its own output), parent-first for
 * everything else. Resources (the transformer's hierarchy lookups) come from the parent.
 *
 * <p>A {@linkplain #retransforming() retransforming} loader passes a {@code classBeingRedefined}
 * to the transformer, as the JVM does when it retransforms a class loaded before the agent
 * attached: the transformer must then not add methods (the class it gets is not the one being
 * redefined, and the transformer only tests it for {@code null}).
 */
class WeavingLoader extends ClassLoader implements EpochHolder {

    static final String FIXTURES = "dev.unloadguard.agent.fixture.";

    private final ClassFileTransformer transformer;
    private final int passes;
    private final boolean retransforming;
    private final ReleaseEpoch epoch;
    /** Binary names of the classes the transformer changed, in load order. */
    final List<String> transformed = new CopyOnWriteArrayList<>();
    /** The bytes each class was defined from, by binary name. */
    final Map<String, byte[]> defined = new ConcurrentHashMap<>();

    WeavingLoader(ClassFileTransformer transformer) {
        this(transformer, 1);
    }

    WeavingLoader(ClassFileTransformer transformer, int passes) {
        this(transformer, passes, false, false);
    }

    private WeavingLoader(ClassFileTransformer transformer, int passes, boolean retransforming, boolean guardsEntries) {
        this(guardsEntries ? "weaving-test-entries" : "weaving-test", transformer, passes, retransforming, guardsEntries);
    }

    private WeavingLoader(String name, ClassFileTransformer transformer, int passes, boolean retransforming, boolean guardsEntries) {
        super(name, WeavingLoader.class.getClassLoader());
        this.transformer = transformer;
        this.passes = passes;
        this.retransforming = retransforming;
        this.epoch = new ReleaseEpoch(name, guardsEntries);
    }

    /**
     * A loader that defines the epoch class itself ({@link PluginEpochClass.Definer}), as the
     * host's plugin loaders do: the weaver reads the epoch from its field. Counts the times it was
     * asked for the epoch class and the times it defined it.
     */
    static final class EpochClassDefining extends WeavingLoader implements PluginEpochClass.Definer {
        final java.util.concurrent.atomic.AtomicInteger epochClassRequests = new java.util.concurrent.atomic.AtomicInteger();
        final java.util.concurrent.atomic.AtomicInteger epochClassDefinitions = new java.util.concurrent.atomic.AtomicInteger();

        EpochClassDefining(ClassFileTransformer transformer, boolean guardsEntries) {
            super(guardsEntries ? "weaving-test-epoch-class-entries" : "weaving-test-epoch-class", transformer, 1, false, guardsEntries);
        }

        @Override
        protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
            if (!name.equals(PluginEpochClass.NAME)) {
                return super.loadClass(name, resolve);
            }
            epochClassRequests.incrementAndGet();
            synchronized (getClassLoadingLock(name)) {
                Class<?> c = findLoadedClass(name);
                if (c == null) {
                    epochClassDefinitions.incrementAndGet();
                    byte[] b = PluginEpochClass.bytes();
                    c = defineClass(name, b, 0, b.length);
                }
                return c;
            }
        }
    }

    /** A loader of guard scope ENTRIES that defines the epoch class (see {@link EpochClassDefining}). */
    static EpochClassDefining entriesWithEpochClass(ClassFileTransformer transformer) {
        return new EpochClassDefining(transformer, true);
    }

    /** A loader of guard scope RELEASE_PATHS that defines the epoch class (see {@link EpochClassDefining}). */
    static EpochClassDefining releasePathsWithEpochClass(ClassFileTransformer transformer) {
        return new EpochClassDefining(transformer, false);
    }

    /** A loader whose classes go through the transformer as retransformations (no methods may be added). */
    static WeavingLoader retransforming(ClassFileTransformer transformer) {
        return new WeavingLoader(transformer, 1, true, false);
    }

    /** A loader of guard scope ENTRIES: its epoch guards every entry, so every method of its classes is a section. */
    static WeavingLoader entries(ClassFileTransformer transformer) {
        return new WeavingLoader(transformer, 1, false, true);
    }

    /** {@link #entries(ClassFileTransformer)} running the transformer {@code passes} times. */
    static WeavingLoader entries(ClassFileTransformer transformer, int passes) {
        return new WeavingLoader(transformer, passes, false, true);
    }

    @Override
    public ReleaseEpoch releaseEpoch() {
        return epoch;
    }

    Class<?> fixture(String simpleName) throws ClassNotFoundException {
        return Class.forName(FIXTURES + simpleName, true, this);
    }

    static byte[] bytes(String binaryName) {
        String resource = binaryName.replace('.', '/') + ".class";
        try (InputStream in = WeavingLoader.class.getClassLoader().getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalArgumentException("no class file " + resource);
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
        if (!name.startsWith(FIXTURES)) {
            return super.loadClass(name, resolve);
        }
        synchronized (getClassLoadingLock(name)) {
            Class<?> c = findLoadedClass(name);
            if (c == null) {
                c = define(name, bytes(name));
            }
            if (resolve) {
                resolveClass(c);
            }
            return c;
        }
    }

    /** Defines {@code name} from {@code original} run through the transformer (for generated classes too). */
    Class<?> define(String name, byte[] original) {
        synchronized (getClassLoadingLock(name)) {
            byte[] b = original;
            Class<?> redefined = retransforming ? WeavingLoader.class : null;
            for (int i = 0; i < passes; i++) {
                byte[] out;
                try {
                    out = transformer.transform(this, name.replace('.', '/'), redefined, null, b);
                } catch (IllegalClassFormatException e) {
                    throw new AssertionError(e);
                }
                if (out != null) {
                    b = out;
                    transformed.add(name);
                }
            }
            defined.put(name, b);
            return defineClass(name, b, 0, b.length);
        }
    }
}
