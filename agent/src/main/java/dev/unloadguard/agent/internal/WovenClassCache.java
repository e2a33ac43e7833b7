package dev.unloadguard.agent.internal;

import dev.unloadguard.epoch.internal.EpochHolder;
import dev.unloadguard.epoch.internal.Epochs;
import dev.unloadguard.epoch.internal.PluginEpochClass;
import dev.unloadguard.epoch.internal.ReleaseEpoch;
import dev.unloadguard.weave.internal.GuardTransformer;
import dev.unloadguard.weave.internal.Log;
import java.io.IOException;
import java.io.InputStream;
import java.lang.instrument.ClassFileTransformer;
import java.lang.ref.WeakReference;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.ProtectionDomain;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.WeakHashMap;

/**
 * The agent's transformer: {@link GuardTransformer} behind a cache of woven class files, so a
 * plugin loaded again (a reload, a load+unload cycle, the same jar in several loaders) does not
 * parse, plan and weave its classes again.
 *
 * <h2>What the woven bytes depend on, and so the key</h2>
 * The weaving of a class being defined is a function of
 * <ul>
 * <li>its bytes: compared whole, not by a hash, before a cached answer is used;</li>
 * <li>the guard scope of its loader's epoch (ENTRIES or RELEASE_PATHS) and the guard owner
 *     (the runtime's {@code ReleaseGuard}, or the bootstrap bridge for a loader that cannot see
 *     it), and the epoch binding (whether the loader defines the epoch class,
 *     {@link PluginEpochClass#definedBy}: woven code reads its field instead of a dynamic
 *     constant);</li>
 * <li>its supertypes, which the planner reads as resources through the loader: the plugin's own
 *     classes (the key holds the SHA-256 of the loader's jars, its libraries included, read once
 *     per loader), the parent's (the key holds the parent loader itself, weakly), which of the two
 *     is looked at first (the loader's {@linkplain EpochHolder#lookupOrder lookup order}:
 *     parent-first, or plugin-first with its shared packages), and the exports of the dependency
 *     loaders it imports packages from (the key holds their identities, computed the same way);</li>
 * <li>per-loader state of the transformer (bodies other classes asked it to guard, classes that
 *     gained methods): a class that consulted or recorded any, or gained methods, or had a method
 *     left unwoven, is never cached ({@link GuardTransformer.Definition#reusable}), and a cached
 *     answer is not used for a class with a body pending in its loader
 *     ({@link GuardTransformer#mayReuse}).</li>
 * </ul>
 * Nothing in the woven bytes names a generation: the woven code finds its plugin's epoch through
 * its own class's loader when its dynamic constant (or, for class files older than Java 11, its
 * {@code invokedynamic} call site) is first resolved, or through the epoch class its loader
 * defines, in both guard scopes and with either guard owner. So the same input woven for another generation is the same output.
 *
 * <p>Only loaders the agent can identify by content are cached: a {@link URLClassLoader} whose
 * class path is {@code file:} jars only (unloadguard's plugin loaders read their private copies,
 * which never change), importing only from loaders that are cached too. Any other plugin loader
 * (a PF4J directory's {@code classes/} folder, for one), and every retransformation, goes straight
 * to the weaver.
 *
 * <h2>Memory</h2>
 * A least-recently-used map bounded by the bytes it holds (input and output of each class),
 * {@value #DEFAULT_MAX_BYTES} bytes unless the system property {@value #MAX_BYTES_PROPERTY} says
 * otherwise ({@code 0} turns the cache off). It holds byte arrays and digests only, never a class
 * or a plugin loader; parents are held weakly. Guarded by its own monitor, held for map operations
 * only (never while weaving or reading a jar).
 */
final class WovenClassCache implements ClassFileTransformer {

    static final String MAX_BYTES_PROPERTY = "unloadguard.wovenClassCache.maxBytes";
    static final long DEFAULT_MAX_BYTES = 32L * 1024 * 1024;

    private final GuardTransformer weaver;
    private final long maxBytes;
    /** Guarded by this. */
    private final LinkedHashMap<Key, Entry> entries = new LinkedHashMap<>(64, 0.75f, true);
    /** Guarded by this. */
    private long bytes;
    /** Per loader, its jar's identity ({@link Jar}) or {@link #NOT_CACHED}; guarded by itself. */
    private final Map<ClassLoader, Object> jars = new WeakHashMap<>();
    private static final Object NOT_CACHED = new Object();
    private final java.util.concurrent.atomic.LongAdder hits = new java.util.concurrent.atomic.LongAdder();
    /** Stands for the bootstrap loader as a parent (a null parent). */
    private static final Object BOOT = new Object();

    WovenClassCache(GuardTransformer weaver, long maxBytes) {
        this.weaver = weaver;
        this.maxBytes = Math.max(0, maxBytes);
    }

    /** The bound from {@value #MAX_BYTES_PROPERTY}, or the default. */
    static long configuredMaxBytes() {
        String v = System.getProperty(MAX_BYTES_PROPERTY);
        if (v == null || v.isBlank()) {
            return DEFAULT_MAX_BYTES;
        }
        try {
            return Long.parseLong(v.trim());
        } catch (NumberFormatException e) {
            Log.warning("-D" + MAX_BYTES_PROPERTY + "=" + v + " is not a number of bytes; using the default " + DEFAULT_MAX_BYTES);
            return DEFAULT_MAX_BYTES;
        }
    }

    @Override
    public byte[] transform(ClassLoader loader, String className, Class<?> classBeingRedefined,
            ProtectionDomain protectionDomain, byte[] classfileBuffer) {
        if (!Epochs.isPluginLoader(loader)) {
            return null; // JDK, host and agent classes: one type check, as in the weaver
        }
        if (maxBytes == 0 || classBeingRedefined != null || className == null || classfileBuffer == null) {
            return weaver.transform(loader, className, classBeingRedefined, protectionDomain, classfileBuffer);
        }
        Key key = key(loader, className, classfileBuffer);
        if (key != null && weaver.mayReuse(loader, className)) {
            Entry hit;
            synchronized (this) {
                hit = entries.get(key);
            }
            if (hit != null && Arrays.equals(hit.input, classfileBuffer)) {
                GuardTransformer.countReused(hit.definition);
                hits.increment();
                byte[] out = hit.definition.classfile();
                return out == null ? null : out.clone(); // the JVM and later transformers get their own copy
            }
        }
        GuardTransformer.Definition d = weaver.define(loader, className, null, classfileBuffer);
        if (key != null && d.reusable()) {
            put(key, new Entry(classfileBuffer.clone(), d));
        }
        return d.classfile();
    }

    /** Classes answered from the cache so far (tests, diagnostics). */
    long hits() {
        return hits.sum();
    }

    /** Entries and bytes held now (tests). */
    synchronized long[] size() {
        return new long[] {entries.size(), bytes};
    }

    private synchronized void put(Key key, Entry e) {
        if (e.size() > maxBytes / 4) {
            return; // one class never takes more than a quarter
        }
        Entry old = entries.put(key, e);
        bytes += e.size() - (old == null ? 0 : old.size());
        for (Iterator<Entry> it = entries.values().iterator(); bytes > maxBytes && it.hasNext(); ) {
            bytes -= it.next().size(); // least recently used first
            it.remove();
        }
    }

    /** The key of {@code className} defined by {@code loader}, or {@code null} if its loader is not cached. */
    private Key key(ClassLoader loader, String className, byte[] classfile) {
        Object jar = identityOf(loader);
        if (jar == NOT_CACHED) {
            return null;
        }
        ReleaseEpoch epoch = Epochs.of(loader);
        boolean entries = epoch != null && epoch.guardsEntries();
        return new Key((Jar) jar, className, entries, Epochs.needsBootBridge(loader), PluginEpochClass.definedBy(loader),
                Arrays.hashCode(classfile));
    }

    /** The loader's {@link #identify identity}, computed once per loader. */
    private Object identityOf(ClassLoader loader) {
        Object jar;
        synchronized (jars) {
            jar = jars.get(loader);
        }
        if (jar == null) {
            jar = identify(loader);
            synchronized (jars) {
                jars.put(loader, jar);
            }
        }
        return jar;
    }

    /**
     * The loader's identity as far as weaving goes: the SHA-256 of its class path (every entry a
     * {@code file:} jar, in order), its parent, its lookup order ({@link EpochHolder#lookupOrder})
     * and the identities of the loaders it imports packages from ({@link EpochHolder#importSources});
     * {@link #NOT_CACHED} for any other shape of loader, or one importing from a loader that is not
     * cached.
     */
    private Object identify(ClassLoader loader) {
        if (!(loader instanceof URLClassLoader)) {
            return NOT_CACHED;
        }
        URL[] urls = ((URLClassLoader) loader).getURLs();
        if (urls.length == 0) {
            return NOT_CACHED;
        }
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            byte[] buf = new byte[64 * 1024];
            for (URL url : urls) {
                if (!"file".equals(url.getProtocol())) {
                    return NOT_CACHED;
                }
                Path file = Path.of(url.toURI());
                if (!Files.isRegularFile(file)) {
                    return NOT_CACHED; // a directory of classes: no one digest to key it with
                }
                long length = 0;
                try (InputStream in = Files.newInputStream(file)) {
                    for (int n; (n = in.read(buf)) > 0; ) {
                        sha.update(buf, 0, n);
                        length += n;
                    }
                }
                for (int i = 0; i < 8; i++) {
                    sha.update((byte) (length >>> (8 * i))); // where one jar ends and the next begins
                }
            }
            String order = "parent-first";
            Map<String, Jar> imports = new TreeMap<>();
            if (loader instanceof EpochHolder) {
                EpochHolder holder = (EpochHolder) loader;
                order = holder.lookupOrder();
                for (Map.Entry<String, ClassLoader> e : holder.importSources().entrySet()) {
                    Object exporter = identityOf(e.getValue());
                    if (exporter == NOT_CACHED) {
                        return NOT_CACHED;
                    }
                    imports.put(e.getKey(), (Jar) exporter);
                }
            }
            ClassLoader parent = loader.getParent();
            return new Jar(sha.digest(), parent == null ? BOOT : parent, order, imports);
        } catch (IOException | NoSuchAlgorithmException | java.net.URISyntaxException | RuntimeException e) {
            Log.debug(() -> "not caching the woven classes of " + loader + ": " + e);
            return NOT_CACHED;
        }
    }

    /**
     * A jar's content, the parent its supertypes outside it come from, the order it looks them up
     * in, and the content of the loaders it imports packages from. Holds no loader strongly.
     */
    private static final class Jar {
        final byte[] sha256;
        final WeakReference<Object> parent;
        final String lookupOrder;
        final Map<String, Jar> imports;
        final int hash;

        Jar(byte[] sha256, Object parent, String lookupOrder, Map<String, Jar> imports) {
            this.sha256 = sha256;
            this.parent = new WeakReference<>(parent);
            this.lookupOrder = lookupOrder;
            this.imports = Map.copyOf(imports);
            this.hash = ((Arrays.hashCode(sha256) * 31 + System.identityHashCode(parent)) * 31 + lookupOrder.hashCode()) * 31
                    + imports.hashCode();
        }

        @Override
        public boolean equals(Object o) {
            if (!(o instanceof Jar)) {
                return false;
            }
            Jar j = (Jar) o;
            Object p = parent.get();
            return hash == j.hash && p != null && p == j.parent.get() && Arrays.equals(sha256, j.sha256)
                    && lookupOrder.equals(j.lookupOrder) && imports.equals(j.imports);
        }

        @Override
        public int hashCode() {
            return hash;
        }
    }

    private static final class Key {
        final Jar jar;
        final String className;
        final boolean entries;
        final boolean bootBridge;
        final boolean epochField;
        final int bytesHash;

        Key(Jar jar, String className, boolean entries, boolean bootBridge, boolean epochField, int bytesHash) {
            this.jar = jar;
            this.className = className;
            this.entries = entries;
            this.bootBridge = bootBridge;
            this.epochField = epochField;
            this.bytesHash = bytesHash;
        }

        @Override
        public boolean equals(Object o) {
            if (!(o instanceof Key)) {
                return false;
            }
            Key k = (Key) o;
            return bytesHash == k.bytesHash && entries == k.entries && bootBridge == k.bootBridge && epochField == k.epochField
                    && className.equals(k.className) && jar.equals(k.jar);
        }

        @Override
        public int hashCode() {
            return ((jar.hashCode() * 31 + className.hashCode()) * 31 + bytesHash) * 8 + (epochField ? 4 : 0) + (entries ? 2 : 0)
                    + (bootBridge ? 1 : 0);
        }
    }

    private static final class Entry {
        final byte[] input;
        final GuardTransformer.Definition definition;

        Entry(byte[] input, GuardTransformer.Definition definition) {
            this.input = input;
            this.definition = definition;
        }

        long size() {
            byte[] out = definition.classfile();
            return input.length + (out == null ? 0 : out.length) + 128L; // + the entry, key and map node, roughly
        }
    }
}
