package dev.unloadguard.testkit;

import static dev.unloadguard.testkit.UnloadAssertions.assertCollected;
import static dev.unloadguard.testkit.UnloadAssertions.assertStillWaiting;
import static dev.unloadguard.testkit.UnloadAssertions.assertUnloadsCleanly;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.epoch.BarrierOutcome;
import dev.unloadguard.loader.Plugin;
import dev.unloadguard.loader.PluginLoader;
import dev.unloadguard.loader.PluginState;
import dev.unloadguard.loader.UnloadReport;
import dev.unloadguard.loader.UnloadStep;
import dev.unloadguard.loader.UnloadTimeoutException;
import java.io.IOException;
import java.lang.ref.WeakReference;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The kit's assertions against real plugin jars loaded through the real loader, in a JVM started
 * with the built agent jar: each passes when the property holds, and fails with the report when
 * it does not.
 */
class UnloadAssertionsTest {

    private static final Duration LONG = Duration.ofSeconds(30);

    @TempDir
    static Path dir;

    private static Path jar;

    private final Holder holder = new Holder();
    /** Strong references a test keeps on purpose, dropped after it. */
    private Object kept;

    @BeforeAll
    static void buildPlugin() throws IOException {
        jar = TestJars.driverJar(dir, "kit.KitDriver", """
                package kit;
                import dev.unloadguard.device.Device;
                import dev.unloadguard.driver.*;
                import dev.unloadguard.device.*;
                import dev.unloadguard.testkit.Holder;
                public final class KitDriver implements Driver {
                    private Device card;
                    public String id() { return "kit"; }
                    public void init(DriverContext ctx) {
                        card = ctx.createDevice("card0");
                        String mode = ctx.config("kit.mode").orElse("clean");
                        Holder holder = ctx.service(Holder.class).orElseThrow();
                        holder.announce(getClass());
                        if (mode.equals("hold")) holder.hold(card.acquire());
                        if (mode.equals("leak")) holder.keep(new Listener());
                        if (mode.equals("throw")) card.addReleaseAction(d -> { throw new IllegalStateException("release action failed on purpose"); });
                    }
                    public void exit() { card.release(); card = null; }
                    static final class Listener { }
                }
                """);
    }

    @AfterEach
    void dropEverything() {
        holder.releaseDevices();
        holder.forgetObjects();
        kept = null;
    }

    private PluginLoader loader(String mode) {
        return PluginLoader.builder()
                .service(Holder.class, holder)
                .config("kit.mode", mode)
                .collectionTimeout(Duration.ofSeconds(2))
                .build();
    }

    private static UnloadReport report(boolean agentActive, PluginState outcome, List<String> failures) {
        return new UnloadReport("made-up", 3, agentActive, Map.of(UnloadStep.CLOSE, Duration.ofMillis(1)),
                BarrierOutcome.IMMEDIATE, outcome, 1, 1, failures, List.of());
    }

    // ---- assertUnloadsCleanly --------------------------------------------------------------

    @Test
    void aCleanUnloadPassesAndReturnsTheReport() throws Exception {
        PluginLoader loader = loader("clean");
        Plugin plugin = loader.load(jar);
        UnloadReport report = assertUnloadsCleanly(loader, plugin, LONG);
        assertEquals(PluginState.COLLECTED, report.outcome(), report::toString);
        assertTrue(report.agentActive(), "the kit's tests run with -javaagent");
        assertEquals(PluginState.COLLECTED, plugin.state());
    }

    @Test
    void aDeviceStillHeldFailsWithinTheBoundWithTheTimeoutReport() throws Exception {
        PluginLoader loader = loader("hold");
        Plugin plugin = loader.load(jar);

        AssertionError e = assertThrows(AssertionError.class, () -> assertUnloadsCleanly(loader, plugin, Duration.ofMillis(200)));
        assertTrue(e.getMessage().startsWith("plugin kit generation 1 did not unload within 200 ms:\n"), e::getMessage);
        assertTrue(e.getMessage().contains("timed out after 200 ms in step 3 (drain): devices are still held"), e::getMessage);
        assertTrue(e.getMessage().contains("device kit/card0") && e.getMessage().contains("1 reference(s)"), e::getMessage);
        assertTrue(e.getMessage().contains("stays GOING and intact"), e::getMessage);
        assertTrue(e.getCause() instanceof UnloadTimeoutException, () -> String.valueOf(e.getCause()));
        assertEquals(PluginState.GOING, plugin.state());

        holder.releaseDevices();
        assertUnloadsCleanly(loader, plugin, LONG);
    }

    @Test
    void aTimeoutThrownByAnUnloadOnAnotherThreadFailsWithItsReport() throws Exception {
        PluginLoader loader = loader("hold");
        Plugin plugin = loader.load(jar);
        CompletableFuture<UnloadReport> unload = CompletableFuture.supplyAsync(() -> {
            try {
                return loader.unload(plugin, Duration.ofMillis(200));
            } catch (UnloadTimeoutException | InterruptedException e) {
                throw new CompletionException(e);
            }
        });

        AssertionError e = assertThrows(AssertionError.class, () -> assertUnloadsCleanly(() -> unload.get(30, TimeUnit.SECONDS)));
        assertTrue(e.getMessage().startsWith("plugin kit generation 1 (GOING) did not unload:\n"), e::getMessage);
        assertTrue(e.getMessage().contains("in step 3 (drain)"), e::getMessage);

        holder.releaseDevices();
        assertUnloadsCleanly(loader, plugin, LONG);
    }

    @Test
    void aPluginObjectKeptByAHostServiceFailsAsLeakedNamingTheSuspect() throws Exception {
        PluginLoader loader = loader("leak");
        Plugin plugin = loader.load(jar);

        AssertionError e = assertThrows(AssertionError.class, () -> assertUnloadsCleanly(loader, plugin, LONG));
        assertTrue(e.getMessage().startsWith("plugin kit generation 1 did not unload cleanly: its class loader was not "
                + "collected (LEAKED)"), e::getMessage);
        assertTrue(e.getMessage().contains("outcome: LEAKED"), e::getMessage);
        assertTrue(e.getMessage().contains("host service dev.unloadguard.testkit.Holder.objects")
                && e.getMessage().contains("holds a plugin object of class kit.KitDriver$Listener"), e::getMessage);
        // the path from a heap dump: the host service's list, its array, the plugin object, its loader
        String path = e.getMessage().substring(e.getMessage().indexOf("\nleak path (from a heap dump of this JVM"));
        // the test thread's own frame is a root: the dump is taken on another thread
        assertTrue(path.contains("a local variable of thread \"" + Thread.currentThread().getName() + "\"\n  → "
                + getClass().getName() + ".holder (loader app)\n  → dev.unloadguard.testkit.Holder.objects (loader app)"), path);
        assertTrue(path.contains("dev.unloadguard.testkit.Holder.objects")
                && path.contains("java.util.concurrent.CopyOnWriteArrayList.array[0]")
                && path.contains("→ kit.KitDriver$Listener (loader plugin:")
                && path.contains("→ PluginClassLoader plugin:") && path.contains("plugin kit generation 1, unloaded"), path);
        assertEquals(PluginState.LEAKED, plugin.state());
    }

    @Test
    void aReleaseActionThatThrowsFailsTheUnload() throws Exception {
        PluginLoader loader = loader("throw");
        Plugin plugin = loader.load(jar);

        AssertionError e = assertThrows(AssertionError.class, () -> assertUnloadsCleanly(loader, plugin, LONG));
        assertTrue(e.getMessage().startsWith("plugin kit generation 1 did not unload cleanly: 1 release callback(s) or "
                + "action(s) threw"), e::getMessage);
        assertTrue(e.getMessage().contains("release failure: ") && e.getMessage().contains("release action failed on purpose"),
                e::getMessage);
        assertEquals(PluginState.COLLECTED, plugin.state(), "the unload itself went on");
    }

    @Test
    void anUnguardedUnloadFails() {
        AssertionError e = assertThrows(AssertionError.class,
                () -> assertUnloadsCleanly(() -> report(false, PluginState.COLLECTED, List.of())));
        assertTrue(e.getMessage().startsWith("plugin made-up generation 3 did not unload cleanly: the unload was UNGUARDED"),
                e::getMessage);
        assertTrue(e.getMessage().contains("-javaagent:unloadguard-agent.jar"), e::getMessage);
        assertTrue(e.getMessage().contains("(UNGUARDED: no agent)"), "the whole report follows: " + e.getMessage());
    }

    @Test
    void anUnloadThatDidNotCheckCollectionFails() {
        AssertionError e = assertThrows(AssertionError.class,
                () -> assertUnloadsCleanly(() -> report(true, PluginState.UNLOADED, List.of())));
        assertTrue(e.getMessage().contains("its collection was not checked (UNLOADED)"), e::getMessage);
    }

    @Test
    void aCleanReportPassesAndAnythingElseAnUnloadThrowsFailsNamingIt() {
        UnloadReport clean = report(true, PluginState.COLLECTED, List.of());
        assertEquals(clean, assertUnloadsCleanly(() -> clean));

        AssertionError e = assertThrows(AssertionError.class,
                () -> assertUnloadsCleanly(() -> { throw new IllegalStateException("refusing to unload"); }));
        assertTrue(e.getMessage().contains("threw java.lang.IllegalStateException: refusing to unload"), e::getMessage);
    }

    // ---- assertCollected -------------------------------------------------------------------

    private static WeakReference<Object> weaklyReachableObject() {
        return new WeakReference<>(new Object());
    }

    @Test
    void anUnreachableObjectIsCollected() {
        assertCollected(weaklyReachableObject(), Duration.ofSeconds(10));
    }

    @Test
    void aStronglyHeldObjectFailsNamingItAndWhereToLook() {
        kept = new StringBuilder("held");
        WeakReference<Object> ref = new WeakReference<>(kept);

        AssertionError e = assertThrows(AssertionError.class, () -> assertCollected(ref, Duration.ofMillis(300)));
        assertTrue(e.getMessage().startsWith("expected an object of class java.lang.StringBuilder@"), e::getMessage);
        assertTrue(e.getMessage().contains("to be garbage collected within 300 ms, but it is still reachable after"), e::getMessage);
        assertTrue(e.getMessage().contains("the unload report lists leak suspects"), e::getMessage);
    }

    @Test
    void aStronglyHeldClassLoaderIsNamed() throws IOException {
        try (URLClassLoader cl = new URLClassLoader("plugin:held.jar", new URL[0], null)) {
            kept = cl;
            AssertionError e = assertThrows(AssertionError.class,
                    () -> assertCollected(new WeakReference<>(cl), Duration.ofMillis(200)));
            assertTrue(e.getMessage().startsWith("expected class loader 'plugin:held.jar' (java.net.URLClassLoader@"),
                    e::getMessage);
        }
    }

    @Test
    void anUnloadedPluginsClassIsCollected() throws Exception {
        PluginLoader loader = loader("clean");
        Plugin plugin = loader.load(jar);
        WeakReference<Class<?>> driverClass = holder.driverClass();
        assertUnloadsCleanly(loader, plugin, LONG);
        assertCollected(driverClass, Duration.ofSeconds(10));
    }

    @Test
    void aLeakedPluginsClassFailsNamingItsLoader() throws Exception {
        PluginLoader loader = loader("leak");
        Plugin plugin = loader.load(jar);
        WeakReference<Class<?>> driverClass = holder.driverClass();
        assertThrows(AssertionError.class, () -> assertUnloadsCleanly(loader, plugin, LONG));

        AssertionError e = assertThrows(AssertionError.class, () -> assertCollected(driverClass, Duration.ofMillis(300)));
        assertTrue(e.getMessage().startsWith("expected class kit.KitDriver (defined by 'plugin:"), e::getMessage);
        assertTrue(e.getMessage().contains("Holder.objects") && e.getMessage().contains("→ kit.KitDriver$Listener (loader plugin:"),
                e::getMessage);
    }

    // ---- assertStillWaiting ----------------------------------------------------------------

    @Test
    void aFutureThatStaysIncompletePasses() {
        assertStillWaiting(new CompletableFuture<>(), Duration.ofMillis(200));
    }

    @Test
    void aFutureThatCompletesMeanwhileFailsWithWhatItCompletedWith() {
        CompletableFuture<String> unload = new CompletableFuture<>();
        CompletableFuture.delayedExecutor(50, TimeUnit.MILLISECONDS).execute(() -> unload.complete("the unload report"));

        AssertionError e = assertThrows(AssertionError.class, () -> assertStillWaiting(unload, Duration.ofSeconds(5)));
        assertTrue(e.getMessage().startsWith("expected the future to stay incomplete (still waiting) for 5 s, but it completed after"),
                e::getMessage);
        assertTrue(e.getMessage().endsWith("with:\nthe unload report"), e::getMessage);
    }

    @Test
    void aFutureThatFailedFailsWithTheError() {
        CompletableFuture<String> unload = CompletableFuture.failedFuture(new IllegalStateException("no agent"));
        AssertionError e = assertThrows(AssertionError.class, () -> assertStillWaiting(unload, Duration.ofSeconds(5)));
        assertTrue(e.getMessage().endsWith("by throwing:\njava.lang.IllegalStateException: no agent"), e::getMessage);
    }
}
