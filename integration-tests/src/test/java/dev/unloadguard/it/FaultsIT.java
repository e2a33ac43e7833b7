package dev.unloadguard.it;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.device.Device;
import dev.unloadguard.driver.ReleaseCallback;
import dev.unloadguard.epoch.BarrierOutcome;
import dev.unloadguard.it.support.BuiltJars;
import dev.unloadguard.it.support.HostProbe;
import dev.unloadguard.it.support.SampleHost;
import dev.unloadguard.it.support.TestPlugins;
import dev.unloadguard.loader.Plugin;
import dev.unloadguard.loader.PluginLoader;
import dev.unloadguard.loader.PluginState;
import dev.unloadguard.loader.UnloadReport;
import dev.unloadguard.loader.UnloadStep;
import dev.unloadguard.loader.UnloadTimeoutException;
import dev.unloadguard.sample.helper.PagemapCache;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Faults in release paths, in this JVM started by Failsafe with {@code -javaagent}: release
 * callbacks that throw, that hang, helpers that never drop their references, double releases.
 * Purpose-built plugin jars (compiled at test time, loaded through the real loader) and the
 * driver sample.
 */
class FaultsIT {

    private static final Duration LONG = Duration.ofSeconds(30);
    private static final Duration SHORT = Duration.ofMillis(300);

    private static Path faulty;
    private static Path hang;
    private static Path dbl;

    private HostProbe probe;
    private Thread helper;

    @BeforeAll
    static void buildPlugins() throws Exception {
        faulty = TestPlugins.plugin().driver("it.faulty.FaultyDriver")
                .source("it.faulty.FaultyDriver", """
                        package it.faulty;
                        import dev.unloadguard.device.Device;
                        import dev.unloadguard.driver.*;
                        import dev.unloadguard.device.*;
                        import dev.unloadguard.it.support.HostProbe;
                        public final class FaultyDriver implements Driver {
                            private Device card;
                            private HostProbe probe;
                            public String id() { return "faulty"; }
                            public void init(DriverContext ctx) {
                                HostProbe p = ctx.service(HostProbe.class).orElseThrow();
                                probe = p;
                                card = ctx.createDevice("card0");
                                card.addReleaseAction(d -> p.record("first action ran at depth " + dev.unloadguard.epoch.ReleaseGuard.depth()));
                                card.addReleaseAction(d -> { throw new FaultyError("managed action boom"); });
                                p.keep(card.acquire()); // the host's reference: its release is the last one
                                p.keep((ReleaseCallback) () -> {
                                    p.record("callback ran at depth " + dev.unloadguard.epoch.ReleaseGuard.depth());
                                    throw new FaultyError("callback boom");
                                });
                            }
                            public void exit() { card.release(); card = null; }
                            public void release(Device device) {
                                probe.record("driver release ran at depth " + dev.unloadguard.epoch.ReleaseGuard.depth());
                                throw new FaultyError("driver release boom");
                            }
                        }
                        """)
                .source("it.faulty.FaultyError", """
                        package it.faulty;
                        /** A plugin class: a recorded instance would pin the plugin's class loader. */
                        public final class FaultyError extends RuntimeException {
                            public FaultyError(String message) { super(message); }
                        }
                        """)
                .build("faulty");
        hang = TestPlugins.plugin().driver("it.hang.HangDriver")
                .source("it.hang.HangDriver", """
                        package it.hang;
                        import dev.unloadguard.device.Device;
                        import dev.unloadguard.driver.*;
                        import dev.unloadguard.device.*;
                        import dev.unloadguard.it.support.HostProbe;
                        public final class HangDriver implements Driver {
                            private Device card;
                            public String id() { return "hang"; }
                            public void init(DriverContext ctx) {
                                HostProbe probe = ctx.service(HostProbe.class).orElseThrow();
                                card = ctx.createDevice("card0");
                                probe.keep(new HangingCallback(card, probe));
                            }
                            public void exit() { card.release(); card = null; }
                        }
                        """)
                .source("it.hang.HangingCallback", """
                        package it.hang;
                        import dev.unloadguard.device.Device;
                        import dev.unloadguard.driver.ReleaseCallback;
                        import dev.unloadguard.it.support.HostProbe;
                        final class HangingCallback implements ReleaseCallback {
                            private final Device device;
                            private final HostProbe probe;
                            HangingCallback(Device card, HostProbe probe) {
                                this.device = card.acquire(this);
                                this.probe = probe;
                            }
                            public void release() {
                                probe.pass("before-release");
                                boolean last = device.release(this);
                                probe.pass("after-release");
                                probe.record(new Tail(last).describe()); // first use of Tail: needs the open loader
                            }
                        }
                        """)
                .source("it.hang.Tail", """
                        package it.hang;
                        final class Tail {
                            private final boolean last;
                            Tail(boolean last) { this.last = last; }
                            String describe() { return "tail ran, last=" + last; }
                        }
                        """)
                .build("hang");
        dbl = TestPlugins.plugin().driver("it.dbl.DblDriver")
                .source("it.dbl.DblDriver", """
                        package it.dbl;
                        import dev.unloadguard.driver.*;
                        import dev.unloadguard.device.*;
                        import dev.unloadguard.it.support.HostProbe;
                        public final class DblDriver implements Driver {
                            public String id() { return "dbl"; }
                            public void init(DriverContext ctx) {
                                // hands its only reference to the host
                                ctx.service(HostProbe.class).orElseThrow().keep(ctx.createDevice("card0"));
                            }
                            public void exit() { }
                        }
                        """)
                .build("dbl");
    }

    @BeforeEach
    void newProbe() {
        probe = new HostProbe();
    }

    @AfterEach
    void release() throws InterruptedException {
        probe.openAllGates();
        probe.forget();
        if (helper != null) {
            helper.join(10_000);
            assertFalse(helper.isAlive(), "the helper thread did not finish");
        }
    }

    private PluginLoader loader(boolean track) {
        return PluginLoader.builder().service(HostProbe.class, probe).trackReferences(track).awaitCollection(true).build();
    }


    // ---- a release callback that throws ---------------------------------------------------

    @Test
    void throwingDriverReleaseAndManagedActionAreRecordedAndTheUnloadStillCompletesAndCollects() throws Exception {
        PluginLoader loader = loader(false);
        Plugin plugin = loader.load(faulty);
        Device card = probe.kept(Device.class);

        // A guarded ReleaseCallback that throws: the exception reaches its caller, the epoch is exited.
        String thrown = callThrowingCallback();
        assertTrue(thrown.contains("callback boom"), thrown);
        assertTrue(probe.saw("callback ran at depth 1"), () -> "the callback must run guarded: " + probe.events());
        assertEquals(0, plugin.releaseDepth(), "the woven guard exits the epoch when the callback throws");
        probe.forget(); // the host drops the callback; it keeps only the device

        CompletableFuture<UnloadReport> unload = SampleHost.unloadAsync(loader, plugin, LONG);
        // exit dropped the driver's reference: the host's reference is the last one
        await().atMost(Duration.ofSeconds(10)).until(() -> card.references() == 1 && plugin.state() == PluginState.GOING);
        await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(5)).until(() -> !unload.isDone());
        assertEquals(1, plugin.liveDevices());

        // The last release, on this thread: the driver's release and one action throw; nothing escapes.
        assertTrue(card.release(), "the host dropped the last reference");
        assertEquals(0, plugin.releaseDepth(), "the release sequence exited the epoch despite the failures");
        assertEquals(0, plugin.liveDevices(), "the live count fell despite the failures");
        assertTrue(plugin.threadsInside().isEmpty(), "nobody is left inside the plugin's epoch");

        UnloadReport report = await().atMost(Duration.ofSeconds(20)).until(() -> unload.getNow(null), r -> r != null);
        List<String> failures = report.releaseFailures();
        assertEquals(2, failures.size(), report::toString);
        assertTrue(failures.stream().anyMatch(f -> f.contains("driver release callback it.faulty.FaultyDriver.release")
                && f.contains("driver release boom") && f.contains("faulty/card0")), failures::toString);
        assertTrue(failures.stream().anyMatch(f -> f.contains("managed release action") && f.contains("managed action boom")),
                failures::toString);
        assertTrue(report.toString().contains("release failure"), report::toString);
        // order: driver release first, then the actions in reverse order (the failing one did not stop the other)
        List<String> events = probe.events().stream().filter(e -> e.contains("ran at depth") && !e.startsWith("callback"))
                .collect(java.util.stream.Collectors.toList());
        assertEquals(2, events.size(), events::toString);
        assertTrue(events.get(0).startsWith("driver release ran at depth ") && depthOf(events.get(0)) >= 1, events::toString);
        assertTrue(events.get(1).startsWith("first action ran at depth ") && depthOf(events.get(1)) >= 1, events::toString);
        // the recorded failures (instances of a plugin class) were forgotten: they do not pin the loader
        assertEquals(PluginState.COLLECTED, report.outcome(), report::toString);
    }

    private String callThrowingCallback() {
        RuntimeException e = assertThrows(RuntimeException.class, () -> probe.kept(ReleaseCallback.class).release());
        assertEquals("it.faulty.FaultyError", e.getClass().getName());
        return e.getMessage();
    }

    private static int depthOf(String event) {
        return Integer.parseInt(event.substring(event.lastIndexOf(' ') + 1));
    }

    // ---- a release callback that hangs ----------------------------------------------------

    /** Calls the plugin's callback on a host helper thread, as a helper library would. */
    private void startHelper() {
        HostProbe p = probe;
        helper = new Thread(() -> p.kept(ReleaseCallback.class).release(), "hang-helper");
        helper.setDaemon(true);
        helper.start();
    }

    @Test
    void aCallbackHangingBeforeItsReleaseTimesOutInDrainNamingPluginDeviceThreadAndStackAndARetrySucceeds() throws Exception {
        PluginLoader loader = loader(false);
        Plugin plugin = loader.load(hang);
        probe.closeGate("before-release");
        startHelper();
        await().atMost(Duration.ofSeconds(10)).until(() -> probe.saw("reached before-release"));

        UnloadTimeoutException e = assertThrows(UnloadTimeoutException.class, () -> loader.unload(plugin, SHORT));
        assertEquals(UnloadStep.DRAIN, e.step());
        String m = e.getMessage();
        assertTrue(m.contains("plugin hang generation 1"), m);
        assertTrue(m.contains("device hang/card0") && m.contains("1 reference(s)"), m);
        assertTrue(m.contains("\"hang-helper\""), m);
        assertTrue(m.contains("it.hang.HangingCallback.release("), m);
        assertTrue(m.contains("trackReferences(true)"), "without tracking the report says how to turn it on: " + m);
        assertEquals(List.of("hang-helper"), e.threadsInsideEpoch());
        assertEquals(1, e.liveDevices().size(), e.liveDevices()::toString);
        assertStaysGoingAndIntact(plugin, 1);

        probe.openGate("before-release");
        await().atMost(Duration.ofSeconds(10)).until(() -> !helper.isAlive());
        assertTrue(probe.saw("tail ran, last=true"), () -> "the callback's tail must load its class after the timeout: " + probe.events());
        assertEquals(0, plugin.lateAccesses());
        probe.forget();

        UnloadReport report = loader.unload(plugin, LONG);
        assertEquals(PluginState.COLLECTED, report.outcome(), report::toString);
    }

    @Test
    void aCallbackHangingAfterTheLastReleaseTimesOutInTheBarrierAndTheLoaderStaysUsableUntilARetrySucceeds() throws Exception {
        PluginLoader loader = loader(false);
        Plugin plugin = loader.load(hang);
        probe.closeGate("after-release");
        startHelper();
        await().atMost(Duration.ofSeconds(10)).until(() -> probe.saw("reached after-release"));
        assertEquals(1, plugin.liveDevices(), "the driver still holds its reference");

        // exit drops the driver's reference, the count reaches zero, the callback is still inside
        UnloadTimeoutException e = assertThrows(UnloadTimeoutException.class, () -> loader.unload(plugin, SHORT));
        assertEquals(UnloadStep.BARRIER, e.step());
        String m = e.getMessage();
        assertTrue(m.contains("plugin hang generation 1") && m.contains("release callback is still running"), m);
        assertTrue(m.contains("\"hang-helper\"") && m.contains("it.hang.HangingCallback.release("), m);
        assertTrue(m.contains("GatedRecorder.pass("), "the stack shows where it hangs (the host probe's gate): " + m);
        assertTrue(e.threadsInsideEpoch().contains("hang-helper"), e.threadsInsideEpoch()::toString);
        assertStaysGoingAndIntact(plugin, 0);

        // still waiting: a second short attempt times out in the barrier again
        UnloadTimeoutException again = assertThrows(UnloadTimeoutException.class, () -> loader.unload(plugin, SHORT));
        assertEquals(UnloadStep.BARRIER, again.step());

        probe.openGate("after-release");
        await().atMost(Duration.ofSeconds(10)).until(() -> !helper.isAlive());
        assertTrue(probe.saw("tail ran, last=false"), () -> "the tail must load its class from the open loader: " + probe.events());
        assertEquals(0, plugin.lateAccesses());
        probe.forget();

        UnloadReport report = loader.unload(plugin, LONG);
        assertEquals(PluginState.COLLECTED, report.outcome(), report::toString);
    }

    private static void assertStaysGoingAndIntact(Plugin plugin, int liveDevices) {
        assertEquals(PluginState.GOING, plugin.state());
        assertEquals(liveDevices, plugin.liveDevices());
        assertTrue(plugin.unloadedAt().isEmpty(), "the class loader was not closed");
        assertTrue(plugin.unloadReport().isEmpty());
    }

    // ---- a helper that never drops its reference ------------------------------------------

    @Test
    void withTrackingTheTimeoutNamesTheHolderClassAndItsAcquisitionStack() throws Exception {
        String m = drainTimeoutWithNeverDroppingHelper(true);
        assertTrue(m.contains("held by dev.unloadguard.sample.driver.XePagemap@"), m);
        assertTrue(m.contains("dev.unloadguard.sample.driver.XePagemap.<init>("), m);
        assertTrue(m.contains("dev.unloadguard.sample.driver.XeDriver.init("), m);
        assertFalse(m.contains("turn reference tracking on"), m);
    }

    @Test
    void withoutTrackingTheTimeoutSaysHowToTurnItOn() throws Exception {
        String m = drainTimeoutWithNeverDroppingHelper(false);
        assertFalse(m.contains("held by"), m);
        assertTrue(m.contains("turn reference tracking on") && m.contains("PluginLoader.builder().trackReferences(true)"), m);
    }

    private String drainTimeoutWithNeverDroppingHelper(boolean track) throws Exception {
        PagemapCache cache = new PagemapCache("never-dropping-cache");
        try {
            PluginLoader loader = PluginLoader.builder().service(PagemapCache.class, cache).trackReferences(track)
                    .config("xe.devices", "1").config("xe.pagemaps", "2").config("xe.pages", "16").awaitCollection(true).build();
            Plugin plugin = loader.load(BuiltJars.driverSample());
            UnloadTimeoutException e = assertThrows(UnloadTimeoutException.class, () -> loader.unload(plugin, SHORT));
            assertEquals(UnloadStep.DRAIN, e.step());
            assertTrue(e.getMessage().contains("device xe/card0") && e.getMessage().contains("2 reference(s)"), e::getMessage);
            assertEquals(2, cache.held(), "the helper still holds its pagemaps");

            cache.dropAllLater();
            UnloadReport report = loader.unload(plugin, LONG);
            assertEquals(PluginState.COLLECTED, report.outcome(), report::toString);
            return e.getMessage();
        } finally {
            cache.close();
        }
    }

    // ---- double release, acquire after zero -----------------------------------------------

    @Test
    void withTrackingADoubleReleaseNamesBothReleaseSites() throws Exception {
        PluginLoader loader = loader(true);
        Plugin plugin = loader.load(dbl);
        Device card = probe.kept(Device.class);
        probe.forget();
        assertTrue(firstRelease(card));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> secondRelease(card));
        String m = e.getMessage();
        assertTrue(m.contains("device dbl/card0") && m.contains("released more often than acquired"), m);
        int last = m.indexOf("last reference released");
        int again = m.indexOf("released again");
        assertTrue(last >= 0 && again > last, m);
        assertTrue(m.substring(last, again).contains("FaultsIT.firstRelease("), "the last release's site: " + m);
        assertTrue(m.substring(again).contains("FaultsIT.secondRelease("), "the second release's site: " + m);
        assertEquals(0, card.references(), "the failed release left the count unchanged");

        IllegalStateException acquire = assertThrows(IllegalStateException.class, card::acquire);
        assertTrue(acquire.getMessage().contains("already released") && acquire.getMessage().contains("FaultsIT.firstRelease("),
                acquire::getMessage);
        assertFalse(card.tryAcquire(), "tryAcquire after zero fails");
        assertEquals(0, card.references());

        UnloadReport report = loader.unload(plugin, LONG);
        assertEquals(PluginState.COLLECTED, report.outcome(), report::toString);
    }

    @Test
    void withoutTrackingADoubleReleaseSaysHowToTurnTrackingOn() throws Exception {
        PluginLoader loader = loader(false);
        Plugin plugin = loader.load(dbl);
        Device card = probe.kept(Device.class);
        probe.forget();
        assertTrue(firstRelease(card));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> secondRelease(card));
        assertTrue(e.getMessage().contains("released more often than acquired")
                && e.getMessage().contains("turn reference tracking on (PluginLoader.Builder.trackReferences)"), e::getMessage);
        assertFalse(e.getMessage().contains("firstRelease"), e::getMessage);
        assertEquals(0, card.references());
        assertThrows(IllegalStateException.class, card::acquire);
        assertFalse(card.tryAcquire());

        UnloadReport report = loader.unload(plugin, LONG);
        assertEquals(PluginState.COLLECTED, report.outcome(), report::toString);
    }

    private static boolean firstRelease(Device device) {
        return device.release();
    }

    private static boolean secondRelease(Device device) {
        return device.release();
    }
}
