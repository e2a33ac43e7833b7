package dev.unloadguard.loader;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.epoch.BarrierOutcome;
import java.time.Duration;
import java.util.EnumSet;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class UnloadReportsTest {

    private static StepClock clock() {
        AtomicLong now = new AtomicLong();
        StepClock clock = new StepClock(Duration.ofSeconds(1), EnumSet.allOf(UnloadStep.class), now::get);
        for (UnloadStep s : UnloadStep.values()) {
            now.addAndGet(1_000_000L * (s.ordinal() + 1));
            clock.lap(s);
        }
        return clock;
    }

    @Test
    void aReportCarriesTheClockTheBarrierTheCollectionAndWhatWasKept() {
        UnloadReport r = UnloadReports.unloaded("xe", 3, clock(), BarrierOutcome.WAITED,
                new UnloadReports.Kept(4, List.of("boom")), new CollectionResult(PluginState.COLLECTED, 2), List.of("ignored"));
        assertEquals("xe", r.pluginId());
        assertEquals(3, r.generation());
        assertEquals(Duration.ofMillis(3), r.time(UnloadStep.DRAIN));
        assertEquals(Duration.ofMillis(21), r.total());
        assertTrue(r.barrierWaited());
        assertTrue(r.collected());
        assertEquals(2, r.gcNudges());
        assertEquals(4, r.devicesCreated());
        assertEquals(List.of("boom"), r.releaseFailures());
        assertEquals(List.of(), r.leakSuspects(), "suspects only for a leak");
    }

    @Test
    void aLeakKeepsItsSuspectsAndAForeignHostKeepsNothing() {
        UnloadReport r = UnloadReports.unloaded("pf4j:hello", 0, clock(), BarrierOutcome.IMMEDIATE, UnloadReports.Kept.NOTHING,
                new CollectionResult(PluginState.LEAKED, 7), List.of("thread \"t\" is running plugin code"));
        assertEquals(PluginState.LEAKED, r.outcome());
        assertEquals(7, r.gcNudges());
        assertEquals(0, r.devicesCreated());
        assertEquals(List.of("thread \"t\" is running plugin code"), r.leakSuspects());
        assertTrue(r.toString().contains("leak suspects:"), r::toString);
    }

    @Test
    void aDrainTimeoutNamesTheLiveDevicesAndSaysHowToTrackThem() {
        UnloadTimeoutException e = UnloadReports.timeout(null, "plugin xe generation 3",
                UnloadStep.DRAIN, Duration.ofMillis(250), List.of("device xe/card0 with 2 reference(s)"), true, List.of());
        String m = e.getMessage();
        assertTrue(m.startsWith("unload of plugin xe generation 3 timed out after 250 ms in step 3 (drain): devices are still held\n"), m);
        assertTrue(m.contains("  live devices: \n    device xe/card0 with 2 reference(s)\n"), m);
        assertTrue(m.contains("  threads inside the release epoch of plugin xe generation 3: none\n"), m);
        assertTrue(m.contains("trackReferences(true)"), m);
        assertEquals(UnloadStep.DRAIN, e.step());
        assertEquals(List.of("device xe/card0 with 2 reference(s)"), e.liveDevices());
        assertEquals(List.of(), e.threadsInsideEpoch());
    }

    @Test
    void aBarrierTimeoutNamesTheThreadsInsideWithTheirStacks() {
        Thread me = Thread.currentThread();
        UnloadTimeoutException e = UnloadReports.timeout(null, "plugin xe generation 3",
                UnloadStep.BARRIER, Duration.ofMillis(250), List.of(), true, List.of(me));
        String m = e.getMessage();
        assertTrue(m.contains("in step 4 (barrier): a release callback is still running"), m);
        assertTrue(m.contains("  live devices: none\n"), m);
        assertTrue(m.contains("    \"" + me.getName() + "\" (RUNNABLE)\n        at "), m);
        assertTrue(m.contains("UnloadReportsTest.aBarrierTimeoutNamesTheThreadsInsideWithTheirStacks("), m);
        assertFalse(m.contains("trackReferences"), "the tracking hint is for the drain: " + m);
        assertEquals(List.of(me.getName()), e.threadsInsideEpoch());
    }

    @Test
    void aForeignHostsTimeoutHasNoDeviceSectionAndSaysItsLoaderIsOpen() {
        UnloadTimeoutException e = UnloadReports.timeout(null, "pf4j:hello", UnloadStep.BARRIER,
                Duration.ofSeconds(1), null, false, List.of());
        String m = e.getMessage();
        assertFalse(m.contains("live devices"), m);
        assertTrue(m.endsWith("nothing was closed: the plugin is stopped and its class loader open; call unload again to retry"), m);
        assertNull(e.plugin());
        assertEquals(List.of(), e.liveDevices());
    }
}
