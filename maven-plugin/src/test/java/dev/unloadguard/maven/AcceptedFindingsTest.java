package dev.unloadguard.maven;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.check.Hazard;
import dev.unloadguard.check.HazardKind;
import java.util.List;
import org.junit.jupiter.api.Test;

class AcceptedFindingsTest {

    private static final Hazard THREAD_IN_INIT = new Hazard(HazardKind.THREAD, "com.acme.EchoDriver",
            "init(Ldev/unloadguard/driver/DriverContext;)V", 42, "Thread.start()");
    private static final Hazard THREAD_IN_OTHER_INIT = new Hazard(HazardKind.THREAD, "com.acme.EchoDriver",
            "init(I)V", 50, "Thread.start()");
    private static final Hazard EXECUTOR_IN_INIT = new Hazard(HazardKind.EXECUTOR, "com.acme.EchoDriver",
            "init(Ldev/unloadguard/driver/DriverContext;)V", 43, "Executors.newSingleThreadExecutor");
    private static final Hazard FIELD = new Hazard(HazardKind.THREAD_LOCAL, "com.acme.Cache", "", -1, "field CURRENT");
    private static final Hazard THREAD_ELSEWHERE = new Hazard(HazardKind.THREAD, "com.acme.Other", "run()V", 7, "Thread.start()");

    @Test
    void theKeyIsKindClassAndMethodWithItsDescriptorWithoutTheLine() {
        assertEquals("THREAD:com.acme.EchoDriver#init(Ldev/unloadguard/driver/DriverContext;)V", AcceptedFindings.keyOf(THREAD_IN_INIT));
        assertEquals("THREAD_LOCAL:com.acme.Cache", AcceptedFindings.keyOf(FIELD));
    }

    @Test
    void anExactKeyAcceptsThatFindingOnly() {
        AcceptedFindings accepted = AcceptedFindings.parse(List.of(AcceptedFindings.keyOf(THREAD_IN_INIT)));
        assertTrue(accepted.accepts(THREAD_IN_INIT));
        assertFalse(accepted.accepts(THREAD_IN_OTHER_INIT), "another overload");
        assertFalse(accepted.accepts(EXECUTOR_IN_INIT), "another kind in the same method");
        assertFalse(accepted.accepts(THREAD_ELSEWHERE));
        assertEquals(List.of(THREAD_IN_OTHER_INIT, EXECUTOR_IN_INIT), accepted.remaining(List.of(THREAD_IN_INIT, THREAD_IN_OTHER_INIT, EXECUTOR_IN_INIT)));
    }

    @Test
    void aMethodNameWithoutDescriptorAcceptsEveryOverload() {
        AcceptedFindings accepted = AcceptedFindings.parse(List.of("THREAD:com.acme.EchoDriver#init"));
        assertTrue(accepted.accepts(THREAD_IN_INIT));
        assertTrue(accepted.accepts(THREAD_IN_OTHER_INIT));
        assertFalse(accepted.accepts(EXECUTOR_IN_INIT));
    }

    @Test
    void aClassKeyAcceptsEveryFindingOfThatKindInTheClassAndThoseOutsideMethods() {
        AcceptedFindings accepted = AcceptedFindings.parse(List.of("THREAD:com.acme.EchoDriver", "THREAD_LOCAL:com.acme.Cache"));
        assertTrue(accepted.accepts(THREAD_IN_INIT));
        assertTrue(accepted.accepts(THREAD_IN_OTHER_INIT));
        assertTrue(accepted.accepts(FIELD));
        assertFalse(accepted.accepts(EXECUTOR_IN_INIT));
        assertFalse(accepted.accepts(THREAD_ELSEWHERE));
    }

    @Test
    void commentsAndBlankLinesOfAnAcceptFileAreSkipped() {
        AcceptedFindings accepted = AcceptedFindings.parse(List.of(
                "# the driver stops its heartbeat thread in exit()",
                "",
                "   THREAD:com.acme.EchoDriver#init   # joined in exit()",
                "  "));
        assertEquals(1, accepted.size());
        assertTrue(accepted.accepts(THREAD_IN_INIT));
    }

    @Test
    void keysThatMatchNothingAreReportedAsUnused() {
        AcceptedFindings accepted = AcceptedFindings.parse(List.of("THREAD:com.acme.EchoDriver#init", "TIMER:com.acme.Gone"));
        assertEquals(List.of("TIMER:com.acme.Gone"), accepted.unused(List.of(THREAD_IN_INIT, FIELD)));
    }

    @Test
    void malformedKeysAndUnknownKindsAreRejectedNamingTheKey() {
        for (String bad : List.of("com.acme.EchoDriver#init", "THREADS:com.acme.EchoDriver", "THREAD:", "THREAD:#init", "THREAD:com.acme.X#")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> AcceptedFindings.parse(List.of(bad)), bad);
            assertTrue(e.getMessage().contains("'" + bad + "'"), e::getMessage);
        }
    }

    @Test
    void theFailureMessagePrintsTheKeyToAcceptEachFinding() {
        String message = CheckMojo.failureMessage(List.of(THREAD_IN_INIT, FIELD));
        assertTrue(message.contains("<finding>THREAD:com.acme.EchoDriver#init(Ldev/unloadguard/driver/DriverContext;)V</finding>  <!-- line 42 -->"), message);
        assertTrue(message.contains("<finding>THREAD_LOCAL:com.acme.Cache</finding>\n") || message.endsWith("<finding>THREAD_LOCAL:com.acme.Cache</finding>"), message);
    }
}
