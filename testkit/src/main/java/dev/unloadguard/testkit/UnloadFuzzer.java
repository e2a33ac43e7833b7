package dev.unloadguard.testkit;

import dev.unloadguard.epoch.internal.ReleaseEpoch;
import dev.unloadguard.loader.GuardScope;
import dev.unloadguard.loader.LoadOption;
import dev.unloadguard.loader.Plugin;
import dev.unloadguard.loader.PluginLoadException;
import dev.unloadguard.loader.PluginLoader;
import dev.unloadguard.loader.UnloadReport;
import dev.unloadguard.loader.internal.PluginAccess;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import org.opentest4j.AssertionFailedError;

/**
 * Unload-point fuzzing, the test kit's rcutorture: runs a scenario of yours (code that drives your
 * host against a loaded plugin) once to count its <em>crossings</em>, the calls from outside into
 * the plugin's code, then again once per crossing k, each time with a fresh generation of the
 * plugin, starting an unload exactly at crossing k; then a number of random runs (a random
 * crossing, random yields on the unloading and the crossing thread), each with a seed it prints.
 * After every run it asserts that
 * <ul>
 * <li>no late access escaped: the scenario, and the plugin's code on any thread, met no
 *     {@code NoClassDefFoundError}, {@code ClassNotFoundException} or closed-loader
 *     {@code IllegalStateException}, and the plugin's closed class loader was asked for no class
 *     ({@link Plugin#lateAccesses()}). A {@code PluginUnloadedError} <em>refusing an entry</em>
 *     (the documented answer to a call into a plugin that is unloading) is fine, and ends the
 *     scenario of that run;
 * <li>no thread died of an uncaught exception while the run went on;
 * <li>the unload was clean and the generation COLLECTED: the check of
 *     {@link UnloadAssertions#assertUnloadsCleanly(UnloadAssertions.Unload)}, whose message (the
 *     whole unload report) each failure carries.
 * </ul>
 *
 * <pre> {@code
 * UnloadFuzzer.builder()
 *         .loader(loader)                      // built with a collection timeout (the default 5 s will do)
 *         .jar(Path.of("plugins/storage.jar"))
 *         .scenario(plugin -> {                // drives the host: every call into the plugin is a crossing
 *             Session s = registry.storage().open("a");
 *             s.write("data");
 *             s.close();
 *         })
 *         .randomRuns(8)
 *         .run();                               // AssertionFailedError naming each failing run}</pre>
 *
 * <p><b>Crossings.</b> What counts is what the agent guards as an entry (guard scope
 * {@link GuardScope#ENTRIES}, the default): an outermost call from non-plugin code into a
 * method of the plugin, on any thread, while the scenario runs. Calls from plugin code to plugin
 * code, and the plugin's release paths (which an unload never refuses), are not crossings. The
 * crossings are counted by a probe the runtime keeps in the release epoch's gate, which costs an
 * epoch nothing while no probe is installed. An unload started at crossing k runs on its own
 * thread (the crossing thread is entering the plugin): in an exact run the crossing thread goes
 * on into the plugin only once the unload has closed the gate, so that call runs to its end while
 * the unload waits for it, and every later call from outside is refused. A random run yields
 * instead, so the unload lands anywhere after crossing k.
 *
 * <p><b>Reproducing.</b> Exact runs are deterministic as far as the scenario is (replay one with
 * {@link Builder#crossings(int...)}); a random run prints its seed, which fixes its plan (its
 * crossing and yields; the threads' timing still varies): replay it with
 * {@link Builder#seeds(long...)}.
 *
 * <p>Each run loads the jar with your {@link PluginLoader} and unloads it again, so the loader's
 * host services see one generation after the other; a failing run's leaked generation stays
 * leaked (its report says by what), and later runs load the jar all the same
 * ({@link LoadOption#IGNORE_LEAKED_GENERATIONS}) and are checked on their own.
 */
public final class UnloadFuzzer {

    /** Your scenario: drives the host against {@code plugin} (a fresh generation each run). */
    @FunctionalInterface
    public interface Scenario {
        void run(Plugin plugin) throws Exception;
    }

    private static final System.Logger LOG = System.getLogger(UnloadFuzzer.class.getName());
    /** Most yields the unloading thread makes before it unloads, in a random run. */
    private static final int MAX_UNLOADER_YIELDS = 64;
    /** Most yields the crossing thread makes at the crossing, in a random run. */
    private static final int MAX_CROSSING_YIELDS = 16;
    /** How many crossings of the counting run a result lists. */
    static final int LISTED = 20;

    private final PluginLoader loader;
    private final Path jar;
    private final Scenario scenario;
    private final int randomRuns;
    private final List<Long> seeds;
    private final int[] crossings;
    private final Duration timeout;

    private UnloadFuzzer(Builder b) {
        this.loader = b.loader;
        this.jar = b.jar;
        this.scenario = b.scenario;
        this.randomRuns = b.randomRuns;
        this.seeds = List.copyOf(b.seeds);
        this.crossings = b.crossings;
        this.timeout = b.timeout;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Configures an {@link UnloadFuzzer}; {@code loader}, {@code jar} and {@code scenario} are required. */
    public static final class Builder {
        private PluginLoader loader;
        private Path jar;
        private Scenario scenario;
        private int randomRuns = 8;
        private final List<Long> seeds = new ArrayList<>();
        private int[] crossings;
        private Duration timeout = Duration.ofSeconds(30);

        private Builder() {
        }

        /** The loader each run loads the jar with (and unloads it again). */
        public Builder loader(PluginLoader loader) {
            this.loader = Objects.requireNonNull(loader, "loader");
            return this;
        }

        /** The plugin to load, as {@link PluginLoader#load} takes it. */
        public Builder jar(Path jar) {
            this.jar = Objects.requireNonNull(jar, "jar");
            return this;
        }

        /** What to run against each fresh generation. */
        public Builder scenario(Scenario scenario) {
            this.scenario = Objects.requireNonNull(scenario, "scenario");
            return this;
        }

        /** How many random runs with fresh seeds follow the exact runs (default 8; 0 for none). */
        public Builder randomRuns(int count) {
            if (count < 0) {
                throw new IllegalArgumentException("randomRuns(" + count + "): give 0 or more");
            }
            this.randomRuns = count;
            return this;
        }

        /** Random runs with these seeds (from a failure message), in addition to {@link #randomRuns}. */
        public Builder seeds(long... seeds) {
            for (long s : seeds) {
                this.seeds.add(s);
            }
            return this;
        }

        /**
         * Exact runs at these crossings only (1 is the first; from a failure message), instead of
         * one at every crossing. {@code crossings()} with none: no exact runs.
         */
        public Builder crossings(int... crossings) {
            for (int k : crossings) {
                if (k < 1) {
                    throw new IllegalArgumentException("crossings(" + k + "): crossings are numbered from 1");
                }
            }
            this.crossings = crossings.clone();
            return this;
        }

        /**
         * Bounds each run's scenario, each wait for the unload to start, and each unload (its exit
         * hook, drain and barrier; the collection check has the loader's own bound). Default 30 s.
         */
        public Builder timeout(Duration timeout) {
            Objects.requireNonNull(timeout, "timeout");
            if (timeout.isNegative() || timeout.isZero()) {
                throw new IllegalArgumentException("timeout(" + timeout + "): give a positive bound");
            }
            this.timeout = timeout;
            return this;
        }

        public UnloadFuzzer build() {
            if (loader == null || jar == null || scenario == null) {
                throw new IllegalStateException("UnloadFuzzer needs " + (loader == null ? "loader(PluginLoader) " : "")
                        + (jar == null ? "jar(Path) " : "") + (scenario == null ? "scenario(plugin -> ...) " : "")
                        + "before build()");
            }
            return new UnloadFuzzer(this);
        }

        /** {@code build().run()}. */
        public Result run() {
            return build().run();
        }
    }

    /** What a fuzzing session did, when every run passed. */
    public static final class Result {
        private final int crossings;
        private final int runs;
        private final List<Long> seeds;
        private final List<String> methods;

        Result(int crossings, int runs, List<Long> seeds, List<String> methods) {
            this.crossings = crossings;
            this.runs = runs;
            this.seeds = List.copyOf(seeds);
            this.methods = List.copyOf(methods);
        }

        /** The crossings the counting run saw. */
        public int crossings() {
            return crossings;
        }

        /** Every run, the counting run included. */
        public int runs() {
            return runs;
        }

        /** The seeds of the random runs. */
        public List<Long> seeds() {
            return seeds;
        }

        /** The method each crossing of the counting run entered, in order (the first 20). */
        public List<String> crossedMethods() {
            return methods;
        }

        @Override
        public String toString() {
            return runs + " run(s) over " + crossings + " crossing(s) passed; random seeds " + hexes(seeds)
                    + "; crossings " + listed(methods, crossings);
        }
    }

    /**
     * Runs the counting run, the exact runs and the random runs; returns what was run if every run
     * passed.
     *
     * @throws AssertionFailedError naming every failing run (its crossing, its seed if random,
     *     what went wrong and the unload report), or, if the counting run already fails (the
     *     scenario fails without any unload, or crosses into the plugin nowhere), saying so
     */
    public Result run() {
        UncaughtWatch watch = UncaughtWatch.install();
        try {
            Outcome counting = runOnce(Plan.counting());
            if (!counting.problems.isEmpty()) {
                throw new AssertionFailedError("unload-point fuzzing of " + jar.getFileName() + ": the scenario does not pass "
                        + "even without an unload during it (the counting run, unloading after it):\n" + counting.describe());
            }
            int n = (int) counting.crossings;
            if (n == 0) {
                throw new AssertionFailedError("unload-point fuzzing of " + jar.getFileName() + ": the scenario never called "
                        + "into the plugin from outside (0 crossings), so there is no unload point to try. Call the plugin's "
                        + "code in the scenario; crossings are what the agent guards as entries (guard scope ENTRIES, the default)");
            }
            List<Plan> plans = new ArrayList<>();
            if (crossings == null) {
                for (int k = 1; k <= n; k++) {
                    plans.add(Plan.exact(k, n));
                }
            } else {
                for (int k : crossings) {
                    plans.add(Plan.exact(k, n));
                }
            }
            List<Long> runSeeds = new ArrayList<>(seeds);
            SplittableRandom fresh = new SplittableRandom();
            for (int i = 0; i < randomRuns; i++) {
                runSeeds.add(fresh.nextLong());
            }
            for (long seed : runSeeds) {
                plans.add(Plan.random(seed, n));
            }
            List<Outcome> failed = new ArrayList<>();
            for (Plan plan : plans) {
                Outcome o = runOnce(plan);
                if (!o.problems.isEmpty()) {
                    failed.add(o);
                }
            }
            int runs = plans.size() + 1;
            if (!failed.isEmpty()) {
                StringBuilder m = new StringBuilder("unload-point fuzzing of ").append(jar.getFileName()).append(" (")
                        .append(n).append(" crossing(s)): ").append(failed.size()).append(" of ").append(runs)
                        .append(" run(s) failed\ncrossings: ").append(listed(counting.crossed, n));
                for (Outcome o : failed) {
                    m.append("\n\n").append(o.describe());
                }
                throw new AssertionFailedError(m.toString());
            }
            Result r = new Result(n, runs, runSeeds, counting.crossed);
            LOG.log(System.Logger.Level.INFO, "unload-point fuzzing of {0}: {1}", jar.getFileName(), r);
            return r;
        } finally {
            watch.uninstall();
        }
    }

    /** One run's plan: where the unload starts and how the threads yield. */
    private static final class Plan {
        /** 0: the counting run (unload after the scenario). */
        final int crossing;
        final int of;
        final Long seed;
        final int unloaderYields;
        final int crossingYields;
        /** Whether the crossing thread goes on only once the gate is closed. */
        final boolean awaitGoing;

        private Plan(int crossing, int of, Long seed, int unloaderYields, int crossingYields, boolean awaitGoing) {
            this.crossing = crossing;
            this.of = of;
            this.seed = seed;
            this.unloaderYields = unloaderYields;
            this.crossingYields = crossingYields;
            this.awaitGoing = awaitGoing;
        }

        static Plan counting() {
            return new Plan(0, 0, null, 0, 0, false);
        }

        static Plan exact(int k, int n) {
            return new Plan(k, n, null, 0, 0, true);
        }

        /** The seed fixes the plan: crossing, yields, and whether the crossing thread awaits GOING. */
        static Plan random(long seed, int n) {
            SplittableRandom r = new SplittableRandom(seed);
            int k = 1 + r.nextInt(n);
            return new Plan(k, n, seed, r.nextInt(MAX_UNLOADER_YIELDS), r.nextInt(MAX_CROSSING_YIELDS), r.nextBoolean());
        }

        String describe(String method) {
            String at = "crossing " + crossing + " of " + of + (method == null ? "" : " (entering " + method + ")");
            if (crossing == 0) {
                return "counting run (no unload during the scenario; unloaded after it)";
            }
            if (seed == null) {
                return "exact run at " + at + ": unload started there, the call went on once the plugin was GOING; "
                        + "replay: .crossings(" + crossing + ")";
            }
            return "random run, seed " + hex(seed) + ": unload at " + at + " after " + unloaderYields
                    + " yield(s) of the unloading thread, " + crossingYields + " yield(s) of the crossing thread"
                    + (awaitGoing ? ", which then awaited GOING" : "") + "; replay: .seeds(" + hex(seed) + "L)";
        }
    }

    /** What one run found. */
    private static final class Outcome {
        final Plan plan;
        final List<String> problems = new ArrayList<>();
        long crossings;
        String method;
        List<String> crossed = List.of();

        Outcome(Plan plan) {
            this.plan = plan;
        }

        String describe() {
            StringBuilder b = new StringBuilder(plan.describe(method));
            for (String p : problems) {
                b.append("\n  - ").append(p.stripTrailing().replace("\n", "\n    "));
            }
            return b.toString();
        }
    }

    /** Starts the unload at the planned crossing; called on each crossing thread by the probe. */
    private final class Trigger implements ReleaseEpoch.CrossingListener {
        final Plan plan;
        final Plugin plugin;
        final ReleaseEpoch epoch;
        final CompletableFuture<UnloadReport> unload = new CompletableFuture<>();
        volatile String method;
        volatile boolean started;
        /** The methods entered at each crossing, in the counting run (the first {@value #LISTED}). */
        final List<String> crossed = new CopyOnWriteArrayList<>();

        Trigger(Plan plan, Plugin plugin, ReleaseEpoch epoch) {
            this.plan = plan;
            this.plugin = plugin;
            this.epoch = epoch;
        }

        @Override
        public void crossed(long ordinal, String entered) {
            if (plan.crossing == 0 && ordinal <= LISTED) {
                crossed.add(entered);
            }
            if (ordinal != plan.crossing) {
                return;
            }
            method = entered;
            startUnload(plan.unloaderYields);
            for (int i = 0; i < plan.crossingYields; i++) {
                Thread.yield();
            }
            if (plan.awaitGoing) {
                awaitGoing();
            }
        }

        /** Unloads on a new thread (this one may be inside the plugin: the barrier must not run here). */
        void startUnload(int yields) {
            started = true;
            Thread t = new Thread(() -> {
                for (int i = 0; i < yields; i++) {
                    Thread.yield();
                }
                try {
                    unload.complete(loader.unload(plugin, timeout));
                } catch (Throwable e) {
                    unload.completeExceptionally(e);
                }
            }, "unloadguard-fuzz-unloader");
            t.setDaemon(true);
            t.start();
        }

        /** Waits (spin, yield, then short parks; bounded) until the unload closed the gate or ended. */
        private void awaitGoing() {
            long deadline = System.nanoTime() + timeout.toNanos();
            for (int i = 0; !epoch.gateClosed() && !unload.isDone() && System.nanoTime() - deadline < 0; i++) {
                if (i < 100) {
                    Thread.onSpinWait();
                } else if (i < 200) {
                    Thread.yield();
                } else {
                    LockSupport.parkNanos(100_000L);
                }
            }
        }
    }

    private Outcome runOnce(Plan plan) {
        Outcome out = new Outcome(plan);
        Plugin plugin;
        try {
            plugin = loader.load(jar, LoadOption.IGNORE_LEAKED_GENERATIONS); // a failed run's leak must not stop the next
        } catch (PluginLoadException e) {
            throw new AssertionFailedError("unload-point fuzzing: " + jar + " does not load: " + e.getMessage(), e);
        }
        if (plugin.guardScope() != GuardScope.ENTRIES) {
            unloadQuietly(plugin);
            throw new AssertionFailedError("unload-point fuzzing needs the guard scope ENTRIES (every call into the plugin "
                    + "guarded), but " + plugin + " is guarded in " + plugin.guardScope() + ": build the loader with "
                    + "guardScope(GuardScope.ENTRIES) (the default) and start the JVM with the agent");
        }
        ReleaseEpoch epoch = PluginAccess.epoch(plugin);
        Trigger trigger = new Trigger(plan, plugin, epoch);
        epoch.probeCrossings(trigger);
        UncaughtWatch.Run uncaught = UncaughtWatch.startRun();
        AtomicReference<Throwable> thrown = new AtomicReference<>();
        Thread runner = new Thread(() -> {
            try {
                scenario.run(plugin);
            } catch (Throwable t) {
                thrown.set(t);
            }
        }, "unloadguard-fuzz-scenario");
        runner.setDaemon(true);
        runner.start();
        boolean finished = join(runner);
        long crossed = epoch.stopProbing();             // -1: the unload closed the gate (and ended the probe)
        out.crossings = crossed >= 0 ? crossed : plan.crossing;
        out.method = trigger.method;
        out.crossed = List.copyOf(trigger.crossed);
        if (!finished) {
            out.problems.add("the scenario did not finish within " + UnloadAssertions.format(timeout) + ":\n"
                    + stack(runner));
            runner.interrupt();
        }
        // judged (and dropped) before the collection check: a kept exception may pin the plugin's classes
        Throwable t = thrown.getAndSet(null);
        if (t != null) {
            String escaped = lateAccessIn(t);
            if (escaped != null) {
                out.problems.add("a late access escaped to the scenario (" + escaped + "):\n" + stackTrace(t));
            } else if (plan.crossing == 0 || !refusalIn(t)) {
                out.problems.add("the scenario threw " + (plan.crossing == 0 ? "(without any unload during it)" : "")
                        + ":\n" + stackTrace(t));
            }
            t = null;
        }
        if (!trigger.started) {
            if (plan.crossing > 0 && crossed < plan.crossing) {
                out.problems.add("the scenario crossed into the plugin only " + crossed + " time(s) this run, not "
                        + plan.crossing + ": it is not deterministic; the plugin was unloaded after it");
            }
            trigger.startUnload(0);
        }
        try {
            UnloadAssertions.assertUnloadsCleanly(() -> {
                trigger.unload.get(timeout.toNanos() + TimeUnit.SECONDS.toNanos(5), TimeUnit.NANOSECONDS);
                return plugin.awaitCollectionCheck();
            });
        } catch (AssertionFailedError e) {
            out.problems.add(e.getMessage());
        }
        if (plugin.lateAccesses() > 0) {
            out.problems.add("a late access escaped: code still running in the plugin asked its closed class loader "
                    + "for a class " + plugin.lateAccesses() + " time(s) (each got a PluginUnloadedError)");
        }
        out.problems.addAll(uncaught.end());
        return out;
    }

    private boolean join(Thread t) {
        try {
            t.join(timeout.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionFailedError("interrupted while the fuzzed scenario ran", e);
        }
        return !t.isAlive();
    }

    private void unloadQuietly(Plugin plugin) {
        try {
            loader.unload(plugin, timeout);
        } catch (Exception e) {
            LOG.log(System.Logger.Level.WARNING, "could not unload " + plugin, e);
        }
    }

    /**
     * What in {@code t} (its causes and suppressed included) is a late access: a
     * {@code NoClassDefFoundError} or {@code ClassNotFoundException} that is not an entry refusal,
     * or an {@code IllegalStateException} about something closed; {@code null} if none.
     */
    static String lateAccessIn(Throwable t) {
        for (Throwable x : chain(t)) {
            if (x instanceof NoClassDefFoundError && !isRefusal(x)) {
                return x.getClass().getName() + ": " + x.getMessage();
            }
            if (x instanceof ClassNotFoundException) {
                return x.getClass().getName() + ": " + x.getMessage();
            }
            if (x instanceof IllegalStateException && x.getMessage() != null
                    && x.getMessage().toLowerCase(Locale.ROOT).contains("closed")) {
                return x.getClass().getName() + ": " + x.getMessage();
            }
        }
        return null;
    }

    /** Whether {@code t} (or one of its causes or suppressed) is an entry refusal. */
    static boolean refusalIn(Throwable t) {
        for (Throwable x : chain(t)) {
            if (isRefusal(x)) {
                return true;
            }
        }
        return false;
    }

    /** The api's {@code PluginUnloadedError} refusing an entry (its late accesses say "cannot be loaded"). */
    private static boolean isRefusal(Throwable x) {
        return x instanceof NoClassDefFoundError && x.getMessage() != null && x.getMessage().contains(" refused: plugin ");
    }

    private static List<Throwable> chain(Throwable t) {
        Set<Throwable> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        List<Throwable> all = new ArrayList<>();
        List<Throwable> todo = new ArrayList<>(List.of(t));
        while (!todo.isEmpty()) {
            Throwable x = todo.remove(todo.size() - 1);
            if (x == null || !seen.add(x)) {
                continue;
            }
            all.add(x);
            todo.add(x.getCause());
            todo.addAll(List.of(x.getSuppressed()));
        }
        return all;
    }

    private static String stackTrace(Throwable t) {
        java.io.StringWriter w = new java.io.StringWriter();
        t.printStackTrace(new java.io.PrintWriter(w));
        return w.toString().stripTrailing();
    }

    private static String stack(Thread t) {
        StringBuilder b = new StringBuilder("\"" + t.getName() + "\" " + t.getState());
        for (StackTraceElement e : t.getStackTrace()) {
            b.append("\n    at ").append(e);
        }
        return b.toString();
    }

    static String hex(long seed) {
        return "0x" + Long.toHexString(seed);
    }

    /** "1 a.B.c(), 2 ..." */
    static String listed(List<String> methods, long of) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < methods.size(); i++) {
            b.append(i == 0 ? "" : ", ").append(i + 1).append(' ').append(methods.get(i));
        }
        return methods.size() < of ? b.append(", ...").toString() : b.toString();
    }

    private static String hexes(List<Long> seeds) {
        List<String> s = new ArrayList<>();
        for (long x : seeds) {
            s.add(hex(x));
        }
        return s.toString();
    }

    /**
     * Records uncaught exceptions of every thread while fuzzing runs: wraps the JVM's default
     * handler (and hands each exception on to it), and restores it afterwards.
     */
    private static final class UncaughtWatch implements Thread.UncaughtExceptionHandler {
        private static final List<Run> RUNS = new CopyOnWriteArrayList<>();
        private final Thread.UncaughtExceptionHandler previous;

        private UncaughtWatch(Thread.UncaughtExceptionHandler previous) {
            this.previous = previous;
        }

        static UncaughtWatch install() {
            UncaughtWatch w = new UncaughtWatch(Thread.getDefaultUncaughtExceptionHandler());
            Thread.setDefaultUncaughtExceptionHandler(w);
            return w;
        }

        void uninstall() {
            if (Thread.getDefaultUncaughtExceptionHandler() == this) {
                Thread.setDefaultUncaughtExceptionHandler(previous);
            }
        }

        static Run startRun() {
            Run r = new Run();
            RUNS.add(r);
            return r;
        }

        /** Kept as text at once: neither the thread (maybe a plugin's) nor the exception may pin the plugin. */
        @Override
        public void uncaughtException(Thread t, Throwable e) {
            if (!RUNS.isEmpty()) {
                String escaped = lateAccessIn(e);
                String problem = "thread \"" + t.getName() + "\" died of an uncaught exception"
                        + (escaped != null ? ", a late access (" + escaped + ")" : "") + ":\n" + stackTrace(e);
                for (Run r : RUNS) {
                    r.seen.add(problem);
                }
            }
            if (previous != null) {
                previous.uncaughtException(t, e);
            } else {
                System.err.print("Exception in thread \"" + t.getName() + "\" ");
                e.printStackTrace(System.err);
            }
        }

        /** The uncaught exceptions of one run. */
        static final class Run {
            final List<String> seen = new CopyOnWriteArrayList<>();

            List<String> end() {
                RUNS.remove(this);
                return seen;
            }
        }
    }
}
