package dev.unloadguard.it;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.device.Device;
import dev.unloadguard.driver.ReleaseCallback;
import dev.unloadguard.it.support.HostProbe;
import dev.unloadguard.it.support.Leftovers;
import dev.unloadguard.it.support.RawJars;
import dev.unloadguard.it.support.TestPlugins;
import dev.unloadguard.loader.LoadOption;
import dev.unloadguard.loader.Plugin;
import dev.unloadguard.loader.PluginLoadException;
import dev.unloadguard.loader.PluginLoader;
import dev.unloadguard.loader.PluginState;
import dev.unloadguard.loader.UnloadReport;
import dev.unloadguard.loader.UnloadStep;
import dev.unloadguard.loader.UnloadTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bad input to the loader, in this JVM started by Failsafe with {@code -javaagent}: every case
 * fails with a clear exception whose message names the thing and the fix, and leaves nothing
 * behind — every class loader the loader made is collected, no private jar copy is left, no
 * thread of the plugin lives on (checked after each test).
 */
class BadInputIT {

    private static final Duration LONG = Duration.ofSeconds(30);
    private static final String SERVICES = "META-INF/services/dev.unloadguard.driver.Driver";

    private static Path twoDrivers;
    private static Path throwingConstructor;
    private static Path throwingInit;
    private static Path dupA;
    private static Path dupB;
    private static Path held;
    private static Path swapV1;
    private static Path swapV2;

    @TempDir
    Path dir;

    private HostProbe probe;
    private PluginLoader loader;
    private Set<Thread> threadsBefore;

    @BeforeAll
    static void buildPlugins() throws Exception {
        twoDrivers = TestPlugins.plugin()
                .driver("it.two.FirstDriver\nit.two.SecondDriver") // two lines in the services file
                .source("it.two.FirstDriver", driver("it.two", "FirstDriver", "two"))
                .source("it.two.SecondDriver", driver("it.two", "SecondDriver", "two"))
                .build("two-drivers");
        throwingConstructor = TestPlugins.plugin().driver("it.ctor.CtorDriver")
                .source("it.ctor.CtorDriver", """
                        package it.ctor;
                        import dev.unloadguard.driver.*;
                        import dev.unloadguard.device.*;
                        public final class CtorDriver implements Driver {
                            public CtorDriver() { throw new IllegalStateException("constructor boom"); }
                            public String id() { return "ctor"; }
                            public void init(DriverContext ctx) { }
                            public void exit() { }
                        }
                        """)
                .build("ctor");
        throwingInit = TestPlugins.plugin().driver("it.initfail.InitDriver")
                .source("it.initfail.InitDriver", """
                        package it.initfail;
                        import dev.unloadguard.device.Device;
                        import dev.unloadguard.driver.*;
                        import dev.unloadguard.device.*;
                        import dev.unloadguard.epoch.ReleaseGuard;
                        import dev.unloadguard.it.support.HostProbe;
                        public final class InitDriver implements Driver {
                            private Device card;
                            private HostProbe probe;
                            public String id() { return "initfail"; }
                            public void init(DriverContext ctx) {
                                HostProbe p = ctx.service(HostProbe.class).orElseThrow();
                                probe = p;
                                card = ctx.createDevice("card0");
                                card.addReleaseAction(d -> p.record("action ran at depth " + ReleaseGuard.depth()));
                                throw new IllegalStateException("init boom after creating card0");
                            }
                            public void exit() { probe.record("exit ran"); card.release(); card = null; }
                            public void release(Device device) { probe.record("driver release ran"); }
                        }
                        """)
                .build("initfail");
        dupA = TestPlugins.plugin().driver("it.dupa.DupDriver").source("it.dupa.DupDriver", driver("it.dupa", "DupDriver", "dup"))
                .build("dup-a");
        dupB = TestPlugins.plugin().driver("it.dupb.DupDriver").source("it.dupb.DupDriver", driver("it.dupb", "DupDriver", "dup"))
                .build("dup-b");
        held = TestPlugins.plugin().driver("it.held.HeldDriver")
                .source("it.held.HeldDriver", """
                        package it.held;
                        import dev.unloadguard.device.Device;
                        import dev.unloadguard.driver.*;
                        import dev.unloadguard.device.*;
                        import dev.unloadguard.it.support.HostProbe;
                        public final class HeldDriver implements Driver {
                            private Device card;
                            public String id() { return "held"; }
                            public void init(DriverContext ctx) {
                                card = ctx.createDevice("card0");
                                ctx.service(HostProbe.class).orElseThrow().keep(card.acquire()); // the host holds one
                            }
                            public void exit() { card.release(); card = null; }
                        }
                        """)
                .build("held");
        swapV1 = swapPlugin("v1");
        swapV2 = swapPlugin("v2");
    }

    private static String driver(String pkg, String cls, String id) {
        return "package " + pkg + ";\n"
                + "public final class " + cls + " implements dev.unloadguard.driver.Driver {\n"
                + "    public String id() { return \"" + id + "\"; }\n"
                + "    public void init(dev.unloadguard.driver.DriverContext ctx) { }\n"
                + "    public void exit() { }\n"
                + "}\n";
    }

    /** A plugin whose release callback's tail uses a class first loaded there, which says which build it is. */
    private static Path swapPlugin(String version) throws Exception {
        return TestPlugins.plugin().driver("it.swap.SwapDriver")
                .source("it.swap.SwapDriver", """
                        package it.swap;
                        import dev.unloadguard.device.Device;
                        import dev.unloadguard.driver.*;
                        import dev.unloadguard.device.*;
                        import dev.unloadguard.it.support.HostProbe;
                        public final class SwapDriver implements Driver {
                            private Device card;
                            public String id() { return "swap"; }
                            public void init(DriverContext ctx) {
                                HostProbe probe = ctx.service(HostProbe.class).orElseThrow();
                                card = ctx.createDevice("card0");
                                Device mine = card.acquire();
                                probe.keep((ReleaseCallback) () -> {
                                    mine.release();
                                    probe.record("tail " + new Tail().version()); // first use of Tail
                                });
                            }
                            public void exit() { card.release(); card = null; }
                        }
                        """)
                .source("it.swap.Tail", """
                        package it.swap;
                        final class Tail {
                            String version() { return "%s"; }
                        }
                        """.formatted(version))
                .build("swap-" + version);
    }

    @BeforeEach
    void newLoader() {
        threadsBefore = Leftovers.threads();
        probe = new HostProbe();
        loader = PluginLoader.builder().service(HostProbe.class, probe).copyDirectory(dir.resolve("copies")).awaitCollection(true).build();
    }

    @AfterEach
    void nothingLeftBehind() throws Exception {
        probe.forget();
        for (Plugin p : loader.plugins()) { // a failed test may leave one loaded
            probe.forget();
            try {
                loader.unload(p, Duration.ofSeconds(1));
            } catch (UnloadTimeoutException e) {
                // reported by the assertion below
            }
        }
        assertEquals(0, loader.plugins().size(), () -> "plugins still loaded: " + loader.plugins());
        Leftovers.assertNothingLeftBehind(loader, threadsBefore);
    }

    /** Loads and expects a PluginLoadException; returns only its text (the exception may pin the plugin). */
    private String refused(Path jar, LoadOption... options) {
        PluginLoadException e = assertThrows(PluginLoadException.class, () -> loader.load(jar, options));
        assertEquals(jar.toAbsolutePath().normalize(), e.jar());
        return e.getMessage();
    }

    // ---- not a plugin jar ------------------------------------------------------------------

    @Test
    void aMissingPath() {
        Path missing = dir.resolve("no-such.jar");
        String m = refused(missing);
        assertTrue(m.contains(missing.toString()) && m.contains("does not exist") && m.contains("pass the path of a built plugin jar"), m);
    }

    @Test
    void aDirectory() throws Exception {
        Path d = Files.createDirectories(dir.resolve("plugin.jar"));
        String m = refused(d);
        assertTrue(m.contains(d.toString()) && m.contains("not a regular file") && m.contains("pass the path of a .jar file"), m);
    }

    @Test
    void aTextFile() throws Exception {
        Path text = Files.writeString(dir.resolve("notes.jar"), "this is not a jar\n");
        String m = refused(text);
        assertTrue(m.contains(text.toString()) && m.contains("not a jar (zip) file") && m.contains("rebuild the plugin"), m);
    }

    @Test
    void aCorruptJarWhoseDriverClassIsGarbage() throws Exception {
        assertCorruptDriverRefused("not a class file at all".getBytes(StandardCharsets.ISO_8859_1));
    }

    @Test
    void aCorruptJarWhoseDriverClassHasAnImpossibleVersion() throws Exception {
        assertCorruptDriverRefused("\u00ca\u00fe\u00ba\u00be then garbage".getBytes(StandardCharsets.ISO_8859_1));
    }

    /** A valid zip naming a driver in META-INF/services whose class file is garbage. */
    private void assertCorruptDriverRefused(byte[] classFile) throws Exception {
        Path jar = RawJars.jar().entry(SERVICES, "it.corrupt.CorruptDriver\n")
                .entry("it/corrupt/CorruptDriver.class", classFile).build("corrupt");
        String m = refused(jar);
        assertTrue(m.contains(jar.toString()) && m.contains("it/corrupt/CorruptDriver"), m);
        assertTrue(m.contains("driver class that cannot be loaded") && m.contains("rebuild the plugin"), "the thing and the fix: " + m);
        assertFalse(m.contains("failed in init"), "the driver's init never ran: " + m);
    }

    @Test
    void aJarWithNoDriver() throws Exception {
        Path jar = TestPlugins.plugin().source("it.none.Nothing", "package it.none; public final class Nothing { }").build("no-driver");
        String m = refused(jar);
        assertTrue(m.contains(jar.toString()) && m.contains("contains no driver") && m.contains(SERVICES), m);
    }

    @Test
    void aJarWithTwoDrivers() {
        String m = refused(twoDrivers);
        assertTrue(m.contains(twoDrivers.toString()) && m.contains("declares 2 drivers")
                && m.contains("it.two.FirstDriver") && m.contains("it.two.SecondDriver") && m.contains("exactly one driver"), m);
    }

    @Test
    void aSecondJarClaimingTheIdOfALoadedOneIsRefused() throws Exception {
        Plugin first = loader.load(dupA);
        String m = refused(dupB);
        assertTrue(m.contains("plugin id 'dup'") && m.contains(dupB.toString()) && m.contains("already loaded as generation 1")
                && m.contains(dupA.toString()) && m.contains("unload it first"), m);
        assertSame(first, loader.plugin("dup").orElseThrow(), "the first stays loaded");
        assertEquals(PluginState.LIVE, first.state());
        assertEquals(PluginState.COLLECTED, loader.unload(first, LONG).outcome());
    }

    @Test
    void aDriverWhoseConstructorThrows() {
        String m = refused(throwingConstructor);
        assertTrue(m.contains(throwingConstructor.toString()) && m.contains("it.ctor.CtorDriver")
                && m.contains("cannot be created") && m.contains("public no-argument constructor"), m);
    }

    @Test
    void aDriverWhoseInitThrowsAfterCreatingADeviceIsRolledBackThroughExit() {
        String m = refused(throwingInit);
        assertTrue(m.contains("plugin initfail") && m.contains(throwingInit.toString()) && m.contains("failed in init")
                && m.contains("init boom after creating card0") && m.contains("fix the driver's init"), m);
        assertTrue(probe.saw("exit ran") && probe.saw("driver release ran"), () -> "the rollback runs exit: " + probe.events());
        assertTrue(probe.events().stream().anyMatch(e -> e.startsWith("action ran at depth ") && !e.endsWith(" 0")),
                () -> "the device's release sequence ran inside the epoch: " + probe.events());
        assertTrue(loader.plugins().isEmpty());
        assertTrue(loader.plugin("initfail").isEmpty());
    }

    // ---- the jar on disk changes while loaded ----------------------------------------------

    @Test
    void aJarReplacedThenDeletedOnDiskDoesNotDisturbTheRunningGenerationAndAReloadPicksUpTheNewJar() throws Exception {
        Path jar = dir.resolve("swap.jar");
        Files.copy(swapV1, jar);
        Plugin v1 = loader.load(jar);
        // a new build is deployed over it, in place (same file, new bytes: an open jar would see them)
        Files.write(jar, Files.readAllBytes(swapV2));
        runCallback();
        assertTrue(probe.saw("tail v1"), () -> "the running generation loads from its private copy: " + probe.events());
        probe.forget();
        assertEquals(PluginState.COLLECTED, loader.unload(v1, LONG).outcome());

        Plugin v2 = loader.load(jar);
        assertEquals(2, v2.generation());
        Files.delete(jar);
        runCallback();
        assertTrue(probe.saw("tail v2"), () -> "the reload picked up the new jar, and survives its deletion: " + probe.events());
        probe.forget();
        assertEquals(PluginState.COLLECTED, loader.unload(v2, LONG).outcome());
        assertEquals(0, v2.lateAccesses());
    }

    private void runCallback() {
        probe.kept(ReleaseCallback.class).release();
    }

    // ---- unloading the wrong thing ---------------------------------------------------------

    @Test
    void unloadingAHandleOfAnotherLoader() throws Exception {
        Plugin plugin = loader.load(dupA);
        PluginLoader other = PluginLoader.builder().awaitCollection(true).build();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> other.unload(plugin, LONG));
        assertTrue(e.getMessage().contains("plugin dup generation 1") && e.getMessage().contains("another PluginLoader")
                && e.getMessage().contains("unload it with that loader"), e::getMessage);
        assertEquals(PluginState.LIVE, plugin.state(), "the wrong loader touched nothing");
        assertEquals(PluginState.COLLECTED, loader.unload(plugin, LONG).outcome());
    }

    @Test
    void unloadingAnAlreadyUnloadedHandle() throws Exception {
        Plugin plugin = loader.load(dupA);
        UnloadReport report = loader.unload(plugin, LONG);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> loader.unload(plugin, LONG));
        assertTrue(e.getMessage().contains("plugin dup generation 1") && e.getMessage().contains("already unloaded")
                && e.getMessage().contains(report.summary()), e::getMessage);
    }

    // ---- concurrent unloads and reloads ----------------------------------------------------

    /** A call on a named thread of its own, so the test can see where it waits. */
    private static final class Call<T> {
        final Thread thread;
        final AtomicReference<Object> outcome = new AtomicReference<>();

        Call(String name, Callable<T> body) {
            thread = new Thread(() -> {
                try {
                    outcome.set(body.call());
                } catch (Throwable t) {
                    outcome.set(t);
                }
            }, name);
            thread.setDaemon(true);
            thread.start();
        }

        boolean done() {
            return outcome.get() != null;
        }

        /** Whether the thread waits for an unload another call runs. */
        boolean joinedAnother() {
            return Arrays.stream(thread.getStackTrace())
                    .anyMatch(f -> f.getClassName().equals(PluginLoader.class.getName()) && f.getMethodName().equals("join"));
        }
    }

    @Test
    void twoConcurrentUnloadsOfOnePluginSeeTheSameReport() throws Exception {
        Plugin plugin = loader.load(held);
        Device hostRef = probe.kept(Device.class);
        probe.forget();
        Call<UnloadReport> a = new Call<>("unload-a", () -> loader.unload(plugin, LONG));
        await().atMost(Duration.ofSeconds(10)).until(() -> plugin.state() == PluginState.GOING && hostRef.references() == 1);
        Call<UnloadReport> b = new Call<>("unload-b", () -> loader.unload(plugin, LONG));
        await().atMost(Duration.ofSeconds(10)).until(b::joinedAnother);
        await().during(Duration.ofMillis(200)).atMost(Duration.ofSeconds(5)).until(() -> !a.done() && !b.done());

        assertTrue(hostRef.release());
        await().atMost(Duration.ofSeconds(20)).until(() -> a.done() && b.done());
        assertTrue(a.outcome.get() instanceof UnloadReport, () -> "a: " + a.outcome.get());
        assertSame(a.outcome.get(), b.outcome.get(), "both callers see the one unload's report");
        assertEquals(PluginState.COLLECTED, ((UnloadReport) a.outcome.get()).outcome());
    }

    @Test
    void twoConcurrentUnloadsOfOnePluginSeeTheSameTimeout() throws Exception {
        Plugin plugin = loader.load(held);
        Call<UnloadReport> a = new Call<>("unload-a", () -> loader.unload(plugin, Duration.ofSeconds(3)));
        await().atMost(Duration.ofSeconds(10)).until(() -> plugin.state() == PluginState.GOING);
        Call<UnloadReport> b = new Call<>("unload-b", () -> loader.unload(plugin, LONG));
        await().atMost(Duration.ofSeconds(10)).until(b::joinedAnother);
        await().atMost(Duration.ofSeconds(20)).until(() -> a.done() && b.done());
        assertTrue(a.outcome.get() instanceof UnloadTimeoutException, () -> "a: " + a.outcome.get());
        assertSame(a.outcome.get(), b.outcome.get(), "both callers see the one unload's timeout");
        assertEquals(UnloadStep.DRAIN, ((UnloadTimeoutException) a.outcome.get()).step());
        assertEquals(PluginState.GOING, plugin.state());

        probe.kept(Device.class).release();
        probe.forget();
        assertEquals(PluginState.COLLECTED, loader.unload(plugin, LONG).outcome());
    }

    @Test
    void loadingAnIdWhilePreviousGenerationIsGoingIsRefused() throws Exception {
        Plugin plugin = loader.load(held);
        assertThrows(UnloadTimeoutException.class, () -> loader.unload(plugin, Duration.ofMillis(200)));
        assertEquals(PluginState.GOING, plugin.state());

        String m = refused(held);
        assertTrue(m.contains("plugin id 'held'") && m.contains("already loaded as generation 1") && m.contains("GOING")
                && m.contains("unload it first"), m);
        assertEquals(PluginState.GOING, plugin.state(), "the refused load did not disturb the going generation");

        probe.kept(Device.class).release();
        probe.forget();
        assertEquals(PluginState.COLLECTED, loader.unload(plugin, LONG).outcome());
        Plugin again = loader.load(held); // and once it is gone, the id loads again
        assertEquals(2, again.generation(), "the refused load did not take a generation");
        probe.kept(Device.class).release();
        probe.forget();
        assertEquals(PluginState.COLLECTED, loader.unload(again, LONG).outcome());
    }
}
