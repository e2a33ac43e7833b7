package dev.unloadguard.it.torture;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.it.support.ChildJvm;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The torture test ({@link TortureScenario}): unload/reload cycles of the torture plugin raced by
 * threads acquiring and releasing devices and running release callbacks, by the helper dropping
 * callbacks from its worker, and by host threads calling the plugin's service continuously, in a
 * child JVM with the built agent, under each compiler mode and JDK; and the same scenario without
 * the agent, which must fail: with the loader's close audit its unloads cannot complete (the audit
 * finds host calls the barrier did not wait for), and without the audit too the detector catches
 * class loaders closed under running release tails and service calls, and host calls after the
 * unload run on the closed loader. The default mode (tiered, test JDK) runs with a
 * second plugin Y alongside ({@link TortureBystander}) that keeps sections of its own release epoch
 * open all run long: no unload of X may wait for them (one epoch per plugin), and Y's own unload
 * must time out naming Y and the threads inside, then succeed once they are closed or gone.
 * A two-plugin dependency chain ({@link TortureChainScenario}) is reloaded with the cascade while
 * host threads call through the dependent into its dependency; its reproducer, the dependency
 * not entry-guarded and no close audit, must see the dependency's loader closed under its code.
 *
 * <p>Bounded for CI (about 80 s on two cores); {@code -Dunloadguard.torture.soak=true} runs
 * {@value #SOAK_FACTOR} times as many cycles, {@code -Dunloadguard.torture.cycles=N} runs N cycles
 * in every guarded mode, {@code -Dunloadguard.torture.unguardedCycles=N} bounds the run without
 * the agent (40), {@code -Dunloadguard.torture.chainCycles=N} the chain's
 * cycles ({@value #CHAIN_DEFAULT}), {@code -Dunloadguard.torture.seed=S} fixes the seed (printed on every run; the
 * thread schedule still varies). Each mode prints a one-line summary.
 */
class TortureIT {

    static final Path TEMURIN_25 = Path.of("/usr/lib/jvm/temurin-25-jdk-amd64");
    static final int SOAK_FACTOR = 20;
    static final boolean SOAK = Boolean.getBoolean("unloadguard.torture.soak");
    static final Integer CYCLES = Integer.getInteger("unloadguard.torture.cycles");
    static final Long SEED = Long.getLong("unloadguard.torture.seed");
    static final int UNGUARDED_CYCLES = Integer.getInteger("unloadguard.torture.unguardedCycles", 40);

    static final int CHAIN_DEFAULT = 60;
    static final int CHAIN_CYCLES = Integer.getInteger("unloadguard.torture.chainCycles", CHAIN_DEFAULT);

    private static Path plugin;
    private static Path bystander;
    private static Path[] chain;

    /** How a child JVM runs the scenario. */
    enum Mode {
        // Cycles chosen for roughly 10 to 25 s per mode on a two-core machine.
        TIERED("test JDK, default tiered compiler, plugin Y alongside", null, List.of(), false, 300, true),
        INTERPRETER("test JDK, interpreter (-Xint)", null, List.of("-Xint"), false, 300, false),
        C1_ONLY("test JDK, C1 only (-XX:TieredStopAtLevel=1)", null, List.of("-XX:TieredStopAtLevel=1"), false, 400, false),
        TEMURIN_25_TIERED("Temurin 25, default tiered compiler", TEMURIN_25, List.of(), false, 300, false),
        TEMURIN_25_VIRTUAL("Temurin 25, release callbacks on virtual threads", TEMURIN_25, List.of(), true, 150, false);

        final String label;
        final Path javaHome;
        final List<String> jvmOptions;
        final boolean virtual;
        final int cycles;
        /** The two-plugin mode: the bystander plugin Y loaded alongside X for the whole run. */
        final boolean bystander;

        Mode(String label, Path javaHome, List<String> jvmOptions, boolean virtual, int cycles, boolean bystander) {
            this.label = label;
            this.javaHome = javaHome;
            this.jvmOptions = jvmOptions;
            this.virtual = virtual;
            this.cycles = cycles;
            this.bystander = bystander;
        }

        int cycles() {
            return CYCLES != null ? CYCLES : SOAK ? cycles * SOAK_FACTOR : cycles;
        }

        @Override
        public String toString() {
            return label;
        }
    }

    @BeforeAll
    static void buildPlugin() throws Exception {
        plugin = TorturePlugin.build();
        bystander = TorturePlugin.buildBystander();
        chain = TortureChain.build();
    }

    /**
     * The two-plugin dependency chain under reload ({@link TortureChainScenario}): host threads
     * call through chain-b into chain-a and run chain-a's callbacks while every cycle loads new
     * generations of both and cascades the old pair away. No call may run on a closed loader (no
     * NoClassDefFoundError, no late access), every cascade unloads the old chain-b then the old
     * chain-a within the timeout, and every generation is collected: nothing is left behind.
     */
    @Test
    void aDependencyChainSurvivesReloadCascadesUnderHostCalls() throws Exception {
        int cycles = SOAK ? CHAIN_CYCLES * SOAK_FACTOR : CHAIN_CYCLES;
        try (ChildJvm jvm = ChildJvm.start(System.getProperty("java.home"), List.of(ChildJvm.javaagent()),
                TortureChainScenario.class.getName(), chainArgs(cycles, true))) {
            int status = jvm.waitFor(Duration.ofMinutes(2).plusSeconds(cycles));
            String summary = chainSummary("test JDK, with the agent", jvm);
            System.out.println(summary);
            String firstError = summary + "\nfirst error: " + value(jvm, "firstError");
            assertEquals("true", value(jvm, "agent"), jvm::output);
            assertEquals(0, status, () -> "the scenario failed:\n" + jvm.output());
            assertEquals(Integer.toString(cycles), value(jvm, "cycles"), firstError);
            assertEquals("0", value(jvm, "ncdfe"), firstError);
            assertEquals("0", value(jvm, "lateAccesses"), firstError);
            assertEquals("0", value(jvm, "otherErrors"), firstError);
            assertEquals("0", value(jvm, "timeouts"), firstError);
            assertEquals("0", value(jvm, "wrongOrder"), firstError);
            assertEquals("0", value(jvm, "releaseFailures"), firstError);
            assertEquals("0", value(jvm, "notCollected"), firstError);
            assertEquals("0", value(jvm, "loadersNotCollected"), firstError);
            assertTrue(count(jvm, "calls") > 0, () -> "the callers must have called through chain-b: " + summary);
            assertTrue(count(jvm, "tails") > 0, () -> "the callers must have run chain-a's callbacks: " + summary);
            assertTrue(count(jvm, "refused") > 0, () -> "calls into an unloading generation must have been refused: " + summary);
        }
    }

    /**
     * The reproducer of the test above: chain-a guarded in its release paths only (its callbacks
     * the host runs are not), and no close audit. Nothing then keeps the cascade from closing
     * chain-a's loader under a callback still running its code: the callback's late class load
     * fails, and the loader counts late accesses.
     */
    @Test
    void withoutTheGuardOnTheDependencyTheChainsCascadeClosesUnderRunningCallbacks() throws Exception {
        int cycles = UNGUARDED_CYCLES;
        try (ChildJvm jvm = ChildJvm.start(System.getProperty("java.home"), List.of(ChildJvm.javaagent()),
                TortureChainScenario.class.getName(), chainArgs(cycles, false))) {
            int status = jvm.waitFor(Duration.ofMinutes(3));
            String summary = chainSummary("test JDK, chain-a guarding release paths only, no close audit", jvm);
            System.out.println(summary);
            assertEquals(0, status, () -> "the scenario failed:\n" + jvm.output());
            assertEquals("false", value(jvm, "guardA"), jvm::output);
            assertTrue(count(jvm, "lateAccesses") > 0, () -> "without chain-a's entry guard a callback must hit its closed "
                    + "loader within " + cycles + " cycles: " + summary);
            assertTrue(count(jvm, "ncdfe") > 0, () -> "the callbacks that hit it must fail with NoClassDefFoundError: " + summary);
        }
    }

    private static String[] chainArgs(int cycles, boolean guarded) {
        List<String> args = new ArrayList<>(List.of("a=" + chain[0], "b=" + chain[1], "cycles=" + cycles));
        if (!guarded) {
            args.addAll(List.of("guardA=false", "closeAudit=false"));
        }
        if (SEED != null) {
            args.add("seed=" + SEED);
        }
        return args.toArray(String[]::new);
    }

    private static String chainSummary(String label, ChildJvm jvm) {
        return String.format(Locale.ROOT, "torture chain [%s]: %s cycles (chain-b on chain-a, cascaded), %s calls through chain-b, "
                        + "%s chain-a callbacks, %s calls that saw their exit lingered and ran to the end, %s refused at the call, %s NoClassDefFoundError, "
                        + "%s late accesses, %s other errors, %s not collected, %.1f s, seed %s, %s",
                label, value(jvm, "cycles"), value(jvm, "calls"), value(jvm, "tails"), value(jvm, "lateNotes"), value(jvm, "refused"),
                value(jvm, "ncdfe"), value(jvm, "lateAccesses"), value(jvm, "otherErrors"), value(jvm, "notCollected"),
                count(jvm, "elapsedMs") / 1000.0, value(jvm, "seed"), value(jvm, "jvm"));
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(Mode.class)
    void noLoaderIsClosedUnderARunningReleaseCallback(Mode mode) throws Exception {
        String javaHome = javaHome(mode);
        int cycles = mode.cycles();
        List<String> options = new ArrayList<>(mode.jvmOptions);
        options.add(ChildJvm.javaagent());
        try (ChildJvm jvm = ChildJvm.start(javaHome, options, TortureScenario.class.getName(),
                args(cycles, mode.virtual, mode.bystander, null))) {
            int status = jvm.waitFor(bound(cycles, mode));
            String summary = summary(mode.label, jvm);
            System.out.println(summary);
            String firstError = "\nfirst error: " + value(jvm, "firstError");
            assertEquals("true", value(jvm, "agent"), jvm::output);
            assertEquals("0", value(jvm, "violations"), () -> summary + "\nfirst violation: " + value(jvm, "firstViolation"));
            assertEquals("0", value(jvm, "detectorErrors"), () -> summary + "\n" + jvm.output());
            assertEquals("0", value(jvm, "ncdfe"), () -> summary + firstError);
            assertEquals("0", value(jvm, "otherErrors"), () -> summary + firstError);
            assertEquals("0", value(jvm, "lost"), () -> summary + firstError);
            assertEquals("true", value(jvm, "collectionChecked"), jvm::output);
            assertEquals("0", value(jvm, "notCollected"), () -> summary + firstError);
            assertEquals("0", value(jvm, "timeouts"), () -> summary + "\n" + jvm.output());
            assertEquals("0", value(jvm, "barriersTimedOut"), () -> summary + "\n" + jvm.output());
            assertEquals(0, status, () -> "the scenario failed:\n" + jvm.output());
            assertEquals(Integer.toString(cycles), value(jvm, "cycles"), () -> summary + "\n" + jvm.output());
            // Y's final unload is scanned too
            assertEquals(Integer.toString(cycles + (mode.bystander ? 1 : 0)), value(jvm, "scans"),
                    () -> "the detector must scan every unload\n" + jvm.output());
            assertTrue(count(jvm, "callbacks") > 0, summary);
            assertTrue(count(jvm, "callbacksByHelper") > 0, () -> "the helper's worker must have run callbacks: " + summary);
            assertTrue(count(jvm, "serviceCalls") > 0, () -> "the host callers must have called the plugin's service: " + summary);
            assertTrue(count(jvm, "refused") > 0, () -> "host calls made while GOING must have been refused at the call: " + summary);
            assertEquals("0", value(jvm, "lateCallsRan"), () -> "no host call made after the unload may run plugin code: " + summary);
            assertEquals(Boolean.toString(mode.virtual), value(jvm, "virtual"), jvm::output);
            assertEquals(Boolean.toString(mode.bystander), value(jvm, "bystander"), jvm::output);
            if (mode.bystander) {
                assertBystander(jvm);
            }
        }
    }

    /**
     * The two-plugin mode, beyond what every mode asserts (every unload of X succeeded, none of
     * their barriers timed out, no violation, every generation of X collected): plugin Y's sections
     * were open the whole run; Y's own unload timed out in the barrier step while they were, with
     * a report naming Y and its threads; after its gate opened only the unbalanced section was
     * left; once that thread had ended, Y unloaded and was collected.
     */
    private static void assertBystander(ChildJvm jvm) {
        String inside = String.join(",", List.of(TortureBystander.HOLDER, TortureBystander.POOL, TortureScenario.HELPER_WORKER).stream()
                .sorted().toList());
        assertEquals(inside, value(jvm, "bystanderInsideAtStart"), jvm::output);
        assertEquals(inside, value(jvm, "bystanderInsideAtEnd"), () -> "Y's sections must stay open for the whole run\n" + jvm.output());
        assertEquals("TIMED_OUT in BARRIER", value(jvm, "bystanderUnload1"), jvm::output);
        assertEquals(inside, value(jvm, "bystanderUnload1Threads"), jvm::output);
        String report = value(jvm, "bystanderUnload1Report");
        assertTrue(report.contains("unload of plugin " + TortureBystander.ID + " generation 1")
                        && report.contains("release epoch of plugin " + TortureBystander.ID + " generation 1")
                        && report.contains("\"" + TortureBystander.HOLDER + "\"") && report.contains("it.bystander.Parked.release"),
                () -> "the timeout report must name plugin " + TortureBystander.ID + ", the thread inside and where: " + report);
        assertEquals(TortureScenario.HELPER_WORKER, value(jvm, "bystanderInsideAfterGate"), jvm::output);
        assertEquals("TIMED_OUT in BARRIER", value(jvm, "bystanderUnload2"), () -> "the unbalanced section keeps Y's barrier "
                + "waiting while its thread lives\n" + jvm.output());
        assertTrue(List.of("IMMEDIATE", "WAITED").contains(value(jvm, "bystanderUnload3Barrier")),
                () -> "once its thread ended, Y must unload: " + value(jvm, "bystanderUnload3"));
        assertEquals("true", value(jvm, "bystanderCollected"), jvm::output);
    }

    /**
     * The detector is worth something only if it fails when the safety is removed: the same
     * scenario without the agent and without the loader's close audit (the loader allows unguarded
     * unloads then) must see release tails and host service calls still running plugin code when a
     * loader is about to be closed, tails failing to load their class, and host calls made after
     * the unload running on the closed loader.
     */
    @Test
    void withoutTheAgentOrTheCloseAuditTheDetectorSeesLoadersClosedUnderRunningTailsAndCalls() throws Exception {
        int cycles = UNGUARDED_CYCLES;
        try (ChildJvm jvm = ChildJvm.start(System.getProperty("java.home"), List.of(), TortureScenario.class.getName(),
                args(cycles, false, false, "closeAudit=false"))) {
            assertEquals(0, jvm.waitFor(Duration.ofMinutes(3)), () -> "the scenario failed:\n" + jvm.output());
            String summary = summary("test JDK, WITHOUT the agent or the close audit", jvm);
            System.out.println(summary);
            assertEquals("false", value(jvm, "agent"), jvm::output);
            assertEquals(Integer.toString(cycles), value(jvm, "cycles"), jvm::output);
            assertTrue(count(jvm, "violations") > 0, () -> "without the agent the detector must see a release tail running "
                    + "plugin code just before its loader is closed, within " + cycles + " cycles: " + summary);
            assertTrue(count(jvm, "ncdfe") > 0, () -> "without the agent a release tail must hit the closed loader "
                    + "(NoClassDefFoundError) within " + cycles + " cycles: " + summary);
            assertTrue(value(jvm, "firstViolation").contains("it.torture."), jvm::output);
            assertEquals("0", value(jvm, "refused"), () -> "without the agent nothing refuses a call: " + summary);
            assertTrue(count(jvm, "lateCallsRan") > 0, () -> "without the agent a host call made after the unload returned "
                    + "must run plugin code on the closed loader: " + summary);
            assertTrue(count(jvm, "serviceViolations") > 0, () -> "without the agent the detector must see a host service "
                    + "call running plugin code just before its loader is closed, within " + cycles + " cycles: " + summary);
        }
    }

    /**
     * The same scenario without the agent but with the loader's close audit (on by default): nothing
     * refuses the callers' calls and no barrier waits for those in flight, so the first unload
     * cannot complete: the audit finds caller threads still running the plugin's service after
     * the barrier and closes nothing. Without the guard the scenario fails, safely.
     */
    @Test
    void withoutTheAgentTheSameScenarioFailsTheCloseAuditFindsHostCallsTheBarrierDidNotWaitFor() throws Exception {
        int cycles = UNGUARDED_CYCLES;
        try (ChildJvm jvm = ChildJvm.start(System.getProperty("java.home"), List.of(), TortureScenario.class.getName(),
                args(cycles, false, false, null))) {
            int status = jvm.waitFor(Duration.ofMinutes(3));
            String aborted = jvm.value("aborted").orElse("none");
            System.out.println("torture [test JDK, WITHOUT the agent, close audit on]: exit status " + status + ", aborted="
                    + aborted.substring(0, Math.min(aborted.length(), 400)));
            assertEquals("false", value(jvm, "agent"), jvm::output);
            assertEquals(2, status, () -> "without the agent an unload must fail (status 2):\n" + jvm.output());
            assertTrue(aborted.contains("failed its close audit") && aborted.contains("\"torture-caller-")
                            && aborted.contains("it.torture.TortureService.serve"),
                    () -> "without the agent the close audit must find host callers still inside the plugin's service: " + aborted);
            assertEquals("0", value(jvm, "refused"), () -> "without the agent nothing refuses a call:\n" + jvm.output());
        }
    }

    private static String javaHome(Mode mode) {
        if (mode.javaHome == null) {
            return System.getProperty("java.home");
        }
        Path java = mode.javaHome.resolve("bin").resolve("java");
        Assumptions.assumeTrue(Files.isExecutable(java), () -> "Temurin 25 JDK not found at " + mode.javaHome
                + " (no executable " + java + "): skipping \"" + mode.label + "\"");
        return mode.javaHome.toString();
    }

    /** {@code extra}: one more {@code key=value} argument of the scenario, or null. */
    private static String[] args(int cycles, boolean virtual, boolean withBystander, String extra) {
        List<String> args = new ArrayList<>(List.of("plugin=" + plugin, "cycles=" + cycles, "virtual=" + virtual));
        if (extra != null) {
            args.add(extra);
        }
        if (withBystander) {
            args.add("bystander=" + bystander);
        }
        if (SEED != null) {
            args.add("seed=" + SEED);
        }
        return args.toArray(String[]::new);
    }

    /** Generous: the bound only turns a hang into a failure. */
    private static Duration bound(int cycles, Mode mode) {
        long perCycleMillis = mode.jvmOptions.contains("-Xint") ? 2_000 : 500;
        return Duration.ofMinutes(2).plusMillis(cycles * perCycleMillis);
    }

    private static String value(ChildJvm jvm, String key) {
        return jvm.value(key).orElseThrow(() -> new AssertionError("the scenario printed no " + key + "=; output:\n" + jvm.output()));
    }

    private static long count(ChildJvm jvm, String key) {
        return Long.parseLong(value(jvm, key));
    }

    static String summary(String label, ChildJvm jvm) {
        return String.format(Locale.ROOT,
                "torture [%s]: %s cycles, %s callbacks (%s by the helper's worker), %s acquires, %s service calls "
                        + "(%s refused at the call while GOING, %s late calls refused, %s late calls ran), %s factory calls refused, "
                        + "%s barriers waited, "
                        + "%s audit frames, %s violations (%s in service calls), %s epilogues, %s refusing, %s NoClassDefFoundError, %s other errors, %s not collected "
                        + "(slowest %s ms), %.1f s, seed %s, %s workers, %s callers%s, %s%s",
                label, value(jvm, "cycles"), value(jvm, "callbacks"), value(jvm, "callbacksByHelper"), value(jvm, "acquires"),
                value(jvm, "serviceCalls"), value(jvm, "refused"), value(jvm, "refusedLate"), value(jvm, "lateCallsRan"),
                value(jvm, "factoryRefused"),
                value(jvm, "barriersWaited"), value(jvm, "auditFrames"), value(jvm, "violations"), value(jvm, "serviceViolations"),
                value(jvm, "epilogues"),
                value(jvm, "refusing"),
                value(jvm, "ncdfe"),
                value(jvm, "otherErrors"), "true".equals(value(jvm, "collectionChecked")) ? value(jvm, "notCollected") : "n/a",
                value(jvm, "maxCollectionMs"),
                count(jvm, "elapsedMs") / 1000.0, value(jvm, "seed"), value(jvm, "workers"), value(jvm, "callers"),
                "true".equals(value(jvm, "virtual")) ? " (virtual)" : "", value(jvm, "jvm"),
                "true".equals(jvm.value("bystander").orElse("false")) ? "; plugin Y alongside: its unload with its sections open "
                        + value(jvm, "bystanderUnload1") + ", with the unbalanced one " + value(jvm, "bystanderUnload2")
                        + ", after its thread ended " + value(jvm, "bystanderUnload3") + ", collected " + value(jvm, "bystanderCollected")
                        + " (Y's start and end took " + value(jvm, "bystanderMs") + " ms)" : "");
    }
}
