package dev.unloadguard.consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * Reads what the consumer project's build (src/it/consumer, run by maven-invoker-plugin just
 * before this test) left behind: its host tests ran with the agent and passed, and the check of
 * its plugin jar wrote its JSON report and accepted the one configured finding. And that the
 * check fails a build on a finding nobody accepted (src/it/check-fails).
 */
class ConsumerBuildIT {

    private static final Path CONSUMER = Path.of(System.getProperty("consumer.dir", "target/it/consumer"));
    private static final String VERSION = System.getProperty("unloadguard.version");

    @Test
    void theHostTestsRanAndPassed() throws IOException {
        String report = Files.readString(CONSUMER.resolve(
                "host-tests/target/surefire-reports/TEST-com.example.host.EchoPluginUnloadTest.xml"), StandardCharsets.UTF_8);
        String suite = report.substring(report.indexOf("<testsuite"), report.indexOf('>', report.indexOf("<testsuite")));
        assertEquals(2, attribute(suite, "tests"), suite);
        assertEquals(0, attribute(suite, "failures"), suite);
        assertEquals(0, attribute(suite, "errors"), suite);
        assertEquals(0, attribute(suite, "skipped"), suite);
    }

    @Test
    void prepareAgentChainedTheConsumersArgLine() throws IOException {
        String log = buildLog();
        Matcher m = Pattern.compile("argLine set to (\\S+) -Dconsumer\\.argLine=chained -Xmx256m").matcher(log);
        assertTrue(m.find(), "no prepare-agent line in the consumer's build.log");
        String agent = "dev/unloadguard/unloadguard-agent/" + VERSION + "/unloadguard-agent-" + VERSION + ".jar";
        assertTrue(m.group(1).startsWith("-javaagent:") && m.group(1).replace('\\', '/').endsWith(agent),
                () -> "expected the plugin's own version of the agent jar (" + agent + "): " + m.group(1));
    }

    @Test
    void theCheckWroteItsJsonAndAcceptedTheHeartbeatThread() throws IOException {
        String json = Files.readString(CONSUMER.resolve("echo-plugin/target/unloadguard-check.json"), StandardCharsets.UTF_8);
        assertTrue(json.contains("\"class\": \"com.example.echo.EchoCallback\", \"method\": \"release()V\""), json);
        assertTrue(json.contains("{\"kind\": \"THREAD\", \"class\": \"com.example.echo.EchoDriver\", "
                + "\"method\": \"init(Ldev/unloadguard/driver/DriverContext;)V\""), json);
        String log = buildLog();
        assertTrue(log.contains("1 unload hazard(s) accepted by configuration"), "the accepted THREAD finding");
        assertTrue(log.contains("BUILD SUCCESS"), "the consumer build passed");
    }

    /** src/it/check-fails, whose build must have failed (invoker.buildResult = failure) on the check. */
    @Test
    void aHazardNobodyAcceptedFailsTheBuildNamingItsKey() throws IOException {
        Path project = CONSUMER.resolveSibling("check-fails");
        String log = Files.readString(project.resolve("build.log"), StandardCharsets.UTF_8);
        assertTrue(log.contains("unloadguard check: 1 unload hazard(s) not accepted"), "the check failed the build");
        assertTrue(log.contains("<finding>THREAD:com.example.leaky.Poller#start()V</finding>"), "the key to accept it");
        assertTrue(log.contains("BUILD FAILURE"));
        assertTrue(Files.readString(project.resolve("target/unloadguard-check.json"), StandardCharsets.UTF_8)
                .contains("\"kind\": \"THREAD\", \"class\": \"com.example.leaky.Poller\""), "JSON written before failing");
    }

    private static String buildLog() throws IOException {
        return Files.readString(CONSUMER.resolve("build.log"), StandardCharsets.UTF_8);
    }

    private static int attribute(String element, String name) {
        Matcher m = Pattern.compile("\\s" + name + "=\"(\\d+)\"").matcher(element);
        assertTrue(m.find(), () -> "no " + name + " in " + element);
        return Integer.parseInt(m.group(1));
    }
}
