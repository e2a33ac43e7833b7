package dev.unloadguard.it;

import static dev.unloadguard.testkit.UnloadAssertions.assertCollected;
import static dev.unloadguard.testkit.UnloadAssertions.assertStillWaiting;
import static dev.unloadguard.testkit.UnloadAssertions.assertUnloadsCleanly;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.device.Device;
import dev.unloadguard.epoch.BarrierOutcome;
import dev.unloadguard.it.support.BuiltJars;
import dev.unloadguard.it.support.HostBus;
import dev.unloadguard.it.support.RecordingTailHook;
import dev.unloadguard.it.support.SampleHost;
import dev.unloadguard.it.support.TestPlugins;
import dev.unloadguard.loader.Plugin;
import dev.unloadguard.loader.PluginLoader;
import dev.unloadguard.loader.PluginState;
import dev.unloadguard.loader.UnloadReport;
import dev.unloadguard.loader.UnloadStep;
import dev.unloadguard.loader.UnloadTimeoutException;
import dev.unloadguard.sample.helper.PagemapCache;
import dev.unloadguard.sample.helper.ReleaseTailHook;
import java.lang.ref.WeakReference;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The unload protocol on the real jars, in this JVM started by Failsafe with
 * {@code -javaagent:unloadguard-agent.jar}: driver-sample loaded through the real loader, its
 * pagemaps held by the helper sample and dropped from the helper's worker thread.
 */
class UnloadProtocolIT {

    private static final Duration LONG = Duration.ofSeconds(30);

    @RegisterExtension
    final SampleHost host = new SampleHost();
    private final PagemapCache cache = host.cache;
    private final RecordingTailHook hook = host.hook;

    private PluginLoader loader() {
        return host.builder().build();
    }

    @Test
    void theAgentIsAttachedAndReported() throws Exception {
        PluginLoader loader = loader();
        assertTrue(loader.agentActive(), "Failsafe starts this JVM with -javaagent: the loader must see the agent");
        Plugin plugin = loader.load(BuiltJars.driverSample());
        cache.dropAllLater();
        UnloadReport report = loader.unload(plugin, LONG);
        assertTrue(report.agentActive());
        assertTrue(report.toString().contains("guarded by the agent"), report::toString);
    }

    @Test
    void unloadKeepsWaitingWhileTheHelperHoldsAReferenceAndCompletesOnceItIsDropped() throws Exception {
        PluginLoader loader = loader();
        Plugin plugin = loader.load(BuiltJars.driverSample());
        assertEquals(PluginState.LIVE, plugin.state());
        assertEquals(2, cache.held());

        CompletableFuture<UnloadReport> unload = SampleHost.unloadAsync(loader, plugin, LONG);

        await().atMost(Duration.ofSeconds(5)).until(() -> plugin.state() == PluginState.GOING);
        assertStillWaiting(unload, Duration.ofMillis(500));
        // GOING only moves on and the live count only drops while GOING: so they held throughout.
        assertEquals(PluginState.GOING, plugin.state());
        assertEquals(1, plugin.liveDevices());

        cache.dropAllLater();
        UnloadReport report = assertUnloadsCleanly(() -> unload.get(20, TimeUnit.SECONDS));
        assertEquals(PluginState.COLLECTED, report.outcome(), report::toString);
        assertEquals(0, cache.held());
        assertTrue(cache.failures().isEmpty(), () -> "release callbacks failed: " + cache.failures());
        assertEquals(1, report.devicesCreated());
    }

    @Test
    void theBarrierWaitsForATailThatAlreadyBroughtTheCountToZeroAndTheLoaderClosesOnlyAfterIt() throws Exception {
        AtomicReference<Plugin> handle = new AtomicReference<>();
        hook.closeGate().onFinish(() -> handle.get().state());
        PluginLoader loader = loader();
        Plugin plugin = loader.load(BuiltJars.driverSample());
        handle.set(plugin);
        // A first attempt times out while the helper still holds the pagemaps: afterwards the
        // driver's exit has run, so the helper's drops hold the device's last references.
        assertThrows(UnloadTimeoutException.class, () -> loader.unload(plugin, Duration.ofMillis(100)));

        CompletableFuture<UnloadReport> unload = SampleHost.unloadAsync(loader, plugin, LONG);
        cache.dropAllLater();

        // The last pagemap's tail runs: the device is released, the live count is zero,
        // and the tail is held inside plugin code, inside the release epoch.
        await().atMost(Duration.ofSeconds(10)).until(hook::lastTailReached);
        assertEquals(0, plugin.liveDevices());
        assertTrue(plugin.threadsInside().stream().anyMatch(t -> t.getName().equals("pagemap-cache-worker")),
                "the helper's worker runs the guarded release callback, so it is inside the epoch");
        assertStillWaiting(unload, Duration.ofMillis(500));
        assertEquals(PluginState.GOING, plugin.state(), "GOING only moves on: the loader stayed open throughout");

        hook.openGate();
        UnloadReport report = assertUnloadsCleanly(() -> unload.get(20, TimeUnit.SECONDS));
        assertEquals(BarrierOutcome.WAITED, report.barrier(), report::toString);
        assertTrue(cache.failures().isEmpty(), () -> "the tail must not fail: " + cache.failures());
        // Each tail observed the plugin while finishing: never UNLOADED, the loader was still open.
        assertEquals(2, hook.finished().size());
        assertTrue(hook.finished().stream().allMatch(s -> s == PluginState.GOING), () -> "states seen by tails: " + hook.finished());
        assertTrue(hook.depths().stream().allMatch(d -> d == 1), () -> "release callbacks must run guarded: " + hook.depths());
    }

    @Test
    void theUnloadedPluginsClassLoaderIsCollected() throws Exception {
        PluginLoader loader = loader();
        Plugin plugin = loader.load(BuiltJars.driverSample());
        cache.dropAllLater();
        UnloadReport report = assertUnloadsCleanly(loader, plugin, LONG);
        assertEquals(PluginState.COLLECTED, report.outcome(), report::toString);
        assertEquals(PluginState.COLLECTED, plugin.state());

        // Independent of the loader's own check: the class loader the tail ran in, found on
        // the tail's stack, is gone after bounded GC nudges.
        WeakReference<ClassLoader> seenOnStack = hook.pluginLoader();
        assertNotNull(seenOnStack);
        assertCollected(seenOnStack, Duration.ofSeconds(10));
        assertFalse(hook.depths().isEmpty(), "the tails ran and were observed");
    }

    @Test
    void deviceCreationIsRefusedWhileGoingWhileExistingHoldersCanStillAcquireAndRelease() throws Exception {
        Path jar = TestPlugins.plugin().driver("it.hotplug.HotplugDriver").source("it.hotplug.HotplugDriver", """
                package it.hotplug;
                import dev.unloadguard.device.Device;
                import dev.unloadguard.driver.*;
                import dev.unloadguard.it.support.HostBus;
                public final class HotplugDriver implements Driver {
                    private Device first;
                    public String id() { return "hotplug"; }
                    public void init(DriverContext ctx) {
                        HostBus bus = ctx.service(HostBus.class).orElseThrow();
                        first = ctx.createDevice("dev0");
                        bus.hold(first.acquire());
                        bus.hotplug(ctx::createDevice);
                    }
                    public void exit() { first.release(); first = null; }
                }
                """).build("hotplug");
        HostBus bus = new HostBus();
        PluginLoader loader = PluginLoader.builder().service(HostBus.class, bus).awaitCollection(true).build();
        Plugin plugin = loader.load(jar);
        Device late = bus.createDevice("dev1"); // LIVE: hotplug works
        assertTrue(late.release(), "the host held the only reference of dev1");

        CompletableFuture<UnloadReport> unload = SampleHost.unloadAsync(loader, plugin, LONG);
        await().atMost(Duration.ofSeconds(5)).until(() -> plugin.state() == PluginState.GOING && plugin.liveDevices() == 1);

        IllegalStateException refused = assertThrows(IllegalStateException.class, () -> bus.createDevice("dev2"));
        assertTrue(refused.getMessage().contains("GOING") && refused.getMessage().contains("dev2"), refused::getMessage);

        Device held = bus.held().get(0);
        assertTrue(held.tryAcquire(), "an existing holder may still take a reference while GOING");
        assertFalse(held.release());
        assertStillWaiting(unload, Duration.ofMillis(300));
        assertTrue(held.release(), "the host's release is the last one");
        bus.forget();
        UnloadReport report = await().atMost(Duration.ofSeconds(20)).until(() -> unload.getNow(null), r -> r != null);
        assertEquals(2, report.devicesCreated());
        assertFalse(held.tryAcquire(), "a released device cannot be revived");
        assertThrows(IllegalStateException.class, held::release, "releasing below zero is refused");
    }

    @Test
    void aTimedOutUnloadLeavesThePluginGoingAndIntactAndCanBeRetried() throws Exception {
        PluginLoader loader = loader();
        Plugin plugin = loader.load(BuiltJars.driverSample());

        UnloadTimeoutException drain = assertThrows(UnloadTimeoutException.class,
                () -> loader.unload(plugin, Duration.ofMillis(300)));
        assertEquals(UnloadStep.DRAIN, drain.step());
        assertEquals(1, drain.liveDevices().size());
        assertTrue(drain.liveDevices().get(0).contains("xe/card0") && drain.liveDevices().get(0).contains("2 reference(s)"),
                () -> drain.liveDevices().toString());
        assertTrue(drain.getMessage().contains("stays GOING"), drain::getMessage);
        assertEquals(PluginState.GOING, plugin.state());
        assertEquals(1, plugin.liveDevices());
        assertEquals(2, cache.held(), "nothing was dropped or closed");

        // Now a release callback stays inside the epoch: the barrier step times out.
        hook.closeGate();
        cache.dropAllLater();
        await().atMost(Duration.ofSeconds(10)).until(hook::lastTailReached);
        UnloadTimeoutException barrier = assertThrows(UnloadTimeoutException.class,
                () -> loader.unload(plugin, Duration.ofMillis(300)));
        assertEquals(UnloadStep.BARRIER, barrier.step());
        assertTrue(barrier.threadsInsideEpoch().contains("pagemap-cache-worker"), () -> barrier.threadsInsideEpoch().toString());
        assertTrue(barrier.getMessage().contains("XePagemap.release"), barrier::getMessage);
        assertEquals(PluginState.GOING, plugin.state());

        hook.openGate();
        UnloadReport report = assertUnloadsCleanly(loader, plugin, LONG);
        assertEquals(PluginState.COLLECTED, report.outcome(), report::toString);
        assertTrue(cache.failures().isEmpty(), () -> cache.failures().toString());
        IllegalStateException again = assertThrows(IllegalStateException.class, () -> loader.unload(plugin, LONG));
        assertTrue(again.getMessage().contains("already unloaded"), again::getMessage);
    }
}
