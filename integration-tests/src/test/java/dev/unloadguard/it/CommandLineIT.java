package dev.unloadguard.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.unloadguard.it.scenario.TailDepthScenario;
import dev.unloadguard.it.support.BuiltJars;
import dev.unloadguard.it.support.ChildJvm;
import dev.unloadguard.it.support.TestPlugins;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.jar.Attributes;
import java.util.jar.JarFile;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The command line as a new user meets it (issue 9, item 6), always through the built
 * {@code unloadguard-cli.jar} in a child JVM: status and attach telling whether the agent is
 * there, attach refusing a process that is not a JVM, the JDK 21+ dynamic-agent note, demo's
 * bad jars, help's exit codes, version, and run's --config/--service.
 */
class CommandLineIT {

    private static final Duration CLI = Duration.ofMinutes(1);

    // ---- 1. status says whether the agent is attached ----

    @Test
    void statusSaysTheAgentIsNotAttachedThenAttachedWithItsVersion() throws Exception {
        try (ChildJvm target = waitingTarget(List.of())) {
            try (ChildJvm status = cli("status", pid(target))) {
                assertEquals(0, status.waitFor(CLI), status::output);
                assertTrue(status.lines().contains("JVM " + target.pid() + ": unloadguard agent not attached (attach it with: attach "
                        + target.pid() + ")"), status::output);
            }
            try (ChildJvm attach = cli("attach", pid(target))) {
                assertEquals(0, attach.waitFor(CLI), attach::output);
            }
            try (ChildJvm status = cli("status", pid(target))) {
                assertEquals(0, status.waitFor(CLI), status::output);
                assertTrue(status.lines().contains("JVM " + target.pid() + ": unloadguard agent attached (version "
                        + version(BuiltJars.agent()) + ")"), status::output);
                assertTrue(status.output().contains("1 plugin id(s)"), status::output);
            }
            finish(target);
        }
    }

    @Test
    void statusSeesAnAgentGivenWithJavaagent() throws Exception {
        try (ChildJvm target = waitingTarget(List.of(ChildJvm.javaagent()))) {
            try (ChildJvm status = cli("status", pid(target))) {
                assertEquals(0, status.waitFor(CLI), status::output);
                assertTrue(status.lines().contains("JVM " + target.pid() + ": unloadguard agent attached (version "
                        + version(BuiltJars.agent()) + ")"), status::output);
            }
            finish(target);
        }
    }

    // ---- 2. a second attach says so ----

    @Test
    void aSecondAttachSaysTheAgentIsAlreadyThere() throws Exception {
        // -XX:-UsePerfData: no hsperfdata entry, so the "is it a JVM" check must not rely on one
        try (ChildJvm target = waitingTarget(List.of("-XX:-UsePerfData"))) {
            try (ChildJvm first = cli("attach", pid(target))) {
                assertEquals(0, first.waitFor(CLI), first::output);
                assertTrue(first.output().contains("plugin classes it already loaded are now guarded"), first::output);
                // the target runs on this JVM's JDK: a JDK 21+ one gets the dynamic-agent note, an older one none
                assertEquals(Runtime.version().feature() >= 21, first.output().contains("note:"),
                        "the dynamic-agent note iff the target runs JDK 21+:\n" + first.output());
            }
            try (ChildJvm second = cli("attach", pid(target))) {
                assertEquals(0, second.waitFor(CLI), second::output);
                assertEquals(List.of("JVM " + target.pid() + " already has the unloadguard agent attached (version "
                        + version(BuiltJars.agent()) + "): nothing to do"), second.lines());
            }
            finish(target);
            assertEquals("[1, 1]", target.value("depths").orElseThrow(), "guarded once, not twice:\n" + target.output());
        }
    }

    // ---- 3. attach to a process that is not a JVM ----

    @Test
    void attachingToAProcessThatIsNotAJvmFailsAtOnceWithOneLine() throws Exception {
        Process sleep = new ProcessBuilder("sleep", "600").start();
        try {
            try (ChildJvm attach = cli("attach", Long.toString(sleep.pid()))) {
                assertEquals(2, attach.waitFor(CLI), attach::output);
                assertEquals(List.of("unloadguard attach: PID " + sleep.pid() + " (sleep) is not a JVM this user can attach to"
                        + " (list JVMs with 'jps -l')"), attach.lines());
            }
            try (ChildJvm status = cli("status", Long.toString(sleep.pid()))) {
                assertEquals(2, status.waitFor(CLI), status::output);
                assertEquals(1, status.lines().size(), status::output);
                assertTrue(status.output().contains("is not a JVM"), status::output);
            }
        } finally {
            sleep.destroyForcibly();
        }
    }

    // ---- 7. JDK 21+ targets: the dynamic-agent warning is explained ----

    @Test
    void attachingToAJdk21PlusTargetExplainsItsWarningAndTheFlagSilencesIt() throws Exception {
        Optional<Path> jdk = newerJdk(21);
        assumeTrue(jdk.isPresent(), "no JDK 21+ under /usr/lib/jvm");
        String home = jdk.get().toString();
        try (ChildJvm target = ChildJvm.start(home, List.of(), TailDepthScenario.class.getName(),
                BuiltJars.driverSample().toString(), "wait")) {
            target.awaitLine(l -> l.startsWith("loaded="), Duration.ofSeconds(30));
            try (ChildJvm attach = cli("attach", pid(target))) {
                assertEquals(0, attach.waitFor(CLI), attach::output);
                String note = attach.find(l -> l.startsWith("note:")).orElseThrow(() -> new AssertionError(attach.output()));
                assertTrue(note.contains("WARNING: A Java agent has been loaded dynamically"), note);
                assertTrue(note.contains("-XX:+EnableDynamicAgentLoading"), note);
            }
            finish(target);
            assertTrue(target.output().contains("WARNING: A Java agent has been loaded dynamically"), target::output);
        }
        try (ChildJvm target = ChildJvm.start(home, List.of("-XX:+EnableDynamicAgentLoading"), TailDepthScenario.class.getName(),
                BuiltJars.driverSample().toString(), "wait")) {
            target.awaitLine(l -> l.startsWith("loaded="), Duration.ofSeconds(30));
            try (ChildJvm attach = cli("attach", pid(target))) {
                assertEquals(0, attach.waitFor(CLI), attach::output);
                assertFalse(attach.output().contains("note:"), attach::output);
            }
            finish(target);
            assertFalse(target.output().contains("WARNING: A Java agent"), "the flag the note names silences it:\n" + target.output());
        }
    }

    // ---- 4. demo with a bad --helper or --driver ----

    @Test
    void demoWithABadHelperOrDriverJarSaysSoInOneLine(@TempDir Path dir) throws Exception {
        Path notAJar = Files.writeString(dir.resolve("bad.jar"), "not a zip");
        String[][] cases = {
            {"--helper", notAJar.toString(), "is not a jar"},
            {"--helper", BuiltJars.driverSample().toString(), "is a jar but not helper-sample"},
            {"--helper", dir.resolve("missing.jar").toString(), "helper-sample jar not found"},
            {"--driver", notAJar.toString(), "is not a jar"},
            {"--driver", BuiltJars.helperSample().toString(), "is a jar but not driver-sample"},
            {"--driver", dir.resolve("missing.jar").toString(), "driver-sample jar not found"},
        };
        for (String[] c : cases) {
            // with the agent, so the demo would otherwise go on and use the jar
            try (ChildJvm demo = ChildJvm.java(List.of(ChildJvm.javaagent(), "-jar", BuiltJars.cli().toString(), "demo",
                    "--cycles", "1", "--driver", c[0].equals("--driver") ? c[1] : BuiltJars.driverSample().toString(),
                    "--helper", c[0].equals("--helper") ? c[1] : BuiltJars.helperSample().toString()))) {
                int status = demo.waitFor(CLI);
                String what = String.join(" ", c[0], c[1]) + ":\n" + demo.output();
                assertEquals(2, status, what);
                assertEquals(1, demo.lines().size(), what);
                assertTrue(demo.output().startsWith("unloadguard demo: ") && demo.output().contains(c[2]), what);
                assertFalse(demo.output().contains("Exception") || demo.output().contains("\tat "), what);
            }
        }
    }

    // ---- 5. help lists the exit codes; version ----

    @Test
    void helpListsTheExitCodesAndEveryRunOption() throws Exception {
        try (ChildJvm help = cli("help")) {
            assertEquals(0, help.waitFor(CLI), help::output);
            List<String> lines = help.lines();
            int at = lines.indexOf("exit status:");
            assertTrue(at > 0, help::output);
            for (String code : List.of("0", "1", "2")) {
                assertTrue(lines.subList(at, lines.size()).stream().anyMatch(l -> l.startsWith("  " + code + "  ")), help::output);
            }
            for (String option : List.of("--config KEY=VALUE", "--service TYPE=CLASS", "--host-classpath", "--settle-ms",
                    "--unload-timeout-ms", "--track-references", "--unguarded", "version", "-XX:+EnableDynamicAgentLoading")) {
                assertTrue(help.output().contains(option), () -> option + " missing from help:\n" + help.output());
            }
        }
    }

    @Test
    void docsCliMdDocumentsEveryCommandAndOptionHelpPrints() throws Exception {
        Path doc = Stream.of(Path.of("..", "docs", "cli.md"), Path.of("docs", "cli.md")).filter(Files::isRegularFile)
                .findFirst().orElseThrow(() -> new AssertionError("docs/cli.md not found from " + Path.of("").toAbsolutePath()));
        String text = Files.readString(doc);
        try (ChildJvm help = cli("help")) {
            assertEquals(0, help.waitFor(CLI), help::output);
            java.util.regex.Matcher options = java.util.regex.Pattern.compile("(?<=[\\s(,])--?[a-zA-Z][\\w-]*").matcher(help.output());
            List<String> missing = new ArrayList<>();
            while (options.find()) {
                String option = options.group();
                if (!option.startsWith("-XX") && !option.startsWith("-javaagent") && !text.contains("`" + option)
                        && !text.contains(" " + option)) {
                    missing.add(option);
                }
            }
            for (String command : List.of("demo", "attach PID", "status PID", "run --watch DIR", "check", "version", "help")) {
                if (!text.contains("`" + command)) {
                    missing.add(command);
                }
            }
            assertTrue(missing.isEmpty(), () -> "help mentions what docs/cli.md does not: " + missing);
            assertTrue(text.contains("-XX:+EnableDynamicAgentLoading"), "the flag that silences the JDK 21+ warning");
            for (String code : List.of("| 0 |", "| 1 |", "| 2 |")) {
                assertTrue(text.contains(code), "exit status " + code);
            }
        }
    }

    @Test
    void versionPrintsTheJarsImplementationVersion() throws Exception {
        String expected = "unloadguard " + version(BuiltJars.cli());
        for (String command : List.of("version", "--version")) {
            try (ChildJvm v = cli(command)) {
                assertEquals(0, v.waitFor(CLI), v::output);
                assertEquals(List.of(expected), v.lines());
            }
        }
    }

    // ---- 6. run --watch with --config and --service ----

    @Test
    void runGivesPluginsConfigurationAndServices(@TempDir Path dir) throws Exception {
        Path hostLib = TestPlugins.plugin()
                .source("it.clihost.Greeter", """
                        package it.clihost;
                        public class Greeter implements java.util.function.Supplier<String> {
                            public String get() { return "hello from the host"; }
                        }
                        """)
                .build("cli-host-lib");
        Path plugin = TestPlugins.plugin().driver("it.cliplugin.ConfiguredDriver")
                .source("it.cliplugin.ConfiguredDriver", """
                        package it.cliplugin;
                        import dev.unloadguard.driver.*;
                        import java.util.function.Supplier;
                        public final class ConfiguredDriver implements Driver {
                            public String id() { return "configured"; }
                            public void init(DriverContext ctx) {
                                System.out.println("plugin config greeting=" + ctx.config("greeting").orElse("<none>")
                                        + " color=" + ctx.config("color").orElse("<none>"));
                                System.out.println("plugin service=" + ctx.service(Supplier.class).map(Supplier::get).orElse("<none>"));
                                System.out.flush();
                            }
                            public void exit() { }
                        }
                        """)
                .build("cli-configured");
        Path watched = Files.createDirectory(dir.resolve("plugins"));
        List<String> args = List.of(ChildJvm.javaagent(), "-jar", BuiltJars.cli().toString(), "run", "--watch", watched.toString(),
                "--host-classpath", hostLib.toString(), "--settle-ms", "200",
                "--config", "greeting=hi=there", "--config", "color=blue",
                "--service", "java.util.function.Supplier=it.clihost.Greeter");
        try (ChildJvm host = ChildJvm.java(args)) {
            host.awaitLine(l -> l.startsWith("hosting the jars in"), Duration.ofSeconds(30));
            Files.copy(plugin, watched.resolve("configured.jar"));
            host.awaitLine(l -> l.equals("plugin config greeting=hi=there color=blue"), Duration.ofSeconds(30));
            host.awaitLine(l -> l.equals("plugin service=hello from the host"), Duration.ofSeconds(30));
        }
        // a service class that is not there: one line, exit 2, before hosting anything
        try (ChildJvm bad = ChildJvm.java(List.of(ChildJvm.javaagent(), "-jar", BuiltJars.cli().toString(), "run", "--watch",
                watched.toString(), "--service", "java.util.function.Supplier=it.clihost.Missing"))) {
            assertEquals(2, bad.waitFor(CLI), bad::output);
            assertEquals(List.of("unloadguard run: --service java.util.function.Supplier=it.clihost.Missing: class it.clihost.Missing"
                    + " not found on the host class path (add its jar with --host-classpath)"), bad.lines());
        }
        try (ChildJvm bad = ChildJvm.java(List.of(ChildJvm.javaagent(), "-jar", BuiltJars.cli().toString(), "run", "--watch",
                watched.toString(), "--config", "novalue"))) {
            assertEquals(2, bad.waitFor(CLI), bad::output);
            assertEquals(1, bad.lines().size(), bad::output);
            assertTrue(bad.output().contains("--config takes KEY=VALUE"), bad::output);
        }
    }

    // ---- support ----

    private static ChildJvm cli(String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("-jar", BuiltJars.cli().toString()));
        cmd.addAll(List.of(args));
        return ChildJvm.java(cmd);
    }

    /** A JVM with driver-sample loaded, waiting for "go" on stdin. */
    private static ChildJvm waitingTarget(List<String> jvmOptions) throws IOException {
        ChildJvm target = ChildJvm.start(jvmOptions, TailDepthScenario.class.getName(), BuiltJars.driverSample().toString(), "wait");
        target.awaitLine(l -> l.startsWith("loaded="), Duration.ofSeconds(30));
        return target;
    }

    private static void finish(ChildJvm target) throws Exception {
        target.send("go");
        assertEquals(0, target.waitFor(CLI), target::output);
    }

    private static String pid(ChildJvm jvm) {
        return Long.toString(jvm.pid());
    }

    private static String version(Path jar) throws IOException {
        try (JarFile j = new JarFile(jar.toFile())) {
            return j.getManifest().getMainAttributes().getValue(Attributes.Name.IMPLEMENTATION_VERSION);
        }
    }

    /** The home of the newest JDK of at least {@code feature} under /usr/lib/jvm, if any. */
    private static Optional<Path> newerJdk(int feature) throws IOException {
        Path jvms = Path.of("/usr/lib/jvm");
        if (!Files.isDirectory(jvms)) {
            return Optional.empty();
        }
        try (Stream<Path> homes = Files.list(jvms)) {
            return homes.filter(h -> Files.isExecutable(h.resolve("bin/java")) && !Files.isSymbolicLink(h))
                    .filter(h -> featureOf(h) >= feature)
                    .max(Comparator.comparingInt(CommandLineIT::featureOf));
        }
    }

    private static int featureOf(Path home) {
        try {
            for (String l : Files.readAllLines(home.resolve("release"))) {
                if (l.startsWith("JAVA_VERSION=")) {
                    String v = l.substring("JAVA_VERSION=".length()).replace("\"", "");
                    return Integer.parseInt(v.split("[.+-]")[0]);
                }
            }
        } catch (IOException | RuntimeException e) {
            return 0;
        }
        return 0;
    }
}
