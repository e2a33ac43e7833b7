package dev.unloadguard.bench;

import dev.unloadguard.bench.process.PluginJars;
import dev.unloadguard.bench.process.Probe;
import java.io.IOException;
import java.io.InputStream;
import java.lang.management.ManagementFactory;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;
import org.openjdk.jmh.profile.GCProfiler;
import org.openjdk.jmh.results.Result;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.results.format.ResultFormatType;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

/**
 * Runs the whole benchmark set in one go and writes the results table ({@code run.sh} calls it):
 * the JMH benchmarks (threads 1, then 2, then the epoch on virtual threads if a JDK 21+ is given),
 * then the whole-process timings ({@link Probe} in JVMs of their own), then one markdown table
 * with every measured value, the baseline measured in the same run, the ratio and the verdict.
 *
 * <pre>
 * java -cp benchmarks.jar dev.unloadguard.bench.Suite --agent AGENT_JAR --probe-cp CP --work DIR --out FILE
 *      [--vt-java JAVA21+] [--vt-version N] [--quick] [--rounds N] [--startup-runs N] [--cycles N]
 *      [--only per-plugin]
 * </pre>
 *
 * {@code --only per-plugin} runs only issue 8's benchmarks ({@link BindingBench}, {@link
 * IsolationBench}) and rewrites their marked section of {@code FILE} (appended if it has none),
 * leaving the rest of the file as the last full run wrote it.
 */
public final class Suite {

    private static final String EPOCH = EpochBench.class.getName() + ".";
    private static final String FLOOR = EpochFloorBench.class.getName() + ".";
    private static final String BARRIER = BarrierBench.class.getName() + ".";
    private static final String CALLBACK = GuardedCallbackBench.class.getName() + ".";
    private static final String ENTRY = EntryBench.class.getName() + ".";
    private static final String DEVICE = DeviceBench.class.getName() + ".";
    private static final String TRANSFORMER = TransformerBench.class.getName() + ".";
    private static final String BINDING = BindingBench.class.getName() + ".";
    private static final String ISOLATION = IsolationBench.class.getName() + ".";
    /** Behind the per-plugin epoch's headline ratio (issue 8): run in interleaved rounds. */
    private static final String[] PAIRED_PER_PLUGIN = {BINDING + "sharedStatic$", BINDING + "indy$"};
    /** Benchmarks behind the headline ratios, run in interleaved rounds. */
    private static final String[] PAIRED = {EPOCH + "atomicInteger$", EPOCH + "epoch$", DEVICE + "acquireRelease$",
            PAIRED_PER_PLUGIN[0], PAIRED_PER_PLUGIN[1]};
    /** {@code --only per-plugin}: what runs, and the section of the results file it rewrites. */
    private static final String PER_PLUGIN = "per-plugin";
    private static final String SECTION_BEGIN = "<!-- per-plugin epochs: begin (benchmarks/run.sh --only per-plugin) -->";
    private static final String SECTION_END = "<!-- per-plugin epochs: end -->";

    private final Map<String, String> opts;
    private final boolean quick;
    /** {@code --only per-plugin}: only the per-plugin epoch benchmarks, written as a section of the results file. */
    private final boolean perPluginOnly;
    private final int rounds;
    private final Path agent;
    private final Path work;
    private final String probeCp;
    private final String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    /** JMH results by "benchmark method name @threads" (and "@vt1" for virtual threads). */
    private final Map<String, RunResult> jmh = new LinkedHashMap<>();
    private final List<String[]> rows = new ArrayList<>();
    private final StringBuilder notes = new StringBuilder();
    /** The 1-minute load average before and after each JMH run: was the machine busy? */
    private final List<String> loads = new ArrayList<>();

    private Suite(Map<String, String> opts) {
        this.opts = opts;
        this.quick = opts.containsKey("quick");
        String only = opts.get("only");
        if (only != null && !only.equals(PER_PLUGIN)) {
            throw new IllegalArgumentException("--only " + only + ": the only subset is " + PER_PLUGIN);
        }
        this.perPluginOnly = only != null;
        this.rounds = quick ? 1 : Integer.parseInt(opts.getOrDefault("rounds", "3"));
        this.agent = Path.of(require(opts, "agent")).toAbsolutePath();
        this.work = Path.of(require(opts, "work")).toAbsolutePath();
        this.probeCp = require(opts, "probe-cp");
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> opts = new LinkedHashMap<>();
        for (int i = 0; i < args.length; i++) {
            if (!args[i].startsWith("--")) {
                throw new IllegalArgumentException("unexpected argument " + args[i]);
            }
            String key = args[i].substring(2);
            if (key.equals("quick")) {
                opts.put(key, "true");
            } else {
                opts.put(key, args[++i]);
            }
        }
        // JMH runs one instance per machine (its lock, java.io.tmpdir/jmh.lock); another run
        // holding it would make ours fail minutes in, with a stack trace: say so now, in one line.
        Path lock = Path.of(System.getProperty("java.io.tmpdir"), "jmh.lock");
        if (jmhLockHeld(lock)) {
            System.err.println("benchmarks: another JMH run holds " + lock + " (JMH runs one at a time per machine): wait for it to"
                    + " finish, then run again");
            System.exit(1);
        }
        try {
            new Suite(opts).run();
        } catch (RunnerException e) {
            if (String.valueOf(e.getMessage()).contains("Another JMH instance")) {
                System.err.println("benchmarks: another JMH run took " + lock + " while this one ran (JMH runs one at a time per"
                        + " machine): wait for it to finish, then run again");
                System.exit(1);
            }
            throw e;
        }
    }

    /** Whether another process holds JMH's lock file now (it is released at once if not). */
    static boolean jmhLockHeld(Path lock) {
        try (FileChannel ch = FileChannel.open(lock,
                StandardOpenOption.CREATE, StandardOpenOption.WRITE);
             FileLock held = ch.tryLock()) {
            return held == null;
        } catch (OverlappingFileLockException e) {
            return true;
        } catch (IOException e) {
            return false; // cannot even open it: let JMH decide (it ignores a lock it cannot create)
        }
    }

    private static String require(Map<String, String> opts, String key) {
        String v = opts.get(key);
        if (v == null) {
            throw new IllegalArgumentException("missing --" + key);
        }
        return v;
    }

    private void run() throws Exception {
        Files.createDirectories(work);
        long start = System.nanoTime();
        if (perPluginOnly) {
            runPerPlugin(start);
            return;
        }
        Path big = PluginJars.generate(work, "gen200", 200, probeCp);
        Path small = PluginJars.generate(work, "small", 3, probeCp);

        // --- JMH: one fork per benchmark, threads 1 then 2 --------------------------------
        // The headline ratios (targets 1 and 4) compare benchmarks that run one after another; on
        // a shared machine the load can change in between. So they run in ROUNDS interleaved
        // rounds, and each is the median of its rounds.
        for (int r = 0; r < rounds; r++) {
            runJmh("t1r" + r, 1, null, null, List.of(), PAIRED);
        }
        // BarrierBench's crowds (issue 11: 100,000 threads, JDK 21+ for the virtual ones) run by hand, not here.
        runJmh("t1", 1, null, null, List.of(PAIRED), EPOCH, FLOOR, BARRIER + "idle$", BARRIER + "busyReader$", CALLBACK, ENTRY,
                DEVICE, TRANSFORMER, BINDING, ISOLATION);
        runJmh("t2", 2, null, null, List.of(), EPOCH, DEVICE);
        String vtJava = opts.get("vt-java");
        if (vtJava != null) {
            runJmh("vt1", 1, vtJava, "-Djmh.executor=VIRTUAL", List.of(), EPOCH + "epoch$", EPOCH + "atomicInteger$",
                    PAIRED_PER_PLUGIN[0], PAIRED_PER_PLUGIN[1]);
        }

        // --- whole-process timings ---------------------------------------------------------
        Map<String, String> sanity = probe(true, "startup", big.toString());
        // The host's default guard scope (ENTRIES) weaves every class of the plugin: its 200
        // generated classes and its driver.
        if (!"true".equals(sanity.get("agent")) || Integer.parseInt(sanity.getOrDefault("transformed", "0")) < 200) {
            throw new IllegalStateException("the startup plugin was not woven as expected (every one of its 200 classes "
                    + "in the default guard scope, ENTRIES): " + sanity);
        }
        notes.append("\nStartup check (agent run): ").append(sanity.get("examined")).append(" plugin classes examined, ")
                .append(sanity.get("transformed")).append(" woven, ").append(sanity.get("guarded")).append(" methods guarded.\n");
        Path emptyAgent = PluginJars.agent(work, "empty-agent", false);
        Path noopAgent = PluginJars.agent(work, "noop-transformer-agent", true);
        Map<String, double[]> startup = startup(big, emptyAgent, noopAgent, Integer.parseInt(opts.getOrDefault("startup-runs", quick ? "3" : "21")));
        String n = opts.getOrDefault("cycles", quick ? "100" : "1000");
        Map<String, String> cycles = probe(true, "cycles", small.toString(), n);
        // Control: C1 only, which keeps no profiles, so metaspace the JIT's profiling data takes is not counted.
        Map<String, String> cyclesC1 = probe(true, List.of("-XX:TieredStopAtLevel=1"), "cycles", small.toString(), n);
        Map<String, String> unload = probe(true, "unload", small.toString(), quick ? "10" : "50");
        Map<String, String> park = probe(false, "park", quick ? "5" : "20");

        table(startup, cycles, cyclesC1, unload, park);
        String md = render((System.nanoTime() - start) / 1e9);
        Path out = Path.of(require(opts, "out"));
        Files.writeString(out, md, StandardCharsets.UTF_8);
        System.out.println();
        System.out.println(md);
        System.out.println("written to " + out.toAbsolutePath());
    }

    /**
     * {@code --only per-plugin}: the per-plugin epoch benchmarks of issue 8 alone (binding
     * alternatives, barrier isolation), in the same shape as the full run, written as a marked
     * section of the results file: replaced if the file has one, appended otherwise.
     */
    private void runPerPlugin(long start) throws Exception {
        for (int r = 0; r < rounds; r++) {
            runJmh("t1r" + r, 1, null, null, List.of(), PAIRED_PER_PLUGIN);
        }
        runJmh("t1", 1, null, null, List.of(PAIRED_PER_PLUGIN), BINDING, ISOLATION);
        String vtJava = opts.get("vt-java");
        if (vtJava != null) {
            runJmh("vt1", 1, vtJava, "-Djmh.executor=VIRTUAL", List.of(), PAIRED_PER_PLUGIN);
        }
        perPluginRows();
        String section = SECTION_BEGIN + "\n" + render((System.nanoTime() - start) / 1e9) + SECTION_END + "\n";
        Path out = Path.of(require(opts, "out"));
        String previous = Files.exists(out) ? Files.readString(out, StandardCharsets.UTF_8) : "";
        int b = previous.indexOf(SECTION_BEGIN);
        int e = previous.indexOf(SECTION_END);
        String md;
        if (b >= 0 && e > b) {
            md = previous.substring(0, b) + section + previous.substring(e + SECTION_END.length()).replaceFirst("^\n", "");
        } else {
            md = previous + (previous.isEmpty() || previous.endsWith("\n\n") ? "" : previous.endsWith("\n") ? "\n" : "\n\n") + section;
        }
        Files.writeString(out, md, StandardCharsets.UTF_8);
        System.out.println();
        System.out.println(section);
        System.out.println("written to " + out.toAbsolutePath() + " (its per-plugin section)");
    }

    // ---------------------------------------------------------------------------------------
    // JMH

    private static String pattern(String inc) {
        boolean exact = inc.endsWith("$");
        return "^" + Pattern.quote(exact ? inc.substring(0, inc.length() - 1) : inc) + (exact ? "$" : "");
    }

    private void runJmh(String tag, int threads, String jvm, String jvmArg, List<String> excludes, String... includes)
            throws RunnerException {
        ChainedOptionsBuilder b = new OptionsBuilder()
                .threads(threads)
                .forks(1)
                .shouldFailOnError(true)
                .addProfiler(GCProfiler.class)
                .result(work.resolve("jmh-" + tag + ".json").toString())
                .resultFormat(ResultFormatType.JSON);
        for (String inc : includes) {
            b.include(pattern(inc));
        }
        for (String exc : excludes) {
            b.exclude(pattern(exc));
        }
        boolean round = tag.startsWith("t1r");
        if (quick) {
            b.warmupIterations(1).warmupTime(TimeValue.milliseconds(300))
                    .measurementIterations(2).measurementTime(TimeValue.milliseconds(300));
        } else {
            // More than the classes' defaults (5): on a shared machine a longer sample averages bursts out.
            b.warmupIterations(3).warmupTime(TimeValue.seconds(1))
                    .measurementIterations(round ? 5 : 8).measurementTime(TimeValue.seconds(1));
        }
        if (jvm != null) {
            b.jvm(jvm);
        }
        if (jvmArg != null) {
            b.jvmArgsAppend(jvmArg);
        }
        double loadBefore = ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
        Collection<RunResult> results = new Runner(b.build()).run();
        loads.add(String.format(Locale.ROOT, "%s %.2f→%.2f", tag, loadBefore,
                ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage()));
        for (RunResult r : results) {
            String name = r.getParams().getBenchmark();
            jmh.put(name.substring(name.lastIndexOf('.', name.lastIndexOf('.') - 1) + 1) + "@" + tag, r);
        }
    }

    /** The result of {@code key}; for a paired benchmark at "@t1", its first round. */
    private RunResult result(String key) {
        RunResult r = jmh.get(key);
        return r != null || !key.endsWith("@t1") ? r : jmh.get(key + "r0");
    }

    /** The rounds of a paired benchmark ("name@t1"), empty for any other key. */
    private List<RunResult> roundsOf(String key) {
        List<RunResult> list = new ArrayList<>();
        for (int r = 0; key.endsWith("@t1") && jmh.containsKey(key + "r" + r); r++) {
            list.add(jmh.get(key + "r" + r));
        }
        return list;
    }

    /** The score of {@code key}: for a paired benchmark the median of its rounds. */
    private double score(String key) {
        List<RunResult> rs = roundsOf(key);
        if (!rs.isEmpty()) {
            return median(rs.stream().mapToDouble(r -> r.getPrimaryResult().getScore()).toArray());
        }
        RunResult r = result(key);
        return r == null ? Double.NaN : r.getPrimaryResult().getScore();
    }

    private String scoreText(String key) {
        List<RunResult> rs = roundsOf(key);
        if (!rs.isEmpty()) {
            StringBuilder sb = new StringBuilder(fmt(score(key)) + " " + rs.get(0).getPrimaryResult().getScoreUnit() + " (median of rounds");
            for (RunResult r : rs) {
                sb.append(' ').append(fmt(r.getPrimaryResult().getScore()));
            }
            return sb.append(')').toString();
        }
        RunResult r = result(key);
        if (r == null) {
            return "not run";
        }
        Result<?> p = r.getPrimaryResult();
        return fmt(p.getScore()) + " ± " + fmt(p.getScoreError()) + " " + p.getScoreUnit();
    }

    private double alloc(String key) {
        RunResult r = result(key);
        Result<?> a = r == null ? null : r.getSecondaryResults().get("gc.alloc.rate.norm");
        return a == null ? Double.NaN : a.getScore();
    }

    // ---------------------------------------------------------------------------------------
    // Processes

    /**
     * Alternating runs: JVM only; plugin without agent; plugin with a do-nothing agent; plugin
     * with an agent whose transformer returns null for everything; plugin with unloadguard's
     * agent. Values: wall times in ms (key as is) and CPU times in ms (key + ".cpu").
     */
    private Map<String, double[]> startup(Path plugin, Path emptyAgent, Path noopAgent, int runs) throws Exception {
        String[] variants = {"noop", "without", "empty", "noopT", "with"};
        Map<String, double[]> times = new LinkedHashMap<>();
        for (String v : variants) {
            times.put(v, new double[runs]);
            times.put(v + ".cpu", new double[runs]);
        }
        for (int i = -2; i < runs; i++) { // two unrecorded rounds warm the file cache
            for (int k = 0; k < variants.length; k++) {
                String v = variants[(i & 1) == 0 ? k : variants.length - 1 - k];
                double[] t;
                switch (v) {
                    case "noop": t = timed(null, "noop"); break;
                    case "without": t = timed(null, "startup", plugin.toString()); break;
                    case "empty": t = timed(emptyAgent, "startup", plugin.toString()); break;
                    case "noopT": t = timed(noopAgent, "startup", plugin.toString()); break;
                    default: t = timed(agent, "startup", plugin.toString()); break;
                }
                if (i >= 0) {
                    times.get(v)[i] = t[0];
                    times.get(v + ".cpu")[i] = t[1];
                }
            }
        }
        return times;
    }

    private Map<String, String> probe(boolean withAgent, String... args) throws Exception {
        return probe(withAgent, List.of(), args);
    }

    private Map<String, String> probe(boolean withAgent, List<String> jvmArgs, String... args) throws Exception {
        String stdout = exec(withAgent, jvmArgs, args);
        Map<String, String> values = new LinkedHashMap<>();
        for (String line : stdout.split("\n")) {
            int eq = line.indexOf('=');
            if (eq > 0) {
                values.put(line.substring(0, eq).trim(), line.substring(eq + 1).trim());
            }
        }
        System.out.println("probe " + String.join(" ", jvmArgs) + " " + String.join(" ", args) + ": " + values);
        return values;
    }

    private List<String> command(boolean withAgent, List<String> jvmArgs, String... args) {
        return command(withAgent ? agent : null, jvmArgs, args);
    }

    private List<String> command(Path agentJar, List<String> jvmArgs, String... args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(java);
        if (agentJar != null) {
            cmd.add("-javaagent:" + agentJar);
        }
        cmd.addAll(jvmArgs);
        cmd.add("-cp");
        cmd.add(probeCp);
        cmd.add(Probe.class.getName());
        cmd.addAll(Arrays.asList(args));
        return cmd;
    }

    private String exec(boolean withAgent, List<String> jvmArgs, String... args) throws IOException, InterruptedException {
        List<String> cmd = command(withAgent, jvmArgs, args);
        Path err = work.resolve("probe-" + args[0] + (withAgent ? "-agent" : "") + ".err");
        Process p = new ProcessBuilder(cmd).redirectError(err.toFile()).start();
        String out;
        try (InputStream in = p.getInputStream()) {
            out = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        int rc = p.waitFor();
        if (rc != 0) {
            throw new IllegalStateException(String.join(" ", cmd) + " exited " + rc + "; stderr in " + err + ":\n"
                    + Files.readString(err));
        }
        return out;
    }

    /**
     * Runs a probe JVM under bash's {@code time}: its wall time and its CPU time (user + system,
     * all its threads), in ms. The CPU time is the steadier figure on a shared machine.
     */
    private double[] timed(Path agentJar, String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("bash", "-c",
                "TIMEFORMAT='%R %U %S'; { time \"$@\" > /dev/null 2>> \"$UG_ERR\"; } 2>&1", "bash"));
        cmd.addAll(command(agentJar, List.of(), args));
        Path err = work.resolve("startup-" + args[0] + (agentJar == null ? "" : "-" + agentJar.getFileName()) + ".err");
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().put("UG_ERR", err.toString());
        Process p = pb.start();
        String out;
        try (InputStream in = p.getInputStream()) {
            out = new String(in.readAllBytes(), StandardCharsets.UTF_8).trim();
        }
        p.getErrorStream().transferTo(System.err);
        if (p.waitFor() != 0) {
            throw new IllegalStateException(String.join(" ", cmd) + " failed: " + out);
        }
        String[] f = out.split("\\s+");
        if (f.length != 3) {
            throw new IllegalStateException("unexpected time output '" + out + "' of " + String.join(" ", cmd));
        }
        return new double[] {Double.parseDouble(f[0]) * 1e3, (Double.parseDouble(f[1]) + Double.parseDouble(f[2])) * 1e3};
    }

    // ---------------------------------------------------------------------------------------
    // The table

    private void row(String target, String measured, String baseline, String ratio, String limit, Boolean pass) {
        rows.add(new String[] {target, measured, baseline, ratio, limit, pass == null ? "info" : pass ? "PASS" : "FAIL"});
    }

    private void table(Map<String, double[]> startup, Map<String, String> cycles, Map<String, String> cyclesC1,
            Map<String, String> unload, Map<String, String> park) throws IOException {
        // 1. epoch
        double e1 = score("EpochBench.epoch@t1");
        double a1 = score("EpochBench.atomicInteger@t1");
        double e2 = score("EpochBench.epoch@t2");
        row("1. epoch enter+exit, 1 thread", scoreText("EpochBench.epoch@t1"),
                "AtomicInteger inc+dec " + scoreText("EpochBench.atomicInteger@t1"), ratio(e1, a1), "≤ 0.70×", e1 / a1 <= 0.70);
        row("1. epoch enter+exit, 2 threads", scoreText("EpochBench.epoch@t2"),
                "own 1-thread " + fmt(e1) + " ns", ratio(e2, e1), "≤ 1.50×", e2 / e1 <= 1.50);
        for (String alt : List.of("atomicInteger", "longAdder", "rrwlRead", "stampedRead")) {
            double s1 = score("EpochBench." + alt + "@t1");
            double s2 = score("EpochBench." + alt + "@t2");
            row("1. " + alt + " (alternative), 2 vs 1 thread", scoreText("EpochBench." + alt + "@t2"),
                    "1 thread " + scoreText("EpochBench." + alt + "@t1"), ratio(s2, s1) + " (epoch/this at 2 threads: "
                            + ratio(e2, s2) + ")", "", null);
        }
        row("1. where the epoch's time goes (pieces, none a correct epoch)", "full fence alone " + fmt(score("EpochFloorBench.fence@t1"))
                        + " ns; cell in hand + fence " + fmt(score("EpochFloorBench.cellFence@t1")) + " ns; ThreadLocal lookup at enter and exit + fence "
                        + fmt(score("EpochFloorBench.threadLocalFence@t1")) + " ns; the two lookups alone " + fmt(score("EpochFloorBench.threadLocalTwice@t1")) + " ns",
                "AtomicInteger inc+dec " + fmt(a1) + " ns", "floor " + ratio(score("EpochFloorBench.cellFence@t1"), a1)
                        + ", with lookups " + ratio(score("EpochFloorBench.threadLocalFence@t1"), a1), "", null);
        double allocPlatform = alloc("EpochBench.epoch@t1");
        double allocVt = alloc("EpochBench.epoch@vt1");
        boolean vtRun = result("EpochBench.epoch@vt1") != null;
        row("1. epoch on virtual threads (JDK " + (vtRun ? opts.getOrDefault("vt-version", "21+") : "n/a") + ", jmh.executor=VIRTUAL)",
                vtRun ? scoreText("EpochBench.epoch@vt1") + ", " + fmt(allocVt) + " B/op allocated" : "not run (no JDK 21+ given)",
                vtRun ? "AtomicInteger " + scoreText("EpochBench.atomicInteger@vt1") : "",
                vtRun ? ratio(score("EpochBench.epoch@vt1"), score("EpochBench.atomicInteger@vt1")) : "",
                "no allocation per enter", vtRun ? allocVt < 1.0 : null);
        row("1. epoch allocation, platform threads", fmt(allocPlatform) + " B/op", "", "", "0 B/op", allocPlatform < 1.0);

        // 2. barrier
        double idle = score("BarrierBench.idle@t1");
        row("2. barrier, no reader", scoreText("BarrierBench.idle@t1"), "", "", "≤ 1 µs", idle <= 1000);
        RunResult busy = result("BarrierBench.busyReader@t1");
        if (busy != null) {
            double p50 = busy.getPrimaryResult().getStatistics().getPercentile(50);
            double p99 = busy.getPrimaryResult().getStatistics().getPercentile(99);
            double max = busy.getPrimaryResult().getStatistics().getMax();
            long n = busy.getPrimaryResult().getStatistics().getN();
            row("2. barrier, reader in a tight enter/exit loop", "median " + fmt(p50) + " µs (p99 " + fmt(p99) + ", max "
                    + fmt(max) + " µs, " + n + " barriers, all completed)", "", "", "median ≤ 20 µs", p50 <= 20);
        }
        double wakeMed = num(park, "wake.median.us");
        double wakeMax = num(park, "wake.max.us");
        double cpuMax = num(park, "cpu.max.percent");
        boolean parkOk = num(park, "returnedBeforeExit") == 0 && num(park, "waited") == num(park, "trials")
                && wakeMax <= 1000 && num(park, "cpu.median.percent") <= 10;
        row("2. barrier, reader parked inside " + fmt(num(park, "hold.ms")) + " ms (" + park.get("trials") + " trials)",
                "waited " + park.get("waited") + "/" + park.get("trials") + ", returned early " + park.get("returnedBeforeExit")
                        + "; woke " + fmt(wakeMed) + " µs median, " + fmt(wakeMax) + " µs max after the exit; CPU while waiting "
                        + fmt(num(park, "cpu.median.percent")) + "% median, " + fmt(cpuMax) + "% max of one core",
                "", "", "waits every time; wakes ≤ 1 ms (max); CPU ≤ 10% of a core (median; a spinning barrier: ~100%)", parkOk);

        // 3. guarded callback
        double g = score("GuardedCallbackBench.guarded@t1");
        double u = score("GuardedCallbackBench.unguarded@t1");
        row("3. guarded release callback", scoreText("GuardedCallbackBench.guarded@t1"),
                "unguarded " + scoreText("GuardedCallbackBench.unguarded@t1"), "+" + fmt(g - u) + " ns", "≤ +10 ns", g - u <= 10);
        double ge = score("EntryBench.guardedEntry@t1");
        double ue = score("EntryBench.unguardedEntry@t1");
        row("3b. guarded entry call (host → plugin service, every entry guarded)", scoreText("EntryBench.guardedEntry@t1"),
                "unguarded " + scoreText("EntryBench.unguardedEntry@t1"), "+" + fmt(ge - ue) + " ns", "≤ +7 ns", ge - ue <= 7);
        double nested = (score("EntryBench.guardedNested@t1") - score("EntryBench.unguardedNested@t1") - (ge - ue))
                / dev.unloadguard.bench.callback.EntryService.NESTED_CALLS;
        row("3c. nested plugin → plugin call (a depth check)", "entry with " + dev.unloadguard.bench.callback.EntryService.NESTED_CALLS
                        + " nested calls " + scoreText("EntryBench.guardedNested@t1"),
                "unguarded " + scoreText("EntryBench.unguardedNested@t1"), "+" + fmt(nested) + " ns per nested call", "≤ +2 ns",
                nested <= 2);

        // 4. device
        double d1 = score("DeviceBench.acquireRelease@t1");
        row("4. device acquire+release, tracking off, 1 thread", scoreText("DeviceBench.acquireRelease@t1"),
                "AtomicInteger inc+dec " + scoreText("EpochBench.atomicInteger@t1"), ratio(d1, a1), "≤ 1.20×", d1 / a1 <= 1.20);
        double d2 = score("DeviceBench.acquireRelease@t2");
        double a2 = score("EpochBench.atomicInteger@t2");
        row("4. device acquire+release, tracking off, 2 threads (one device)", scoreText("DeviceBench.acquireRelease@t2"),
                "AtomicInteger inc+dec " + scoreText("EpochBench.atomicInteger@t2"), ratio(d2, a2), "", null);
        double t1 = score("DeviceBench.tryAcquireRelease@t1");
        row("4. device tryAcquire+release, 1 thread", scoreText("DeviceBench.tryAcquireRelease@t1"),
                "AtomicInteger inc+dec " + fmt(a1) + " ns", ratio(t1, a1), "", null);
        RunResult tracked = result("DeviceBench.acquireReleaseTracked@t1");
        row("4. device acquire+release, tracking on", tracked == null ? "not available: the device core has no reference tracking yet"
                : scoreText("DeviceBench.acquireReleaseTracked@t1") + ", " + fmt(alloc("DeviceBench.acquireReleaseTracked@t1")) + " B/op",
                tracked == null ? "" : "tracking off " + fmt(d1) + " ns", tracked == null ? "" : ratio(score("DeviceBench.acquireReleaseTracked@t1"), d1),
                "measure", null);

        // 5. startup
        double noop = median(startup.get("noop"));
        double without = median(startup.get("without"));
        double with = median(startup.get("with"));
        int runs = startup.get("with").length;
        row("5. JVM start + load 200-class plugin + unload + exit: wall, median of " + runs + " alternating runs",
                "with agent " + fmt(with) + " ms (" + range(startup.get("with")) + ")",
                "without " + fmt(without) + " ms (" + range(startup.get("without")) + "); bare JVM " + fmt(noop) + " ms",
                ratio(with, without) + " (" + signedMs(with - without) + ")", "≤ 1.30×", with / without <= 1.30);
        double noopCpu = median(startup.get("noop.cpu"));
        double withoutCpu = median(startup.get("without.cpu"));
        double withCpu = median(startup.get("with.cpu"));
        row("5. the same runs: CPU time (user + system, all threads), median",
                "with agent " + fmt(withCpu) + " ms (" + range(startup.get("with.cpu")) + ")",
                "without " + fmt(withoutCpu) + " ms (" + range(startup.get("without.cpu")) + "); bare JVM " + fmt(noopCpu) + " ms",
                ratio(withCpu, withoutCpu) + " (" + signedMs(withCpu - withoutCpu) + ")", "", null);
        double empty = median(startup.get("empty.cpu"));
        double noopT = median(startup.get("noopT.cpu"));
        row("5. where the agent's CPU time goes (same runs, medians)",
                "a do-nothing -javaagent " + signedMs(empty - withoutCpu) + "; plus a transformer returning null for every class "
                        + signedMs(noopT - empty) + "; unloadguard's agent instead " + signedMs(withCpu - noopT) + " more",
                "wall: do-nothing agent " + fmt(median(startup.get("empty"))) + " ms, no-op transformer "
                        + fmt(median(startup.get("noopT"))) + " ms",
                "", "", null);
        row("5. agent jar size", String.format(Locale.ROOT, "%,d bytes", Files.size(agent)), "", "", "", null);
        row("5. transformer, per class", "host class " + scoreText("TransformerBench.hostClass@t1")
                        + "; plugin class, nothing to guard " + scoreText("TransformerBench.pluginClassNothingToGuard@t1"),
                "plugin class guarded (parse + weave) " + scoreText("TransformerBench.pluginClassGuarded@t1"),
                ratio(score("TransformerBench.pluginClassNothingToGuard@t1"), score("TransformerBench.pluginClassGuarded@t1")),
                "loader check only; no full parse", null);

        // 6. cycles
        double cps = num(cycles, "cyclesPerSecond");
        double dc = pct(cycles, "classes");
        double dm = pct(cycles, "metaspace");
        double dh = pct(cycles, "heap");
        boolean levels = Math.abs(dc) <= 2 && Math.abs(dm) <= 2 && Math.abs(dh) <= 2;
        row("6. load+unload cycles of a small plugin (" + cycles.get("cycles") + " cycles, agent on, collection check off)",
                fmt(cps) + " cycles/s", "", "", "≥ 200/s", cps >= 200);
        row("6. level after " + cycles.get("cycles") + " cycles vs after the first",
                "classes " + cycles.get("classes.after") + " vs " + cycles.get("classes.first") + " (" + signed(dc) + "%); metaspace "
                        + kb(cycles, "metaspace.after") + " vs " + kb(cycles, "metaspace.first") + " KB (" + signed(dm) + "%); heap after GC "
                        + kb(cycles, "heap.after") + " vs " + kb(cycles, "heap.first") + " KB (" + signed(dh) + "%)",
                "", "", "each within 2%", levels);
        double cycleCount = num(cycles, "cycles");
        row("6. growth per cycle over the next " + cycles.get("cycles") + " cycles (a leak keeps growing, warm-up stops)",
                "classes " + fmt((num(cycles, "classes.after2") - num(cycles, "classes.after")) / cycleCount)
                        + "; metaspace " + fmt((num(cycles, "metaspace.after2") - num(cycles, "metaspace.after")) / cycleCount)
                        + " B; heap " + fmt((num(cycles, "heap.after2") - num(cycles, "heap.after")) / cycleCount) + " B",
                "", "", "", null);
        row("6. control: the same with C1 only (-XX:TieredStopAtLevel=1: no profiling data in metaspace)",
                fmt(num(cyclesC1, "cyclesPerSecond")) + " cycles/s; classes " + signed(pct(cyclesC1, "classes")) + "%, metaspace "
                        + signed(pct(cyclesC1, "metaspace")) + "%, heap " + signed(pct(cyclesC1, "heap")) + "% after "
                        + cyclesC1.get("cycles") + " cycles; heap " + fmt((num(cyclesC1, "heap.after2") - num(cyclesC1, "heap.after"))
                        / num(cyclesC1, "cycles")) + " B per cycle over the next " + cyclesC1.get("cycles"),
                "", "", "", null);

        // 7. unload latency
        double ret = num(unload, "returned.median.ms");
        double col = num(unload, "collect.median.ms");
        row("7. unload with nothing outstanding, returns with the loader closed (" + unload.get("n") + " unloads)",
                "median " + fmt(ret) + " ms (max " + fmt(num(unload, "returned.max.ms")) + " ms; close step "
                        + fmt(num(unload, "closeStep.median.ms")) + " ms)", "", "", "median ≤ 1 ms", ret <= 1);
        row("7. collection confirmed (" + unload.get("n") + " unloads, " + unload.get("collected") + " collected)",
                "median " + fmt(col) + " ms (max " + fmt(num(unload, "collect.max.ms")) + " ms, "
                        + unload.get("collect.nudges.median") + " GC nudges median)", "", "", "median ≤ 100 ms",
                col <= 100 && num(unload, "collected") == num(unload, "n"));

        perPluginRows();
    }

    /** Rows of issue 8's targets: the per-plugin epoch's enter+exit and barrier isolation. */
    private void perPluginRows() {
        // 8. enter+exit, bound per plugin, against the old shared epoch
        String sharedKey = "BindingBench.sharedStatic@t1";
        String indyKey = "BindingBench.indy@t1";
        double shared = score(sharedKey);
        double indy = score(indyKey);
        row("8. per-plugin epoch enter+exit as woven (invokedynamic, constant call site bound to the plugin's epoch), 1 thread",
                scoreText(indyKey), "old design: one shared epoch, static final, static enter/exit " + scoreText(sharedKey),
                ratio(indy, shared), "≤ 1.10×", indy / shared <= 1.10);
        double allocIndy = alloc(indyKey);
        row("8. per-plugin enter+exit allocation, platform threads (-prof gc)", fmt(allocIndy) + " B/op",
                "old shared " + fmt(alloc(sharedKey)) + " B/op", "", "0 B/op", allocIndy < 1.0);
        StringBuilder alts = new StringBuilder();
        for (String[] alt : new String[][] {{"boundHandle", "static final MethodHandle (bindTo, invokeExact)"},
                {"classValue", "ClassValue lookup at enter and exit"}, {"loaderCast", "(EpochHolder) getClassLoader() at enter and exit"}}) {
            double v = score("BindingBench." + alt[0] + "@t1");
            alts.append(alts.length() == 0 ? "" : "; ").append(alt[1]).append(' ').append(fmt(v)).append(" ns (")
                    .append(ratio(v, shared)).append(')');
        }
        row("8. binding alternatives (same plugin class, same call; ratio to the old shared epoch)", alts.toString(),
                "old shared " + fmt(shared) + " ns", "", "", null);
        double atomic = score("BindingBench.atomicInteger@t1");
        double fence = score("BindingBench.fence@t1");
        row("8. per-plugin enter+exit against the floor (same class, same call)", "invokedynamic " + fmt(indy) + " ns",
                "AtomicInteger inc+dec " + scoreText("BindingBench.atomicInteger@t1") + "; one full fence "
                        + scoreText("BindingBench.fence@t1"),
                ratio(indy, atomic) + " of AtomicInteger, " + ratio(indy, fence) + " of the fence", "", null);
        String vtIndy = "BindingBench.indy@vt1";
        String vtShared = "BindingBench.sharedStatic@vt1";
        boolean vtRun = result(vtIndy) != null;
        double allocVt = alloc(vtIndy);
        row("8. per-plugin enter+exit on virtual threads (JDK " + (vtRun ? opts.getOrDefault("vt-version", "21+") : "n/a")
                        + ", jmh.executor=VIRTUAL)",
                vtRun ? scoreText(vtIndy) + ", " + fmt(allocVt) + " B/op allocated" : "not run (no JDK 21+ given)",
                vtRun ? "old shared " + scoreText(vtShared) : "", vtRun ? ratio(score(vtIndy), score(vtShared)) : "",
                "no allocation per enter", vtRun ? allocVt < 1.0 : null);

        // 8. barrier isolation
        RunResult others = result("IsolationBench.othersInside@t1");
        RunResult lone = result("IsolationBench.loneIdle@t1");
        RunResult sharedBarrier = result("IsolationBench.sharedEpoch@t1");
        if (others != null && lone != null) {
            double p50 = others.getPrimaryResult().getStatistics().getPercentile(50);
            double lone50 = lone.getPrimaryResult().getStatistics().getPercentile(50);
            row("8. barrier on plugin X while " + IsolationBench.OTHERS + " other plugins each have a reader parked inside "
                            + "their own epoch (those threads also ran X's code: X has a cell for each)",
                    "median " + fmt(p50) + " µs (p99 " + fmt(others.getPrimaryResult().getStatistics().getPercentile(99)) + " µs, "
                            + others.getPrimaryResult().getStatistics().getN() + " barriers, every one IMMEDIATE)",
                    "lone idle epoch, as many cells, no other plugin: median " + fmt(lone50) + " µs (p99 "
                            + fmt(lone.getPrimaryResult().getStatistics().getPercentile(99)) + " µs)",
                    ratio(p50, lone50), "median ≤ 20 µs and ≤ 2.00× the lone barrier", p50 <= 20 && p50 / lone50 <= 2.0);
        }
        if (sharedBarrier != null) {
            double p50 = sharedBarrier.getPrimaryResult().getStatistics().getPercentile(50);
            row("8. contrast, the old design: the barrier on the one epoch all plugins shared, the same "
                            + IsolationBench.OTHERS + " readers inside it (timeout " + IsolationBench.SHARED_TIMEOUT_MS + " ms)",
                    "waits: every one of " + sharedBarrier.getPrimaryResult().getStatistics().getN() + " barriers TIMED_OUT, median "
                            + fmt(p50) + " µs", "", "", "waits (times out) every time", p50 >= IsolationBench.SHARED_TIMEOUT_MS * 1000.0);
        }
    }

    private String render(double seconds) {
        StringBuilder sb = new StringBuilder();
        sb.append(perPluginOnly ? "## Per-plugin release epochs (issue 8)\n\n" : "# unloadguard benchmark results\n\n");
        sb.append("Run ").append(ZonedDateTime.now().format(DateTimeFormatter.ISO_OFFSET_DATE_TIME))
                .append(perPluginOnly ? " by `benchmarks/run.sh --only per-plugin` (only the per-plugin epoch benchmarks)" : "")
                .append(" on ").append(System.getProperty("java.vm.name")).append(' ').append(System.getProperty("java.runtime.version"))
                .append(", ").append(System.getProperty("os.name")).append(' ').append(System.getProperty("os.arch"))
                .append(", ").append(cpuModel()).append(", ").append(Runtime.getRuntime().availableProcessors()).append(" cores; ")
                .append(String.format(Locale.ROOT, "%.0f s", seconds)).append(quick ? " (QUICK mode: figures are rough)" : "")
                .append(". JMH 1.37, one fork per benchmark, ")
                .append(quick ? "1×0.3 s warmup, 2×0.3 s measurement" : "3×1 s warmup, 8×1 s measurement")
                .append(" (± is JMH's 99.9% confidence half-width). ")
                .append(perPluginOnly ? "The per-plugin and old shared-epoch enter+exit" : "The epoch, AtomicInteger, device and per-plugin/shared-epoch pairs")
                .append(" at 1 thread ran in ").append(rounds).append(" interleaved round(s)").append(quick ? "" : " (5×1 s measurement each)")
                .append(" and count as the median of their rounds. Every ratio compares figures of this run.\n\n");
        long pass = rows.stream().filter(r -> r[5].equals("PASS")).count();
        long fail = rows.stream().filter(r -> r[5].equals("FAIL")).count();
        sb.append(pass).append(" checks pass, ").append(fail).append(" fail; rows marked info are measured without a limit.\n\n");
        sb.append("| target | measured | baseline (same run) | ratio | limit | result |\n");
        sb.append("|---|---|---|---|---|---|\n");
        for (String[] r : rows) {
            sb.append("| ").append(String.join(" | ", r)).append(" |\n");
        }
        sb.append(perPluginOnly ? "\n### Every JMH figure\n\n" : "\n## Every JMH figure\n\n").append("| benchmark | threads | score | unit | allocated B/op |\n|---|---|---|---|---|\n");
        for (Map.Entry<String, RunResult> e : jmh.entrySet()) {
            RunResult r = e.getValue();
            Result<?> p = r.getPrimaryResult();
            String tag = e.getKey().substring(e.getKey().indexOf('@') + 1);
            String score = fmt(p.getScore()) + " ± " + fmt(p.getScoreError());
            if (p.getStatistics().getN() > 1000) { // sample mode: the percentiles say more than the mean
                score += " (p50 " + fmt(p.getStatistics().getPercentile(50)) + ", p99 " + fmt(p.getStatistics().getPercentile(99)) + ")";
            }
            sb.append("| ").append(e.getKey(), 0, e.getKey().indexOf('@')).append(" | ")
                    .append(tag.equals("vt1") ? "1 virtual" : tag.startsWith("t1r") ? "1 (round " + (Integer.parseInt(tag.substring(3)) + 1) + ")"
                            : tag.substring(1)).append(" | ").append(score).append(" | ")
                    .append(p.getScoreUnit()).append(" | ").append(fmt(alloc(e.getKey()))).append(" |\n");
        }
        sb.append(notes);
        sb.append("\nSystem load average (1 min) before→after each JMH run (").append(Runtime.getRuntime().availableProcessors())
                .append(" cores; above ~1 other processes competed with the benchmark threads): ")
                .append(String.join(", ", loads)).append(".\n");
        return sb.toString();
    }

    // ---------------------------------------------------------------------------------------

    /** The CPU's model name (Linux: /proc/cpuinfo), or the architecture. */
    private static String cpuModel() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("model name")) {
                    return line.substring(line.indexOf(':') + 1).trim();
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux: fall through
        }
        return "CPU " + System.getProperty("os.arch");
    }

    private static double num(Map<String, String> m, String key) {
        String v = m.get(key);
        return v == null ? Double.NaN : Double.parseDouble(v);
    }

    private static double pct(Map<String, String> m, String key) {
        double first = num(m, key + ".first");
        return 100.0 * (num(m, key + ".after") - first) / first;
    }

    private static String kb(Map<String, String> m, String key) {
        return String.format(Locale.ROOT, "%,.0f", num(m, key) / 1024);
    }

    private static String signedMs(double v) {
        return String.format(Locale.ROOT, "%+.0f ms", v);
    }

    private static String signed(double v) {
        return String.format(Locale.ROOT, "%+.2f", v);
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    private static String range(double[] v) {
        return "min " + fmt(Arrays.stream(v).min().orElse(Double.NaN)) + ", max " + fmt(Arrays.stream(v).max().orElse(Double.NaN));
    }

    private static String ratio(double a, double b) {
        return Double.isNaN(a) || Double.isNaN(b) ? "n/a" : String.format(Locale.ROOT, "%.2f×", a / b);
    }

    static String fmt(double v) {
        if (Double.isNaN(v)) {
            return "n/a";
        }
        double abs = Math.abs(v);
        return String.format(Locale.ROOT, abs >= 100 ? "%.0f" : abs >= 10 ? "%.1f" : abs >= 1 ? "%.2f" : "%.3f", v);
    }
}
