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
}
