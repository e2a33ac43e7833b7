package dev.unloadguard.bench.process;

import dev.unloadguard.weave.internal.GuardTransformer;
import dev.unloadguard.epoch.BarrierOutcome;
import dev.unloadguard.epoch.internal.ReleaseEpoch;
import dev.unloadguard.epoch.ReleaseGuard;
import dev.unloadguard.loader.Plugin;
import dev.unloadguard.loader.GuardScope;
import dev.unloadguard.loader.PluginLoader;
import dev.unloadguard.loader.PluginState;
import dev.unloadguard.loader.UnloadReport;
import dev.unloadguard.loader.UnloadStep;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.ThreadMXBean;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * The whole-process measurements (targets 2c, 5, 6 and 7), one subcommand per JVM the suite
 * starts. Uses only the JDK and unloadguard's public API, so its class path is the agent jar plus
 * this class. Prints {@code key=value} lines on stdout for the suite to read.
 *
 * <ul>
 * <li>{@code startup <plugin.jar>}: load the plugin (its driver touches all its classes), unload
 *     it (collection check off), exit. Timed from outside, with and without {@code -javaagent}.
 * <li>{@code noop}: exit at once: the JVM's own start and exit, for the breakdown.
 * <li>{@code cycles <plugin.jar> <n>}: one load+unload cycle, the level after it (loaded classes,
 *     metaspace used, heap used after GC), then {@code n} cycles timed, the level again, then
 *     {@code n} more cycles and the level once more (what still grows per cycle is a leak).
 * <li>{@code unload <plugin.jar> <n>}: {@code n} unloads with nothing outstanding: time until
 *     {@code unload} returns with the loader closed (collection check off), then {@code n} more with
 *     the collection check on: time of the collect step.
 * <li>{@code park <n>}: a barrier while a reader is parked inside: it waits, wakes when the reader
 *     exits, and how much CPU it used meanwhile.
 * </ul>
 */
public final class Probe {

    private Probe() {
    }

    public static void main(String[] args) throws Exception {
        switch (args.length == 0 ? "" : args[0]) {
            case "noop":
                return;
            case "startup":
                startup(Path.of(args[1]));
                return;
            case "cycles":
                cycles(Path.of(args[1]), Integer.parseInt(args[2]));
                return;
            case "unload":
                unload(Path.of(args[1]), Integer.parseInt(args[2]));
                return;
            case "park":
                park(Integer.parseInt(args[1]));
                return;
            default:
                System.err.println("usage: Probe noop | startup <jar> | cycles <jar> <n> | unload <jar> <n> | park <n>");
                System.exit(2);
        }
    }

    private static PluginLoader.Builder loaderBuilder() {
        // Without the agent (the startup baseline) unload needs the explicit permission. The guard
        // scope is the host's default (ENTRIES) unless -Dunloadguard.bench.scope=RELEASE_PATHS.
        return PluginLoader.builder().allowUnguardedUnload(!ReleaseGuard.agentActive())
                .guardScope(GuardScope.valueOf(System.getProperty("unloadguard.bench.scope", GuardScope.ENTRIES.name())));
    }

    // ---- target 5 --------------------------------------------------------------------------

    private static void startup(Path jar) throws Exception {
        PluginLoader loader = loaderBuilder().collectionTimeout(Duration.ZERO).build();
        Plugin plugin = loader.load(jar);
        UnloadReport report = loader.unload(plugin, Duration.ofSeconds(10));
        if (report.outcome() != PluginState.UNLOADED) {
            throw new IllegalStateException("unexpected outcome " + report);
        }
        System.out.println("agent=" + ReleaseGuard.agentActive());
        if (ReleaseGuard.agentActive()) {
            GuardTransformer.Stats stats = GuardTransformer.stats();
            System.out.println("examined=" + stats.classesExamined());
            System.out.println("transformed=" + stats.classesTransformed());
            System.out.println("guarded=" + stats.methodsGuarded());
        }
    }

    // ---- target 6 --------------------------------------------------------------------------

    private static void cycles(Path jar, int n) throws Exception {
        PluginLoader loader = loaderBuilder().collectionTimeout(Duration.ZERO).build();
        cycle(loader, jar);
        long[] first = level();
        long start = System.nanoTime();
        for (int i = 0; i < n; i++) {
            cycle(loader, jar);
        }
        long elapsed = System.nanoTime() - start;
        long[] after = level();
        for (int i = 0; i < n; i++) {  // n more: growth that continues is a leak, growth that stopped was warm-up
            cycle(loader, jar);
        }
        long[] after2 = level();
        out("cycles", n);
        out("seconds", elapsed / 1e9);
        out("cyclesPerSecond", n / (elapsed / 1e9));
        String[] names = {"classes", "metaspace", "heap"};
        for (int k = 0; k < names.length; k++) {
            out(names[k] + ".first", first[k]);
            out(names[k] + ".after", after[k]);
            out(names[k] + ".after2", after2[k]);
        }
        out("agent", ReleaseGuard.agentActive());
    }

    private static void cycle(PluginLoader loader, Path jar) throws Exception {
        Plugin plugin = loader.load(jar);
        loader.unload(plugin, Duration.ofSeconds(10));
    }

    /**
     * Loaded classes, metaspace used and heap used, after full GCs until the class count stops
     * falling (classes of collected loaders are unloaded by the full GC {@code System.gc()} runs).
     */
    static long[] level() throws InterruptedException {
        long classes = Long.MAX_VALUE;
        for (int i = 0; i < 10; i++) {
            System.gc();
            Thread.sleep(20); // lets the reference handler and cleaners run between collections
            long now = ManagementFactory.getClassLoadingMXBean().getLoadedClassCount();
            if (now >= classes && i >= 2) {
                break;
            }
            classes = Math.min(classes, now);
        }
        System.gc();
        long metaspace = 0;
        for (MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans()) {
            if (pool.getName().equals("Metaspace")) {
                metaspace = pool.getUsage().getUsed();
            }
        }
        long heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
        return new long[] {ManagementFactory.getClassLoadingMXBean().getLoadedClassCount(), metaspace, heap};
    }

    // ---- target 7 --------------------------------------------------------------------------

    private static void unload(Path jar, int n) throws Exception {
        PluginLoader closeOnly = loaderBuilder().collectionTimeout(Duration.ZERO).build();
        for (int i = 0; i < 20; i++) {
            cycle(closeOnly, jar); // warm up the load and unload paths
        }
        double[] returned = new double[n];
        double[] closeStep = new double[n];
        for (int i = 0; i < n; i++) {
            Plugin plugin = closeOnly.load(jar);
            long t0 = System.nanoTime();
            UnloadReport report = closeOnly.unload(plugin, Duration.ofSeconds(10));
            returned[i] = (System.nanoTime() - t0) / 1e6;
            closeStep[i] = report.time(UnloadStep.CLOSE).toNanos() / 1e6;
        }
        PluginLoader collecting = loaderBuilder().collectionTimeout(Duration.ofSeconds(5)).awaitCollection(true).build();
        double[] collect = new double[n];
        double[] nudges = new double[n];
        int collected = 0;
        for (int i = 0; i < n; i++) {
            Plugin plugin = collecting.load(jar);
            UnloadReport report = collecting.unload(plugin, Duration.ofSeconds(10));
            collect[i] = report.time(UnloadStep.COLLECT).toNanos() / 1e6;
            nudges[i] = report.gcNudges();
            collected += report.collected() ? 1 : 0;
        }
        out("n", n);
        out("returned.median.ms", median(returned));
        out("returned.max.ms", max(returned));
        out("closeStep.median.ms", median(closeStep));
        out("collect.median.ms", median(collect));
        out("collect.max.ms", max(collect));
        out("collect.nudges.median", median(nudges));
        out("collected", collected);
        out("agent", ReleaseGuard.agentActive());
    }

    // ---- target 2c -------------------------------------------------------------------------

    /**
     * Each trial: a reader enters and parks; a barrier starts on another thread; after
     * {@code HOLD_MS} the reader is unparked and exits. Measures how long after the reader's exit
     * the barrier returned, whether it returned before the exit (a bug), and the barrier thread's
     * CPU time over its wall time (a spinning barrier would show ~100%).
     */
    private static void park(int trials) throws Exception {
        final long holdNanos = 50_000_000L;
        ReleaseEpoch epoch = new ReleaseEpoch();
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        double[] wake = new double[trials];
        double[] cpu = new double[trials];
        int early = 0;
        int waited = 0;
        for (int i = 0; i < trials; i++) {
            CountDownLatch entered = new CountDownLatch(1);
            AtomicLong exitedAt = new AtomicLong();
            AtomicLong returnedAt = new AtomicLong();
            long[] cpuWall = new long[2];
            BarrierOutcome[] outcome = new BarrierOutcome[1];
            Thread reader = new Thread(() -> {
                int t = epoch.enter();
                entered.countDown();
                long until = System.nanoTime() + holdNanos;
                while (System.nanoTime() < until) {
                    LockSupport.parkNanos(until - System.nanoTime());
                }
                exitedAt.set(System.nanoTime()); // just before the exit: the barrier may return right after it
                epoch.exit(t);
            }, "parked-reader");
            reader.start();
            entered.await();
            Thread barrier = new Thread(() -> {
                long c0 = mx.getCurrentThreadCpuTime();
                long w0 = System.nanoTime();
                outcome[0] = epoch.barrier(Duration.ofSeconds(10));
                long w1 = System.nanoTime();
                returnedAt.set(w1);
                cpuWall[0] = mx.getCurrentThreadCpuTime() - c0;
                cpuWall[1] = w1 - w0;
            }, "barrier");
            barrier.start();
            reader.join();
            barrier.join();
            if (returnedAt.get() < exitedAt.get()) {
                early++;
            }
            waited += outcome[0] == BarrierOutcome.WAITED ? 1 : 0;
            wake[i] = (returnedAt.get() - exitedAt.get()) / 1e3;
            cpu[i] = 100.0 * cpuWall[0] / cpuWall[1];
        }
        out("trials", trials);
        out("hold.ms", holdNanos / 1e6);
        out("waited", waited);
        out("returnedBeforeExit", early);
        out("wake.median.us", median(wake));
        out("wake.max.us", max(wake));
        out("cpu.median.percent", median(cpu));
        out("cpu.max.percent", max(cpu));
    }

    // ----------------------------------------------------------------------------------------

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    private static double max(double[] v) {
        return Arrays.stream(v).max().orElse(Double.NaN);
    }

    private static void out(String key, Object value) {
        String v = value instanceof Double ? String.format(Locale.ROOT, "%.4f", (Double) value) : String.valueOf(value);
        System.out.println(key + "=" + v);
    }
}
