package dev.unloadguard.loader;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import dev.unloadguard.epoch.ReleaseGuard;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
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
 * {@link PluginLoader} in a JVM without the agent (the unit-test JVM): bad paths, the refusal to
 * unload unguarded, and the explicit permission to. The integration tests cover the rest with the
 * agent attached.
 */
class PluginLoaderTest {

    @TempDir
    static Path shared;

    @TempDir
    Path dir;

    private static Path plugin;

    @BeforeAll
    static void buildPlugin() throws IOException {
        plugin = compileJar(shared, "unit", "unit.UnitDriver", """
                package unit;
                import dev.unloadguard.device.Device;
                import dev.unloadguard.driver.*;
                public final class UnitDriver implements Driver {
                    private Device card;
                    public String id() { return "unit"; }
                    public void init(DriverContext ctx) { card = ctx.createDevice("card0"); }
                    public void exit() { card.release(); card = null; }
                }
                """);
    }

    /** Compiles one driver class against this JVM's class path and jars it with its services entry. */
    static Path compileJar(Path where, String name, String driverClass, String source) throws IOException {
        Path classes = Files.createDirectories(where.resolve(name + "-classes"));
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        DiagnosticCollector<JavaFileObject> diagnostics = new DiagnosticCollector<>();
        try (StandardJavaFileManager files = javac.getStandardFileManager(diagnostics, null, StandardCharsets.UTF_8)) {
            files.setLocation(StandardLocation.CLASS_OUTPUT, List.of(classes.toFile()));
            JavaFileObject unit = new SimpleJavaFileObject(
                    URI.create("string:///" + driverClass.replace('.', '/') + ".java"), JavaFileObject.Kind.SOURCE) {
                @Override
                public CharSequence getCharContent(boolean ignoreEncodingErrors) {
                    return source;
                }
            };
            boolean ok = javac.getTask(null, files, diagnostics,
                    List.of("--release", "17", "-proc:none", "-cp", System.getProperty("java.class.path")), null, List.of(unit)).call();
            assertTrue(ok, () -> "test plugin does not compile: " + diagnostics.getDiagnostics());
        }
        Path jar = where.resolve(name + ".jar");
        try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(jar));
             Stream<Path> walk = Files.walk(classes)) {
            out.putNextEntry(new JarEntry("META-INF/services/dev.unloadguard.driver.Driver"));
            out.write((driverClass + "\n").getBytes(StandardCharsets.UTF_8));
            out.closeEntry();
            for (Path f : (Iterable<Path>) walk.filter(Files::isRegularFile)::iterator) {
                out.putNextEntry(new JarEntry(classes.relativize(f).toString().replace('\\', '/')));
                out.write(Files.readAllBytes(f));
                out.closeEntry();
            }
        }
        return jar;
    }

    private PluginLoader.Builder builder() {
        return PluginLoader.builder().copyDirectory(dir.resolve("copies"));
    }

    private static void assertEmpty(Path directory) throws IOException {
        try (Stream<Path> files = Files.list(directory)) {
            assertEquals(List.of(), files.collect(java.util.stream.Collectors.toList()));
        }
    }

    @Test
    void badPathsAreRefusedNamingThePathAndTheFix() throws IOException {
        PluginLoader loader = builder().build();
        Path missing = dir.resolve("missing.jar");
        PluginLoadException e = assertThrows(PluginLoadException.class, () -> loader.load(missing));
        assertTrue(e.getMessage().contains(missing.toString()) && e.getMessage().contains("does not exist"), e::getMessage);
        assertEquals(missing, e.jar());

        Path directory = Files.createDirectories(dir.resolve("a-directory.jar"));
        e = assertThrows(PluginLoadException.class, () -> loader.load(directory));
        assertTrue(e.getMessage().contains("not a regular file"), e::getMessage);

        Path text = Files.writeString(dir.resolve("text.jar"), "hello");
        e = assertThrows(PluginLoadException.class, () -> loader.load(text));
        assertTrue(e.getMessage().contains("not a jar (zip) file") && e.getMessage().contains("rebuild the plugin"), e::getMessage);

        assertEquals(0, loader.classLoadersNotCollected(), "no class loader was made for a path that is not a jar");
        assertEmpty(loader.copyDirectory());
        assertTrue(loader.plugins().isEmpty());
    }

    @Test
    void withoutTheAgentUnloadRefusesAndSaysHowToAttachIt() throws Exception {
        assumeFalse(ReleaseGuard.agentActive(), "this JVM runs with the agent");
        PluginLoader loader = builder().build();
        assertFalse(loader.agentActive());
        Plugin p = loader.load(plugin);
        assertEquals(PluginState.LIVE, p.state());
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> loader.unload(p, Duration.ofSeconds(5)));
        assertTrue(e.getMessage().contains("plugin unit generation 1") && e.getMessage().contains("-javaagent:unloadguard-agent.jar")
                && e.getMessage().contains("allowUnguardedUnload(true)"), e::getMessage);
        assertEquals(PluginState.LIVE, p.state(), "the refused unload touched nothing");
        assertEquals(1, p.liveDevices());
        assertEquals(List.of(p), loader.plugins());
    }

    @Test
    void withPermissionAnUnguardedUnloadRunsAndSaysSo() throws Exception {
        assumeFalse(ReleaseGuard.agentActive(), "this JVM runs with the agent");
        PluginLoader loader = builder().allowUnguardedUnload(true).awaitCollection(true).build();
        Plugin p = loader.load(plugin);
        UnloadReport report = loader.unload(p, Duration.ofSeconds(10));
        assertFalse(report.agentActive());
        assertTrue(report.summary().contains("UNGUARDED"), report::summary);
        assertEquals(PluginState.COLLECTED, report.outcome(), report::toString);
        assertEquals(1, report.devicesCreated());
        PluginLayoutsTest.assertKeptCopyOnly(loader, 1);
    }

    @Test
    void closeUnloadsEveryPlugin() throws Exception {
        assumeFalse(ReleaseGuard.agentActive(), "this JVM runs with the agent");
        PluginLoader loader = builder().allowUnguardedUnload(true).collectionTimeout(Duration.ZERO).build();
        Plugin p = loader.load(plugin);
        loader.close();
        assertEquals(PluginState.UNLOADED, p.state());
        assertTrue(loader.plugins().isEmpty());
        assertEmpty(loader.copyDirectory());
    }

    @Test
    void aNegativeCollectionTimeoutIsRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> PluginLoader.builder().collectionTimeout(Duration.ofSeconds(-1)));
        assertTrue(e.getMessage().contains("negative"), e::getMessage);
    }
}
