package dev.unloadguard.loader;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.epoch.BarrierOutcome;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** How managed registrations appear in the unload report, its summary, and a timeout's message. */
class RegistrationReportTest {

    private static final StackTraceElement SITE = new StackTraceElement("plugin:ticker.jar#1", null, null,
            "com.example.ticker.TickerDriver", "init", "TickerDriver.java", 18);
    private static final UndoneRegistration UNDONE = new UndoneRegistration("timer", "timer 1a2b",
            "com.example.ticker.TickerDriver.init(TickerDriver.java:19)", UndoneRegistration.Outcome.UNDONE, "cancelled", List.of());
    private static final UndoneRegistration LEFT = new UndoneRegistration("thread", "thread \"ticker-poller\"",
            "com.example.ticker.TickerDriver.init(TickerDriver.java:18)", UndoneRegistration.Outcome.LEFT_OVER,
            "interrupted, but still running at the bound (state WAITING)", List.of(SITE));

    @Test
    void eachUndoIsALineOfTheReportAndLeftoversCarryTheirStack() {
        UnloadReport r = UnloadReports.unloaded("ticker", 1, Map.of(UnloadStep.EXIT, Duration.ofMillis(2)), BarrierOutcome.IMMEDIATE,
                UnloadReports.Kept.NOTHING, new CollectionResult(PluginState.LEAKED, 3), List.of(), GuardScope.ENTRIES, 0,
                CloseAudit.notRun("test"), List.of(UNDONE, LEFT));
        assertEquals(List.of(LEFT), r.leftoverRegistrations());
        String text = r.toString();
        assertTrue(text.contains("  registrations undone after exit (newest first): 2\n"
                + "    timer: timer 1a2b (registered at com.example.ticker.TickerDriver.init(TickerDriver.java:19)): cancelled\n"
                + "    thread: thread \"ticker-poller\" (registered at com.example.ticker.TickerDriver.init(TickerDriver.java:18)): "
                + "LEFT OVER, interrupted, but still running at the bound (state WAITING)\n"
                + "            at plugin:ticker.jar#1//com.example.ticker.TickerDriver.init(TickerDriver.java:18)\n"), text);
        assertTrue(r.summary().contains("; 1 registration(s) undone, 1 LEFT OVER"), r.summary());
    }

    @Test
    void aReportWithoutRegistrationsSaysNothingAboutThem() {
        UnloadReport r = UnloadReports.unloaded("ticker", 1, Map.of(UnloadStep.EXIT, Duration.ofMillis(1)), BarrierOutcome.IMMEDIATE, UnloadReports.Kept.NOTHING,
                new CollectionResult(PluginState.COLLECTED, 0), List.of(), GuardScope.ENTRIES, 0, CloseAudit.notRun("test"));
        assertEquals(List.of(), r.registrations());
        assertTrue(!r.toString().contains("registrations") && !r.summary().contains("registration"), r::toString);
    }

    @Test
    void aTimeoutNamesTheLeftoversWithTheStackThatRegisteredThem() {
        UnloadTimeoutException e = UnloadReports.timeout(null, "plugin ticker generation 1", GuardScope.ENTRIES, UnloadStep.BARRIER,
                Duration.ofSeconds(4), List.of(), false, List.of(), List.of(UNDONE, LEFT));
        String m = e.getMessage();
        assertTrue(m.contains("\n  registrations the unload could not undo after the exit hook:\n    thread: thread \"ticker-poller\""), m);
        assertTrue(m.contains("at plugin:ticker.jar#1//com.example.ticker.TickerDriver.init(TickerDriver.java:18)"), m);
        assertTrue(!m.contains("timer 1a2b"), "only leftovers: " + m);
    }
}
