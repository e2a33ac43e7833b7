package dev.unloadguard.testkit;

import static dev.unloadguard.testkit.UnloadAssertions.assertUnloadsCleanly;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.loader.Plugin;
import dev.unloadguard.loader.PluginLoader;
import dev.unloadguard.loader.PluginState;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The extension's after-each check, called directly as JUnit would call it after a test (it does
 * not use the extension context).
 */
class NoPluginLeftLoadedTest {

    @TempDir
    static Path dir;

    private static Path jar;
    private static Path leaking;

    @BeforeAll
    static void buildPlugin() throws IOException {
        jar = TestJars.driverJar(dir, "left.LeftDriver", """
                package left;
                import dev.unloadguard.device.Device;
                import dev.unloadguard.driver.*;
                public final class LeftDriver implements Driver {
                    private Device card;
                    public String id() { return "left"; }
                    public void init(DriverContext ctx) { card = ctx.createDevice("card0"); }
                    public void exit() { card.release(); card = null; }
                }
                """);
        leaking = TestJars.driverJar(dir, "kept.KeptDriver", """
                package kept;
                import dev.unloadguard.driver.*;
                public final class KeptDriver implements Driver {
                    public String id() { return "kept"; }
                    public void init(DriverContext ctx) { dev.unloadguard.testkit.StaticKeeper.KEPT.add(new Listener()); }
                    public void exit() { }
                    static final class Listener { }
                }
                """);
    }

    @Test
    void aLeftOverThatLeaksIsNamedWithItsLeakPath() throws Exception {
        NoPluginLeftLoaded extension = new NoPluginLeftLoaded(Duration.ofSeconds(10));
        PluginLoader loader = extension.track(PluginLoader.builder().collectionTimeout(Duration.ofMillis(800)).build());
        Plugin plugin = loader.load(leaking);
        try {
            AssertionError e = assertThrows(AssertionError.class, () -> extension.afterEach(null));
            String m = e.getMessage();
            assertTrue(m.contains("outcome: LEAKED"), m);
            assertTrue(m.contains("\nleak path (from a heap dump of this JVM"), m);
            assertTrue(m.contains("static field " + StaticKeeper.class.getName() + ".KEPT (class "), m);
            assertTrue(m.contains("→ java.util.concurrent.CopyOnWriteArrayList.array[0]\n  → kept.KeptDriver$Listener (loader plugin:"), m);
            assertTrue(m.contains("→ PluginClassLoader plugin:"), m);
            assertEquals(PluginState.LEAKED, plugin.state());
        } finally {
            StaticKeeper.KEPT.clear();
        }
    }

    @Test
    void aPluginLeftLoadedFailsTheTestNamingItAndIsUnloaded() throws Exception {
        NoPluginLeftLoaded extension = new NoPluginLeftLoaded(Duration.ofSeconds(10));
        PluginLoader loader = extension.track(PluginLoader.builder().build());
        Plugin plugin = loader.load(jar);

        AssertionError e = assertThrows(AssertionError.class, () -> extension.afterEach(null));
        assertTrue(e.getMessage().startsWith("1 plugin(s) left loaded by the test"), e::getMessage);
        assertTrue(e.getMessage().contains("- plugin left generation 1 (LIVE) from " + jar.toAbsolutePath().normalize()
                + "; unloaded after the test:\nunload of plugin left generation 1"), e::getMessage);
        assertTrue(e.getMessage().contains("outcome: COLLECTED"), e::getMessage);
        assertEquals(PluginState.COLLECTED, plugin.state());
        assertTrue(loader.plugins().isEmpty());

        extension.afterEach(null); // the loader is no longer tracked: nothing left to report
    }

    @Test
    void aTestThatUnloadedEverythingPasses() throws Exception {
        NoPluginLeftLoaded extension = new NoPluginLeftLoaded();
        PluginLoader loader = extension.track(PluginLoader.builder().build());
        Plugin plugin = loader.load(jar);
        assertUnloadsCleanly(loader, plugin, Duration.ofSeconds(30));

        extension.afterEach(null);
    }
}
