package dev.unloadguard.agent.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.epoch.internal.EpochHolder;
import dev.unloadguard.epoch.internal.ReleaseEpoch;
import dev.unloadguard.weave.internal.GuardTransformer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.stream.Stream;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The agent's cache of woven class files: a hit is the bytes a fresh weave gives; what the weave
 * depends on besides the class's own bytes (its supertypes in the jar, the guard scope) gives a
 * fresh weave when it changed; the memory bound holds.
 */
class WovenClassCacheTest {

    @TempDir
    Path dir;

    /** A plugin loader as the host makes them: one jar, its own epoch. */
    static final class JarLoader extends URLClassLoader implements EpochHolder {
        private final ReleaseEpoch epoch;

        JarLoader(Path jar, boolean entries) throws IOException {
            this(jar, entries, WovenClassCacheTest.class.getClassLoader());
        }

        JarLoader(Path jar, boolean entries, ClassLoader parent) throws IOException {
            super("plugin:test", new URL[] {jar.toUri().toURL()}, parent);
            this.epoch = new ReleaseEpoch("test", entries);
        }

        @Override
        public ReleaseEpoch releaseEpoch() {
            return epoch;
        }
    }

    /**
     * Sources of package {@code p}: {@code Base}, implementing {@code ReleaseCallback} or not, and
     * {@code Cb extends Base} with a {@code release()} method, whose class file is the same either
     * way: whether its {@code release()} is a release callback depends on its supertype only.
     */
    private Path jar(String name, boolean baseIsCallback) throws IOException {
        Path src = Files.createDirectories(dir.resolve(name + "-src/p"));
        Files.writeString(src.resolve("Base.java"), "package p;\npublic abstract class Base"
                + (baseIsCallback ? " implements dev.unloadguard.driver.ReleaseCallback" : "") + " {\n}\n");
        Files.writeString(src.resolve("Cb.java"), "package p;\npublic class Cb extends Base {\n"
                + "    int n;\n    public void release() { n++; }\n    public int work(int x) { return x + n; }\n}\n");
        Files.writeString(src.resolve("Plain.java"), "package p;\npublic final class Plain {\n    public int twice(int x) { return 2 * x; }\n}\n");
        Path out = Files.createDirectories(dir.resolve(name + "-classes"));
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        List<String> args = new ArrayList<>(List.of("--release", "17", "-proc:none", "-cp", System.getProperty("java.class.path"),
                "-d", out.toString()));
        try (Stream<Path> files = Files.list(src)) {
            files.forEach(f -> args.add(f.toString()));
        }
        assertEquals(0, javac.run(null, null, null, args.toArray(new String[0])));
        Map<String, byte[]> entries = new TreeMap<>();
        try (Stream<Path> files = Files.walk(out)) {
            for (Path f : (Iterable<Path>) files.filter(Files::isRegularFile)::iterator) {
                entries.put(out.relativize(f).toString().replace('\\', '/'), Files.readAllBytes(f));
            }
        }
        Path jar = dir.resolve(name + ".jar");
        try (OutputStream os = Files.newOutputStream(jar); JarOutputStream jos = new JarOutputStream(os)) {
            for (Map.Entry<String, byte[]> e : entries.entrySet()) {
                jos.putNextEntry(new JarEntry(e.getKey()));
                jos.write(e.getValue());
                jos.closeEntry();
            }
        }
        return jar;
    }

    private static byte[] classFile(Path jar, String internalName) throws IOException {
        try (java.util.jar.JarFile j = new java.util.jar.JarFile(jar.toFile())) {
            return j.getInputStream(j.getJarEntry(internalName + ".class")).readAllBytes();
        }
    }

    /** What a weaver without a cache gives, for a loader of its own over {@code jar}. */
    private static byte[] fresh(Path jar, boolean entries, String name, byte[] input) throws IOException {
        try (JarLoader l = new JarLoader(jar, entries)) {
            return new GuardTransformer(null).transform(l, name, null, null, input);
        }
    }

    @Test
    void aHitIsTheBytesOfAFreshWeaveAndTheCopyOfAnotherJarWithTheSameBytesHits() throws Exception {
        Path jar = jar("v1", false);
        Path copy = Files.copy(jar, dir.resolve("v1-copy.jar")); // the next generation's private copy
        byte[] input = classFile(jar, "p/Plain");
        WovenClassCache cache = new WovenClassCache(new GuardTransformer(null), 1 << 20);
        try (JarLoader first = new JarLoader(jar, true); JarLoader second = new JarLoader(copy, true)) {
            byte[] a = cache.transform(first, "p/Plain", null, null, input);
            assertNotNull(a, "scope ENTRIES guards Plain.twice");
            assertEquals(0, cache.hits());
            assertEquals(1, cache.size()[0], "cached");
            byte[] b = cache.transform(second, "p/Plain", null, null, input.clone());
            assertEquals(1, cache.hits(), "the second generation's class came from the cache");
            assertArrayEquals(fresh(jar, true, "p/Plain", input), b, "a hit is what a fresh weave gives");
            assertArrayEquals(a, b);
            assertNotSame(a, b, "every caller gets its own array");
        }
    }

    @Test
    void sameClassBytesWithAChangedSupertypeInTheJarAreWovenFresh() throws Exception {
        Path plain = jar("plain", false);
        Path callback = jar("callback", true);
        byte[] cb = classFile(plain, "p/Cb");
        assertArrayEquals(cb, classFile(callback, "p/Cb"), "the test needs Cb's bytes to be the same in both jars");
        WovenClassCache cache = new WovenClassCache(new GuardTransformer(null), 1 << 20);
        try (JarLoader l1 = new JarLoader(plain, false); JarLoader l2 = new JarLoader(callback, false)) {
            assertNull(cache.transform(l1, "p/Cb", null, null, cb), "release paths only: Cb.release is no callback here");
            byte[] woven = cache.transform(l2, "p/Cb", null, null, cb);
            assertEquals(0, cache.hits(), "another jar: woven again");
            assertNotNull(woven, "its supertype is a ReleaseCallback now: release() is guarded");
            assertArrayEquals(fresh(callback, false, "p/Cb", cb), woven);
        }
    }

    @Test
    void aReplacedJarWithDifferentBytesIsWovenFresh() throws Exception {
        Path v1 = jar("r1", false);
        WovenClassCache cache = new WovenClassCache(new GuardTransformer(null), 1 << 20);
        byte[] old = classFile(v1, "p/Plain");
        try (JarLoader l1 = new JarLoader(v1, true)) {
            cache.transform(l1, "p/Plain", null, null, old);
        }
        // a new build deployed under the same name: Plain changed
        byte[] changed = edit(old, "twicE");
        Path v2 = rewrite(v1, "p/Plain.class", changed);
        try (JarLoader l2 = new JarLoader(v2, true)) {
            byte[] woven = cache.transform(l2, "p/Plain", null, null, changed);
            assertEquals(0, cache.hits(), "other bytes: woven again");
            assertArrayEquals(fresh(v2, true, "p/Plain", changed), woven);
            assertTrue(new String(woven, StandardCharsets.ISO_8859_1).contains("twicE"));
        }
    }

    /** {@code jar} rewritten in place with one entry replaced; returns it. */
    private static Path rewrite(Path jar, String entry, byte[] bytes) throws IOException {
        Map<String, byte[]> entries = new TreeMap<>();
        try (java.util.jar.JarFile j = new java.util.jar.JarFile(jar.toFile())) {
            for (JarEntry e : (Iterable<JarEntry>) j.stream()::iterator) {
                entries.put(e.getName(), j.getInputStream(e).readAllBytes());
            }
        }
        entries.put(entry, bytes);
        try (OutputStream os = Files.newOutputStream(jar); JarOutputStream jos = new JarOutputStream(os)) {
            for (Map.Entry<String, byte[]> e : entries.entrySet()) {
                jos.putNextEntry(new JarEntry(e.getKey()));
                jos.write(e.getValue());
                jos.closeEntry();
            }
        }
        return jar;
    }

    /** The class file with its method "twice" renamed (same length), as a changed build would differ. */
    private static byte[] edit(byte[] classFile, String name) {
        String s = new String(classFile, StandardCharsets.ISO_8859_1);
        assertTrue(s.contains("twice"));
        return s.replace("twice", name).getBytes(StandardCharsets.ISO_8859_1);
    }

    /** A plugin-first loader, as the host makes them: its own jar's resources before the parent's. */
    static final class PluginFirstLoader extends URLClassLoader implements EpochHolder {
        private final ReleaseEpoch epoch = new ReleaseEpoch("test", false);

        PluginFirstLoader(Path jar, ClassLoader parent) throws IOException {
            super("plugin:test-first", new URL[] {jar.toUri().toURL()}, parent);
        }

        @Override
        public URL getResource(String name) {
            URL own = findResource(name);
            return own != null ? own : super.getResource(name);
        }

        @Override
        public ReleaseEpoch releaseEpoch() {
            return epoch;
        }

        @Override
        public String lookupOrder() {
            return "plugin-first;shared=";
        }
    }

    /** A dependent's loader: package {@code p} (Cb's supertype's) read from the dependency that exports it. */
    static final class DependentLoader extends URLClassLoader implements EpochHolder {
        private final ReleaseEpoch epoch = new ReleaseEpoch("test", false);
        private final ClassLoader exporter;

        DependentLoader(Path jar, ClassLoader exporter) throws IOException {
            super("plugin:test-dependent", new URL[] {jar.toUri().toURL()}, WovenClassCacheTest.class.getClassLoader());
            this.exporter = exporter;
        }

        @Override
        public URL getResource(String name) {
            return name.startsWith("p/") && name.indexOf('/', 2) < 0 ? exporter.getResource(name) : super.getResource(name);
        }

        @Override
        public ReleaseEpoch releaseEpoch() {
            return epoch;
        }

        @Override
        public Map<String, ClassLoader> importSources() {
            return Map.of("p", exporter);
        }
    }

    /**
     * Plugin-first plugins are cached too, keyed by their lookup order: the same jar under the
     * same parent weaves differently parent-first (Cb's supertype is the host's Base, no callback)
     * and plugin-first (the jar's own Base, a ReleaseCallback); neither may be answered with the
     * other's bytes, and a second plugin-first generation hits.
     */
    @Test
    void aPluginFirstLoaderIsCachedAndItsLookupOrderIsPartOfTheKey() throws Exception {
        Path host = jar("host-base", false);
        Path plugin = jar("own-base", true);
        Path copy = Files.copy(plugin, dir.resolve("own-base-copy.jar"));
        byte[] cb = classFile(plugin, "p/Cb");
        assertArrayEquals(cb, classFile(host, "p/Cb"));
        WovenClassCache cache = new WovenClassCache(new GuardTransformer(null), 1 << 20);
        try (URLClassLoader hostLoader = new URLClassLoader("host", new URL[] {host.toUri().toURL()}, getClass().getClassLoader());
             JarLoader parentFirst = new JarLoader(plugin, false, hostLoader);
             PluginFirstLoader first = new PluginFirstLoader(plugin, hostLoader);
             PluginFirstLoader second = new PluginFirstLoader(copy, hostLoader);
             PluginFirstLoader fresh = new PluginFirstLoader(plugin, hostLoader)) {
            assertNull(cache.transform(parentFirst, "p/Cb", null, null, cb), "parent-first: the host's Base, no callback");
            byte[] woven = cache.transform(first, "p/Cb", null, null, cb);
            assertEquals(0, cache.hits(), "another lookup order: woven again");
            assertNotNull(woven, "plugin-first: the plugin's own Base is a ReleaseCallback, release() is guarded");
            assertArrayEquals(new GuardTransformer(null).transform(fresh, "p/Cb", null, null, cb), woven);
            assertEquals(2, cache.size()[0], "both cached");
            assertArrayEquals(woven, cache.transform(second, "p/Cb", null, null, cb.clone()));
            assertEquals(1, cache.hits(), "the next plugin-first generation's class came from the cache");
        }
    }

    /**
     * A dependent's supertypes may be its dependency's exports: the dependency generation's
     * content is part of the key, so a dependent of a changed dependency is woven fresh.
     */
    @Test
    void theContentOfTheDependenciesADependentImportsFromIsPartOfTheKey() throws Exception {
        Path plainApi = jar("api-plain", false);
        Path callbackApi = jar("api-callback", true);
        Path dependent = jar("dependent", false);
        byte[] cb = classFile(dependent, "p/Cb");
        WovenClassCache cache = new WovenClassCache(new GuardTransformer(null), 1 << 20);
        try (JarLoader a1 = new JarLoader(plainApi, false); JarLoader a1Again = new JarLoader(Files.copy(plainApi,
                dir.resolve("api-plain-copy.jar")), false); JarLoader a2 = new JarLoader(callbackApi, false);
             DependentLoader b1 = new DependentLoader(dependent, a1); DependentLoader b2 = new DependentLoader(dependent, a1Again);
             DependentLoader b3 = new DependentLoader(dependent, a2)) {
            assertNull(cache.transform(b1, "p/Cb", null, null, cb), "its dependency's Base is no callback");
            assertNull(cache.transform(b2, "p/Cb", null, null, cb.clone()));
            assertEquals(1, cache.hits(), "the same dependency content: a hit");
            byte[] woven = cache.transform(b3, "p/Cb", null, null, cb.clone());
            assertEquals(1, cache.hits(), "another dependency content: woven again");
            assertNotNull(woven, "the new dependency's Base is a ReleaseCallback: release() is guarded");
        }
    }

    @Test
    void theGuardScopeIsPartOfTheKey() throws Exception {
        Path jar = jar("scope", true);
        byte[] cb = classFile(jar, "p/Cb");
        WovenClassCache cache = new WovenClassCache(new GuardTransformer(null), 1 << 20);
        try (JarLoader entries = new JarLoader(jar, true); JarLoader paths = new JarLoader(jar, false)) {
            byte[] e = cache.transform(entries, "p/Cb", null, null, cb);
            byte[] r = cache.transform(paths, "p/Cb", null, null, cb);
            assertEquals(0, cache.hits());
            assertFalse(java.util.Arrays.equals(e, r), "ENTRIES guards work() too");
            assertArrayEquals(fresh(jar, false, "p/Cb", cb), r);
            assertArrayEquals(fresh(jar, true, "p/Cb", cb), e);
        }
    }

    @Test
    void theMemoryBoundHoldsLeastRecentlyUsedFirstAndZeroTurnsTheCacheOff() throws Exception {
        Path jar = jar("bound", false);
        byte[] plain = classFile(jar, "p/Plain");
        long one;
        WovenClassCache roomy = new WovenClassCache(new GuardTransformer(null), 1 << 20);
        try (JarLoader l = new JarLoader(jar, true)) {
            roomy.transform(l, "p/Plain", null, null, plain);
            one = roomy.size()[1];
        }
        // room for four variants of Plain (same size each): a fifth evicts the least recently used
        long bound = 4 * one + one / 2;
        WovenClassCache tight = new WovenClassCache(new GuardTransformer(null), bound);
        try (JarLoader l = new JarLoader(jar, true)) {
            for (String name : new String[] {"twicA", "twicB", "twicC", "twicD", "twicF"}) {
                tight.transform(l, "p/Plain", null, null, edit(plain, name));
                assertTrue(tight.size()[1] <= bound, () -> "held " + tight.size()[1] + " bytes, bound " + bound);
            }
            assertEquals(4, tight.size()[0]);
            tight.transform(l, "p/Plain", null, null, edit(plain, "twicB"));
            assertEquals(1, tight.hits(), "B is still there");
            tight.transform(l, "p/Plain", null, null, edit(plain, "twicA"));
            assertEquals(1, tight.hits(), "A, the least recently used, was evicted");
        }
        WovenClassCache off = new WovenClassCache(new GuardTransformer(null), 0);
        try (JarLoader l = new JarLoader(jar, true)) {
            assertArrayEquals(fresh(jar, true, "p/Plain", plain), off.transform(l, "p/Plain", null, null, plain));
            off.transform(l, "p/Plain", null, null, plain);
            assertEquals(0, off.hits());
            assertEquals(0, off.size()[0]);
        }
    }
    // ---- on disk ----------------------------------------------------------------------------

    /** A cache over {@code cacheDir} with the given agent identity, as a JVM start makes it. */
    private static WovenClassCache onDisk(Path cacheDir, String identity) {
        WovenClassDirectory d = WovenClassDirectory.open(cacheDir, 1L << 30);
        assertNotNull(d, "the test's directory is safe to use");
        return new WovenClassCache(new GuardTransformer(null), 1 << 20, d, () -> identity);
    }

    /** Classes whose weaving records nothing per loader (Base, an abstract callback, gets an added method in one scope). */
    private static final String[] CLASSES = {"p/Cb", "p/Plain"};

    /** Defines every class of {@code jar} through {@code cache}, by a fresh loader; returns the answers. */
    private static List<byte[]> defineAll(WovenClassCache cache, Path jar, boolean entries) throws IOException {
        List<byte[]> out = new ArrayList<>();
        try (JarLoader l = new JarLoader(jar, entries)) {
            for (String c : CLASSES) {
                out.add(cache.transform(l, c, null, null, classFile(jar, c)));
            }
        }
        return out;
    }

    private Path cacheDir() throws IOException {
        return dir.resolve("cache/woven");
    }

    /**
     * A restarted JVM (a fresh cache over the same directory) defines the stored bytes without
     * calling the weaver: the same bytes a fresh weave gives, in both scopes.
     */
    @Test
    void aFreshCacheOverTheSameDirectoryDefinesTheStoredBytesWithoutWeaving() throws Exception {
        Path jar = jar("disk", true);
        WovenClassCache first = onDisk(cacheDir(), "agent-1");
        List<byte[]> entries = defineAll(first, jar, true);
        List<byte[]> paths = defineAll(first, jar, false);
        assertEquals(4, first.woven());
        assertEquals(2, first.disk().flush(true), "one file per scope");
        assertEquals(3, first.size()[0], "Plain, with nothing to guard in release-paths scope, is not reusable");
        assertNull(paths.get(1), "release paths only: Plain is left unchanged");

        WovenClassCache restarted = onDisk(cacheDir(), "agent-1");
        Path copy = Files.copy(jar, dir.resolve("disk-copy.jar")); // the next start's private copy
        List<byte[]> again = defineAll(restarted, copy, true);
        assertEquals(0, restarted.woven(), "no class went to the weaver");
        assertEquals(2, restarted.diskHits());
        List<byte[]> againPaths = defineAll(restarted, copy, false);
        assertEquals(3, restarted.diskHits(), "release paths only: Cb from the file");
        assertEquals(1, restarted.woven(), "Plain again: the weaver's pass over its constant pool says 'nothing to guard' "
                + "without a reusable answer, so it is never stored");
        for (int i = 0; i < CLASSES.length; i++) {
            assertArrayEquals(entries.get(i), again.get(i), CLASSES[i]);
            assertArrayEquals(paths.get(i), againPaths.get(i), CLASSES[i]);
            assertArrayEquals(fresh(jar, true, CLASSES[i], classFile(jar, CLASSES[i])), again.get(i), CLASSES[i]);
        }
        assertEquals(0, restarted.disk().flush(true), "nothing new to write");
    }

    /**
     * No reuse when anything the weaving depends on changed: the class's bytes (as another
     * transformer before this one could change them, the jar being the same), the agent, or the
     * jar's other classes.
     */
    @Test
    void changedClassBytesAgentOrJarAreWovenAgain() throws Exception {
        Path jar = jar("changes", true);
        WovenClassCache first = onDisk(cacheDir(), "agent-1");
        defineAll(first, jar, true);
        first.disk().flush(true);

        byte[] plain = classFile(jar, "p/Plain");
        byte[] changed = edit(plain, "twicE");
        WovenClassCache sameAgent = onDisk(cacheDir(), "agent-1");
        try (JarLoader l = new JarLoader(jar, true)) {
            byte[] woven = sameAgent.transform(l, "p/Plain", null, null, changed);
            assertEquals(0, sameAgent.diskHits(), "other bytes under the same name in the same jar: not the stored class");
            assertEquals(1, sameAgent.woven());
            assertArrayEquals(fresh(jar, true, "p/Plain", changed), woven);
            assertTrue(new String(woven, StandardCharsets.ISO_8859_1).contains("twicE"));
        }

        WovenClassCache otherAgent = onDisk(cacheDir(), "agent-2");
        defineAll(otherAgent, jar, true);
        assertEquals(0, otherAgent.diskHits(), "another agent build never reuses the old woven bytes");
        assertEquals(2, otherAgent.woven());

        Path otherJar = jar("changes-other", false); // Plain and Cb the same bytes, Base no longer a callback
        assertArrayEquals(plain, classFile(otherJar, "p/Plain"));
        WovenClassCache otherContent = onDisk(cacheDir(), "agent-1");
        defineAll(otherContent, otherJar, true);
        assertEquals(0, otherContent.diskHits(), "another jar content: woven again");
        assertEquals(2, otherContent.woven());
    }

    /**
     * A warm start's class comes from the store alone: each answer is a copy of its own (the JVM
     * may write to it), nothing of it is kept in memory besides the store, and the store is looked
     * up by its key text once per loader and variant, not once per class.
     */
    @Test
    void aClassFromDiskIsAFreshCopyKeptNowhereElseAndItsStoreIsLookedUpOncePerLoaderAndVariant() throws Exception {
        Path jar = jar("warm", true);
        WovenClassCache first = onDisk(cacheDir(), "agent-1");
        List<byte[]> woven = defineAll(first, jar, true);
        first.disk().flush(true);
        assertEquals(1, first.storeLookups());

        WovenClassCache restarted = onDisk(cacheDir(), "agent-1");
        try (JarLoader l = new JarLoader(jar, true)) {
            byte[] input = classFile(jar, "p/Cb");
            byte[] one = restarted.transform(l, "p/Cb", null, null, input);
            byte[] two = restarted.transform(l, "p/Cb", null, null, input);
            assertArrayEquals(woven.get(0), one);
            assertNotSame(one, two, "each definition gets its own copy");
            Arrays.fill(one, (byte) 0);
            assertArrayEquals(woven.get(0), restarted.transform(l, "p/Cb", null, null, input), "a copy written to changes nothing stored");
            assertArrayEquals(woven.get(1), restarted.transform(l, "p/Plain", null, null, classFile(jar, "p/Plain")));
            assertEquals(4, restarted.diskHits());
            assertEquals(0, restarted.hits());
            assertEquals(0, restarted.size()[0], "nothing copied into the memory cache: the store holds it");
            assertEquals(1, restarted.storeLookups(), "one loader, one variant: one look-up by key text");
        }
        defineAll(restarted, jar, false); // another loader, another variant (release paths only)
        assertEquals(2, restarted.storeLookups());
    }

    /** A torn, truncated or garbled file is ignored (the classes woven again) and rewritten. */
    @Test
    void aCorruptFileIsIgnoredAndRewritten() throws Exception {
        Path jar = jar("corrupt", true);
        WovenClassCache first = onDisk(cacheDir(), "agent-1");
        List<byte[]> expected = defineAll(first, jar, true);
        first.disk().flush(true);
        Path file;
        try (Stream<Path> files = Files.list(cacheDir())) {
            file = files.filter(f -> f.toString().endsWith(WovenClassDirectory.SUFFIX)).findFirst().orElseThrow();
        }
        byte[] good = Files.readAllBytes(file);
        byte[] flipped = good.clone();
        flipped[good.length / 2] ^= 1;
        List<byte[]> damages = List.of(Arrays.copyOf(good, good.length - 7), flipped, new byte[0],
                "not a woven-class file at all, but long enough to have a trailer".getBytes(StandardCharsets.UTF_8));
        for (byte[] damaged : damages) {
            Files.write(file, damaged);
            WovenClassCache reading = onDisk(cacheDir(), "agent-1");
            List<byte[]> out = defineAll(reading, jar, true);
            assertEquals(0, reading.diskHits(), "a damaged file is not used");
            assertEquals(2, reading.woven(), "its classes are woven again");
            for (int i = 0; i < CLASSES.length; i++) {
                assertArrayEquals(expected.get(i), out.get(i));
            }
            assertEquals(1, reading.disk().flush(true), "and written again");
            WovenClassCache after = onDisk(cacheDir(), "agent-1");
            defineAll(after, jar, true);
            assertEquals(2, after.diskHits(), "the rewritten file is used");
        }
    }

    /**
     * A directory that cannot be created, or that another user could write, turns the disk cache
     * off (the classes are still woven); a directory that fails under a write only loses the write.
     */
    @Test
    void anUnusableDirectoryTurnsTheDiskCacheOffAndPluginsStillLoad() throws Exception {
        Path file = Files.writeString(dir.resolve("a-file"), "x");
        assertNull(WovenClassDirectory.open(file.resolve("woven"), 1 << 20), "cannot be created under a file");
        if (dir.getFileSystem().supportedFileAttributeViews().contains("posix")) {
            Path open = Files.createDirectories(dir.resolve("world-writable"));
            Files.setPosixFilePermissions(open, java.nio.file.attribute.PosixFilePermissions.fromString("rwxrwxrwx"));
            assertNull(WovenClassDirectory.open(open, 1 << 20), "writable by others: refused");
            Path inOpen = open.resolve("woven");
            assertNull(WovenClassDirectory.open(inOpen, 1 << 20), "an ancestor writable by others: refused");
            Path created = cacheDir();
            assertNotNull(WovenClassDirectory.open(created, 1 << 20));
            assertEquals("rwx------", java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(created)),
                    "created owner-only");
        }
        Path jar = jar("unusable", true);
        WovenClassCache off = new WovenClassCache(new GuardTransformer(null), 1 << 20, null, () -> "agent-1");
        List<byte[]> out = defineAll(off, jar, true);
        assertArrayEquals(fresh(jar, true, "p/Plain", classFile(jar, "p/Plain")), out.get(1), "woven as without a cache");

        WovenClassCache vanishing = onDisk(dir.resolve("vanishing"), "agent-1");
        Files.delete(dir.resolve("vanishing"));
        defineAll(vanishing, jar, true);
        assertEquals(2, vanishing.woven());
        assertEquals(0, vanishing.disk().flush(true), "the write failed, quietly");
    }

    /** A directory another user owns is refused (needs root to make one). */
    @Test
    void aDirectoryOwnedByAnotherUserIsRefused() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue("root".equals(System.getProperty("user.name"))
                && dir.getFileSystem().supportedFileAttributeViews().contains("posix"), "only root can give a directory away");
        Path theirs = Files.createDirectories(dir.resolve("theirs"));
        Files.setPosixFilePermissions(theirs, java.nio.file.attribute.PosixFilePermissions.fromString("rwx------"));
        Files.setOwner(theirs, theirs.getFileSystem().getUserPrincipalLookupService().lookupPrincipalByName("nobody"));
        assertNull(WovenClassDirectory.open(theirs, 1 << 20));
    }

    /**
     * Two JVMs (two directory instances) writing the same file at once: a reader never sees a
     * torn file, and once they stop, the last write holds every class both wrote.
     */
    @Test
    void concurrentWritersNeverLeaveATornFile() throws Exception {
        WovenClassDirectory a = WovenClassDirectory.open(cacheDir(), 1L << 30);
        WovenClassDirectory b = WovenClassDirectory.open(cacheDir(), 1L << 30);
        String key = "unloadguard woven classes\ntest=concurrent\n";
        Path file = a.store(key).file;
        java.util.concurrent.atomic.AtomicBoolean done = new java.util.concurrent.atomic.AtomicBoolean();
        java.util.concurrent.atomic.AtomicInteger parsed = new java.util.concurrent.atomic.AtomicInteger();
        java.util.concurrent.atomic.AtomicReference<Throwable> failure = new java.util.concurrent.atomic.AtomicReference<>();
        Thread reader = new Thread(() -> {
            while (!done.get()) {
                try {
                    byte[] bytes = Files.readAllBytes(file);
                    WovenClassDirectory.parse(bytes, key);
                    parsed.incrementAndGet();
                } catch (java.nio.file.NoSuchFileException notYet) {
                    Thread.onSpinWait();
                } catch (Throwable t) {
                    failure.compareAndSet(null, t);
                }
            }
        });
        reader.start();
        List<Thread> writers = new ArrayList<>();
        for (WovenClassDirectory d : List.of(a, b)) {
            String prefix = d == a ? "a/C" : "b/C";
            writers.add(new Thread(() -> {
                for (int i = 0; i < 40; i++) {
                    byte[] out = new byte[1000 + i];
                    Arrays.fill(out, (byte) i);
                    d.store(key).add(prefix + i, new WovenClassDirectory.Stored(new byte[40], i, out));
                    d.flush(true);
                }
            }));
        }
        writers.forEach(Thread::start);
        for (Thread w : writers) {
            w.join();
        }
        org.awaitility.Awaitility.await().until(() -> parsed.get() > 0);
        done.set(true);
        reader.join();
        assertNull(failure.get(), () -> "a reader saw a torn file: " + failure.get());
        // one more class from each, written one after the other: the last write is the union
        a.store(key).add("a/last", new WovenClassDirectory.Stored(new byte[40], 0, null));
        a.flush(true);
        b.store(key).add("b/last", new WovenClassDirectory.Stored(new byte[40], 0, null));
        b.flush(true);
        Map<String, WovenClassDirectory.Stored> all = WovenClassDirectory.parse(Files.readAllBytes(file), key);
        assertEquals(82, all.size(), () -> "every class of both writers: " + new TreeMap<>(all).keySet());
        try (Stream<Path> files = Files.list(cacheDir())) {
            assertEquals(List.of(file.getFileName().toString()), files.map(f -> f.getFileName().toString()).collect(java.util.stream.Collectors.toList()),
                    "no temporary file left behind");
        }
    }

    /** The directory stays within its bound: the least recently written files go first. */
    @Test
    void theDirectoryStaysWithinItsBound() throws Exception {
        WovenClassDirectory d = WovenClassDirectory.open(cacheDir(), 10_000);
        for (int i = 0; i < 6; i++) {
            d.store("key " + i + "\n").add("C", new WovenClassDirectory.Stored(new byte[40], 0, new byte[3000]));
            d.flush(true);
            assertTrue(Files.exists(d.store("key " + i + "\n").file), "the file just written is kept");
            long total;
            try (Stream<Path> files = Files.list(cacheDir())) {
                total = files.mapToLong(f -> f.toFile().length()).sum();
            }
            assertTrue(total <= 10_000, "held " + total + " bytes");
        }
        assertFalse(Files.exists(d.store("key 0\n").file), "the oldest went first");
    }

    /** Jar digests of unloadguard's loaders are remembered by file identity; a changed file is read again. */
    @Test
    void aJarDigestIsReadOnceWhileTheFileIsUnchanged() throws Exception {
        Path jar = jar("digest", false);
        WovenClassCache cache = new WovenClassCache(new GuardTransformer(null), 1 << 20);
        java.nio.file.attribute.BasicFileAttributes a = Files.readAttributes(jar, java.nio.file.attribute.BasicFileAttributes.class);
        org.junit.jupiter.api.Assumptions.assumeTrue(a.fileKey() != null, "the file system has file keys");
        byte[] first = cache.digest(jar, a, true);
        assertArrayEquals(first, cache.digest(jar, a, true));
        assertEquals(1, cache.jarsRead(), "read once");
        cache.digest(jar, a, false);
        assertEquals(2, cache.jarsRead(), "a foreign loader's jar is read every time");
        rewrite(jar, "p/Extra.class", new byte[] {1, 2, 3});
        java.nio.file.attribute.BasicFileAttributes changed = Files.readAttributes(jar, java.nio.file.attribute.BasicFileAttributes.class);
        assertFalse(Arrays.equals(first, cache.digest(jar, changed, true)), "a changed file is read again");
        assertEquals(3, cache.jarsRead());
    }

    /**
     * The host leaves the digest of each private copy it writes in the runtime's JarDigests: the
     * agent keys the copy's loader by it without reading the jar (a copy is read once per load).
     */
    @Test
    void aDigestTheHostRecordedIsNotReadAgain() throws Exception {
        Path jar = jar("recorded", false);
        byte[] sum = new dev.unloadguard.epoch.internal.JarDigests.Checksum().update(Files.readAllBytes(jar)).digest();
        dev.unloadguard.epoch.internal.JarDigests.record(jar, sum);
        WovenClassCache cache = new WovenClassCache(new GuardTransformer(null), 1 << 20);
        java.nio.file.attribute.BasicFileAttributes a = Files.readAttributes(jar, java.nio.file.attribute.BasicFileAttributes.class);
        org.junit.jupiter.api.Assumptions.assumeTrue(a.fileKey() != null, "the file system has file keys");
        assertArrayEquals(sum, cache.digest(jar, a, true));
        assertEquals(0, cache.jarsRead(), "the recorded digest, not a read of the jar");
        cache.digest(jar, a, false);
        assertEquals(1, cache.jarsRead(), "a foreign loader's jar is read: nothing recorded is trusted for it");
    }

    /**
     * Generations of one private copy (the host hands each the copy's one URL) share one identity:
     * the disk key text is built and the store looked up once for all of them, and their classes
     * hit. The same URL over a jar rewritten in place is another identity: woven again, another
     * store.
     */
    @Test
    void loadersOfTheSameCopyShareOneIdentityAndAChangedJarAtTheSameUrlMisses() throws Exception {
        Path jar = jar("shared", true);
        URL url = jar.toUri().toURL();
        WovenClassCache cache = onDisk(cacheDir(), "agent-1");
        byte[] input = classFile(jar, "p/Plain");
        for (int generation = 0; generation < 3; generation++) {
            try (UrlLoader l = new UrlLoader(url)) {
                assertNotNull(cache.transform(l, "p/Plain", null, null, input.clone()));
            }
        }
        assertEquals(1, cache.woven(), "woven once");
        assertEquals(2, cache.diskHits() + cache.hits(), "the other generations' class came from the cache");
        assertEquals(1, cache.storeLookups(), "one identity: its store looked up once for the three loaders");

        byte[] changed = edit(input, "twicE");
        rewrite(jar, "p/Plain.class", changed);
        try (UrlLoader l = new UrlLoader(url)) {
            assertArrayEquals(fresh(jar, true, "p/Plain", changed), cache.transform(l, "p/Plain", null, null, changed));
        }
        assertEquals(2, cache.woven(), "the rewritten jar is another identity: woven again");
        assertEquals(2, cache.storeLookups(), "and another store");
        try (UrlLoader l = new UrlLoader(url)) {
            byte[] supertype = classFile(jar, "p/Cb");
            cache.transform(l, "p/Cb", null, null, supertype);
        }
        assertEquals(2, cache.storeLookups(), "the rewritten jar's next generation shares its identity");
    }

    /** A plugin loader over one given URL instance, as the host makes them for a private copy. */
    static final class UrlLoader extends URLClassLoader implements EpochHolder {
        private final ReleaseEpoch epoch = new ReleaseEpoch("test", true);

        UrlLoader(URL url) {
            super("plugin:test", new URL[] {url}, WovenClassCacheTest.class.getClassLoader());
        }

        @Override
        public ReleaseEpoch releaseEpoch() {
            return epoch;
        }
    }
}
