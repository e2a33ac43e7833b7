package dev.unloadguard.loader;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.time.Duration;
import javax.management.MBeanServer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The load+unload path's shortcuts (issue 11, target 2) keep what they replace: the MXBean's
 * unload report, written only when asked, is the report's text. Runs without the agent (unguarded
 * unloads allowed), like {@link PluginLoaderTest}.
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
}
