package dev.unloadguard.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.it.support.BuiltJars;
import dev.unloadguard.it.support.ChildJvm;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The main job of the README's quick start, run exactly as a user runs it, on the built jars. */
class DemoIT {

    private static List<String> demo(List<String> jvm, String... options) {
        List<String> args = new java.util.ArrayList<>(jvm);
        args.addAll(List.of("-jar", BuiltJars.cli().toString(), "demo",
                "--driver", BuiltJars.driverSample().toString(), "--helper", BuiltJars.helperSample().toString()));
        args.addAll(List.of(options));
        return args;
    }

    @Test
    void theDemoWithTheAgentUnloadsEveryCycleAndReportsNoFailure() throws Exception {
        try (ChildJvm jvm = ChildJvm.java(demo(List.of(ChildJvm.javaagent()), "--cycles", "8"))) {
            assertEquals(0, jvm.waitFor(Duration.ofMinutes(2)), jvm::output);
            String out = jvm.output();
            assertTrue(out.contains("agent: attached"), out);
            assertTrue(out.contains("[  8/8] xe gen 8:"), () -> "a progress line per cycle:\n" + out);
            assertTrue(out.contains("devices created / released:  8 / 8"), out);
            assertTrue(out.contains("pagemaps dropped by helper:  32"), out);
            assertTrue(out.contains("loaders collected:           8 of 8"), out);
            assertTrue(out.lines().anyMatch(l -> l.matches("\\s+4\\. barrier\\s+[0-9.]+\\s+[0-9.]+")), out);
            assertTrue(out.contains("failures:                    0"), out);
        }
    }

    /**
     * The second job, {@code demo --dependencies}: greeting-sample (its library nested in lib/)
     * and welcome-sample (requiring it), reloaded with the cascade while the host calls welcome.
     */
    @Test
    void theDependencyDemoShowsALibraryInsideAPluginAndADependencyReloadedWithTheCascade() throws Exception {
        List<String> args = List.of(ChildJvm.javaagent(), "-jar", BuiltJars.cli().toString(), "demo", "--dependencies",
                "--greeting", BuiltJars.greetingSample().toString(), "--welcome", BuiltJars.welcomeSample().toString(), "--cycles", "4");
        try (ChildJvm jvm = ChildJvm.java(args)) {
            assertEquals(0, jvm.waitFor(Duration.ofMinutes(2)), jvm::output);
            String out = jvm.output();
            assertTrue(out.contains("loaded plugin greeting generation 1 version 1.0.0 from greeting-sample.jar: exports "
                    + "dev.unloadguard.sample.greeting.api"), out);
            assertTrue(out.contains("loaded plugin welcome generation 1 version 1.0.0 from welcome-sample.jar: requires greeting "
                    + "generation 1 version 1.0.0"), out);
            assertTrue(out.contains("welcome says: Hello, Demo Host | greeting API from plugin:greeting-sample.jar#"), out);
            assertTrue(out.contains("greeting's library (lib/textlib-sample.jar) is defined by greeting's own class loader: yes"), out);
            assertTrue(out.contains("unloading greeting alone: refused, as it must be: refusing to unload plugin greeting generation 1 "
                    + "(LIVE): loaded plugins depend on it: plugin welcome generation 1 (LIVE)"), out);
            assertTrue(out.contains("[  4/4] greeting gen 5 and welcome gen 5 live; cascade unloaded welcome gen 4 COLLECTED"), out);
            assertTrue(out.contains("then greeting gen 4 COLLECTED"), out);
            assertTrue(out.contains("unloads (one per plugin):    10, dependents first"), out);
            assertTrue(out.contains("loaders collected:           10 of 10"), out);
            assertTrue(out.contains("late accesses:               0"), out);
            assertTrue(out.contains("NoClassDefFoundError:        0"), out);
            assertTrue(out.lines().anyMatch(l -> l.matches("  calls through welcome: +[1-9][0-9]* answered, [0-9]+ refused at the call while unloading")), out);
            assertTrue(out.contains("failures:                    0"), out);
        }
        List<String> wrong = List.of(ChildJvm.javaagent(), "-jar", BuiltJars.cli().toString(), "demo", "--dependencies",
                "--greeting", BuiltJars.driverSample().toString());
        try (ChildJvm jvm = ChildJvm.java(wrong)) {
            assertEquals(2, jvm.waitFor(Duration.ofMinutes(1)), jvm::output);
            assertTrue(jvm.output().contains("is a jar but not greeting-sample (it has no dev/unloadguard/sample/greeting/api/Greetings.class)"),
                    jvm::output);
        }
    }

    @Test
    void theDemoRefusesToRunWithoutTheAgentUnlessAskedAndSaysHow() throws Exception {
        try (ChildJvm jvm = ChildJvm.java(demo(List.of(), "--cycles", "2"))) {
            assertEquals(2, jvm.waitFor(Duration.ofMinutes(1)), jvm::output);
            assertTrue(jvm.output().contains("-javaagent:agent/target/unloadguard-agent.jar"), jvm::output);
        }
    }

    @Test
    void badOptionsGetAClearErrorAndExitStatus2() throws Exception {
        try (ChildJvm jvm = ChildJvm.java(demo(List.of(ChildJvm.javaagent()), "--cycles", "zero"))) {
            assertEquals(2, jvm.waitFor(Duration.ofMinutes(1)), jvm::output);
            assertTrue(jvm.output().contains("--cycles takes a positive whole number, not 'zero'"), jvm::output);
        }
        try (ChildJvm jvm = ChildJvm.java(List.of("-jar", BuiltJars.cli().toString(), "demo", "--driver", "/nonexistent.jar"))) {
            assertEquals(2, jvm.waitFor(Duration.ofMinutes(1)), jvm::output);
            assertTrue(jvm.output().contains("driver-sample jar not found at /nonexistent.jar"), jvm::output);
        }
        try (ChildJvm jvm = ChildJvm.java(List.of("-jar", BuiltJars.cli().toString(), "frobnicate"))) {
            assertEquals(2, jvm.waitFor(Duration.ofMinutes(1)), jvm::output);
            assertTrue(jvm.output().contains("unknown command 'frobnicate'"), jvm::output);
        }
    }
}
