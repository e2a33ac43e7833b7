package dev.unloadguard.it;

import static dev.unloadguard.it.support.UnloadChecks.assertUnloadStillWaitingGoing;
import static dev.unloadguard.it.support.UnloadChecks.show;
import static dev.unloadguard.it.support.UnloadChecks.unloadOutcome;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.unloadguard.epoch.BarrierOutcome;
import dev.unloadguard.it.entries.EntryBus;
import dev.unloadguard.it.entries.EntryScenario;
import dev.unloadguard.it.entries.Service;
import dev.unloadguard.it.entries.ServicePlugins;
import dev.unloadguard.it.support.ChildJvm;
import dev.unloadguard.it.support.Leftovers;
import dev.unloadguard.it.support.PluginJarCache;
import dev.unloadguard.it.support.SampleHost;
import dev.unloadguard.it.support.UnloadChecks;
import dev.unloadguard.loader.CloseAuditException;
import dev.unloadguard.loader.GuardScope;
import dev.unloadguard.loader.LoadOption;
import dev.unloadguard.loader.Plugin;
import dev.unloadguard.loader.PluginLoader;
import dev.unloadguard.loader.PluginState;
import dev.unloadguard.loader.UnloadReport;
import dev.unloadguard.loader.UnloadStep;
import dev.unloadguard.loader.UnloadTimeoutException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * Issue 10, "Guard every way into a plugin", in this JVM started by Failsafe with the real
 * {@code -javaagent}: purpose-built plugins ({@link ServicePlugins}) loaded through the real
 * loader, host threads calling into them through a host service interface ({@link Service}), a
 * plugin thread of its own, and a frame the weaving missed on purpose. Interleavings are forced
 * with gates ({@link EntryBus}), never by timing; "still waiting" is {@code during(...)}.
 *
 * <p>Each test asserts what fails if the feature breaks: with the seed's guard (release paths only)
 * the unload does not wait for a host call or a plugin thread, a late call into loaded plugin code
 * runs silently, and nothing audits the stacks before the close. The comment above each test quotes
 * what it failed with on main before the feature.
 */
class EntryGuardIT {

    private static final Duration LONG = Duration.ofSeconds(30);
    private static final Duration STILL_WAITING = Duration.ofMillis(500);
    private static final Path TEMURIN_25 = Path.of("/usr/lib/jvm/temurin-25-jdk-amd64");
    private static final PluginJarCache JARS = new PluginJarCache();

    private final EntryBus bus = new EntryBus();
    private final List<PluginLoader> loaders = new ArrayList<>();
    private final List<Call> calls = new ArrayList<>();

    /**
     * Opens every gate, stops the pumps, lets host calls finish, drops what the host kept, and
     * unloads whatever a failed test left loaded, quietly: the test's own failure is what counts.
     */
    @AfterEach
    void cleanUp() throws InterruptedException {
        bus.openAllGates();
        for (int g = 1; g <= 3; g++) {
            bus.requestStop("entries-pump-" + g);
        }
        for (Call c : calls) {
            c.thread.join(10_000);
        }
        bus.forget();
        UnloadChecks.unloadLeftovers(loaders);
    }

    // ---- support ----------------------------------------------------------------------------

    private PluginLoader loader(UnaryOperator<PluginLoader.Builder> configure) {
        PluginLoader loader = configure.apply(PluginLoader.builder().awaitCollection(true).service(EntryBus.class, bus)
                .collectionTimeout(Duration.ofSeconds(10))).build();
        loaders.add(loader);
        return loader;
    }

    private static Path serviceJar() throws IOException {
        return JARS.jar("service", ServicePlugins::serviceJar);
    }

    private static Path pumpJar() throws IOException {
        return JARS.jar("pump", ServicePlugins::pumpJar);
    }

    private static Path auditJar() throws IOException {
        return JARS.jar("audit", ServicePlugins::auditJar);
    }

    /**
     * A host call into the plugin's service on a thread of its own, which is not inside the
     * plugin: the service is fetched from the bus at the call (the host keeps no other reference),
     * the outcome kept as a string (a kept error's backtrace could pin the plugin).
     */
    private final class Call {
        final Thread thread;
        final AtomicReference<String> outcome = new AtomicReference<>();

        Call(String threadName, String request) {
            EntryBus b = bus;
            thread = new Thread(() -> {
                try {
                    outcome.set("returned " + b.kept("service", Service.class).handle(request));
                } catch (Throwable e) {
                    outcome.set("threw " + e);
                }
            }, threadName);
            thread.setDaemon(true);
            calls.add(this);
            thread.start();
        }

        /** Waits (bounded) for the call to end and returns its outcome. */
        String await() throws InterruptedException {
            thread.join(TimeUnit.SECONDS.toMillis(10));
            if (thread.isAlive()) {
                fail("the host call on \"" + thread.getName() + "\" did not end within 10 s: "
                        + java.util.Arrays.toString(thread.getStackTrace()));
            }
            return outcome.get();
        }
    }

    private Call call(String threadName, String request) {
        return new Call(threadName, request);
    }

    /** A call on this thread (the test's own, not inside the plugin); its outcome as a string. */
    private String callHere(String request) {
        try {
            return "returned " + bus.kept("service", Service.class).handle(request);
        } catch (Throwable e) {
            return "threw " + e;
        }
    }

    private void awaitEvent(String event) {
        UnloadChecks.awaitEvent(bus, event);
    }

    /** Holds a host call inside the service's {@code handle} on the gate named {@code request}. */
    private Call holdACallInFlight(String threadName, String request) {
        Call c = call(threadName, request);
        awaitEvent("reached " + request);
        return c;
    }

    private static void assertRefusedEntry(String outcome, String pluginId, int generation, String method, String how) {
        assertTrue(outcome.startsWith("threw dev.unloadguard.driver.PluginUnloadedError: ") && outcome.contains("plugin " + pluginId)
                        && outcome.contains("generation " + generation) && outcome.contains(method) && outcome.contains(how),
                () -> "the call must fail at the entry with a PluginUnloadedError naming plugin " + pluginId + ", generation "
                        + generation + ", the method " + method + " and \"" + how + "\", but it " + outcome);
    }

    // ---- 1. a host service call in flight during unload ---------------------------------------

    /*
     * On main before the feature (c3a88f7):
     *   the unload must wait for the host's call still inside the plugin's service; but the unload
     *   did not wait: plugin entries-svc generation 1 (UNLOADED), class loader closed at ..., unload
     *   still running
     */
    @Test
    void aHostServiceCallInFlightKeepsTheUnloadWaitingThenCompletesAndTheGenerationIsCollected() throws Exception {
        bus.closeGate("hold-1");
        PluginLoader loader = loader(b -> b);
        Plugin plugin = loader.load(serviceJar());
        Call inFlight = holdACallInFlight("host-caller", "hold-1");
        bus.forget(); // the host keeps nothing of the plugin: only the running call does

        CompletableFuture<UnloadReport> unload = SampleHost.unloadAsync(loader, plugin, LONG);
        await().atMost(Duration.ofSeconds(10)).until(() -> plugin.state() != PluginState.LIVE);
        assertUnloadStillWaitingGoing(unload, plugin, STILL_WAITING, "the unload must wait for the host's call still inside the "
                + "plugin's service");

        bus.openGate("hold-1");
        assertEquals("returned reply to hold-1", inFlight.await(), "the call in flight completes normally, its first use of a "
                + "class included");
        UnloadReport report = unload.get(30, TimeUnit.SECONDS);
        assertAll(
                () -> assertEquals(GuardScope.ENTRIES, report.guardScope(), "the default scope, and the report says so"),
                () -> assertEquals(BarrierOutcome.WAITED, report.barrier(), report::toString),
                () -> assertTrue(report.audit().ran() && report.audit().framesFound() == 0, report::toString),
                () -> assertEquals(PluginState.COLLECTED, report.outcome(), report::toString),
                () -> assertEquals(0, report.refusedEntries(), report::toString),
                () -> assertEquals(0, plugin.lateAccesses(), "late accesses"));
    }

    // ---- 2. a new call after GOING, and after UNLOADED -----------------------------------------

    /*
     * On main before the feature (c3a88f7): the unload did not wait for the call in flight, so
     * there was no GOING to call into:
     *   the unload waits for the call in flight; but the unload did not wait: plugin entries-svc
     *   generation 1 (UNLOADED), class loader closed at ..., unload still running
     */
    @Test
    void aNewCallAfterGoingFailsAtTheCallNamingThePluginGenerationMethodAndThatItIsUnloading() throws Exception {
        bus.closeGate("hold-1");
        PluginLoader loader = loader(b -> b);
        Plugin plugin = loader.load(serviceJar());
        Call inFlight = holdACallInFlight("host-caller", "hold-1");
        CompletableFuture<UnloadReport> unload = SampleHost.unloadAsync(loader, plugin, LONG);
        await().atMost(Duration.ofSeconds(10)).until(() -> plugin.state() != PluginState.LIVE);
        assertUnloadStillWaitingGoing(unload, plugin, STILL_WAITING, "the unload waits for the call in flight");

        String late = callHere("ping");                       // this thread is not inside the plugin
        Call lateOnAnotherThread = call("late-caller", "ping");
        String lateThere = lateOnAnotherThread.await();
        assertRefusedEntry(late, ServicePlugins.SERVICE_ID, 1, ServicePlugins.HANDLE, "unloading");
        assertRefusedEntry(lateThere, ServicePlugins.SERVICE_ID, 1, ServicePlugins.HANDLE, "unloading");
        assertFalse(bus.saw("reached ping"), "a refused entry runs no plugin code");
        assertEquals(2, plugin.refusedEntries(), "each refused entry is counted on the plugin");
        assertEquals(2, loader.refusedEntries(), "and on its loader");

        bus.forget();
        bus.openGate("hold-1");
        assertEquals("returned reply to hold-1", inFlight.await(), "the call already inside runs to its end");
        UnloadReport report = unload.get(30, TimeUnit.SECONDS);
        assertAll(
                () -> assertEquals(PluginState.COLLECTED, report.outcome(), report::toString),
                () -> assertEquals(2, report.refusedEntries(), report::toString),
                () -> assertTrue(report.toString().contains("refused"), () -> "the report shows the refused entries:\n" + report));
    }

    /*
     * A host that keeps the refusal it caught (the last error of a call, a log queue, a metric)
     * must not pin the generation, although the error's stack names the refused plugin method
     * (a throwable's hidden backtrace refers to the class of every frame).
     */
    @Test
    void aRefusedEntryErrorTheHostKeepsDoesNotPinTheGeneration() throws Exception {
        bus.closeGate("hold-1");
        PluginLoader loader = loader(b -> b);
        Plugin plugin = loader.load(serviceJar());
        Call inFlight = holdACallInFlight("host-caller", "hold-1");
        CompletableFuture<UnloadReport> unload = SampleHost.unloadAsync(loader, plugin, LONG);
        await().atMost(Duration.ofSeconds(10)).until(() -> plugin.state() != PluginState.LIVE);

        Throwable kept = null;
        try {
            bus.kept("service", Service.class).handle("ping");
        } catch (Throwable e) {
            kept = e;                                          // the host keeps it past the unload
        }
        assertRefusedEntry("threw " + kept, ServicePlugins.SERVICE_ID, 1, ServicePlugins.HANDLE, "unloading");
        assertTrue(java.util.Arrays.stream(kept.getStackTrace()).anyMatch(f -> f.getClassName().startsWith("it.entries.svc.")),
                () -> "the refusal's stack still names the refused plugin method");

        bus.forget();
        bus.openGate("hold-1");
        assertEquals("returned reply to hold-1", inFlight.await());
        UnloadReport report = unload.get(30, TimeUnit.SECONDS);
        assertEquals(PluginState.COLLECTED, report.outcome(), report::toString);
        assertTrue(kept instanceof Error);
    }

    /*
     * On main before the feature (c3a88f7), the late call ran the plugin's loaded code silently:
     *   the call must fail at the entry with a PluginUnloadedError naming plugin entries-svc,
     *   generation 1, the method it.entries.svc.GatedService.handle(java.lang.String) and "was
     *   unloaded at ...", but it returned pong
     */
    @Test
    void aLateCallIntoAlreadyLoadedPluginCodeAfterTheUnloadFailsAtTheCall() throws Exception {
        // the host keeps the service across the unload on purpose (a registry that forgot it): no collection check there
        PluginLoader loader = loader(b -> b.collectionTimeout(Duration.ZERO));
        Plugin plugin = loader.load(serviceJar());
        assertEquals("returned pong", callHere("ping"), "while LIVE");
        UnloadReport report = loader.unload(plugin, LONG);
        assertEquals(PluginState.UNLOADED, report.outcome(), report::toString);

        String late = callHere("ping");
        assertRefusedEntry(late, ServicePlugins.SERVICE_ID, 1, ServicePlugins.HANDLE, "was unloaded at");
        assertEquals(1, plugin.refusedEntries(), "counted on the plugin");
        assertEquals(1, loader.refusedEntries(), "and on its loader");
        assertEquals(0, plugin.lateAccesses(), "refused at the call: no class was asked of the closed loader");
        bus.forget();
        Leftovers.awaitLoadersCollected(loader);              // nothing of the refused call pins the plugin
    }

    // ---- 3. the host's own clean-up while GOING --------------------------------------------------

    /*
     * On main before the feature (c3a88f7) there was no GOING to clean up in (the unload did not
     * wait for the call in flight). Once there is, this guards against a gate that refuses
     * hashCode/equals/toString: then the host's HashSet.remove throws PluginUnloadedError.
     */
    @Test
    void hashCodeEqualsAndToStringOfPluginObjectsKeepWorkingWhileGoing() throws Exception {
        bus.closeGate("hold-1");
        PluginLoader loader = loader(b -> b);
        Plugin plugin = loader.load(serviceJar());
        Set<Object> listeners = new HashSet<>();
        listeners.add(bus.kept("listener", Object.class));
        Call inFlight = holdACallInFlight("host-caller", "hold-1");
        CompletableFuture<UnloadReport> unload = SampleHost.unloadAsync(loader, plugin, LONG);
        await().atMost(Duration.ofSeconds(10)).until(() -> plugin.state() != PluginState.LIVE);
        assertUnloadStillWaitingGoing(unload, plugin, STILL_WAITING, "the unload waits for the call in flight");
        assertRefusedEntry(callHere("ping"), ServicePlugins.SERVICE_ID, 1, ServicePlugins.HANDLE, "unloading"); // the gate is closed

        // the host's clean-up: an equal plugin object as the key, so both hashCode and equals run plugin code
        Object key = bus.kept("listener-key", Object.class);
        String removed;
        try {
            removed = listeners.remove(key) + ", " + listeners.size() + " left, " + key;
        } catch (Throwable t) {
            removed = "threw " + t;
        }
        assertEquals("true, 0 left, listener l1", removed, "hashCode, equals and toString of plugin objects are waited for, "
                + "not refused, while the plugin is GOING");
        assertEquals(1, plugin.refusedEntries(), "only the call to handle() was refused");
        key = null;
        bus.forget();
        bus.openGate("hold-1");
        assertEquals("returned reply to hold-1", inFlight.await());
        UnloadReport report = unload.get(30, TimeUnit.SECONDS);
        assertEquals(PluginState.COLLECTED, report.outcome(), report::toString);
    }

    // ---- 4. the plugin's own thread ----------------------------------------------------------

    /*
     * On main before the feature (c3a88f7) the loader was closed under the pump's last statement
     * (Awaitility reports the pump thread's uncaught error):
     *   PluginUnloadedError: it.entries.pump.PumpReport cannot be loaded: plugin entries-pump
     *   generation 1 was unloaded at ... at it.entries.pump.Pump.run(Pump.java:18)
     */
    @Test
    void aPluginThreadStoppedInExitKeepsTheUnloadWaitingUntilItsRunReturns() throws Exception {
        bus.closeGate("pump-tail");
        PluginLoader loader = loader(b -> b);
        // unmanaged: the managed undo after exit() would interrupt the pump out of its tail (ManagedRegistrationsIT)
        Plugin plugin = loader.load(pumpJar(), LoadOption.UNMANAGED_REGISTRATIONS);
        awaitEvent("pump started entries-pump-1");

        CompletableFuture<UnloadReport> unload = SampleHost.unloadAsync(loader, plugin, LONG);
        awaitEvent("reached pump-tail");                      // exit() stopped it; its run() has not returned
        assertUnloadStillWaitingGoing(unload, plugin, STILL_WAITING, "the unload must wait for the pump thread exit() stopped, "
                + "still running the plugin's code");
        bus.openGate("pump-tail");
        UnloadReport report = unload.get(30, TimeUnit.SECONDS);
        assertAll(
                () -> assertTrue(bus.saw("pump stopped: entries-pump-1"), () -> "the pump's last statement (a class loaded "
                        + "there first) found its loader open: " + bus.events()),
                () -> assertEquals(BarrierOutcome.WAITED, report.barrier(), report::toString),
                () -> assertEquals(PluginState.COLLECTED, report.outcome(), report::toString),
                () -> assertEquals(0, plugin.lateAccesses(), "late accesses"));
    }

    /*
     * On main before the feature (c3a88f7):
     *   an unload with the plugin's thread still running must time out naming it, but it ended with:
     *   unload of plugin entries-pump generation 1 ... barrier: IMMEDIATE, outcome: LEAKED after 75
     *   GC nudge(s), leak suspects: thread "entries-pump-1" has the plugin's class loader as its
     *   context class loader
     */
    @Test
    void aPluginThreadNotStoppedMakesTheUnloadTimeOutNamingItAndARetryAfterStoppingItSucceeds() throws Exception {
        PluginLoader loader = loader(b -> b.config("pump.stopInExit", "false"));
        Plugin plugin = loader.load(pumpJar());
        awaitEvent("pump started entries-pump-1");

        Object outcome = unloadOutcome(loader, plugin, Duration.ofMillis(500));
        assertTrue(outcome instanceof UnloadTimeoutException, () -> "an unload with the plugin's thread still running must time "
                + "out naming it, but it ended with:\n" + show(outcome));
        UnloadTimeoutException e = (UnloadTimeoutException) outcome;
        assertAll(
                () -> assertEquals(UnloadStep.BARRIER, e.step(), e::getMessage),
                () -> assertTrue(e.threadsInsideEpoch().contains("entries-pump-1"), e::getMessage),
                () -> assertTrue(e.getMessage().contains("\"entries-pump-1\"") && e.getMessage().contains("it.entries.pump.Pump.run"),
                        () -> "the report names the thread with its stack:\n" + e.getMessage()),
                () -> assertEquals(PluginState.GOING, plugin.state(), "the plugin stays GOING"),
                () -> assertTrue(plugin.unloadedAt().isEmpty(), "nothing was closed"));

        bus.requestStop("entries-pump-1");
        awaitEvent("pump stopped: entries-pump-1");            // a class loaded there first: the loader is intact
        UnloadReport report = loader.unload(plugin, LONG);
        assertEquals(PluginState.COLLECTED, report.outcome(), report::toString);
    }

    // ---- 5. the close audit ------------------------------------------------------------------

    /*
     * On main before the feature (c3a88f7, no audit):
     *   the close audit must find the host thread parked in a plugin method the weaving missed and
     *   close nothing; but the unload ended with: unload of plugin entries-audit generation 1 ...
     *   barrier: IMMEDIATE, outcome: LEAKED after 73 GC nudge(s), leak suspects: thread
     *   "audit-caller" is running plugin code at ...it.entries.audit.Unwoven.handle(Unwoven.java:11)
     */
    @Test
    void theCloseAuditFindsAFrameTheWeavingMissedAndClosesNothingAndTheRetrySucceeds() throws Exception {
        bus.closeGate("hold-a");
        PluginLoader loader = loader(b -> b);
        Plugin plugin = loader.load(auditJar());
        Call inFlight = call("audit-caller", "hold-a");
        awaitEvent("reached hold-a");
        bus.forget();

        Object outcome = unloadOutcome(loader, plugin, Duration.ofSeconds(2));
        assertTrue(outcome instanceof UnloadTimeoutException, () -> "the close audit must find the host thread parked in a "
                + "plugin method the weaving missed and close nothing; but the unload ended with:\n" + show(outcome));
        UnloadTimeoutException e = (UnloadTimeoutException) outcome;
        assertAll(
                () -> assertTrue(e instanceof CloseAuditException, () -> "a CloseAuditException: " + show(e)),
                () -> assertEquals(UnloadStep.AUDIT, e.step(), e::getMessage),
                () -> assertEquals(List.of("audit-caller"), ((CloseAuditException) e).threads(), e::getMessage),
                () -> assertEquals(1, ((CloseAuditException) e).audit().framesFound(), e::getMessage),
                () -> assertTrue(e.getMessage().contains("\"audit-caller\"") && e.getMessage().contains("it.entries.audit.Unwoven.handle"),
                        () -> "the audit names the thread with its stack:\n" + e.getMessage()),
                () -> assertEquals(PluginState.GOING, plugin.state(), "the plugin stays GOING"),
                () -> assertTrue(plugin.unloadedAt().isEmpty(), "nothing was closed"));

        bus.openGate("hold-a");
        assertEquals("returned loaded it.entries.audit.Reply", inFlight.await(), "the call finds its loader open");
        UnloadReport report = loader.unload(plugin, LONG);
        assertEquals(PluginState.COLLECTED, report.outcome(), report::toString);
    }

    // ---- 7. the narrower mode: release paths only --------------------------------------------

    /*
     * The same call in flight as test 1, the plugin loaded with GUARD_RELEASE_PATHS_ONLY: the
     * barrier does not wait for it (the unload reaches its audit while the call is still held),
     * only the close audit keeps the loader open; a new call while GOING is not refused.
     */
    @Test
    void withReleasePathsOnlyTheCallInFlightIsNotWaitedForAndOnlyTheCloseAuditKeepsTheLoaderOpen() throws Exception {
        bus.closeGate("hold-1");
        PluginLoader loader = loader(b -> b);
        Plugin plugin = loader.load(serviceJar(), LoadOption.GUARD_RELEASE_PATHS_ONLY);
        assertEquals(GuardScope.RELEASE_PATHS, plugin.guardScope());
        Call inFlight = holdACallInFlight("host-caller", "hold-1");

        Object outcome = unloadOutcome(loader, plugin, Duration.ofSeconds(5));
        assertTrue(outcome instanceof CloseAuditException, () -> "with release paths only the barrier does not wait for the "
                + "host's call, and the close audit finds it; but the unload ended with:\n" + show(outcome));
        CloseAuditException e = (CloseAuditException) outcome;
        assertAll(
                () -> assertTrue(inFlight.thread.isAlive() && inFlight.outcome.get() == null, "the call is still held on its gate"),
                () -> assertEquals(List.of("host-caller"), e.threads(), e::getMessage),
                () -> assertTrue(e.getMessage().contains("RELEASE_PATHS") && e.getMessage().contains("it.entries.svc.GatedService.handle"),
                        () -> "the report says which scope was in force and where the thread is:\n" + e.getMessage()),
                () -> assertEquals(PluginState.GOING, plugin.state()),
                () -> assertTrue(plugin.unloadedAt().isEmpty(), "nothing was closed"));
        assertEquals("returned pong", callHere("ping"), "with release paths only a new call while GOING is not refused");

        bus.forget();
        bus.openGate("hold-1");
        assertEquals("returned reply to hold-1", inFlight.await(), "the audit kept the loader open for the call");
        UnloadReport report = loader.unload(plugin, LONG);
        assertAll(
                () -> assertEquals(GuardScope.RELEASE_PATHS, report.guardScope(), report::toString),
                () -> assertEquals(0, report.refusedEntries(), report::toString),
                () -> assertEquals(0, plugin.refusedEntries()),
                () -> assertEquals(PluginState.COLLECTED, report.outcome(), report::toString));
    }

    /*
     * Release paths only, chosen for the whole loader: a late call after the unload runs the
     * plugin's loaded code on the closed loader, silently, and fails only where it needs a class
     * not yet loaded (a late access), as on main before the feature.
     */
    @Test
    void withReleasePathsOnlyALateCallAfterTheUnloadRunsOnTheClosedLoader() throws Exception {
        PluginLoader loader = loader(b -> b.guardScope(GuardScope.RELEASE_PATHS).collectionTimeout(Duration.ZERO));
        Plugin plugin = loader.load(serviceJar());
        UnloadReport report = loader.unload(plugin, LONG);
        assertEquals(GuardScope.RELEASE_PATHS, report.guardScope(), report::toString);
        assertEquals(PluginState.UNLOADED, report.outcome(), report::toString);

        assertEquals("returned pong", callHere("ping"), "not refused: the plugin's loaded code runs on the closed loader");
        String needsAClass = callHere("hold-2");
        assertTrue(needsAClass.startsWith("threw dev.unloadguard.driver.PluginUnloadedError: it.entries.svc.Reply cannot be loaded"),
                () -> "a late call fails only where it needs a class not yet loaded: " + needsAClass);
        assertTrue(bus.saw("resumed hold-2"), "after running plugin code on the closed loader");
        assertEquals(1, plugin.lateAccesses());
        assertEquals(0, plugin.refusedEntries());
        bus.forget();
        Leftovers.awaitLoadersCollected(loader);
    }

    // ---- 6. virtual threads, on Temurin 25 ---------------------------------------------------

    /*
     * On main with the runtime's gate but before the weaving (d25f73c): the unload did not wait
     * for the virtual thread's call (state while held: UNLOADED; the call then threw
     * PluginUnloadedError: it.entries.svc.Reply cannot be loaded ...; barrier IMMEDIATE; 1 late
     * access), and no audit looked at the stacks (parked.unload=completed LEAKED, closed=true;
     * spinning the same).
     */
    @Test
    void onVirtualThreadsACallInFlightIsWaitedForAndTheAuditFindsParkedAndMountedFramesOnTemurin25() throws Exception {
        Path java = TEMURIN_25.resolve("bin").resolve("java");
        Assumptions.assumeTrue(Files.isExecutable(java), () -> "Temurin 25 JDK not found at " + TEMURIN_25);
        try (ChildJvm jvm = ChildJvm.start(TEMURIN_25.toString(), List.of(ChildJvm.javaagent()), EntryScenario.class.getName(),
                "service=" + serviceJar(), "audit=" + auditJar())) {
            int status = jvm.waitFor(Duration.ofMinutes(2));
            String out = jvm.output();
            assertEquals(0, status, () -> "the scenario failed:\n" + out);
            assertAll(
                    () -> assertTrue(value(jvm, "jvm").startsWith("25"), out),
                    () -> assertEquals("true", value(jvm, "agent"), out),
                    () -> assertEquals("true", value(jvm, "virtual"), out),
                    () -> assertEquals("true", value(jvm, "inflight.reached"), out),
                    () -> assertEquals("true", value(jvm, "inflight.stillWaiting"), () -> "the unload must wait for the call "
                            + "in flight on a virtual thread (state while held: " + value(jvm, "inflight.stateWhileHeld") + ")\n" + out),
                    () -> assertEquals("returned reply to hold-v", value(jvm, "inflight.call"), out),
                    () -> assertEquals("WAITED", value(jvm, "inflight.barrier"), out),
                    () -> assertEquals("COLLECTED", value(jvm, "inflight.outcome"), out),
                    () -> assertEquals("0", value(jvm, "inflight.lateAccesses"), out));
            for (String key : List.of("parked", "spinning")) {
                assertAll(key + " virtual thread inside a method the weaving missed",
                        () -> assertEquals("true", value(jvm, key + ".reached"), out),
                        () -> assertEquals("CloseAuditException in AUDIT", value(jvm, key + ".unload"), () -> "the close audit "
                                + "must find the " + key + " virtual thread's frame and close nothing\n" + out),
                        () -> assertEquals("true", value(jvm, key + ".namesThread"), out),
                        () -> assertEquals("true", value(jvm, key + ".namesFrame"), out),
                        () -> assertEquals("GOING", value(jvm, key + ".state"), out),
                        () -> assertEquals("false", value(jvm, key + ".closed"), out),
                        () -> assertEquals("returned loaded it.entries.audit.Reply", value(jvm, key + ".call"), out),
                        () -> assertEquals("COLLECTED", value(jvm, key + ".retry"), out));
            }
        }
    }

    private static String value(ChildJvm jvm, String key) {
        return jvm.value(key).orElseThrow(() -> new AssertionError("the scenario printed no " + key + "=; output:\n" + jvm.output()));
    }
}
