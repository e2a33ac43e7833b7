package dev.unloadguard.bench.process;

import dev.unloadguard.epoch.ReleaseGuard;
import dev.unloadguard.epoch.internal.ThreadFrames;
import dev.unloadguard.loader.Plugin;
import dev.unloadguard.loader.PluginLoader;
import dev.unloadguard.loader.PluginState;
import dev.unloadguard.loader.UnloadReport;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.jar.Attributes;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import org.pf4j.DefaultPluginManager;
import org.pf4j.PluginManager;

/**
 * Issue 11, target 2: load+unload cycles per second of unloadguard's {@link PluginLoader} against
 * the real PF4J's {@link DefaultPluginManager} (load, start, stop, unload), the same trivial plugin
 * (one class that does nothing, built here with {@code javax.tools}), collection check off in both,
 * in one JVM: same flags, same agent (it weaves only unloadguard's plugin loaders; PF4J's are not
 * registered, so its classes pass the transformer's one loader check).
 *
 * <p>The hosts are warmed up first ({@code warmup} cycles each, alternating in blocks), then
 * measured in {@code rounds} rounds of {@code n} cycles each, rotating which host goes first, so
 * a change of load on the shared machine hits all. Prints {@code key=value} lines: each round's
 * cycles per second, the medians, and the ratio unloadguard / PF4J per round (min / median /
 * max) and of the medians; the same per second of the process's CPU time, and the main thread's
 * CPU time per cycle. A third host, unloadguard with its close audit off (a diagnosis, not a
 * default), shows what that step costs; the audit's own wall time inside the cycles (from the
 * reports) and in a quiet loop of scans (main-thread CPU and wall) are printed at the end.
 *
 * <pre>
 * java -javaagent:unloadguard-agent.jar -cp unloadguard-cli.jar:probe:pf4j.jar:slf4j-api.jar:slf4j-nop.jar \
 *      dev.unloadguard.bench.process.VersusPf4j WORK_DIR [rounds] [n] [warmup]
 * </pre>
 */
public final class VersusPf4j {

    private VersusPf4j() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 1) {
            System.err.println("usage: VersusPf4j WORK_DIR [rounds (10)] [cycles per round (500)] [warm-up cycles (3000)]");
            System.exit(2);
        }
        Path work = Files.createDirectories(Path.of(args[0]).toAbsolutePath());
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 10;
        int n = args.length > 2 ? Integer.parseInt(args[2]) : 500;
        int warmup = args.length > 3 ? Integer.parseInt(args[3]) : 3000;
        if (!ReleaseGuard.agentActive()) {
            throw new IllegalStateException("run with -javaagent:unloadguard-agent.jar: the comparison is with the agent attached");
        }
        String cp = System.getProperty("java.class.path");
        Path ugJar = unloadguardPlugin(work, cp);
        Path pf4jJar = pf4jPlugin(work, cp);

        Host ug = new Unloadguard(ugJar, work.resolve("ug-copies"), true);
        Host pf = new Pf4j(pf4jJar, Files.createDirectories(work.resolve("pf4j-root")));
        // A diagnosis, not a default: the same loader without the close audit (step 5), to show
        // what that one step costs per cycle.
        Host noAudit = new Unloadguard(ugJar, work.resolve("ug-copies-no-audit"), false);
        Host[] hosts = {ug, pf, noAudit};
        String[] names = {"unloadguard", "pf4j", "unloadguard.noCloseAudit"};
        for (int done = 0; done < warmup; done += 250) {
            for (Host h : hosts) {
                h.cycles(250);
            }
        }
        ((Unloadguard) ug).audits = 0; // the audit times of the measured cycles only
        // [host][round] = {wall cycles/s, cycles per process CPU-second, main-thread CPU us per cycle}
        double[][][] m = new double[hosts.length][rounds][];
        for (int r = 0; r < rounds; r++) {
            for (int k = 0; k < hosts.length; k++) {
                int h = (k + r) % hosts.length; // each host goes first, second and last in turn
                m[h][r] = hosts[h].rate(n);
            }
            System.out.printf(Locale.ROOT, "round.%d=unloadguard %.0f/s (%.0f per CPU-s, %.1f us main-thread CPU per cycle), "
                    + "pf4j %.0f/s (%.0f per CPU-s, %.1f us), ratio %.3f (CPU %.3f); without the close audit %.0f/s, ratio %.3f%n",
                    r, m[0][r][0], m[0][r][1], m[0][r][2], m[1][r][0], m[1][r][1], m[1][r][2],
                    m[0][r][0] / m[1][r][0], m[0][r][1] / m[1][r][1], m[2][r][0], m[2][r][0] / m[1][r][0]);
        }
        out("rounds", rounds);
        out("cyclesPerRound", n);
        for (int h = 0; h < hosts.length; h++) {
            out(names[h] + ".cyclesPerSecond.median", median(column(m[h], 0)));
            out(names[h] + ".cyclesPerCpuSecond.median", median(column(m[h], 1)));
            out(names[h] + ".mainThreadCpuMicrosPerCycle.median", median(column(m[h], 2)));
        }
        for (int h : new int[] {0, 2}) {
            String prefix = h == 0 ? "ratio" : "noCloseAudit.ratio";
            double[] wall = new double[rounds];
            double[] cpu = new double[rounds];
            for (int r = 0; r < rounds; r++) {
                wall[r] = m[h][r][0] / m[1][r][0];
                cpu[r] = m[h][r][1] / m[1][r][1];
            }
            out(prefix + ".min", Arrays.stream(wall).min().orElse(Double.NaN));
            out(prefix + ".median", median(wall));
            out(prefix + ".max", Arrays.stream(wall).max().orElse(Double.NaN));
            out(prefix + ".ofMedians", median(column(m[h], 0)) / median(column(m[1], 0)));
            out(prefix + ".cpu.median", median(cpu));
        }
        // The close audit's cost: its wall time inside the measured cycles (from the reports), then
        // the same scan in a quiet loop (nothing else between two scans: the VM thread stays hot).
        out("unloadguard.closeAudit.wallMicrosInCycle.median", ((Unloadguard) ug).auditMicrosMedian());
        out("unloadguard.closeAudit.threadsScanned", ((Unloadguard) ug).lastAuditThreads);
        double[] quiet = auditQuietLoop(2000);
        out("closeAudit.quietLoop.mainThreadCpuMicros", quiet[0]);
        out("closeAudit.quietLoop.wallMicros", quiet[1]);
        out("loadAverage", ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
        out("java", Runtime.version());
    }

    /** One host: a cycle is load (+start) and unload (+stop) of the trivial plugin. */
    private interface Host {
        void cycle() throws Exception;

        default void cycles(int n) throws Exception {
            for (int i = 0; i < n; i++) {
                cycle();
            }
        }

        /**
         * Cycles per second of wall time; per second of the process's CPU time (all its threads:
         * GC and JIT included), which other processes on a shared machine disturb less; and the
         * main thread's CPU time per cycle in microseconds.
         */
        default double[] rate(int n) throws Exception {
            com.sun.management.OperatingSystemMXBean os =
                    (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
            java.lang.management.ThreadMXBean threads = ManagementFactory.getThreadMXBean();
            long c0 = os.getProcessCpuTime();
            long m0 = threads.getCurrentThreadCpuTime();
            long t0 = System.nanoTime();
            cycles(n);
            long t1 = System.nanoTime();
            long m1 = threads.getCurrentThreadCpuTime();
            long c1 = os.getProcessCpuTime();
            return new double[] {n / ((t1 - t0) / 1e9), n / ((c1 - c0) / 1e9), (m1 - m0) / 1e3 / n};
        }
    }

    /**
     * Main-thread CPU and wall time, in microseconds, of one close-audit scan
     * ({@code ThreadFrames.audit} of a loader name no frame has, no grace), {@code n} in a row.
     */
    private static double[] auditQuietLoop(int n) {
        java.lang.management.ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        for (int i = 0; i < n / 4; i++) {
            ThreadFrames.audit("plugin:quiet-loop#0", Duration.ZERO); // warm-up
        }
        long m0 = threads.getCurrentThreadCpuTime();
        long t0 = System.nanoTime();
        for (int i = 0; i < n; i++) {
            ThreadFrames.audit("plugin:quiet-loop#0", Duration.ZERO);
        }
        long t1 = System.nanoTime();
        long m1 = threads.getCurrentThreadCpuTime();
        return new double[] {(m1 - m0) / 1e3 / n, (t1 - t0) / 1e3 / n};
    }

    private static final class Unloadguard implements Host {
        private final Path jar;
        private final PluginLoader loader;
        /** The close audit's wall time per measured cycle, microseconds (a ring of the last ones). */
        private final double[] auditMicros = new double[1 << 14];
        private int audits;
        int lastAuditThreads;

        Unloadguard(Path jar, Path copies, boolean closeAudit) {
            this.jar = jar;
            this.loader = PluginLoader.builder().collectionTimeout(Duration.ZERO).closeAudit(closeAudit).copyDirectory(copies).build();
        }

        @Override
        public void cycle() throws Exception {
            Plugin plugin = loader.load(jar);
            UnloadReport report = loader.unload(plugin, Duration.ofSeconds(10));
            if (report.outcome() != PluginState.UNLOADED) {
                throw new IllegalStateException("unexpected outcome " + report);
            }
            if (report.audit().ran()) {
                auditMicros[audits++ & (auditMicros.length - 1)] = report.audit().time().toNanos() / 1e3;
                lastAuditThreads = report.audit().platformThreads() + report.audit().virtualThreads();
            }
        }

        double auditMicrosMedian() {
            return audits == 0 ? Double.NaN : median(Arrays.copyOf(auditMicros, Math.min(audits, auditMicros.length)));
        }
    }

    private static final class Pf4j implements Host {
        private final Path jar;
        private final PluginManager manager;

        Pf4j(Path jar, Path root) {
            this.jar = jar;
            this.manager = new DefaultPluginManager(root);
        }

        @Override
        public void cycle() {
            String id = manager.loadPlugin(jar);
            if (manager.startPlugin(id) != org.pf4j.PluginState.STARTED) {
                throw new IllegalStateException("PF4J did not start " + id);
            }
            manager.stopPlugin(id);
            if (!manager.unloadPlugin(id)) {
                throw new IllegalStateException("PF4J did not unload " + id);
            }
        }
    }

    // ---- the trivial plugins -----------------------------------------------------------------

    /** One driver class that does nothing, declared in {@code META-INF/services}. */
    static Path unloadguardPlugin(Path dir, String classPath) throws IOException {
        String src = "package gen.trivial;\n\n"
                + "public final class TrivialDriver implements dev.unloadguard.driver.Driver {\n"
                + "    @Override public String id() { return \"trivial\"; }\n"
                + "    @Override public void init(dev.unloadguard.driver.DriverContext context) { }\n"
                + "    @Override public void exit() { }\n"
                + "}\n";
        Manifest mf = new Manifest();
        mf.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
        return build(dir, "trivial-unloadguard", "gen.trivial.TrivialDriver", src, classPath, mf,
                "META-INF/services/dev.unloadguard.driver.Driver", "gen.trivial.TrivialDriver\n");
    }

    /** One {@code org.pf4j.Plugin} class that does nothing, its descriptor in the manifest. */
    static Path pf4jPlugin(Path dir, String classPath) throws IOException {
        String src = "package gen.trivialpf4j;\n\n"
                + "public final class TrivialPlugin extends org.pf4j.Plugin {\n"
                + "    @Override public void start() { }\n"
                + "    @Override public void stop() { }\n"
                + "}\n";
        Manifest mf = new Manifest();
        mf.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
        mf.getMainAttributes().putValue("Plugin-Id", "trivial");
        mf.getMainAttributes().putValue("Plugin-Version", "1.0.0");
        mf.getMainAttributes().putValue("Plugin-Class", "gen.trivialpf4j.TrivialPlugin");
        return build(dir, "trivial-pf4j", "gen.trivialpf4j.TrivialPlugin", src, classPath, mf, null, null);
    }

    private static Path build(Path dir, String name, String className, String source, String classPath, Manifest mf,
                              String extraEntry, String extraText) throws IOException {
        Path srcDir = Files.createDirectories(dir.resolve(name + "-src"));
        Path out = Files.createDirectories(dir.resolve(name + "-classes"));
        Path file = srcDir.resolve(className.substring(className.lastIndexOf('.') + 1) + ".java");
        Files.writeString(file, source, StandardCharsets.UTF_8);
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        if (javac == null) {
            throw new IllegalStateException("no Java compiler in this runtime: run the benchmark with a JDK, not a JRE");
        }
        List<String> args = new ArrayList<>(List.of("--release", "17", "-nowarn", "-proc:none",
                "-classpath", classPath, "-d", out.toString(), file.toString()));
        if (javac.run(null, null, System.err, args.toArray(new String[0])) != 0) {
            throw new IllegalStateException("javac failed for the trivial plugin " + name);
        }
        String entry = className.replace('.', '/') + ".class";
        Path jar = dir.resolve(name + ".jar");
        try (OutputStream os = Files.newOutputStream(jar); JarOutputStream jos = new JarOutputStream(os, mf)) {
            if (extraEntry != null) {
                jos.putNextEntry(new JarEntry(extraEntry));
                jos.write(extraText.getBytes(StandardCharsets.UTF_8));
                jos.closeEntry();
            }
            jos.putNextEntry(new JarEntry(entry));
            jos.write(Files.readAllBytes(out.resolve(entry)));
            jos.closeEntry();
        }
        return jar;
    }

    private static double[] column(double[][] rows, int k) {
        double[] c = new double[rows.length];
        for (int i = 0; i < rows.length; i++) {
            c[i] = rows[i][k];
        }
        return c;
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    private static void out(String key, Object value) {
        String v = value instanceof Double ? String.format(Locale.ROOT, "%.3f", (Double) value) : String.valueOf(value);
        System.out.println(key + "=" + v);
    }
}
