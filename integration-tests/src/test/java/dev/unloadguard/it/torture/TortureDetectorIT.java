package dev.unloadguard.it.torture;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The detector's "refused before its body" exemption, on the stacks and call numbers it reads: it
 * must exempt a caller refusing a call whose body never began, even when the caller moved on to
 * that call between the detector's reads (a CI run counted that as a violation), and nothing that
 * ran plugin code: a body that began, or a refusal at a nested entry inside the body. (A plain
 * unit test, named IT because this module's tests all run in the integration-test phase.)
 */
class TortureDetectorIT {

    private static final String LOADER = "gen-2";

    private static StackTraceElement frame(String loader, String cls, String method) {
        return new StackTraceElement(loader, null, null, cls, method, null, -1);
    }

    private static final StackTraceElement ERROR_INIT = frame("app", "dev.unloadguard.driver.PluginUnloadedError", "<init>");
    private static final StackTraceElement REFUSE = frame("app", "dev.unloadguard.epoch.internal.ReleaseEpoch", "refuse");
    private static final StackTraceElement GATE = frame("app", "dev.unloadguard.epoch.ReleaseGuard", "enterEntrySectionCell");
    private static final StackTraceElement SERVE = frame(LOADER, TorturePlugin.PACKAGE + ".TortureService", "serve");
    private static final StackTraceElement CALLER = frame("app", "dev.unloadguard.it.torture.TortureScenario$Caller", "run");

    private static final StackTraceElement[] REFUSING = {ERROR_INIT, REFUSE, GATE, SERVE, CALLER};
    private static final StackTraceElement[] IN_BODY = {frame("app", "java.lang.Math", "max"), SERVE, CALLER};

    @Test
    void aCallRefusedBeforeItsBodyIsExempt() {
        assertTrue(TortureDetector.refusedBeforeItsBody(REFUSING, List.of(SERVE), 7, 6, 7));
    }

    /** The byte-level weaver's gated enter in a class of unloadguard's own loader: the epoch class's b(), a frame of the loader. */
    private static final StackTraceElement EPOCH_CLASS_GATE = frame(LOADER, TortureDetector.EPOCH_CLASS, "b");
    private static final StackTraceElement[] REFUSING_THROUGH_THE_EPOCH_CLASS = {ERROR_INIT, REFUSE,
        frame("app", "dev.unloadguard.epoch.ReleaseGuard", "enterEntrySectionCell"), EPOCH_CLASS_GATE, SERVE, CALLER};

    @Test
    void theEpochClassFrameIsNotThePluginsAndARefusalThroughItIsExempt() {
        List<StackTraceElement> mine = TortureDetector.plugins(REFUSING_THROUGH_THE_EPOCH_CLASS, LOADER);
        assertTrue(mine.equals(List.of(SERVE)), "the epoch class's frame is unloadguard's code: " + mine);
        assertTrue(TortureDetector.refusedBeforeItsBody(REFUSING_THROUGH_THE_EPOCH_CLASS, mine, 7, 6, 7));
        assertTrue(TortureDetector.refusedBeforeItsBody(REFUSING_THROUGH_THE_EPOCH_CLASS, mine, 7, 7, 8));
        StackTraceElement[] exiting = {frame(LOADER, TortureDetector.EPOCH_CLASS, "c"), SERVE, CALLER};
        assertTrue(TortureDetector.plugins(exiting, LOADER).equals(List.of(SERVE)), "an exit: serve is what runs");
        assertFalse(TortureDetector.refusedBeforeItsBody(exiting, List.of(SERVE), 7, 7, 7), "a body that began and is exiting");
    }

    @Test
    void aCallWhoseBodyBeganIsAViolation() {
        assertFalse(TortureDetector.refusedBeforeItsBody(IN_BODY, List.of(SERVE), 7, 7, 7));
        assertFalse(TortureDetector.refusedBeforeItsBody(REFUSING, List.of(SERVE), 7, 7, 7));
    }

    @Test
    void aCallerThatMovedOnAndIsRefusingTheNextCallIsExempt() {
        // between calls 7 and 8 at the first read (7's body had run), refusing call 8 on its stack
        assertTrue(TortureDetector.refusedBeforeItsBody(REFUSING, List.of(SERVE), 7, 7, 8));
    }

    @Test
    void aCallerThatMovedOnWithoutARefusalOnItsStackIsAViolation() {
        // the stack may be call 7's body: nothing shows it was call 8's prologue
        assertFalse(TortureDetector.refusedBeforeItsBody(IN_BODY, List.of(SERVE), 7, 7, 8));
        assertFalse(TortureDetector.refusedBeforeItsBody(new StackTraceElement[] {GATE, SERVE, CALLER}, List.of(SERVE), 7, 7, 8));
    }

    @Test
    void aRefusalBelowServeDoesNotCount() {
        // serve's body running host code that itself is refusing something elsewhere: the refusal is not above serve's entry
        StackTraceElement[] stack = {frame("app", "java.lang.Math", "max"), SERVE, ERROR_INIT, CALLER};
        assertFalse(TortureDetector.refusedBeforeItsBody(stack, List.of(SERVE), 7, 7, 8));
    }

    @Test
    void aCallerTwoCallsOnOrWhoseNextBodyBeganIsAViolation() {
        assertFalse(TortureDetector.refusedBeforeItsBody(REFUSING, List.of(SERVE), 7, 7, 9));
        assertFalse(TortureDetector.refusedBeforeItsBody(REFUSING, List.of(SERVE), 7, 8, 8));
    }

    @Test
    void aRefusalAtANestedEntryInsideTheBodyIsAViolation() {
        // serve's body called another plugin class's entry and that entry was refused: plugin code ran
        StackTraceElement note = frame(LOADER, TorturePlugin.PACKAGE + ".ServeNote", "note");
        StackTraceElement[] stack = {ERROR_INIT, REFUSE, GATE, note, SERVE, CALLER};
        assertFalse(TortureDetector.refusedBeforeItsBody(stack, List.of(note, SERVE), 7, 6, 7));
        assertFalse(TortureDetector.refusedBeforeItsBody(stack, List.of(note, SERVE), 7, 7, 8));
    }

    @Test
    void aCallerRefusingItsFirstCallIsExemptThoughItHadNotCalledAtTheFirstRead() {
        // the case a local run caught on virtual threads: call number 0 before the stacks, 1 after
        assertTrue(TortureDetector.refusedBeforeItsBody(REFUSING, List.of(SERVE), 0, 0, 1));
        assertFalse(TortureDetector.refusedBeforeItsBody(IN_BODY, List.of(SERVE), 0, 0, 1));
    }

    @Test
    void aThreadThatNeverCalledIsAViolation() {
        assertFalse(TortureDetector.refusedBeforeItsBody(REFUSING, List.of(SERVE), 0, 0, 0));
    }
}
