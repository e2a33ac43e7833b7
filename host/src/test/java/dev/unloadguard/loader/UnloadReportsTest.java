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

    private static final CloseAudit AUDIT = new CloseAudit(12, 3, true, "all platform and virtual threads", 0, 1,
            Duration.ofNanos(420_000));

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
                new UnloadReports.Kept(4, List.of("boom")), new CollectionResult(PluginState.COLLECTED, 2), List.of("ignored"),
                GuardScope.ENTRIES, 5, AUDIT);
        assertEquals("xe", r.pluginId());
        assertEquals(3, r.generation());
        assertEquals(Duration.ofMillis(3), r.time(UnloadStep.DRAIN));
        assertEquals(Duration.ofMillis(28), r.total(), "1 + 2 + ... + 7 ms: seven steps");
        assertTrue(r.barrierWaited());
        assertTrue(r.collected());
        assertEquals(2, r.gcNudges());
        assertEquals(4, r.devicesCreated());
        assertEquals(List.of("boom"), r.releaseFailures());
        assertEquals(List.of(), r.leakSuspects(), "suspects only for a leak");
        assertEquals(GuardScope.ENTRIES, r.guardScope());
        assertEquals(5, r.refusedEntries());
        assertEquals(AUDIT, r.audit());
        assertEquals(Duration.ofMillis(5), r.time(UnloadStep.AUDIT), "the audit is step 5, between the barrier and the close");
        assertTrue(r.summary().contains("; ENTRIES; barrier WAITED; audit 12 platform + 3 virtual threads, 0 frame(s), 1 scan(s), 0.420 ms; "
                + "COLLECTED; 5 entries refused"), r::summary);
        assertTrue(r.toString().contains("(guarded by the agent: ENTRIES, every entry into the plugin)")
                || r.toString().contains("(UNGUARDED: no agent)"), r::toString);
        assertTrue(r.toString().contains("  5. audit ") && r.toString().contains("  close audit: 12 platform + 3 virtual threads")
                && r.toString().contains("  entries refused while GOING: 5\n"), r::toString);
    }

    @Test
    void theSummarySaysWhenTheAuditCouldNotSeeVirtualThreadsAndWhenItDidNotRun() {
        CloseAudit blind = new CloseAudit(7, 0, false, "platform threads only: virtual threads are not visible (...)", 0, 1,
                Duration.ofMillis(1));
        UnloadReport r = UnloadReports.unloaded("xe", 1, clock(), BarrierOutcome.IMMEDIATE, UnloadReports.Kept.NOTHING,
                new CollectionResult(PluginState.UNLOADED, 0), List.of(), GuardScope.RELEASE_PATHS, 0, blind);
        assertTrue(r.summary().contains("; RELEASE_PATHS; barrier IMMEDIATE; audit 7 platform + 0 virtual threads (virtual threads NOT all visible)"),
                r::summary);
        assertFalse(r.summary().contains("refused"), "no refusals, no mention: " + r.summary());
        assertTrue(r.toString().contains("    platform threads only: virtual threads are not visible"), r::toString);
        CloseAudit none = CloseAudit.notRun("the class loader has no name");
        assertFalse(none.ran());
        assertEquals("not run: the class loader has no name", none.summary());
    }

    @Test
    void theOldConstructorMakesAReleasePathsReportWithoutAnAudit() {
        UnloadReport r = new UnloadReport("made-up", 1, true, java.util.Map.of(UnloadStep.CLOSE, Duration.ofMillis(1)), BarrierOutcome.IMMEDIATE, PluginState.UNLOADED,
                0, 0, List.of(), List.of());
        assertEquals(GuardScope.RELEASE_PATHS, r.guardScope());
        assertEquals(0, r.refusedEntries());
        assertFalse(r.audit().ran());
    }

    @Test
    void aLeakKeepsItsSuspectsAndAForeignHostKeepsNothing() {
        UnloadReport r = UnloadReports.unloaded("pf4j:hello", 0, clock(), BarrierOutcome.IMMEDIATE, UnloadReports.Kept.NOTHING,
                new CollectionResult(PluginState.LEAKED, 7), List.of("thread \"t\" is running plugin code"),
                GuardScope.RELEASE_PATHS, 0, AUDIT);
        assertEquals(PluginState.LEAKED, r.outcome());
        assertEquals(7, r.gcNudges());
        assertEquals(0, r.devicesCreated());
        assertEquals(List.of("thread \"t\" is running plugin code"), r.leakSuspects());
        assertTrue(r.toString().contains("leak suspects:"), r::toString);
    }

    @Test
    void aDrainTimeoutNamesTheLiveDevicesAndSaysHowToTrackThem() {
        UnloadTimeoutException e = UnloadReports.timeout(null, "plugin xe generation 3", GuardScope.ENTRIES,
                UnloadStep.DRAIN, Duration.ofMillis(250), List.of("device xe/card0 with 2 reference(s)"), true, List.of());
        String m = e.getMessage();
        assertTrue(m.startsWith("unload of plugin xe generation 3 timed out after 250 ms in step 3 (drain): devices are still held\n"), m);
        assertTrue(m.contains("  live devices: \n    device xe/card0 with 2 reference(s)\n"), m);
        assertTrue(m.contains("  threads inside the release epoch of plugin xe generation 3 (guard scope ENTRIES): none\n"), m);
        assertTrue(m.contains("trackReferences(true)"), m);
        assertEquals(UnloadStep.DRAIN, e.step());
        assertEquals(List.of("device xe/card0 with 2 reference(s)"), e.liveDevices());
        assertEquals(List.of(), e.threadsInsideEpoch());
    }

    @Test
    void aBarrierTimeoutNamesTheThreadsInsideWithTheirStacks() {
        Thread me = Thread.currentThread();
        UnloadTimeoutException e = UnloadReports.timeout(null, "plugin xe generation 3", GuardScope.ENTRIES,
                UnloadStep.BARRIER, Duration.ofMillis(250), List.of(), true, List.of(me));
        String m = e.getMessage();
        assertTrue(m.contains("in step 4 (barrier): a release callback is still running, or other plugin code (a call into the plugin, a plugin thread)"), m);
        assertTrue(m.contains("stop the plugin's threads in its exit hook"), m);
        assertTrue(m.contains("  live devices: none\n"), m);
        assertTrue(m.contains("    \"" + me.getName() + "\" (RUNNABLE)\n        at "), m);
        assertTrue(m.contains("UnloadReportsTest.aBarrierTimeoutNamesTheThreadsInsideWithTheirStacks("), m);
        assertFalse(m.contains("trackReferences"), "the tracking hint is for the drain: " + m);
        assertEquals(List.of(me.getName()), e.threadsInsideEpoch());

        UnloadTimeoutException narrow = UnloadReports.timeout(null, "plugin xe generation 3", GuardScope.RELEASE_PATHS,
                UnloadStep.BARRIER, Duration.ofMillis(250), List.of(), true, List.of(me));
        assertTrue(narrow.getMessage().contains("in step 4 (barrier): a release callback is still running"), narrow::getMessage);
    }

    @Test
    void aFailedAuditNamesEachThreadWithItsStackAndIsRetryable() {
        Thread me = Thread.currentThread();
        StackTraceElement[] stack = {
            new StackTraceElement("plugin:xe.jar#4", null, null, "com.acme.Poller", "run", "Poller.java", 31),
            new StackTraceElement(null, "java.base", null, "java.lang.Thread", "run", "Thread.java", 840)};
        CloseAuditException e = UnloadReports.auditFailed(null, "plugin xe generation 3", GuardScope.RELEASE_PATHS,
                "plugin:xe.jar#4", java.util.Map.of(me, stack), AUDIT);
        String m = e.getMessage();
        assertTrue(m.startsWith("unload of plugin xe generation 3 failed its close audit (step 5, audit): 1 thread still runs code "
                + "of its class loader plugin:xe.jar#4 after the release barrier\n"), m);
        assertTrue(m.contains("    \"" + me.getName() + " (the thread running this unload)\" (RUNNABLE)\n"
                + "        at plugin:xe.jar#4//com.acme.Poller.run(Poller.java:31)\n"
                + "        at java.base/java.lang.Thread.run(Thread.java:840)\n"), m);
        assertTrue(m.contains("  scanned: 12 platform + 3 virtual threads"), m);
        assertTrue(m.contains("stop the plugin's threads and calls in its exit hook"), m);
        assertTrue(m.endsWith("call unload again to retry once those threads left"), m);
        assertTrue(e instanceof UnloadTimeoutException, "existing callers handle it as a retryable unload failure");
        assertEquals(UnloadStep.AUDIT, e.step());
        assertEquals(List.of(me.getName()), e.threads());
        assertEquals(AUDIT, e.audit());
        assertEquals(List.of(), e.liveDevices());
    }

    @Test
    void aForeignHostsTimeoutHasNoDeviceSectionAndSaysItsLoaderIsOpen() {
        UnloadTimeoutException e = UnloadReports.timeout(null, "pf4j:hello", GuardScope.RELEASE_PATHS, UnloadStep.BARRIER,
                Duration.ofSeconds(1), null, false, List.of());
        String m = e.getMessage();
        assertFalse(m.contains("live devices"), m);
        assertTrue(m.endsWith("nothing was closed: the plugin is stopped and its class loader open; call unload again to retry"), m);
        assertNull(e.plugin());
        assertEquals(List.of(), e.liveDevices());
    }
}
