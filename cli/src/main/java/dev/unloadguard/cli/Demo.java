package dev.unloadguard.cli;

import dev.unloadguard.epoch.ReleaseGuard;
import dev.unloadguard.loader.Plugin;
import dev.unloadguard.loader.PluginLoadException;
import dev.unloadguard.loader.PluginLoader;
import dev.unloadguard.loader.UnloadReport;
import dev.unloadguard.loader.UnloadStep;
import dev.unloadguard.loader.UnloadTimeoutException;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.jar.JarFile;

/**
 * The main job: the reference scenario of DESIGN.md on the sample jars, for N cycles. Each cycle
 * loads driver-sample (its devices' pagemaps go to the helper), asks the helper to drop its
 * pagemaps from its worker thread after a short random delay, and hot-unloads the plugin at the
 * same time; the unload must wait for the helper's drops and for their release tails.
 *
 * <p>With {@code --dependencies} it runs {@link DependencyDemo} instead: a plugin with a library
 * and a plugin that depends on it.
 *
 * <p>The helper is a library built after this jar, so the demo drives it through method handles
 * (five public methods of {@code PagemapCache}), in a class loader that is the plugins' parent.
 */
final class Demo {

    static final int DEFAULT_CYCLES = 30;
    static final Set<String> OPTIONS = Set.of("--cycles", "--driver", "--helper", "--timeout-ms", "--unguarded!", "--quiet!",
            "--dependencies!", "--greeting", "--welcome");
    private static final String CACHE_CLASS = "dev.unloadguard.sample.helper.PagemapCache";

    private Demo() {
    }

    static int run(Options options, PrintStream out, PrintStream err) throws UsageException {
        if (options.flag("--dependencies")) {
            return DependencyDemo.run(options, out, err); // the second job: a plugin with a library and a dependency
        }
        int cycles = options.positiveInt("--cycles", DEFAULT_CYCLES);
        int timeoutMs = options.positiveInt("--timeout-ms", 10_000);
        boolean unguarded = options.flag("--unguarded");
        boolean quiet = options.flag("--quiet");
        Path driverJar = jar(options.get("--driver", "driver-sample/target/driver-sample.jar"), "--driver", "driver-sample",
                "META-INF/services/dev.unloadguard.driver.Driver");
        Path helperJar = jar(options.get("--helper", "helper-sample/target/helper-sample.jar"), "--helper", "helper-sample",
                CACHE_CLASS.replace('.', '/') + ".class");
        if (!ReleaseGuard.agentActive() && !unguarded) {
            err.println("unloadguard demo: the agent is not attached. Run it as");
            err.println("  java -javaagent:agent/target/unloadguard-agent.jar -jar cli/target/unloadguard-cli.jar demo");
            err.println("or add --unguarded to watch unloads without the release barrier's protection.");
            return 2;
        }
        try (URLClassLoader helperLoader = new URLClassLoader("helper-sample", new URL[] {helperJar.toUri().toURL()},
                Demo.class.getClassLoader())) {
            Helper helper;
            try {
                helper = new Helper(helperLoader.loadClass(CACHE_CLASS));
            } catch (Throwable t) {
                throw new UsageException("--helper " + helperJar + ": not the helper-sample jar (" + CACHE_CLASS
                        + " unusable: " + TargetJvm.oneLine(t) + "); pass helper-sample/target/helper-sample.jar");
            }
            try {
                return cycles(cycles, Duration.ofMillis(timeoutMs), unguarded, quiet, driverJar, helperLoader, helper, out);
            } finally {
                helper.close();
            }
        } catch (UsageException e) {
            throw e;
        } catch (Throwable t) {
            err.println("unloadguard demo failed: " + t);
            t.printStackTrace(err);
            return 1;
        }
    }

    private static int cycles(int cycles, Duration timeout, boolean unguarded, boolean quiet, Path driverJar,
                              ClassLoader helperLoader, Helper helper, PrintStream out) throws Throwable {
        PluginLoader loader = withService(PluginLoader.builder(), helper.type(), helper.instance())
                .parent(helperLoader)
                // One card whose last pagemap's tail loads the driver's retirement record: the
                // tail every unload must wait for. Bigger page tables make longer tails.
                .config("xe.devices", "1")
                .config("xe.pagemaps", "4")
                .config("xe.pages", "131072")
                .allowUnguardedUnload(unguarded)
                .awaitCollection(true) // the demo reports each cycle's collection: the check ends in unload
                .build();
        out.printf(Locale.ROOT, "unloadguard demo: %d hot-unload cycles of %s, pagemaps held by %s%n",
                cycles, driverJar.getFileName(), helper.type().getSimpleName());
        out.println("agent: " + (ReleaseGuard.agentActive() ? "attached (version " + ReleaseGuard.agentVersion()
                + "), every entry into the plugin guarded" : "NOT attached: unguarded unloads"));
        Map<UnloadStep, List<Long>> stepNanos = new EnumMap<>(UnloadStep.class);
        for (UnloadStep s : UnloadStep.values()) {
            stepNanos.put(s, new ArrayList<>());
        }
        long devicesCreated = 0;
        long devicesReleased = 0;
        int barriersWaited = 0;
        int collected = 0;
        int leaked = 0;
        int timeouts = 0;
        int loadFailures = 0;
        int releaseFailures = 0;
        long droppedBefore = helper.dropped();
        int callbackFailuresBefore = helper.failures();
        for (int cycle = 1; cycle <= cycles; cycle++) {
            Plugin plugin;
            try {
                plugin = loader.load(driverJar);
            } catch (PluginLoadException e) {
                if (cycle == 1) {
                    throw new UsageException("--driver " + driverJar + " cannot be loaded: " + TargetJvm.oneLine(e));
                }
                loadFailures++;
                out.printf(Locale.ROOT, "[%3d/%d] load failed: %s%n", cycle, cycles, e.getMessage());
                continue;
            }
            int failuresBefore = helper.failures();
            helper.dropAllLater(Duration.ofNanos(ThreadLocalRandom.current().nextLong(2_000_000)));
            UnloadReport report;
            try {
                report = loader.unload(plugin, timeout);
            } catch (UnloadTimeoutException e) {
                timeouts++;
                out.printf(Locale.ROOT, "[%3d/%d] %s%n", cycle, cycles, e.getMessage());
                continue;
            }
            helper.awaitIdle();
            devicesCreated += report.devicesCreated();
            devicesReleased += report.devicesCreated(); // the unload drained: every device was released
            barriersWaited += report.barrierWaited() ? 1 : 0;
            collected += report.collected() ? 1 : 0;
            leaked += report.collected() ? 0 : 1;
            releaseFailures += report.releaseFailures().size();
            for (UnloadStep s : UnloadStep.values()) {
                stepNanos.get(s).add(report.time(s).toNanos());
            }
            int newCallbackFailures = helper.failures() - failuresBefore;
            if (!quiet) {
                out.printf(Locale.ROOT, "[%3d/%d] %s%s%n", cycle, cycles, report.summary(),
                        newCallbackFailures == 0 ? "" : "; " + newCallbackFailures + " release callback(s) FAILED in the helper");
            }
        }
        long dropped = helper.dropped() - droppedBefore;
        int callbackFailures = helper.failures() - callbackFailuresBefore;
        int failures = timeouts + loadFailures + leaked + releaseFailures + callbackFailures;

        out.println();
        out.println("unloadguard demo report");
        out.printf(Locale.ROOT, "  cycles:                      %d%n", cycles);
        out.printf(Locale.ROOT, "  devices created / released:  %d / %d%n", devicesCreated, devicesReleased);
        out.printf(Locale.ROOT, "  pagemaps dropped by helper:  %d (from its worker thread)%n", dropped);
        out.printf(Locale.ROOT, "  barriers that waited:        %d of %d%n", barriersWaited, cycles - timeouts - loadFailures);
        out.printf(Locale.ROOT, "  loaders collected:           %d of %d%n", collected, cycles - timeouts - loadFailures);
        out.println("  unload step times (ms):      median      max");
        for (UnloadStep s : UnloadStep.values()) {
            List<Long> v = stepNanos.get(s);
            out.printf(Locale.ROOT, "    %d. %-24s %8.3f %8.3f%n", s.ordinal() + 1, s.label(), percentile(v, 50) / 1e6, percentile(v, 100) / 1e6);
        }
        out.printf(Locale.ROOT, "  failures:                    %d%n", failures);
        if (failures > 0) {
            out.printf(Locale.ROOT, "    release callbacks failed in the helper (e.g. NoClassDefFoundError): %d%n", callbackFailures);
            out.printf(Locale.ROOT, "    unload timeouts: %d, load failures: %d, leaked loaders: %d, release callbacks that threw: %d%n",
                    timeouts, loadFailures, leaked, releaseFailures);
            helper.firstFailure().ifPresent(t -> out.println("    first helper failure: " + t));
        }
        return failures == 0 ? 0 : 1;
    }

    private static <T> PluginLoader.Builder withService(PluginLoader.Builder b, Class<T> type, Object instance) {
        return b.service(type, type.cast(instance));
    }

    static long percentile(List<Long> values, int p) {
        if (values.isEmpty()) {
            return 0;
        }
        List<Long> sorted = new ArrayList<>(values);
        sorted.sort(null);
        int i = (int) Math.ceil(p / 100.0 * sorted.size()) - 1;
        return sorted.get(Math.max(0, Math.min(sorted.size() - 1, i)));
    }

    /**
     * The jar of {@code option}, checked before anything is loaded from it: a readable jar holding
     * {@code entry} (the helper's cache class, the driver's service file; for
     * {@code demo --dependencies}, the samples' API and driver classes).
     */
    static Path jar(String value, String option, String module, String entry) throws UsageException {
        Path p;
        try {
            p = Path.of(value);
        } catch (java.nio.file.InvalidPathException e) {
            throw new UsageException(option + " '" + value + "' is not a valid path: " + e.getReason());
        }
        if (!Files.isRegularFile(p)) {
            throw new UsageException(module + " jar not found at " + p.toAbsolutePath()
                    + ": build it with 'mvn -B -q package -DskipTests' from the repository root, or pass " + option + " PATH");
        }
        try (JarFile jar = new JarFile(p.toFile())) {
            if (jar.getEntry(entry) == null) {
                throw new UsageException(option + " " + p + " is a jar but not " + module + " (it has no " + entry
                        + "); pass " + module + "/target/" + module + ".jar");
            }
        } catch (IOException e) {
            throw new UsageException(option + " " + p + " is not a jar (" + TargetJvm.oneLine(e) + "); pass " + module
                    + "/target/" + module + ".jar");
        }
        return p;
    }

    /** The helper sample's PagemapCache, driven through method handles. */
    private static final class Helper {
        private final Class<?> type;
        private final Object instance;
        private final MethodHandle dropAllLater;
        private final MethodHandle idle;
        private final MethodHandle dropped;
        private final MethodHandle failures;
        private final MethodHandle close;

        Helper(Class<?> type) throws Throwable {
            MethodHandles.Lookup l = MethodHandles.publicLookup();
            this.type = type;
            this.instance = l.findConstructor(type, MethodType.methodType(void.class, String.class)).invoke("pagemap-cache-worker");
            this.dropAllLater = l.findVirtual(type, "dropAllLater", MethodType.methodType(void.class, Duration.class)).bindTo(instance);
            this.idle = l.findVirtual(type, "idle", MethodType.methodType(boolean.class)).bindTo(instance);
            this.dropped = l.findVirtual(type, "dropped", MethodType.methodType(long.class)).bindTo(instance);
            this.failures = l.findVirtual(type, "failures", MethodType.methodType(List.class)).bindTo(instance);
            this.close = l.findVirtual(type, "close", MethodType.methodType(void.class)).bindTo(instance);
        }

        Class<?> type() {
            return type;
        }

        Object instance() {
            return instance;
        }

        void dropAllLater(Duration delay) throws Throwable {
            dropAllLater.invoke(delay);
        }

        void awaitIdle() throws Throwable {
            while (!(boolean) idle.invoke()) {
                Thread.onSpinWait();
                Thread.yield();
            }
        }

        long dropped() throws Throwable {
            return (long) dropped.invoke();
        }

        int failures() throws Throwable {
            return ((List<?>) failures.invoke()).size();
        }

        java.util.Optional<Object> firstFailure() {
            try {
                List<?> list = (List<?>) failures.invoke();
                return list.isEmpty() ? java.util.Optional.empty() : java.util.Optional.of(list.get(0));
            } catch (Throwable t) {
                return java.util.Optional.empty();
            }
        }

        void close() throws Throwable {
            close.invoke();
        }
    }
}
