package dev.unloadguard.it;

import static dev.unloadguard.testkit.UnloadAssertions.assertCollected;
import static dev.unloadguard.testkit.UnloadAssertions.assertStillWaiting;
import static dev.unloadguard.testkit.UnloadAssertions.assertUnloadsCleanly;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.epoch.BarrierOutcome;
import dev.unloadguard.it.entries.EntryBus;
import dev.unloadguard.it.entries.Service;
import dev.unloadguard.it.entries.ServicePlugin;
import dev.unloadguard.it.entries.ServicePlugins;
import dev.unloadguard.loader.ForeignPluginLoaders;
import dev.unloadguard.loader.GuardScope;
import dev.unloadguard.it.pf4j.CallbackPlugin;
import dev.unloadguard.it.pf4j.TailGate;
import dev.unloadguard.it.support.JarManifests;
import dev.unloadguard.it.support.TestPlugins;
import dev.unloadguard.loader.UnloadReport;
import dev.unloadguard.loader.UnloadStep;
import dev.unloadguard.loader.UnloadTimeoutException;
import dev.unloadguard.pf4j.SafeUnloadPluginManager;
import dev.unloadguard.sample.helper.PagemapCache;
import java.io.IOException;
import java.lang.ref.WeakReference;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.pf4j.DefaultPluginManager;
import org.pf4j.PluginManager;
import org.pf4j.PluginRuntimeException;
import org.pf4j.PluginState;
import org.pf4j.PluginWrapper;

/**
 * A plugin host unloadguard did not write: the real PF4J from Maven Central, its plugin a real jar
 * (manifest descriptor) loaded by PF4J's own {@code JarPluginLoader} and {@code PluginClassLoader}.
 * The plugin hands the host a {@code ReleaseCallback}; a host library (the helper sample's
 * {@link PagemapCache}) calls it later from its worker thread; the callback's tail is held on a
 * gate, then loads a plugin class used there for the first time.
 *
 * <p>With PF4J's own {@link DefaultPluginManager} the unload closes the class loader under the
 * running tail, which then fails with {@link NoClassDefFoundError} (the reproducer: the safety
 * removed). With {@link SafeUnloadPluginManager} — the {@code unloadguard-pf4j} adapter — the unload
 * waits for the tail, the tail completes, and the plugin's class loader is collected.
 *
 * <p>The PF4J column of the side-by-side table in {@code docs/other-hosts.md} is measured here
 * ({@link #pf4jAloneClosesTheLoaderUnderAHostServiceCallInFlightAndLetsLateCallsRunOnIt}): the
 * same host-service call in flight that {@code EntryGuardIT} runs on unloadguard's loader in
 * both guard scopes.
 */
class Pf4jIT {

    private static final Duration LONG = Duration.ofSeconds(30);
    private static final String ID = "hello";

    private static Path jar;
    private static Path serviceJar;

    private Path pluginsRoot;
    private PagemapCache worker;
    private TailGate gate;

    @BeforeAll
    static void buildPf4jPlugin() throws IOException {
        Path plain = TestPlugins.plugin()
                .source("it.pf4j.hello.HelloPlugin", """
                        package it.pf4j.hello;
                        import dev.unloadguard.driver.ReleaseCallback;
                        import dev.unloadguard.it.pf4j.CallbackPlugin;
                        import dev.unloadguard.it.pf4j.TailGate;
                        public final class HelloPlugin extends org.pf4j.Plugin implements CallbackPlugin {
                            @Override
                            public ReleaseCallback releaseCallback(TailGate gate) {
                                return new HelloCallback(gate);
                            }
                        }
                        """)
                .source("it.pf4j.hello.HelloCallback", """
                        package it.pf4j.hello;
                        import dev.unloadguard.driver.ReleaseCallback;
                        import dev.unloadguard.it.pf4j.TailGate;
                        /** Guarded by the agent once its class loader is registered: it implements ReleaseCallback. */
                        final class HelloCallback implements ReleaseCallback {
                            private final TailGate gate;
                            HelloCallback(TailGate gate) { this.gate = gate; }
                            @Override
                            public void release() {
                                gate.reached(getClass());           // the tail is held here
                                new HelloTail(gate).file();         // first use of HelloTail: loaded from the plugin jar now
                            }
                        }
                        """)
                .source("it.pf4j.hello.HelloTail", """
                        package it.pf4j.hello;
                        import dev.unloadguard.it.pf4j.TailGate;
                        final class HelloTail {
                            private final TailGate gate;
                            HelloTail(TailGate gate) { this.gate = gate; }
                            void file() { gate.finished(); }
                        }
                        """)
                .build("pf4j-hello");
        jar = JarManifests.withEntries(plain, Map.of(
                "Plugin-Id", ID,
                "Plugin-Version", "1.0.0",
                "Plugin-Class", "it.pf4j.hello.HelloPlugin"));
        serviceJar = ServicePlugins.pf4jServiceJar();
    }

    @BeforeEach
    void host() throws IOException {
        pluginsRoot = Files.createDirectories(Path.of("target", "pf4j-plugins").toAbsolutePath());
        worker = new PagemapCache("pf4j-host-worker");
        gate = new TailGate();
    }

    @AfterEach
    void stopHost() throws InterruptedException {
        gate.open();
        worker.close();
    }

    /**
     * Loads and starts the plugin, hands its release callback to the host worker and lets the
     * worker call it: returns once the callback's tail is held on the gate. Nothing of the plugin
     * stays in this frame or the caller's.
     */
    private void startPluginAndHoldItsCallbackTail(PluginManager manager) {
        assertEquals(ID, manager.loadPlugin(jar));
        assertEquals(PluginState.STARTED, manager.startPlugin(ID));
        CallbackPlugin plugin = (CallbackPlugin) manager.getPlugin(ID).getPlugin();
        worker.hold(plugin.releaseCallback(gate));
        worker.dropAllLater();
        await("the callback's tail is held on the gate").atMost(Duration.ofSeconds(10)).until(gate::isReached);
    }

    @Test
    void withPf4jsOwnUnloadTheLoaderIsClosedUnderTheRunningCallbackAndItsTailFails() {
        DefaultPluginManager manager = new DefaultPluginManager(pluginsRoot);
        startPluginAndHoldItsCallbackTail(manager);
        assertEquals(0, gate.depth(), "PF4J's loaders are not registered: the callback runs unguarded");

        assertTrue(manager.unloadPlugin(ID), "PF4J unloads at once: it neither knows nor waits for the callback");
        assertNull(manager.getPlugin(ID));

        gate.open();
        await("the worker finished the callback").atMost(Duration.ofSeconds(10)).until(worker::idle);
        List<Throwable> failures = worker.failures();
        assertEquals(1, failures.size(), () -> "the tail must hit the closed loader: " + failures);
        NoClassDefFoundError error = assertInstanceOf(NoClassDefFoundError.class, failures.get(0));
        assertTrue(error.getMessage().contains("it/pf4j/hello/HelloTail"), error::toString);
        assertInstanceOf(ClassNotFoundException.class, error.getCause(), "PF4J's closed PluginClassLoader cannot find it");
        assertEquals(0, gate.finishedTails());
    }

    @Test
    void withTheAdapterTheUnloadWaitsForTheCallbackTheTailCompletesAndTheLoaderIsCollected() {
        SafeUnloadPluginManager manager = new SafeUnloadPluginManager(LONG, pluginsRoot);
        startPluginAndHoldItsCallbackTail(manager);
        assertEquals(1, gate.depth(), "the adapter registered PF4J's loader: the callback runs inside the release epoch");
        assertTrue(ForeignPluginLoaders.threadsInside(gate.pluginLoader().get()).stream().anyMatch(t -> t.getName().equals("pf4j-host-worker")));

        CompletableFuture<UnloadReport> unload = CompletableFuture.supplyAsync(() -> {
            try {
                return manager.unloadWithReport(ID);
            } catch (UnloadTimeoutException e) {
                throw new CompletionException(e);
            }
        });
        await("PF4J's stop ran (or the unload ended)").atMost(Duration.ofSeconds(10))
                .until(() -> {
                    PluginWrapper wrapper = manager.getPlugin(ID);
                    return wrapper == null || wrapper.getPluginState() == PluginState.STOPPED;
                });
        assertStillWaiting(unload, Duration.ofMillis(500));
        assertNotNull(manager.getPlugin(ID), "the plugin is still loaded while its callback runs");
        assertEquals(0, gate.finishedTails());

        gate.open();
        UnloadReport report = assertUnloadsCleanly(() -> unload.get(30, TimeUnit.SECONDS));
        assertEquals(BarrierOutcome.WAITED, report.barrier(), report::toString);
        assertNull(manager.getPlugin(ID), "PF4J's own unload ran after the barrier");
        await().atMost(Duration.ofSeconds(10)).until(worker::idle);
        assertEquals(List.of(), worker.failures(), "the tail must not fail");
        assertEquals(1, gate.finishedTails());
        assertCollected(gate.pluginLoader(), Duration.ofSeconds(10));
    }

    @Test
    void aCallbackStillRunningPastTheTimeoutLeavesThePluginLoadedAndTheUnloadCanBeRetried() {
        SafeUnloadPluginManager manager = new SafeUnloadPluginManager(Duration.ofMillis(300), pluginsRoot);
        startPluginAndHoldItsCallbackTail(manager);

        PluginRuntimeException e = assertThrows(PluginRuntimeException.class, () -> manager.unloadPlugin(ID));
        UnloadTimeoutException timeout = assertInstanceOf(UnloadTimeoutException.class, e.getCause());
        assertEquals(UnloadStep.BARRIER, timeout.step());
        assertEquals(List.of("pf4j-host-worker"), timeout.threadsInsideEpoch());
        assertTrue(timeout.getMessage().contains("it.pf4j.hello.HelloCallback.release"), timeout::getMessage);
        assertEquals(PluginState.STOPPED, manager.getPlugin(ID).getPluginState(), "stopped, not unloaded");

        gate.open();
        await().atMost(Duration.ofSeconds(10)).until(worker::idle);
        assertTrue(manager.unloadPlugin(ID), "the retry unloads it");
        assertNull(manager.getPlugin(ID));
        UnloadReport report = manager.unloadReport(ID).orElseThrow();
        assertUnloadsCleanly(() -> report);
        assertEquals(List.of(), worker.failures());
        assertEquals(1, gate.finishedTails());
    }

    // ---- the side-by-side: a host service call in flight, PF4J alone ------------------------

    /**
     * Loads and starts the PF4J service plugin, keeps its {@link Service} in the host's bus (a host
     * registry) and returns a weak reference to its class loader; no plugin object stays in the
     * caller's frame.
     */
    private static WeakReference<ClassLoader> startServicePlugin(PluginManager manager, EntryBus bus) {
        assertEquals(ServicePlugins.PF4J_ID, manager.loadPlugin(serviceJar));
        assertEquals(PluginState.STARTED, manager.startPlugin(ServicePlugins.PF4J_ID));
        Service service = ((ServicePlugin) manager.getPlugin(ServicePlugins.PF4J_ID).getPlugin()).service(bus);
        bus.keep("service", service);
        return new WeakReference<>(service.getClass().getClassLoader());
    }

    /**
     * The host calls the plugin's service on a thread of its own (the service is fetched from the
     * bus at the call); the outcome is kept as a string (a kept error's backtrace would pin the
     * plugin).
     */
    private static Thread call(EntryBus bus, String request, AtomicReference<String> outcome) {
        Thread t = new Thread(() -> {
            try {
                outcome.set("returned " + bus.kept("service", Service.class).handle(request));
            } catch (Throwable e) {
                outcome.set("threw " + e + (e.getCause() == null ? "" : " caused by " + e.getCause()));
            }
        }, "pf4j-host-caller");
        t.setDaemon(true);
        t.start();
        return t;
    }

    /*
     * Measured (PF4J 3.15.0, JDK 17): unloadPlugin returns true at once with the call held inside
     * the plugin; a new call on the kept service returns "pong" from the closed loader; the call in
     * flight resumes, runs its already loaded code, then fails with NoClassDefFoundError
     * it/entries/svc/Reply caused by ClassNotFoundException; the loader is collected once the host
     * dropped the service and the call ended.
     */
    @Test
    void pf4jAloneClosesTheLoaderUnderAHostServiceCallInFlightAndLetsLateCallsRunOnIt() throws Exception {
        EntryBus bus = new EntryBus().closeGate("hold-1");
        DefaultPluginManager manager = new DefaultPluginManager(pluginsRoot);
        WeakReference<ClassLoader> loader = startServicePlugin(manager, bus);
        AtomicReference<String> inFlight = new AtomicReference<>();
        Thread caller = call(bus, "hold-1", inFlight);
        try {
            await("the host's call is inside the plugin").atMost(Duration.ofSeconds(10)).until(() -> bus.saw("reached hold-1"));

            assertTrue(manager.unloadPlugin(ServicePlugins.PF4J_ID), "PF4J unloads at once");
            assertNull(manager.getPlugin(ServicePlugins.PF4J_ID));
            assertTrue(caller.isAlive() && inFlight.get() == null, "PF4J did not wait: the call is still held inside the plugin");

            // a new call after the unload, on the service the host kept: plugin code runs on the closed loader
            assertEquals("pong", bus.kept("service", Service.class).handle("ping"),
                    "a new call after PF4J's unload runs the plugin's already loaded code, silently");

            bus.openGate("hold-1");
            caller.join(TimeUnit.SECONDS.toMillis(10));
            assertTrue(bus.saw("resumed hold-1"), () -> "the call in flight resumed and ran plugin code after the close: " + bus.events());
            String outcome = inFlight.get();
            System.out.println("PF4J alone, the call in flight: " + outcome);
            assertTrue(outcome != null && outcome.startsWith("threw java.lang.NoClassDefFoundError: it/entries/svc/Reply")
                            && outcome.contains("caused by java.lang.ClassNotFoundException"),
                    () -> "the call in flight must fail at its first class not yet loaded, from PF4J's closed loader: " + outcome);
        } finally {
            bus.openAllGates();
            caller.join(TimeUnit.SECONDS.toMillis(10));
        }
        bus.forget();
        assertCollected(loader, Duration.ofSeconds(10));
    }

    /*
     * Measured (PF4J 3.15.0 with the unloadguard-pf4j adapter, its loaders guarded with release
     * paths only (the adapter's narrower scope, chosen explicitly); PF4J's class loaders have no name, so the close
     * audit cannot tell their frames apart and does not run): the barrier does not wait for the
     * call in flight and the loader is closed under it, as with PF4J alone: the call resumes on
     * the closed loader and fails at its first class not yet loaded (unloadguard's loader turns
     * that into a PluginUnloadedError only for its own loaders: here it is PF4J's
     * NoClassDefFoundError); the unload reports LEAKED while the call still holds the plugin.
     */
    @Test
    void withTheAdapterInReleasePathsOnlyACallInFlightIsNotWaitedForAndPf4jsUnnamedLoadersAreNotAudited() throws Exception {
        EntryBus bus = new EntryBus().closeGate("hold-1");
        SafeUnloadPluginManager manager = new SafeUnloadPluginManager(Duration.ofSeconds(2), GuardScope.RELEASE_PATHS, pluginsRoot);
        WeakReference<ClassLoader> loader = startServicePlugin(manager, bus);
        AtomicReference<String> inFlight = new AtomicReference<>();
        Thread caller = call(bus, "hold-1", inFlight);
        UnloadReport report;
        try {
            await("the host's call is inside the plugin").atMost(Duration.ofSeconds(10)).until(() -> bus.saw("reached hold-1"));
            bus.forget();
            report = manager.unloadWithReport(ServicePlugins.PF4J_ID);
            System.out.println("PF4J with the adapter, the unload while the call is held: " + report.summary() + "; audit "
                    + report.audit().summary());
            assertTrue(caller.isAlive() && inFlight.get() == null, "the unload did not wait: the call is still held");
            assertNull(manager.getPlugin(ServicePlugins.PF4J_ID));

            bus.openGate("hold-1");
            caller.join(TimeUnit.SECONDS.toMillis(10));
            System.out.println("PF4J with the adapter, the call in flight: " + inFlight.get());
        } finally {
            bus.openAllGates();
            caller.join(TimeUnit.SECONDS.toMillis(10));
        }
        String outcome = inFlight.get();
        UnloadReport r = report;
        assertAll(
                () -> assertEquals(GuardScope.RELEASE_PATHS, r.guardScope(), r::toString),
                () -> assertEquals(BarrierOutcome.IMMEDIATE, r.barrier(), r::toString),
                () -> assertFalse(r.audit().ran(), () -> "PF4J's loaders have no name: " + r.audit().summary()),
                () -> assertEquals(dev.unloadguard.loader.PluginState.LEAKED, r.outcome(),
                        r::toString),
                () -> assertTrue(bus.saw("resumed hold-1"), bus.events()::toString),
                () -> assertTrue(outcome != null && outcome.startsWith("threw java.lang.NoClassDefFoundError: it/entries/svc/Reply"),
                        () -> "the call in flight fails on PF4J's closed loader: " + outcome));
        assertCollected(loader, Duration.ofSeconds(10));
    }
    /*
     * The adapter's default scope, ENTRIES: the host's call in flight during PF4J's unload is
     * waited for (the unload stays blocked while the call is held, then the barrier reports
     * WAITED), the call completes normally, a new call on the service the host kept is refused at
     * the call with PluginUnloadedError, and the loader is collected.
     */
    @Test
    void withTheAdapterByDefaultTheUnloadWaitsForTheCallInFlightAndRefusesLaterCalls() throws Exception {
        EntryBus bus = new EntryBus().closeGate("hold-1");
        SafeUnloadPluginManager manager = new SafeUnloadPluginManager(Duration.ofSeconds(30), pluginsRoot);
        WeakReference<ClassLoader> loader = startServicePlugin(manager, bus);
        AtomicReference<String> inFlight = new AtomicReference<>();
        Thread caller = call(bus, "hold-1", inFlight);
        java.util.concurrent.CompletableFuture<UnloadReport> unload;
        try {
            await("the host's call is inside the plugin").atMost(Duration.ofSeconds(10)).until(() -> bus.saw("reached hold-1"));
            unload = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
                try {
                    return manager.unloadWithReport(ServicePlugins.PF4J_ID);
                } catch (dev.unloadguard.loader.UnloadTimeoutException e) {
                    throw new java.util.concurrent.CompletionException(e);
                }
            });
            await("the unload waits for the call in flight").during(Duration.ofMillis(500)).atMost(Duration.ofSeconds(10))
                    .until(() -> !unload.isDone() && inFlight.get() == null);
            bus.openGate("hold-1");
            caller.join(TimeUnit.SECONDS.toMillis(10));
        } finally {
            bus.openAllGates();
            caller.join(TimeUnit.SECONDS.toMillis(10));
        }
        UnloadReport r = unload.get(30, TimeUnit.SECONDS);
        System.out.println("PF4J with the adapter (ENTRIES), the unload while the call is held: " + r.summary());
        String outcome = inFlight.get();
        AtomicReference<String> late = new AtomicReference<>();
        Thread lateCaller = call(bus, "late", late);
        lateCaller.join(TimeUnit.SECONDS.toMillis(10));
        assertAll(
                () -> assertEquals(GuardScope.ENTRIES, r.guardScope(), r::toString),
                () -> assertEquals(BarrierOutcome.WAITED, r.barrier(), r::toString),
                () -> assertTrue(outcome != null && outcome.startsWith("returned"), () -> "the call in flight completes: " + outcome),
                () -> assertTrue(late.get() != null && late.get().startsWith("threw dev.unloadguard.driver.PluginUnloadedError")
                        && late.get().contains("was unloaded"), () -> "a call after the unload is refused at the call: " + late.get()));
        bus.forget();
        assertCollected(loader, Duration.ofSeconds(10));
    }
}
