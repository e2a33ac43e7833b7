package dev.unloadguard.agent.internal;

import dev.unloadguard.epoch.internal.EpochHolder;
import dev.unloadguard.epoch.internal.Epochs;
import dev.unloadguard.epoch.internal.JarDigests;
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
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.charset.StandardCharsets;
import java.security.ProtectionDomain;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.WeakHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;

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
 *     classes (the key holds the checksum of the loader's jars, its libraries included, read once
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
 * <h2>On disk, across JVM starts</h2>
 * With a {@link WovenClassDirectory} (the agent's default), a class is looked up first in the store
 * of its loader's <em>store key</em> (found once per loader identity and guard variant, and kept in its
 * {@link Jar}; a class answered from there is not copied into memory as well), then in memory; a
 * reusable definition woven afresh is added to both. The
 * store key is everything of the memory key that holds across JVMs, as text: the agent's identity
 * (a checksum of its jar's central directory: another build never reuses old woven bytes), the checksum of the
 * loader's jars, its lookup order, the store keys of the loaders it imports from, the guard scope and
 * guard owner ({@link Key#variantText}), and, for the parent, what determines the classes the weaver
 * reads through it ({@link #parentFingerprint}). The parent is the one part a loader's identity does
 * not give across JVMs, so the rule is: <b>only loaders whose parent is the bootstrap, platform or
 * application class loader are kept on disk</b>, the JDK named by its home, version and VM and
 * {@code -Xbootclasspath/a}, the application loader also by its class path and module path (each
 * file's absolute path, size and modification time, directories file by file, a jar's manifest
 * {@code Class-Path} followed): a JDK update or a host with another class path, or a rebuilt host
 * jar, gets another key. (A file changed in place with its size and time restored defeats that: the
 * troubleshooting guide says to delete the directory then.) The loaders of a host's own making (a
 * shared-library loader) cannot be named from outside the JVM; their children are cached in memory
 * only. A stored class is used only when the bytes being defined equal its stored input, compared
 * whole. The JDK's feature version needs no field of its own: the version is in the fingerprint.
 * See {@link WovenClassDirectory} for the files, the writer thread and the permission rules.
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
    /** The on-disk cache, or {@code null}: off. */
    private final WovenClassDirectory disk;
    /** The agent's identity ({@link AgentInstaller#identity}), computed when first needed: part of every store key. */
    private final java.util.function.Supplier<String> agentIdentity;
    /** Guarded by this: whether {@link #agentIdentity} was asked, and its answer ({@code null}: disk off). */
    private boolean identityKnown;
    private String identity;
    /** Guarded by this. */
    private final LinkedHashMap<Key, Entry> entries = new LinkedHashMap<>(64, 0.75f, true);
    /** Guarded by this. */
    private long bytes;
    /** Per loader, its jar's identity ({@link Jar}) or {@link #NOT_CACHED}; guarded by itself. */
    private final Map<ClassLoader, Object> jars = new WeakHashMap<>();
    private static final Object NOT_CACHED = new Object();
    /** How many identities {@link #interned} keeps, and URLs {@link #pathOf} remembers. */
    static final int INTERNED = 256;
    /**
     * Identities of loaders seen, each its own key, least recently used first ({@link #interned});
     * guarded by itself. Holds no loader strongly: a {@link Jar} holds its parent weakly.
     */
    private final LinkedHashMap<Jar, Jar> interned = new LinkedHashMap<>(16, 0.75f, true);
    /** {@code file:} URLs to their paths, by identity ({@link #pathOf}); guarded by itself. */
    private final Map<URL, Path> paths = new java.util.IdentityHashMap<>();
    private final LongAdder hits = new LongAdder();
    private final LongAdder diskHits = new LongAdder();
    private final LongAdder woven = new LongAdder();
    private final LongAdder storeLookups = new LongAdder();
    /** The parent fingerprint of the application class loader; computed once, guarded by this. */
    private String appFingerprint;
    private final LongAdder jarsRead = new LongAdder();
    /** Stands for the bootstrap loader as a parent (a null parent). */
    private static final Object BOOT = new Object();

    WovenClassCache(GuardTransformer weaver, long maxBytes) {
        this(weaver, maxBytes, null, null);
    }

    /**
     * @param disk          the directory's cache, or {@code null} for memory only
     * @param agentIdentity what identifies the agent's weaving ({@link AgentInstaller#identity});
     *                      asked once, when a class first needs the disk; {@code null} from it
     *                      turns the disk cache off
     */
    WovenClassCache(GuardTransformer weaver, long maxBytes, WovenClassDirectory disk, java.util.function.Supplier<String> agentIdentity) {
        this.weaver = weaver;
        this.maxBytes = Math.max(0, maxBytes);
        this.disk = this.maxBytes == 0 ? null : disk;
        this.agentIdentity = agentIdentity;
    }

    /** The agent's identity, asked once; {@code null}: not kept on disk. */
    private synchronized String agentIdentity() {
        if (!identityKnown) {
            identity = agentIdentity == null ? null : agentIdentity.get();
            identityKnown = true;
        }
        return identity;
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
        Object jar = identityOf(loader);
        if (jar == NOT_CACHED) {
            woven.increment();
            return weaver.define(loader, className, null, classfileBuffer).classfile();
        }
        Jar id = (Jar) jar;
        int variant = variant(loader);
        WovenClassDirectory.Store store = null;
        Key key = null;
        if (weaver.mayReuse(loader, className)) {
            // The disk store first, when the loader has one: it holds every class of this jar and
            // variant that this JVM wove too (Store.add), and a hit there needs no hash of the
            // bytes and no copy kept in memory (a start from a warm cache: one lookup, one
            // comparison, one copy per class).
            store = store(id, variant);
            WovenClassDirectory.Stored stored = null;
            try {
                stored = store == null ? null : store.get(className);
            } catch (RuntimeException e) {
                // never an error for the plugin, nor a class left unguarded (a transformer that throws
                // has its answer ignored): weave it; the file was logged when it was read
                Log.debug(() -> "unloadguard's woven-class cache could not look up " + className + ": " + e);
                store = null;
            }
            if (stored != null && sameInput(stored, classfileBuffer)) {
                byte[] out = stored.output(); // a new copy each time: the JVM and later transformers may write to it
                GuardTransformer.countReused(new GuardTransformer.Definition(out, stored.methodsGuarded, true));
                diskHits.increment();
                return out;
            }
            key = key(id, variant, className, classfileBuffer);
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
        woven.increment();
        GuardTransformer.Definition d = weaver.define(loader, className, null, classfileBuffer);
        if (d.reusable()) {
            byte[] input = classfileBuffer.clone(); // shared by both: never written to
            put(key != null ? key : key(id, variant, className, classfileBuffer), new Entry(input, d));
            if (store != null) {
                try {
                    store.add(className, new WovenClassDirectory.Stored(input, d.methodsGuarded(), d.classfile()));
                } catch (RuntimeException e) {
                    Log.debug(() -> "unloadguard's woven-class cache could not keep " + className + ": " + e);
                }
            }
        }
        return d.classfile();
    }

    /** Whether a stored class was woven from these bytes: compared whole. */
    static boolean sameInput(WovenClassDirectory.Stored stored, byte[] classfile) {
        return stored.inputEquals(classfile);
    }

    /**
     * The disk store of the loader's jar and variant, or {@code null} if it is not kept on disk;
     * looked up once per loader identity (loaders of one content share it) and variant, then kept
     * in its {@link Jar} (the store's key text is a few hundred characters: building and hashing
     * it per class cost more than the class's comparison).
     */
    private WovenClassDirectory.Store store(Jar jar, int variant) {
        if (disk == null || jar.persistentText == null) {
            return null;
        }
        synchronized (jar) {
            WovenClassDirectory.Store s = jar.stores[variant];
            if (s == null) {
                s = disk.store(jar.persistentText + Key.variantText(variant));
                jar.stores[variant] = s;
                storeLookups.increment();
            }
            return s;
        }
    }

    /** Classes answered from memory so far (tests, diagnostics). */
    long hits() {
        return hits.sum();
    }

    /** Classes answered from the directory so far (tests, diagnostics). */
    long diskHits() {
        return diskHits.sum();
    }

    /** Classes handed to the weaver so far, retransformations excluded (tests, diagnostics). */
    long woven() {
        return woven.sum();
    }

    /** Disk stores looked up by their key text so far: once per loader identity and variant (tests, diagnostics). */
    long storeLookups() {
        return storeLookups.sum();
    }

    /** Jar files read whole for their digest so far (tests, diagnostics). */
    long jarsRead() {
        return jarsRead.sum();
    }

    /** The directory's cache, or {@code null} (tests). */
    WovenClassDirectory disk() {
        return disk;
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

    /**
     * What of the loader's state besides its jar the weaving depends on, as three bits:
     * {@link Key#ENTRIES} (its epoch guards entries, not only release paths), {@link Key#BOOT_BRIDGE}
     * (woven against the bootstrap bridge), {@link Key#EPOCH_FIELD} (it defines the epoch class).
     */
    private static int variant(ClassLoader loader) {
        ReleaseEpoch epoch = Epochs.of(loader);
        return (epoch != null && epoch.guardsEntries() ? Key.ENTRIES : 0) | (Epochs.needsBootBridge(loader) ? Key.BOOT_BRIDGE : 0)
                | (PluginEpochClass.definedBy(loader) ? Key.EPOCH_FIELD : 0);
    }

    /** The memory key of {@code className} defined by a loader of {@code jar} and {@code variant}. */
    private static Key key(Jar jar, int variant, String className, byte[] classfile) {
        return new Key(jar, className, variant, Arrays.hashCode(classfile));
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
     * The {@link Jar} equal to {@code probe} that an earlier loader got, or {@code null}. Two
     * loaders with equal identities (the same checksum of their jars, the same parent loader, lookup
     * order and imports) have the same memory key, so they share one {@code Jar}: its
     * {@linkplain Jar#persistentText disk key text} (a function of exactly those, the agent's
     * identity and the directory's usability, which are fixed once known) is built and summed once,
     * and its disk stores are looked up once, not once per generation of a plugin. A changed jar
     * has another checksum and so another identity: it never finds an old one here.
     */
    private Jar interned(Jar probe) {
        synchronized (interned) {
            return interned.get(probe);
        }
    }

    /** Keeps {@code jar} for {@link #interned} (the {@value #INTERNED} most recently used); returns it, or the equal one kept first. */
    private Jar intern(Jar jar) {
        synchronized (interned) {
            Jar first = interned.putIfAbsent(jar, jar);
            if (interned.size() > INTERNED) {
                Iterator<Jar> eldest = interned.keySet().iterator();
                eldest.next();
                eldest.remove();
            }
            return first == null ? jar : first;
        }
    }

    /**
     * The file a {@code file:} URL names. Memoized by the URL instance: unloadguard's host gives
     * every generation of a private copy the copy's one {@code URL} object, and a URL's text never
     * changes, so parsing it again would give the same path. Only the path is memoized: the file's
     * attributes, and so whether it changed, are read for every loader.
     */
    private Path pathOf(URL url) throws java.net.URISyntaxException {
        synchronized (paths) {
            Path p = paths.get(url);
            if (p != null) {
                return p;
            }
        }
        Path p = Path.of(url.toURI());
        synchronized (paths) {
            if (paths.size() >= INTERNED) {
                paths.clear();
            }
            paths.put(url, p);
        }
        return p;
    }

    /**
     * The loader's identity as far as weaving goes: the checksum of its class path (every entry a
     * {@code file:} jar, in order, each {@linkplain #digest digested}), its parent, its lookup
     * order ({@link EpochHolder#lookupOrder}) and the identities of the loaders it imports packages
     * from ({@link EpochHolder#importSources}); {@link #NOT_CACHED} for any other shape of loader,
     * or one importing from a loader that is not cached. With the disk cache on, also its
     * {@linkplain Jar#persistentText text for the disk}, if its parent's classes can be named from
     * outside the JVM ({@link #parentFingerprint}).
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
            JarDigests.Checksum sum = new JarDigests.Checksum();
            for (URL url : urls) {
                if (!"file".equals(url.getProtocol())) {
                    return NOT_CACHED;
                }
                Path file = pathOf(url);
                BasicFileAttributes attributes = Files.readAttributes(file, BasicFileAttributes.class);
                if (!attributes.isRegularFile()) {
                    return NOT_CACHED; // a directory of classes: no one digest to key it with
                }
                sum.update(digest(file, attributes, loader instanceof EpochHolder)); // fixed length: one jar's end is clear
            }
            byte[] jars = sum.digest();
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
            Object parentKey = parent == null ? BOOT : parent;
            Jar known = interned(new Jar(jars, parentKey, order, imports, null));
            if (known != null) {
                return known; // the same content, parent, order and imports as a loader seen before: its key text and stores too
            }
            String persistent;
            try {
                persistent = persistentText(jars, parent, order, imports);
            } catch (IOException | RuntimeException e) {
                Log.debug(() -> "keeping the woven classes of " + loader + " in memory only: " + e);
                persistent = null;
            }
            return intern(new Jar(jars, parentKey, order, imports, persistent));
        } catch (IOException | java.net.URISyntaxException | RuntimeException e) {
            Log.debug(() -> "not caching the woven classes of " + loader + ": " + e);
            return NOT_CACHED;
        }
    }

    /**
     * The checksum of a jar's content ({@link JarDigests.Checksum}: CRC-32C, CRC-32 and length; why not
     * SHA-256 is said there). For unloadguard's own loaders ({@code privateCopy}: an
     * {@link EpochHolder}, which reads the host's private copies, made once and never written
     * again) memoized by the file's identity: file key (device and inode where the file system has
     * them), size and last-modified time, in the runtime's {@link JarDigests},
     * where the host also leaves the digest of each copy it writes, so a copy is read once per
     * load, by the host; a file without a file key is read every time. Any other loader's jar is
     * read every time.
     */
    byte[] digest(Path file, BasicFileAttributes attributes, boolean privateCopy) throws IOException {
        String id = privateCopy ? JarDigests.identity(attributes) : null;
        if (id != null) {
            byte[] known = JarDigests.known(id); // digested before in this JVM: by us, or by the host as it wrote the copy
            if (known != null) {
                return known;
            }
        }
        jarsRead.increment();
        JarDigests.Checksum sum = new JarDigests.Checksum();
        byte[] buf = new byte[64 * 1024];
        try (InputStream in = Files.newInputStream(file)) {
            for (int n; (n = in.read(buf)) > 0; ) {
                sum.update(buf, 0, n);
            }
        }
        byte[] d = sum.digest();
        JarDigests.remember(id, d);
        return d;
    }

    /**
     * The loader's part of the disk key, or {@code null} if it is not kept on disk: the disk cache
     * is off, its parent is not one whose classes are known from outside the JVM, or it imports from
     * a loader that is not kept on disk.
     */
    private String persistentText(byte[] jars, ClassLoader parent, String order, Map<String, Jar> imports) throws IOException {
        String agent = disk == null ? null : agentIdentity();
        if (agent == null || !disk.usable()) {
            return null;
        }
        String parentText = parentFingerprint(parent);
        if (parentText == null) {
            return null;
        }
        StringBuilder t = new StringBuilder(256).append("unloadguard woven classes\nagent=").append(agent)
                .append("\njars=").append(JarDigests.hex(jars))
                .append("\nparent=").append(WovenClassDirectory.checksumOf(parentText))
                .append("\norder=").append(order.replace('\n', ' '));
        for (Map.Entry<String, Jar> e : imports.entrySet()) { // a TreeMap: sorted
            if (e.getValue().persistentText == null) {
                return null;
            }
            t.append("\nimport ").append(e.getKey()).append('=').append(e.getValue().persistentChecksum());
        }
        return t.append('\n').toString();
    }

    /**
     * What determines the classes the weaver reads through a plugin loader's parent, as a text
     * that is the same in another JVM exactly when those classes are; {@code null} for any parent
     * but the bootstrap, platform and application class loaders: the classes of a loader the host
     * made (a shared-library loader, a web application's) cannot be named from outside it, so its
     * children are cached in memory only. The JDK is named by its home, version and VM, and by
     * {@code -Xbootclasspath/a}; the application loader also by its class path and module path,
     * each entry by its absolute path, size and last-modified time (a directory: every file in
     * it the same way, up to {@value #MAX_CLASS_PATH_FILES} files, else not kept on disk).
     */
    String parentFingerprint(ClassLoader parent) throws IOException {
        if (parent == null) {
            return "boot\n" + jdkFingerprint();
        }
        if (parent == ClassLoader.getPlatformClassLoader()) {
            return "platform\n" + jdkFingerprint();
        }
        if (parent != ClassLoader.getSystemClassLoader()) {
            return null;
        }
        synchronized (this) {
            if (appFingerprint == null) {
                String cp = pathFingerprint(System.getProperty("java.class.path", ""));
                String mp = pathFingerprint(System.getProperty("jdk.module.path", ""));
                appFingerprint = cp == null || mp == null ? "" : "app\n" + jdkFingerprint() + "cp=" + cp + "\nmp=" + mp + "\n";
            }
            return appFingerprint.isEmpty() ? null : appFingerprint;
        }
    }

    static final int MAX_CLASS_PATH_FILES = 20_000;

    private static String jdkFingerprint() throws IOException {
        String append = pathFingerprint(System.getProperty("jdk.boot.class.path.append", ""));
        // The version as the property holds it, not Runtime.version(): parsing that compiles a
        // regular expression, milliseconds in a JVM that just started (the same information).
        return new StringBuilder(256).append("java.home=").append(System.getProperty("java.home"))
                .append("\nversion=").append(System.getProperty("java.runtime.version"))
                .append("\nvm=").append(System.getProperty("java.vm.name")).append(' ').append(System.getProperty("java.vm.version"))
                .append("\nboot.append=").append(append).append('\n').toString();
    }

    /** Every entry of a path list by absolute path, size and time; {@code null} if a directory in it is too large. */
    static String pathFingerprint(String pathList) throws IOException {
        StringBuilder t = new StringBuilder();
        int[] files = {0};
        java.util.Set<Path> seen = new java.util.HashSet<>();
        for (String entry : pathList.split(java.io.File.pathSeparator)) {
            if (!entry.isEmpty() && !fingerprint(Path.of(entry).toAbsolutePath().normalize(), t, files, seen)) {
                return null;
            }
        }
        return t.toString();
    }

    /**
     * Appends one class path entry: a file by size and time, and the entries its manifest's
     * {@code Class-Path} adds (the JDK's class path follows them: {@code java -jar app.jar} has
     * its libraries there); a directory by every file in it; a missing entry as missing.
     */
    private static boolean fingerprint(Path p, StringBuilder t, int[] files, java.util.Set<Path> seen) throws IOException {
        if (!seen.add(p)) {
            return true;
        }
        t.append(p).append(' ');
        if (Files.isRegularFile(p)) {
            BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class);
            t.append(a.size()).append(' ').append(a.lastModifiedTime().to(TimeUnit.NANOSECONDS)).append(";\n");
            String classPath = null;
            try (java.util.jar.JarFile jar = new java.util.jar.JarFile(p.toFile(), false)) {
                java.util.jar.Manifest m = jar.getManifest();
                classPath = m == null ? null : m.getMainAttributes().getValue(java.util.jar.Attributes.Name.CLASS_PATH);
            } catch (IOException notAJar) {
                // not a zip: it adds nothing
            }
            if (classPath != null) {
                for (String ref : classPath.trim().split("\\s+")) {
                    if (ref.isEmpty()) {
                        continue;
                    }
                    try {
                        java.net.URI uri = p.toUri().resolve(ref);
                        if (!"file".equals(uri.getScheme())) {
                            return false;
                        }
                        if (!fingerprint(Path.of(uri).toAbsolutePath().normalize(), t, files, seen)) {
                            return false;
                        }
                    } catch (IllegalArgumentException | java.nio.file.FileSystemNotFoundException e) {
                        t.append("bad ").append(ref).append(";\n"); // the JDK ignores it too
                    }
                }
            }
        } else if (Files.isDirectory(p)) {
            java.util.List<Path> regular = new java.util.ArrayList<>();
            if (!regularFiles(p, regular, files)) {
                return false;
            }
            regular.sort(null);
            for (Path f : regular) {
                BasicFileAttributes a = Files.readAttributes(f, BasicFileAttributes.class);
                t.append(p.relativize(f)).append(' ').append(a.size()).append(' ')
                        .append(a.lastModifiedTime().to(TimeUnit.NANOSECONDS)).append(',');
            }
            t.append(";\n");
        } else {
            t.append("-;\n");
        }
        return true;
    }

    /**
     * Adds the regular files under {@code dir} to {@code out}, as {@code Files.walk(dir)} filtered
     * by {@code Files::isRegularFile} would (links to files followed, links to directories not
     * descended into), without a stream or a lambda: in a JVM that just started, setting those up
     * cost more than the walk. False once more than {@value #MAX_CLASS_PATH_FILES} files were seen.
     */
    private static boolean regularFiles(Path dir, java.util.List<Path> out, int[] files) throws IOException {
        try (java.nio.file.DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
            for (Path f : entries) {
                if (Files.isDirectory(f, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                    if (!regularFiles(f, out, files)) {
                        return false;
                    }
                } else if (Files.isRegularFile(f)) {
                    if (++files[0] > MAX_CLASS_PATH_FILES) {
                        return false;
                    }
                    out.add(f);
                }
            }
        }
        return true;
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
        /** Its part of the disk key ({@link #persistentText}), or {@code null}: memory only. */
        final String persistentText;
        final int hash;
        /** {@link WovenClassDirectory#checksumOf} its persistent text, once asked; guarded by this. */
        private String persistentChecksum;
        /** Its disk store per {@linkplain #variant variant}, once looked up; guarded by this. */
        final WovenClassDirectory.Store[] stores = new WovenClassDirectory.Store[Key.VARIANTS];

        Jar(byte[] sha256, Object parent, String lookupOrder, Map<String, Jar> imports, String persistentText) {
            this.sha256 = sha256;
            this.persistentText = persistentText;
            this.parent = new WeakReference<>(parent);
            this.lookupOrder = lookupOrder;
            this.imports = Map.copyOf(imports);
            this.hash = ((Arrays.hashCode(sha256) * 31 + System.identityHashCode(parent)) * 31 + lookupOrder.hashCode()) * 31
                    + imports.hashCode();
        }

        /** The checksum of {@link #persistentText} (not null), for the key text of a loader that imports from this one. */
        synchronized String persistentChecksum() {
            if (persistentChecksum == null) {
                persistentChecksum = WovenClassDirectory.checksumOf(persistentText);
            }
            return persistentChecksum;
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

    /**
     * A class's key in memory. To add what the weaving depends on besides the jar, the class's
     * name and its bytes: a bit of the variant here, set in {@link WovenClassCache#variant}, and a
     * line in {@link #variantText}: the disk keeps a file per jar and variant, and a bit missing
     * there would let one variant's bytes answer for another.
     */
    private static final class Key {
        static final int ENTRIES = 1;
        static final int BOOT_BRIDGE = 2;
        static final int EPOCH_FIELD = 4;
        static final int VARIANTS = 8;

        final Jar jar;
        final String className;
        /** {@link #ENTRIES}, {@link #BOOT_BRIDGE} and {@link #EPOCH_FIELD}: see {@link WovenClassCache#variant}. */
        final int variant;
        final int bytesHash;

        Key(Jar jar, String className, int variant, int bytesHash) {
            this.jar = jar;
            this.className = className;
            this.variant = variant;
            this.bytesHash = bytesHash;
        }

        @Override
        public boolean equals(Object o) {
            if (!(o instanceof Key)) {
                return false;
            }
            Key k = (Key) o;
            return bytesHash == k.bytesHash && variant == k.variant && className.equals(k.className) && jar.equals(k.jar);
        }

        @Override
        public int hashCode() {
            return ((jar.hashCode() * 31 + className.hashCode()) * 31 + bytesHash) * VARIANTS + variant;
        }

        /** Every field but the jar, the class name and its bytes, for the disk key: one line each. */
        static String variantText(int variant) {
            return "scope=" + ((variant & ENTRIES) != 0 ? "ENTRIES" : "RELEASE_PATHS")
                    + "\nguard=" + ((variant & BOOT_BRIDGE) != 0 ? "boot-bridge" : "release-guard")
                    + "\nepoch=" + ((variant & EPOCH_FIELD) != 0 ? "field" : "constant") + "\n";
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
