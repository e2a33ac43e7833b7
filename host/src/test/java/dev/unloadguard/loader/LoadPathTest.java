package dev.unloadguard.loader;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.epoch.internal.ReleaseEpoch;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.TreeMap;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.jar.JarOutputStream;
import javax.management.MBeanServer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The load+unload path's shortcuts (issue 11, target 2) keep what they replace: the MXBean's
 * unload report, written only when asked, is the report's text; the driver found without
 * {@code ServiceLoader} is the one it finds, and every bad service file or driver class gets the
 * error {@code ServiceLoader} gave. Runs without the agent (unguarded unloads allowed), like
 * {@link PluginLoaderTest}.
 */
class LoadPathTest {

    @TempDir
    static Path shared;

    @TempDir
    Path dir;

    private static Path plugin;

    @BeforeAll
    static void buildPlugin() throws Exception {
        plugin = PluginLoaderTest.compileJar(shared, "lazy", "lazy.LazyDriver", """
                package lazy;
                import dev.unloadguard.driver.*;
                public final class LazyDriver implements Driver {
                    public String id() { return "lazy"; }
                    public void init(DriverContext ctx) { ctx.createDevice("card0").release(); }
                    public void exit() { }
                }
                """);
    }

    private PluginLoader.Builder builder() {
        return PluginLoader.builder().copyDirectory(dir.resolve("copies")).allowUnguardedUnload(true)
                .collectionTimeout(Duration.ZERO);
    }

    @Test
    void theMXBeansLastUnloadReportIsTheReportsTextWrittenWhenAsked() throws Exception {
        try (PluginLoader loader = builder().build()) {
            MBeanServer server = ManagementFactory.getPlatformMBeanServer();
            Plugin first = loader.load(plugin);
            assertEquals("", server.getAttribute(loader.mbeanName("lazy"), "LastUnloadReport"), "no unload yet");
            UnloadReport r1 = loader.unload(first, Duration.ofSeconds(10));
            assertEquals(r1.toString(), server.getAttribute(loader.mbeanName("lazy"), "LastUnloadReport"));
            assertEquals(r1.toString(), server.getAttribute(loader.mbeanName("lazy"), "LastUnloadReport"), "the same text when asked again");

            UnloadReport r2 = loader.unload(loader.load(plugin), Duration.ofSeconds(10));
            String text = (String) server.getAttribute(loader.mbeanName("lazy"), "LastUnloadReport");
            assertEquals(r2.toString(), text, "the newest unload's report");
            assertTrue(text.startsWith("unload of plugin lazy generation 2"), text);
        }
    }

    // ---- driver discovery ---------------------------------------------------------------------

    /** A jar of the given entries (name to bytes), with {@code classes} compiled in first. */
    private Path jar(String name, Map<String, byte[]> entries) throws IOException {
        Path jar = dir.resolve(name + ".jar");
        try (OutputStream os = Files.newOutputStream(jar); JarOutputStream out = new JarOutputStream(os)) {
            for (Map.Entry<String, byte[]> e : new TreeMap<>(entries).entrySet()) {
                out.putNextEntry(new JarEntry(e.getKey()));
                out.write(e.getValue());
                out.closeEntry();
            }
        }
        return jar;
    }

    /** The entries of {@code jar}, but the services file replaced by {@code services} ({@code null}: none). */
    private static Map<String, byte[]> entriesWith(Path jar, String services) throws IOException {
        Map<String, byte[]> entries = new TreeMap<>();
        try (JarFile j = new JarFile(jar.toFile())) {
            for (JarEntry e : (Iterable<JarEntry>) j.stream()::iterator) {
                if (!e.isDirectory() && !e.getName().equals(PluginJars.SERVICES)) {
                    entries.put(e.getName(), j.getInputStream(e).readAllBytes());
                }
            }
        }
        if (services != null) {
            entries.put(PluginJars.SERVICES, services.getBytes(StandardCharsets.UTF_8));
        }
        return entries;
    }

    /** The message ServiceLoader's path gives for {@code jar} (a class loader of its own). */
    private static String serviceLoadersMessage(Path jar) throws Exception {
        Path path = jar.toAbsolutePath().normalize();
        try (PluginClassLoader cl = new PluginClassLoader("plugin:reference", path.toUri().toURL(),
                PluginLoader.class.getClassLoader(), PluginLoader.class.getClassLoader(), new ReleaseEpoch("reference", false))) {
            PluginLoadException e = assertThrows(PluginLoadException.class, () -> PluginJars.driverByServiceLoader(cl, path));
            return e.getMessage();
        }
    }

    private static String withoutJarUrls(String message) {
        return message.replaceAll("jar:file:[^!]*!/", "jar:…!/");
    }

    private void assertSameErrorAsServiceLoader(Path jar, String expectedPart) throws Exception {
        String reference = serviceLoadersMessage(jar);
        try (PluginLoader loader = builder().build()) {
            PluginLoadException e = assertThrows(PluginLoadException.class, () -> loader.load(jar));
            // ServiceLoader names the file it read by URL: the private copy's on a load, the jar's here
            assertEquals(withoutJarUrls(reference), withoutJarUrls(e.getMessage()));
            assertTrue(e.getMessage().contains(expectedPart), e::getMessage);
            assertTrue(loader.plugins().isEmpty());
        }
    }

    @Test
    void aJarWithoutAServicesFileGetsServiceLoadersError() throws Exception {
        assertSameErrorAsServiceLoader(jar("no-services", entriesWith(plugin, null)), "contains no driver");
    }

    @Test
    void aServicesFileNamingAMissingClassGetsServiceLoadersError() throws Exception {
        assertSameErrorAsServiceLoader(jar("missing-class", entriesWith(plugin, "lazy.NoSuchDriver\n")),
                "Provider lazy.NoSuchDriver not found");
    }

    @Test
    void aServicesFileNamingANonDriverGetsServiceLoadersError() throws Exception {
        Path notADriver = PluginLoaderTest.compileJar(dir, "plain", "plain.Plain", """
                package plain;
                public final class Plain { }
                """);
        assertSameErrorAsServiceLoader(notADriver, "plain.Plain not a subtype");
    }

    @Test
    void aDriverWithoutAPublicNoArgumentConstructorGetsServiceLoadersError() throws Exception {
        Path noCtor = PluginLoaderTest.compileJar(dir, "noctor", "noctor.NoCtorDriver", """
                package noctor;
                import dev.unloadguard.driver.*;
                public final class NoCtorDriver implements Driver {
                    public NoCtorDriver(String needed) { }
                    public String id() { return "noctor"; }
                    public void init(DriverContext ctx) { }
                    public void exit() { }
                }
                """);
        assertSameErrorAsServiceLoader(noCtor, "Unable to get public no-arg constructor");
    }

    @Test
    void aDriverWhoseConstructorThrowsGetsServiceLoadersError() throws Exception {
        Path throwing = PluginLoaderTest.compileJar(dir, "throwing", "throwing.ThrowingDriver", """
                package throwing;
                import dev.unloadguard.driver.*;
                public final class ThrowingDriver implements Driver {
                    public ThrowingDriver() { throw new IllegalStateException("ctor boom"); }
                    public String id() { return "throwing"; }
                    public void init(DriverContext ctx) { }
                    public void exit() { }
                }
                """);
        assertSameErrorAsServiceLoader(throwing, "Provider throwing.ThrowingDriver could not be instantiated");
        try (PluginLoader loader = builder().build()) {
            PluginLoadException e = assertThrows(PluginLoadException.class, () -> loader.load(throwing));
            assertEquals("ctor boom", e.getCause().getCause().getMessage(), "the constructor's exception is the cause, as before");
        }
    }

    @Test
    void aBadServicesFileLineGetsServiceLoadersError() throws Exception {
        assertSameErrorAsServiceLoader(jar("bad-line", entriesWith(plugin, "lazy.LazyDriver extra\n")),
                "Illegal configuration-file syntax");
    }

    @Test
    void commentsBlankLinesAndRepeatsNameOneDriver() throws Exception {
        assertEquals("lazy.LazyDriver", PluginJars.onlyProviderName("# the driver\r\n\n  lazy.LazyDriver  # it\nlazy.LazyDriver\n"));
        assertNull(PluginJars.onlyProviderName("a.First\nb.Second\n"), "two drivers: ServiceLoader's path and its message");
        assertNull(PluginJars.onlyProviderName("# nothing\n"));
        assertNull(PluginJars.onlyProviderName("a.First\rb.Second"), "a lone carriage return ends a line too, as in ServiceLoader");
        assertNull(PluginJars.onlyProviderName("1bad.Name\n"));
        Path commented = jar("commented", entriesWith(plugin, "# the driver\r\n\n  lazy.LazyDriver  # it\nlazy.LazyDriver\n"));
        try (PluginLoader loader = builder().build()) {
            Plugin p = loader.load(commented);
            assertEquals("lazy", p.id());
            assertFalse(loader.unload(p, Duration.ofSeconds(10)).agentActive());
        }
    }
}
