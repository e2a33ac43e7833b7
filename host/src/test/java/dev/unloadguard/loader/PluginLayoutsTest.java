package dev.unloadguard.loader;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.jar.Attributes;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import javax.tools.DiagnosticCollector;
import javax.tools.JavaCompiler;
import javax.tools.JavaFileObject;
import javax.tools.SimpleJavaFileObject;
import javax.tools.StandardJavaFileManager;
import javax.tools.StandardLocation;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Plugin layouts and the isolation policy without the agent (unguarded unloads allowed): what the
 * generation loader reads, from where, and what is refused; the agent-level checks (guarding, the
 * close audit, collection, nothing left behind) are in the integration tests' LayoutsIT.
 */
class PluginLayoutsTest {

    @TempDir
    static Path shared;

    @TempDir
    Path dir;

    /** A library whose {@code dev.unloadguard.layouts.Greeting} says "plugin" (the host's says "host"), and a class of its own. */
    private static Path lib;
    /** A driver that records {@code Greeting.who()} and {@code Util.name()} in the config-named system property. */
    private static Map<String, byte[]> driverClasses;

    @BeforeAll
    static void build() throws IOException {
        Map<String, byte[]> libClasses = compile(Map.of(
                "dev.unloadguard.layouts.Greeting", """
                        package dev.unloadguard.layouts;
                        public final class Greeting { public static String who() { return "plugin"; } }
                        """,
                "layouts.lib.Util", """
                        package layouts.lib;
                        public final class Util { public static String name() { return "util"; } }
                        """), List.of());
        lib = jar(shared.resolve("lib.jar"), libClasses, null);
        driverClasses = compile(Map.of("layouts.LayoutDriver", """
                package layouts;
                import dev.unloadguard.driver.*;
                public final class LayoutDriver implements Driver {
                    public String id() { return "layout"; }
                    public void init(DriverContext ctx) {
                        System.setProperty(ctx.config("property").orElseThrow(),
                                dev.unloadguard.layouts.Greeting.who() + "+" + layouts.lib.Util.name());
                    }
                    public void exit() { }
                }
                """), List.of(lib));
        driverClasses.put(PluginJars.SERVICES, "layouts.LayoutDriver\n".getBytes(StandardCharsets.UTF_8));
    }

    private PluginLoader.Builder builder(String property) {
        return PluginLoader.builder().copyDirectory(dir.resolve("copies")).allowUnguardedUnload(true)
                .collectionTimeout(Duration.ZERO).config("property", property);
    }

    /** Loads, checks what the driver saw, unloads; the copy directory is empty after. */
    private String loadAndUnload(Path plugin, PluginLoader.Builder b, String property, LoadOption... options) throws Exception {
        System.clearProperty(property);
        try (PluginLoader loader = b.build()) {
            Plugin p = loader.load(plugin, options);
            String seen = System.getProperty(property);
            loader.unload(p, Duration.ofSeconds(10));
            assertKeptCopyOnly(loader, Files.isDirectory(plugin) ? 0 : 1);
            return seen;
        }
    }

    /**
     * After an unload, what is left in the copy directory is the jar's shared copy, kept for the
     * next load of the same content (one file, none for a plugin directory; a generation's
     * directory is gone); none after close.
     */
    static void assertKeptCopyOnly(PluginLoader loader, int kept) throws Exception {
        List<Path> left = list(loader.copyDirectory());
        assertEquals(loader.keptCopies(), left, "only the kept copy of the jar's content is left after the unload");
        assertEquals(kept, left.size(), () -> kept + " kept copy: " + left);
        for (Path p : left) {
            assertTrue(Files.isRegularFile(p), () -> "a file, no generation's directory: " + left);
        }
        loader.close();
        assertEquals(List.of(), list(loader.copyDirectory()), "close() deletes the kept copy");
    }

    @Test
    void aPlainJarIsStillOneCopiedFileReadAsOneJar() throws Exception {
        Path plugin = jar(dir.resolve("plain.jar"), withLib(driverClasses), null);
        try (PluginLoader loader = builder("plain").build()) {
            Plugin p = loader.load(plugin);
            List<Path> copies = list(loader.copyDirectory());
            assertEquals(1, copies.size(), () -> "one copy: " + copies);
            assertTrue(Files.isRegularFile(copies.get(0)), "a file, no directory: " + copies);
            assertEquals(List.of(copies.get(0).toUri().toURL()), List.of(p.classLoader().getURLs()), "the copy, as before");
            loader.unload(p, Duration.ofSeconds(10));
            assertEquals(copies, loader.keptCopies(), "kept for the next load of the same content");
            Plugin again = loader.load(plugin);
            assertEquals(copies, list(loader.copyDirectory()), "the same copy, not a new one");
            assertEquals(List.of(copies.get(0).toUri().toURL()), List.of(again.classLoader().getURLs()));
            loader.unload(again, Duration.ofSeconds(10));
            assertKeptCopyOnly(loader, 1);
        }
    }

    /** The driver's classes with the library's classes next to them (no library jar). */
    private static Map<String, byte[]> withLib(Map<String, byte[]> classes) throws IOException {
        Map<String, byte[]> all = new LinkedHashMap<>(classes);
        try (java.util.jar.JarFile j = new java.util.jar.JarFile(lib.toFile())) {
            for (java.util.Enumeration<JarEntry> e = j.entries(); e.hasMoreElements(); ) {
                JarEntry entry = e.nextElement();
                if (!entry.isDirectory() && !entry.getName().startsWith("META-INF/")) {
                    try (java.io.InputStream in = j.getInputStream(entry)) {
                        all.put(entry.getName(), in.readAllBytes());
                    }
                }
            }
        }
        return all;
    }

    @Test
    void aJarWithNestedLibs() throws Exception {
        Map<String, byte[]> entries = new LinkedHashMap<>(driverClasses);
        entries.put("lib/lib.jar", Files.readAllBytes(lib));
        Path plugin = jar(dir.resolve("nested.jar"), entries, null);
        assertEquals("host+util", loadAndUnload(plugin, builder("nested"), "nested"), "parent-first: the host's Greeting");
        assertEquals("plugin+util", loadAndUnload(plugin, builder("nested"), "nested", LoadOption.PLUGIN_FIRST));
        assertEquals("plugin+util", loadAndUnload(plugin, builder("nested").isolation(IsolationPolicy.PLUGIN_FIRST), "nested"));
        assertEquals("host+util", loadAndUnload(plugin, builder("nested").isolation(IsolationPolicy.PLUGIN_FIRST)
                .sharedPackage("dev.unloadguard.layouts"), "nested"), "a shared package comes from the host");
        assertEquals("host+util", loadAndUnload(plugin, builder("nested").isolation(IsolationPolicy.PLUGIN_FIRST), "nested",
                LoadOption.PARENT_FIRST), "the per-plugin option wins over the loader's");
    }

    @Test
    void aJarWithAClassPathBesideIt() throws Exception {
        Path folder = Files.createDirectories(dir.resolve("plugins"));
        Files.createDirectories(folder.resolve("lib"));
        Files.copy(lib, folder.resolve("lib/lib.jar"));
        Path plugin = jar(folder.resolve("cp.jar"), driverClasses, "lib/lib.jar");
        assertEquals("plugin+util", loadAndUnload(plugin, builder("cp"), "cp", LoadOption.PLUGIN_FIRST));
    }

    @Test
    void aPf4jDirectoryAndZip() throws Exception {
        Path plugin = Files.createDirectories(dir.resolve("pf4j-dir"));
        for (Map.Entry<String, byte[]> e : driverClasses.entrySet()) {
            Path f = plugin.resolve("classes").resolve(e.getKey());
            Files.createDirectories(f.getParent());
            Files.write(f, e.getValue());
        }
        Files.createDirectories(plugin.resolve("lib"));
        Files.copy(lib, plugin.resolve("lib/lib.jar"));
        assertEquals("plugin+util", loadAndUnload(plugin, builder("dir"), "dir", LoadOption.PLUGIN_FIRST));

        Map<String, byte[]> entries = new LinkedHashMap<>();
        driverClasses.forEach((k, v) -> entries.put("classes/" + k, v));
        entries.put("lib/lib.jar", Files.readAllBytes(lib));
        Path zip = jar(dir.resolve("pf4j.zip"), entries, null);
        assertEquals("host+util", loadAndUnload(zip, builder("zip"), "zip"));
    }

    @Test
    void aMissingLibraryIsNamedNotBlamedOnInit() throws Exception {
        Path folder = Files.createDirectories(dir.resolve("missing"));
        Path plugin = jar(folder.resolve("cp.jar"), driverClasses, "lib/lib.jar");
        try (PluginLoader loader = builder("missing").build()) {
            PluginLoadException e = assertThrows(PluginLoadException.class, () -> loader.load(plugin));
            String m = e.getMessage();
            assertTrue(m.contains("class layouts.lib.Util is not found in the plugin") && m.contains("Class-Path names lib/lib.jar")
                    && m.contains("not beside the plugin") && m.contains(folder.resolve("lib/lib.jar").toString()), m);
            assertFalse(m.contains("failed in init") || m.contains("fix the driver's init"), m);
            assertEquals(List.of(), list(loader.copyDirectory()));
        }
    }

    @Test
    void classPathEntriesOutsideThePluginAreRefused() throws Exception {
        Path folder = Files.createDirectories(dir.resolve("escape"));
        for (String entry : List.of("../lib.jar", "lib/../../lib.jar", shared.resolve("lib.jar").toString(),
                shared.resolve("lib.jar").toUri().toString(), "http://example.com/lib.jar")) {
            Path plugin = jar(folder.resolve("escape.jar"), driverClasses, entry);
            try (PluginLoader loader = builder("escape").build()) {
                PluginLoadException e = assertThrows(PluginLoadException.class, () -> loader.load(plugin));
                String m = e.getMessage();
                assertTrue(m.contains("'" + entry + "'") && m.contains("manifest Class-Path") && m.contains("lib/lib.jar")
                        && (m.contains("outside the plugin's folder") || m.contains("absolute path or URL")), m);
                assertEquals(List.of(), list(loader.copyDirectory()), "nothing left of the refused load");
                assertEquals(0, loader.plugins().size());
            }
        }
    }

    @Test
    void aLibrarysOwnClassPathIsFollowedAndConfinedToo() throws Exception {
        // lib/outer.jar names util/lib.jar (relative to itself: lib/util/lib.jar), which holds the classes
        Path folder = Files.createDirectories(dir.resolve("transitive"));
        Files.createDirectories(folder.resolve("lib/util"));
        Files.copy(lib, folder.resolve("lib/util/lib.jar"));
        jar(folder.resolve("lib/outer.jar"), Map.of(), "util/lib.jar");
        Path plugin = jar(folder.resolve("t.jar"), driverClasses, "lib/outer.jar");
        assertEquals("plugin+util", loadAndUnload(plugin, builder("transitive"), "transitive", LoadOption.PLUGIN_FIRST));

        jar(folder.resolve("lib/outer.jar"), Map.of(), "../../../lib.jar"); // escapes the plugin's folder
        try (PluginLoader loader = builder("transitive").build()) {
            String m = assertThrows(PluginLoadException.class, () -> loader.load(plugin)).getMessage();
            assertTrue(m.contains("library lib/outer.jar (Class-Path, beside the plugin)") && m.contains("'../../../lib.jar'")
                    && m.contains("outside the plugin's folder"), m);
            assertEquals(List.of(), list(loader.copyDirectory()));
        }
        Files.writeString(folder.resolve("lib/outer.jar"), "not a zip");
        try (PluginLoader loader = builder("transitive").build()) {
            String m = assertThrows(PluginLoadException.class, () -> loader.load(plugin)).getMessage();
            assertTrue(m.contains("library lib/outer.jar (Class-Path, beside the plugin)") && m.contains("corrupt"), m);
            assertEquals(List.of(), list(loader.copyDirectory()));
        }
    }

    @Test
    void aCorruptNestedJarIsRefusedNamingIt() throws Exception {
        Map<String, byte[]> entries = new LinkedHashMap<>(driverClasses);
        entries.put("lib/broken.jar", "not a zip".getBytes(StandardCharsets.UTF_8));
        Path plugin = jar(dir.resolve("corrupt.jar"), entries, null);
        try (PluginLoader loader = builder("corrupt").build()) {
            String m = assertThrows(PluginLoadException.class, () -> loader.load(plugin)).getMessage();
            assertTrue(m.contains("lib/broken.jar (inside the plugin jar)") && m.contains("corrupt") && m.contains("valid jar"), m);
            assertEquals(List.of(), list(loader.copyDirectory()));
        }
    }

    @Test
    void aDirectoryThatIsNoPluginIsRefused() throws Exception {
        Path empty = Files.createDirectories(dir.resolve("empty"));
        try (PluginLoader loader = builder("empty").build()) {
            String m = assertThrows(PluginLoadException.class, () -> loader.load(empty)).getMessage();
            assertTrue(m.contains("without classes/ or lib/") && m.contains("PF4J layout"), m);
        }
    }

    @Test
    void bothPoliciesAtOnceIsAProgrammingError() throws Exception {
        try (PluginLoader loader = builder("both").build()) {
            assertThrows(IllegalArgumentException.class, () -> loader.load(lib, LoadOption.PLUGIN_FIRST, LoadOption.PARENT_FIRST));
        }
        assertThrows(IllegalArgumentException.class, () -> PluginLoader.builder().sharedPackage("com.example."));
    }

    // ---- building jars ---------------------------------------------------------------------

    static List<Path> list(Path directory) throws IOException {
        try (Stream<Path> s = Files.list(directory)) {
            return s.collect(Collectors.toList());
        }
    }

    static Map<String, byte[]> compile(Map<String, String> sources, List<Path> classPath) throws IOException {
        return compile(shared, sources, classPath);
    }

    static Map<String, byte[]> compile(Path work, Map<String, String> sources, List<Path> classPath) throws IOException {
        Path classes = Files.createTempDirectory(work, "classes");
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        DiagnosticCollector<JavaFileObject> diagnostics = new DiagnosticCollector<>();
        try (StandardJavaFileManager files = javac.getStandardFileManager(diagnostics, null, StandardCharsets.UTF_8)) {
            files.setLocation(StandardLocation.CLASS_OUTPUT, List.of(classes.toFile()));
            List<JavaFileObject> units = new ArrayList<>();
            sources.forEach((name, src) -> units.add(new SimpleJavaFileObject(
                    URI.create("string:///" + name.replace('.', '/') + ".java"), JavaFileObject.Kind.SOURCE) {
                @Override
                public CharSequence getCharContent(boolean ignoreEncodingErrors) {
                    return src;
                }
            }));
            String cp = Stream.concat(classPath.stream().map(Path::toString), Stream.of(System.getProperty("java.class.path")))
                    .collect(Collectors.joining(java.io.File.pathSeparator));
            boolean ok = javac.getTask(null, files, diagnostics, List.of("--release", "17", "-proc:none", "-cp", cp), null, units).call();
            assertTrue(ok, () -> "does not compile: " + diagnostics.getDiagnostics());
        }
        Map<String, byte[]> out = new LinkedHashMap<>();
        try (Stream<Path> walk = Files.walk(classes)) {
            for (Path f : (Iterable<Path>) walk.filter(Files::isRegularFile).sorted()::iterator) {
                out.put(classes.relativize(f).toString().replace('\\', '/'), Files.readAllBytes(f));
            }
        }
        return out;
    }

    static Path jar(Path jar, Map<String, byte[]> entries, String classPath) throws IOException {
        Manifest mf = new Manifest();
        mf.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
        if (classPath != null) {
            mf.getMainAttributes().put(Attributes.Name.CLASS_PATH, classPath);
        }
        try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(jar), mf)) {
            for (Map.Entry<String, byte[]> e : entries.entrySet()) {
                out.putNextEntry(new JarEntry(e.getKey()));
                out.write(e.getValue());
                out.closeEntry();
            }
        }
        return jar;
    }
}
