package dev.unloadguard.it;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.driver.PluginUnloadedError;
import dev.unloadguard.driver.ReleaseCallback;
import dev.unloadguard.it.support.HostProbe;
import dev.unloadguard.it.support.JarManifests;
import dev.unloadguard.it.support.Leftovers;
import dev.unloadguard.it.support.RawJars;
import dev.unloadguard.it.support.TestPlugins;
import dev.unloadguard.loader.IsolationPolicy;
import dev.unloadguard.loader.LoadOption;
import dev.unloadguard.loader.Plugin;
import dev.unloadguard.loader.PluginDirectory;
import dev.unloadguard.loader.PluginLoadException;
import dev.unloadguard.loader.PluginLoader;
import dev.unloadguard.loader.PluginState;
import dev.unloadguard.loader.UnloadTimeoutException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Enumeration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.function.Supplier;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Plugin layouts (issue 12, point 1) and the isolation policy (point 2), loaded through the real
 * agent: a jar with nested {@code lib/*.jar}, a jar whose manifest {@code Class-Path} names a
 * library beside it, a directory and a zip in the PF4J layout. In each, the library's classes are
 * defined by the generation's one class loader (the name the close audit matches frames by) and
 * woven (a call from the host into a library method runs inside the plugin's release epoch); the
 * plugin unloads and is collected. Bad input (a corrupt nested jar, a {@code Class-Path} entry
 * escaping the plugin's folder, a missing library) is refused with an error naming it. After
 * every test nothing is left behind: every class loader collected, no private copy, no plugin
 * thread.
 */
class LayoutsIT {

    private static final Duration LONG = Duration.ofSeconds(30);

    private static Path libV1;
    private static Path libV2;
    /** The driver's classes alone: a plain jar that needs the library beside it or inside it. */
    private static Path driverJar;
    /** One plain jar bringing its own {@code dev.unloadguard.it.layouts.Base}, a release callback (the host's is not). */
    private static Path shadow;

    @TempDir
    Path dir;

    private HostProbe probe;
    private PluginLoader loader;
    private Set<Thread> threadsBefore;

    @BeforeAll
    static void buildPlugins() throws Exception {
        libV1 = library("v1");
        libV2 = library("v2");
        driverJar = TestPlugins.plugin().classPath(libV1).driver("it.layouts.LayoutDriver")
                .source("it.layouts.LayoutDriver", """
                        package it.layouts;
                        import dev.unloadguard.driver.*;
                        import dev.unloadguard.it.support.HostProbe;
                        import it.layouts.lib.*;
                        public final class LayoutDriver implements Driver {
                            public String id() { return "layouts"; }
                            public void init(DriverContext ctx) {
                                HostProbe probe = ctx.service(HostProbe.class).orElseThrow();
                                probe.record("greeting " + dev.unloadguard.it.layouts.Greeting.who());
                                probe.record("util " + Util.name());
                                probe.record("util loader " + Util.class.getClassLoader().getName());
                                probe.keep(new Depth()); // a library object the host calls
                                probe.keep((Runnable) () -> probe.record("later " + new Later().version()));
                                probe.keep((java.util.concurrent.Callable<String>) () -> new Latest().version());
                                probe.keep((ReleaseCallback) () -> probe.record("tail " + new Tail().version()));
                            }
                            public void exit() { }
                        }
                        """)
                .build("layouts-driver");
        shadow = TestPlugins.plugin().driver("it.shadow.ShadowDriver")
                .source("dev.unloadguard.it.layouts.Base", """
                        package dev.unloadguard.it.layouts;
                        public abstract class Base implements dev.unloadguard.driver.ReleaseCallback { }
                        """)
                .source("it.shadow.Sub", """
                        package it.shadow;
                        import dev.unloadguard.it.support.HostProbe;
                        public final class Sub extends dev.unloadguard.it.layouts.Base implements Runnable {
                            private final HostProbe probe;
                            public Sub(HostProbe probe) { this.probe = probe; }
                            public void release() { probe.record("release ran"); }
                            public void run() { probe.record("run ran"); }
                        }
                        """)
                .source("it.shadow.ShadowDriver", """
                        package it.shadow;
                        import dev.unloadguard.device.Device;
                        import dev.unloadguard.driver.*;
                        import dev.unloadguard.it.support.HostProbe;
                        public final class ShadowDriver implements Driver {
                            private Device card;
                            public String id() { return "shadow"; }
                            public void init(DriverContext ctx) {
                                HostProbe probe = ctx.service(HostProbe.class).orElseThrow();
                                card = ctx.createDevice("card0");
                                probe.keep(card.acquire()); // the host holds one: the unload waits, GOING
                                probe.keep(new Sub(probe));
                            }
                            public void exit() { card.release(); card = null; }
                        }
                        """)
                .build("layouts-shadow");
    }

    /** The library: its own classes, and its own version of a class the host also has. */
    private static Path library(String version) throws IOException {
        return TestPlugins.plugin()
                .source("it.layouts.lib.Util", """
                        package it.layouts.lib;
                        public final class Util { public static String name() { return "util %s"; } }
                        """.formatted(version))
                .source("it.layouts.lib.Depth", """
                        package it.layouts.lib;
                        public final class Depth implements java.util.function.Supplier<String> {
                            public String get() { return "depth " + dev.unloadguard.epoch.ReleaseGuard.depth(); }
                        }
                        """)
                .source("it.layouts.lib.Later", """
                        package it.layouts.lib;
                        public final class Later { public String version() { return "%s"; } }
                        """.formatted(version))
                .source("it.layouts.lib.Latest", """
                        package it.layouts.lib;
                        public final class Latest { public String version() { return "%s"; } }
                        """.formatted(version))
                .source("it.layouts.lib.Tail", """
                        package it.layouts.lib;
                        public final class Tail { public String version() { return "%s"; } }
                        """.formatted(version))
                .source("dev.unloadguard.it.layouts.Greeting", """
                        package dev.unloadguard.it.layouts;
                        public final class Greeting { public static String who() { return "plugin"; } }
                        """)
                .build("layouts-lib-" + version);
    }

    @BeforeEach
    void newLoader() {
        threadsBefore = Leftovers.threads();
        probe = new HostProbe();
        loader = PluginLoader.builder().service(HostProbe.class, probe).copyDirectory(dir.resolve("copies"))
                .awaitCollection(true).build();
    }

    @AfterEach
    void nothingLeftBehind() throws Exception {
        probe.forget();
        for (Plugin p : loader.plugins()) { // a failed test may leave one loaded
            try {
                loader.unload(p, Duration.ofSeconds(1));
            } catch (UnloadTimeoutException e) {
                // reported by the assertion below
            }
        }
        assertEquals(0, loader.plugins().size(), () -> "plugins still loaded: " + loader.plugins());
        Leftovers.assertNothingLeftBehind(loader, threadsBefore);
    }

    // ---- building the layouts -----------------------------------------------------------------

    /** A jar with the driver's classes and, nested, {@code lib/util.jar}. */
    private Path nestedJar(byte[] nestedLib) throws IOException {
        Map<String, byte[]> entries = entries(driverJar, "");
        entries.put("lib/util.jar", nestedLib);
        return write(dir.resolve("nested.jar"), entries);
    }

    /** {@code folder/plugin.jar} whose manifest says {@code Class-Path: lib/util.jar}, with the library there if {@code lib}. */
    private Path classPathJar(Path folder, String classPath, Path lib) throws IOException {
        Files.createDirectories(folder.resolve("lib"));
        if (lib != null) {
            Files.copy(lib, folder.resolve("lib/util.jar"));
        }
        Path jar = folder.resolve("plugin.jar");
        Files.move(JarManifests.withEntries(driverJar, Map.of("Class-Path", classPath)), jar);
        return jar;
    }

    /** A directory in the PF4J layout: {@code classes/} and {@code lib/util.jar}. */
    private Path pf4jDirectory() throws IOException {
        return pf4jDirectory(dir.resolve("pf4j-plugin"));
    }

    private Path pf4jDirectory(Path plugin) throws IOException {
        for (Map.Entry<String, byte[]> e : entries(driverJar, "").entrySet()) {
            Path f = plugin.resolve("classes").resolve(e.getKey());
            Files.createDirectories(f.getParent());
            Files.write(f, e.getValue());
        }
        Files.createDirectories(plugin.resolve("lib"));
        Files.copy(libV1, plugin.resolve("lib/util.jar"));
        return plugin;
    }

    /** A zip in the PF4J layout. */
    private Path pf4jZip() throws IOException {
        return pf4jZip(dir.resolve("pf4j-plugin.zip"), libV1);
    }

    private Path pf4jZip(Path zip, Path lib) throws IOException {
        Map<String, byte[]> entries = entries(driverJar, "classes/");
        entries.put("lib/util.jar", Files.readAllBytes(lib));
        return write(zip, entries);
    }

    private static Map<String, byte[]> entries(Path jar, String prefix) throws IOException {
        Map<String, byte[]> entries = new LinkedHashMap<>();
        try (JarFile in = new JarFile(jar.toFile())) {
            for (Enumeration<JarEntry> e = in.entries(); e.hasMoreElements(); ) {
                JarEntry entry = e.nextElement();
                if (!entry.isDirectory() && !entry.getName().equals(JarFile.MANIFEST_NAME)) {
                    try (InputStream data = in.getInputStream(entry)) {
                        entries.put(prefix + entry.getName(), data.readAllBytes());
                    }
                }
            }
        }
        return entries;
    }

    private static Path write(Path jar, Map<String, byte[]> entries) throws IOException {
        return RawJars.write(jar, entries);
    }

    // ---- each layout: one generation loader, guarded, collected --------------------------------

    /** Loads, checks the library runs in the plugin's loader and epoch, unloads; returns the greeting seen. */
    private String loadRunUnload(Path plugin, LoadOption... options) throws Exception {
        Plugin p = loader.load(plugin, options);
        assertTrue(probe.saw("util util v1"), () -> "the library's classes load: " + probe.events());
        assertTrue(probe.saw("util loader " + p.classLoaderName()),
                () -> "the library's classes are defined by the generation loader (the close audit's name): " + probe.events());
        assertWoven();
        String greeting = probe.events().stream().filter(e -> e.startsWith("greeting ")).reduce((a, b) -> b).orElseThrow(); // this load's
        probe.forget();
        assertEquals(PluginState.COLLECTED, loader.unload(p, LONG).outcome());
        assertEquals(0, p.lateAccesses());
        return greeting;
    }

    /** A library method called from the host runs inside the plugin's release epoch: the agent wove it. */
    private void assertWoven() {
        String depth = String.valueOf(probe.kept(Supplier.class).get()); // not kept in a local: the unload must collect it
        assertTrue(depth.startsWith("depth ") && Integer.parseInt(depth.substring(6)) > 0,
                "a library method called from the host runs inside the plugin's epoch (woven): " + depth);
    }

    /** Runs the plugin's callable (its first use of a library class); keeps nothing of it. */
    private String callLatest() throws Exception {
        return String.valueOf(probe.kept(Callable.class).call());
    }

    @Test
    void aJarWithNestedLibs() throws Exception {
        assertEquals("greeting host", loadRunUnload(nestedJar(Files.readAllBytes(libV1))));
    }

    @Test
    void aJarWithAClassPathBesideIt() throws Exception {
        assertEquals("greeting host", loadRunUnload(classPathJar(dir.resolve("plugins"), "lib/util.jar", libV1)));
    }

    @Test
    void aPf4jDirectory() throws Exception {
        assertEquals("greeting host", loadRunUnload(pf4jDirectory()));
    }

    @Test
    void aPf4jZip() throws Exception {
        assertEquals("greeting host", loadRunUnload(pf4jZip()));
    }

    /**
     * {@code run --watch} hosts PF4J-layout plugins too ({@link PluginDirectory}): a directory
     * moved in is loaded (once it settled) and unloaded when moved out; a zip is loaded, reloaded
     * when replaced (its new library version live, the old generation collected), and unloaded
     * when deleted.
     */
    @Test
    void aWatchedDirectoryHostsPf4jDirectoriesAndZips() throws Exception {
        Path watched = Files.createDirectory(dir.resolve("watched"));
        Path staging = Files.createDirectory(dir.resolve("staging"));
        List<String> events = new java.util.concurrent.CopyOnWriteArrayList<>();
        try (PluginDirectory directory = PluginDirectory.watch(loader, watched, Duration.ofMillis(150), LONG, events::add)) {
            Path built = pf4jDirectory(staging.resolve("pf4j-plugin"));
            Path hosted = Files.move(built, watched.resolve("pf4j-plugin"));
            await().atMost(LONG).until(() -> directory.hosted().containsKey(hosted));
            Plugin fromDirectory = directory.hosted().get(hosted);
            assertTrue(probe.saw("util loader " + fromDirectory.classLoaderName()), () -> "events: " + probe.events());
            assertTrue(events.contains("loaded layouts generation 1 from pf4j-plugin"), () -> "events: " + events);
            probe.forget();
            Files.move(hosted, staging.resolve("moved-out"));
            await().atMost(LONG).until(() -> fromDirectory.state() == PluginState.COLLECTED);
            assertTrue(events.stream().anyMatch(e -> e.startsWith("removed pf4j-plugin: unloading layouts generation 1")),
                    () -> "events: " + events);

            Path zip = Files.move(pf4jZip(staging.resolve("plugin.zip"), libV1), watched.resolve("plugin.zip"));
            await().atMost(LONG).until(() -> directory.hosted().containsKey(zip));
            Plugin first = directory.hosted().get(zip);
            assertTrue(probe.saw("util util v1"), () -> "events: " + probe.events());
            probe.forget();
            Files.move(pf4jZip(staging.resolve("plugin-v2.zip"), libV2), zip, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                    java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            await().atMost(LONG).until(() -> probe.saw("util util v2"));
            probe.forget();
            await().atMost(LONG).until(() -> first.state() == PluginState.COLLECTED);
            Plugin second = directory.hosted().get(zip);
            assertEquals(first.generation() + 1, second.generation());
            assertTrue(events.stream().anyMatch(e -> e.startsWith("reloaded plugin.zip: layouts generation " + second.generation()
                    + " is live")), () -> "events: " + events);
            Files.delete(zip);
            await().atMost(LONG).until(() -> second.state() == PluginState.COLLECTED);
            assertEquals(Map.of(), directory.hosted());
        }
    }

    // ---- isolation policy ----------------------------------------------------------------------

    @Test
    void parentFirstGivesTheHostsVersionPluginFirstThePlugins() throws Exception {
        Path plugin = nestedJar(Files.readAllBytes(libV1));
        assertEquals("greeting host", loadRunUnload(plugin), "parent-first, the default");
        assertEquals("greeting plugin", loadRunUnload(plugin, LoadOption.PLUGIN_FIRST), "plugin-first for this plugin");
        assertEquals(IsolationPolicy.PARENT_FIRST, loader.isolation());
    }

    @Test
    void aLoaderPluginFirstByDefaultStillSharesTheHostsDeclaredPackages() throws Exception {
        PluginLoader pluginFirst = PluginLoader.builder().service(HostProbe.class, probe).copyDirectory(dir.resolve("copies2"))
                .awaitCollection(true).isolation(IsolationPolicy.PLUGIN_FIRST).build();
        PluginLoader sharing = PluginLoader.builder().service(HostProbe.class, probe).copyDirectory(dir.resolve("copies3"))
                .awaitCollection(true).isolation(IsolationPolicy.PLUGIN_FIRST).sharedPackage("dev.unloadguard.it.layouts").build();
        Path plugin = classPathJar(dir.resolve("plugins"), "lib/util.jar", libV1);
        for (PluginLoader l : List.of(pluginFirst, sharing)) {
            Plugin p = l.load(plugin);
            assertEquals(IsolationPolicy.PLUGIN_FIRST, p.isolation());
            assertWoven();
            probe.forget();
            assertEquals(PluginState.COLLECTED, l.unload(p, LONG).outcome());
            Leftovers.assertNothingLeftBehind(l, threadsBefore);
        }
        assertTrue(probe.events().containsAll(List.of("greeting plugin", "greeting host")), () -> "" + probe.events());
        assertTrue(probe.events().indexOf("greeting plugin") < probe.events().indexOf("greeting host"),
                () -> "plugin-first: the plugin's; with the package shared: the host's: " + probe.events());
    }

    /**
     * A release callback the host kept runs after the unload and first uses a library class: the
     * closed generation loader answers with {@link PluginUnloadedError}, counted, in either policy.
     */
    @Test
    void aLibraryClassFirstUsedAfterTheUnloadIsALateAccessInEitherPolicy() throws Exception {
        for (LoadOption policy : List.of(LoadOption.PARENT_FIRST, LoadOption.PLUGIN_FIRST)) {
            PluginLoader l = PluginLoader.builder().service(HostProbe.class, probe).copyDirectory(dir.resolve("late-" + policy))
                    .collectionTimeout(Duration.ZERO).build();
            Plugin p = l.load(nestedJar(Files.readAllBytes(libV1)), policy);
            assertEquals(PluginState.UNLOADED, l.unload(p, LONG).outcome(), "the host still keeps the callback");
            String late = lateCallback();
            assertTrue(late.startsWith(PluginUnloadedError.class.getName() + ": it.layouts.lib.Tail cannot be loaded: plugin layouts "
                    + "generation 1 was unloaded at "), policy + ": " + late);
            assertFalse(probe.saw("tail v1"));
            assertEquals(1, p.lateAccesses(), policy::toString);
            probe.forget();
            Leftovers.assertNothingLeftBehind(l, threadsBefore);
        }
    }

    /** Runs the kept release callback; returns what it threw as text (the throwable itself would pin the plugin). */
    private String lateCallback() {
        try {
            probe.kept(ReleaseCallback.class).release();
            return "nothing thrown";
        } catch (Throwable t) {
            return t.toString();
        }
    }

    /**
     * The weaving follows the policy: plugin-first, a class's supertypes are the plugin's own. The
     * plugin's {@code Sub} extends {@code Base}; the plugin's {@code Base} is a
     * {@code ReleaseCallback}, the host's is not. Parent-first (loaded first, so the agent has woven
     * this very jar once already), {@code Sub.release()} is an ordinary method, refused once the
     * plugin is GOING; plugin-first it is a release path, which runs. (The agent's cache of woven
     * classes keys by the loader's lookup order too: it must not hand the plugin-first loader the
     * parent-first weaving.)
     */
    @Test
    void pluginFirstTheAgentWeavesAgainstThePluginsOwnSupertypes() throws Exception {
        for (LoadOption policy : List.of(LoadOption.PARENT_FIRST, LoadOption.PLUGIN_FIRST)) {
            Plugin p = loader.load(shadow, policy);
            assertThrows(UnloadTimeoutException.class, () -> loader.unload(p, Duration.ofMillis(300)));
            assertEquals(PluginState.GOING, p.state());
            assertTrue(invokeKept("run").startsWith(PluginUnloadedError.class.getName()), "the gate is closed: an ordinary entry is refused");
            String release = invokeKept("release");
            if (policy == LoadOption.PLUGIN_FIRST) {
                assertEquals("ran", release, "plugin-first, Sub is the plugin's ReleaseCallback: a release path, never refused");
                assertTrue(probe.saw("release ran"));
            } else {
                assertTrue(release.startsWith(PluginUnloadedError.class.getName()), "parent-first, Sub.release() is ordinary: " + release);
            }
            probe.kept(dev.unloadguard.device.Device.class).release();
            probe.forget();
            assertEquals(PluginState.COLLECTED, loader.unload(p, LONG).outcome());
        }
    }

    /** Calls a public no-argument method of the kept {@code Sub} from the host; what it threw, as text. */
    private String invokeKept(String method) throws Exception {
        Runnable sub = probe.kept(Runnable.class);
        try {
            sub.getClass().getMethod(method).invoke(sub);
            return "ran";
        } catch (java.lang.reflect.InvocationTargetException e) {
            return e.getCause().toString();
        }
    }

    // ---- the files on disk change while the generation runs ------------------------------------

    @Test
    void aClassPathLibraryReplacedThenDeletedOnDiskDoesNotDisturbTheRunningGeneration() throws Exception {
        Path folder = dir.resolve("plugins");
        Path plugin = classPathJar(folder, "lib/util.jar", libV1);
        Plugin p = loader.load(plugin);
        Files.write(folder.resolve("lib/util.jar"), Files.readAllBytes(libV2)); // a new build deployed in place
        probe.kept(Runnable.class).run(); // the first use of Later
        assertTrue(probe.saw("later v1"), () -> "the generation reads its private copy of the library: " + probe.events());
        Files.delete(folder.resolve("lib/util.jar"));
        Files.delete(plugin);
        assertEquals("v1", callLatest(), "a class first used after the library and the plugin were deleted");
        probe.forget();
        assertEquals(PluginState.COLLECTED, loader.unload(p, LONG).outcome());
        assertEquals(0, p.lateAccesses());
    }

    @Test
    void aPf4jDirectoryDeletedOnDiskDoesNotDisturbTheRunningGeneration() throws Exception {
        Path plugin = pf4jDirectory();
        Plugin p = loader.load(plugin);
        try (Stream<Path> walk = Files.walk(plugin)) {
            walk.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        }
        assertFalse(Files.exists(plugin));
        probe.kept(Runnable.class).run();
        assertTrue(probe.saw("later v1"), () -> "" + probe.events());
        probe.forget();
        assertEquals(PluginState.COLLECTED, loader.unload(p, LONG).outcome());
    }

    // ---- bad input -----------------------------------------------------------------------------

    private String refused(Path plugin) {
        PluginLoadException e = assertThrows(PluginLoadException.class, () -> loader.load(plugin));
        assertEquals(plugin.toAbsolutePath().normalize(), e.jar());
        assertTrue(loader.plugins().isEmpty());
        return e.getMessage();
    }

    @Test
    void aCorruptNestedJarIsRefusedNamingIt() throws Exception {
        Path plugin = nestedJar("this is not a zip".getBytes(StandardCharsets.UTF_8));
        String m = refused(plugin);
        assertTrue(m.contains(plugin.toString()) && m.contains("lib/util.jar (inside the plugin jar)") && m.contains("corrupt")
                && m.contains("replace it with a valid jar"), m);
    }

    @Test
    void aClassPathEntryEscapingThePluginsFolderIsRefusedNamingIt() throws Exception {
        Files.copy(libV1, Files.createDirectories(dir.resolve("elsewhere")).resolve("util.jar"));
        Path plugin = classPathJar(dir.resolve("plugins"), "../elsewhere/util.jar", null);
        String m = refused(plugin);
        assertTrue(m.contains("'../elsewhere/util.jar'") && m.contains("outside the plugin's folder " + dir.resolve("plugins"))
                && m.contains("move the library into the plugin's folder, for example lib/util.jar"), m);
    }

    @Test
    void anAbsoluteClassPathEntryIsRefusedNamingIt() throws Exception {
        Path elsewhere = Files.copy(libV1, Files.createDirectories(dir.resolve("elsewhere")).resolve("util.jar"));
        String entry = elsewhere.toUri().toString();
        String m = refused(classPathJar(dir.resolve("plugins"), entry, null));
        assertTrue(m.contains("'" + entry + "'") && m.contains("an absolute path or URL") && m.contains("lib/util.jar"), m);
    }

    @Test
    void aMissingLibraryIsReportedAsSuchNotAsTheDriversInit() throws Exception {
        Path folder = dir.resolve("plugins");
        String m = refused(classPathJar(folder, "lib/util.jar", null));
        assertTrue(m.contains("class it.layouts.lib.") && m.contains("is not found in the plugin"), m);
        assertTrue(m.contains("the plugin's manifest Class-Path names lib/util.jar, which is not beside the plugin (no "
                + folder.resolve("lib/util.jar") + ")") && m.contains("put it there"), m);
        assertFalse(m.contains("failed in init") || m.contains("fix the driver's init"), m);
    }

    @Test
    void aLibraryNeitherInsideNorNamedIsReportedWithTheFix() throws Exception {
        String m = refused(write(dir.resolve("alone.jar"), entries(driverJar, "")));
        assertTrue(m.contains("class it.layouts.lib.") && m.contains("is not found in the plugin (which brings no libraries)")
                && m.contains("add the jar that holds it to the plugin's lib/ folder or its manifest Class-Path"), m);
        assertFalse(m.contains("fix the driver's init"), m);
    }
}
