package dev.unloadguard.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.it.scenario.TailDepthScenario;
import dev.unloadguard.it.support.BuiltJars;
import dev.unloadguard.it.support.ChildJvm;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@code java -jar unloadguard-agent.jar attach PID} against a JVM started without the agent. */
class AttachCommandIT {

    @Test
    void theAttachCommandGuardsAJvmStartedWithoutTheAgent() throws Exception {
        try (ChildJvm target = ChildJvm.start(List.of(), TailDepthScenario.class.getName(),
                BuiltJars.driverSample().toString(), "wait")) {
            target.awaitLine(l -> l.startsWith("loaded="), Duration.ofSeconds(30));
            try (ChildJvm attach = ChildJvm.java(List.of("-jar", BuiltJars.cli().toString(), "attach", Long.toString(target.pid())))) {
                assertEquals(0, attach.waitFor(Duration.ofMinutes(1)), attach::output);
                // the exact line Attach prints on success; "not attached" also contains "attached"
                String success = "attached " + BuiltJars.agent().toAbsolutePath() + " to JVM " + target.pid()
                        + ": plugin classes it already loaded are now guarded";
                assertTrue(attach.lines().contains(success), () -> "expected the line\n" + success + "\nin:\n" + attach.output());
                assertFalse(attach.output().contains("not attached"), attach::output);
            }
            target.send("go");
            assertEquals(0, target.waitFor(Duration.ofMinutes(1)), target::output);
            assertEquals("true", target.value("agent").orElseThrow(), target::output);
            assertEquals("[1, 1]", target.value("depths").orElseThrow(),
                    () -> "the plugin's classes, loaded before the attach, are guarded after it:\n" + target.output());
        }
    }

    @Test
    void attachingToNoSuchProcessFailsClearly() throws Exception {
        try (ChildJvm attach = ChildJvm.java(List.of("-jar", BuiltJars.cli().toString(), "attach", "999999999"))) {
            assertEquals(2, attach.waitFor(Duration.ofMinutes(1)), attach::output);
            assertTrue(attach.output().contains("no process with PID 999999999"), attach::output);
        }
    }
}
