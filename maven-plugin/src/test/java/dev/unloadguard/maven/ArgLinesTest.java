package dev.unloadguard.maven;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class ArgLinesTest {

    private static final String AGENT = "-javaagent:/repo/dev/unloadguard/unloadguard-agent.jar";

    @Test
    void withNoPreviousValueTheLineIsTheAgentAlone() {
        assertEquals(AGENT, ArgLines.prepend(null, AGENT));
        assertEquals(AGENT, ArgLines.prepend("", AGENT));
        assertEquals(AGENT, ArgLines.prepend("  \t ", AGENT));
    }

    @Test
    void aUsersArgLineIsKeptAfterTheAgent() {
        assertEquals(AGENT + " -Xmx512m -Dfoo=bar", ArgLines.prepend("-Xmx512m -Dfoo=bar", AGENT));
    }

    @Test
    void anotherAgentSetEarlierIsChainedNotReplaced() {
        String jacoco = "-javaagent:/repo/org/jacoco/org.jacoco.agent-runtime.jar=destfile=/p/target/jacoco.exec";
        assertEquals(AGENT + " " + jacoco + " -Xmx512m", ArgLines.prepend(jacoco + " -Xmx512m", AGENT));
    }

    @Test
    void runningTwiceInstallsTheAgentOnce() {
        String once = ArgLines.prepend("-Xmx512m", AGENT);
        assertEquals(once, ArgLines.prepend(once, AGENT));
        assertEquals(AGENT, ArgLines.prepend(AGENT, AGENT));
    }

    @Test
    void quotedSpacesInTheUsersLineAreKeptAsWritten() {
        String line = "-Dname=\"a  b\" -Xmx512m";
        assertEquals(AGENT + " " + line, ArgLines.prepend(line, AGENT));
    }

    @Test
    void aPathWithASpaceIsQuoted() {
        Path jar = Path.of("/home/some one/.m2/unloadguard-agent.jar");
        assertEquals("\"-javaagent:/home/some one/.m2/unloadguard-agent.jar\"", ArgLines.agentOption(jar));
        assertEquals("-javaagent:/opt/m2/unloadguard-agent.jar", ArgLines.agentOption(Path.of("/opt/m2/unloadguard-agent.jar")));
    }

    @Test
    void aQuotedAgentOptionIsAlsoRecognizedOnASecondRun() {
        String option = ArgLines.agentOption(Path.of("/home/some one/unloadguard-agent.jar"));
        String once = ArgLines.prepend("-Xmx1g", option);
        assertEquals(option + " -Xmx1g", once);
        assertEquals(once, ArgLines.prepend(once, option));
    }
}
