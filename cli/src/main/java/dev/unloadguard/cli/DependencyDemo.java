package dev.unloadguard.cli;

import dev.unloadguard.driver.PluginUnloadedError;
import dev.unloadguard.epoch.ReleaseGuard;
import dev.unloadguard.loader.LoadOption;
import dev.unloadguard.loader.Plugin;
import dev.unloadguard.loader.PluginLoadException;
import dev.unloadguard.loader.PluginLoader;
import dev.unloadguard.loader.UnloadReport;
import dev.unloadguard.loader.UnloadTimeoutException;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import java.util.function.Supplier;
import java.util.jar.JarFile;

/**
 * {@code demo --dependencies}: a plugin with a library and a plugin that depends on it, hot
 * reloaded while the host calls through them. greeting-sample carries its library in its jar
 * ({@code lib/textlib-sample.jar}) and exports an API package; welcome-sample requires it
 * ({@code Plugin-Requires: greeting@[1.0,2.0)}) and offers the host a welcome that calls that
 * API. The demo shows what the loader resolved, that unloading greeting alone is refused while
 * welcome depends on it, then runs N reload cycles: new generations of both beside the old
 * ones, the host switched to the new welcome, the old pair unloaded with the cascade (welcome
 * first), while host threads keep calling welcome: two per generation, each calling its
 * generation until that generation refuses a call because it is unloading.
 */
final class DependencyDemo {

    static final int DEFAULT_CYCLES = 10;
    private static final String GREETING_API = "dev/unloadguard/sample/greeting/api/Greetings.class";
    private static final String WELCOME_DRIVER = "dev/unloadguard/sample/welcome/WelcomeDriver.class";

    private DependencyDemo() {
    }

    static int run(Options options, PrintStream out, PrintStream err) throws UsageException {
        int cycles = options.positiveInt("--cycles", DEFAULT_CYCLES);
        int timeoutMs = options.positiveInt("--timeout-ms", 10_000);
        boolean unguarded = options.flag("--unguarded");
        boolean quiet = options.flag("--quiet");
        Path greeting = Demo.jar(options.get("--greeting", "greeting-sample/target/greeting-sample.jar"), "--greeting",
                "greeting-sample", GREETING_API);
        Path welcome = Demo.jar(options.get("--welcome", "welcome-sample/target/welcome-sample.jar"), "--welcome",
                "welcome-sample", WELCOME_DRIVER);
        if (!ReleaseGuard.agentActive() && !unguarded) {
            err.println("unloadguard demo: the agent is not attached. Run it as");
            err.println("  java -javaagent:agent/target/unloadguard-agent.jar -jar cli/target/unloadguard-cli.jar demo --dependencies");
            err.println("or add --unguarded to watch unloads without the release barrier's protection.");
            return 2;
        }
        try {
            return cycles(cycles, Duration.ofMillis(timeoutMs), unguarded, quiet, greeting, welcome, out);
        } catch (UsageException e) {
            throw e;
        } catch (Throwable t) {
            err.println("unloadguard demo failed: " + t);
            t.printStackTrace(err);
            return 1;
        }
    }

    private static int cycles(int cycles, Duration timeout, boolean unguarded, boolean quiet, Path greetingJar, Path welcomeJar,
                              PrintStream out) throws Throwable {
        AtomicReference<Supplier<String>> current = new AtomicReference<>();
        Consumer<Supplier<String>> host = current::set;
        PluginLoader loader = service(PluginLoader.builder(), Consumer.class, host)
                .allowUnguardedUnload(unguarded)
                .awaitCollection(true) // each report says whether its generation was collected
                .build();
        out.printf(Locale.ROOT, "unloadguard demo --dependencies: %d reloads of %s (a library in lib/) and %s (requires it)%n",
                cycles, greetingJar.getFileName(), welcomeJar.getFileName());
        out.println("agent: " + (ReleaseGuard.agentActive() ? "attached (version " + ReleaseGuard.agentVersion()
                + "), every entry into the plugins guarded" : "NOT attached: unguarded unloads"));
        Plugin greeting;
        Plugin welcome;
        try {
            greeting = loader.load(greetingJar);
        } catch (PluginLoadException e) {
            throw new UsageException("--greeting " + greetingJar + " cannot be loaded: " + TargetJvm.oneLine(e));
        }
        try {
            welcome = loader.load(welcomeJar);
        } catch (PluginLoadException e) {
            loader.close();
            throw new UsageException("--welcome " + welcomeJar + " cannot be loaded: " + TargetJvm.oneLine(e));
        }
        int failures = 0;
        out.println("loaded " + describe(greeting) + ": exports " + String.join(", ", greeting.exports()));
        out.println("loaded " + describe(welcome) + ": requires " + dependencies(welcome));
        String said = current.get().get();
        out.println("welcome says: " + said);
        boolean libraryInside = said.endsWith("its library from " + greeting.classLoaderName());
        out.println("greeting's library (lib/textlib-sample.jar) is defined by greeting's own class loader: "
                + (libraryInside ? "yes" : "NO"));
        failures += libraryInside ? 0 : 1;
        boolean refused;
        try {
            loader.unload(greeting, timeout);
            refused = false;
            out.println("unloading greeting alone: NOT refused (a failure: welcome depends on it)");
        } catch (IllegalStateException e) {
            refused = true;
            out.println("unloading greeting alone: refused, as it must be: " + e.getMessage());
        }
        failures += refused ? 0 : 1;

        // Each welcome generation has two host threads of its own that call it (a host's request
        // threads for that generation) until it refuses a call because it is unloading; then they
        // end. A thread that ended holds nothing. One thread looping over every generation would
        // not do: the JIT compiles its loop once (on-stack replacement) with old generations'
        // code inlined, and HotSpot keeps the classes of code inlined into a running compiled
        // frame alive for as long as that frame runs, so old generations would never be
        // collected although no object of theirs is reachable (docs/troubleshooting.md).
        Callers callers = new Callers();
        List<Thread> running = callers.start(current.get(), welcome.generation());
        int unloads = 0;
        int collected = 0;
        int timeouts = 0;
        int loadFailures = 0;
        try {
            for (int cycle = 1; cycle <= cycles; cycle++) {
                Plugin nextGreeting;
                Plugin nextWelcome;
                try {
                    nextGreeting = loader.load(greetingJar, LoadOption.ALONGSIDE_LOADED_GENERATIONS);
                    nextWelcome = loader.load(welcomeJar, LoadOption.ALONGSIDE_LOADED_GENERATIONS); // the host calls it from now on
                } catch (PluginLoadException e) {
                    loadFailures++;
                    out.printf(Locale.ROOT, "[%3d/%d] load failed: %s%n", cycle, cycles, e.getMessage());
                    break;
                }
                List<Thread> next = callers.start(current.get(), nextWelcome.generation());
                List<UnloadReport> reports;
                try {
                    reports = loader.unloadWithDependents(greeting, timeout);
                } catch (UnloadTimeoutException e) {
                    timeouts++;
                    out.printf(Locale.ROOT, "[%3d/%d] %s%n", cycle, cycles, e.getMessage());
                    break;
                } finally {
                    callers.join(running, timeout);  // refused by the generation they called: ended
                    running = next;
                }
                List<String> done = new ArrayList<>();
                for (UnloadReport r : reports) {
                    unloads++;
                    collected += r.collected() ? 1 : 0;
                    done.add(r.pluginId() + " gen " + r.generation() + " " + r.outcome() + " (barrier " + r.barrier() + ")");
                }
                if (!quiet) {
                    out.printf(Locale.ROOT, "[%3d/%d] %s and %s live; cascade unloaded %s%n", cycle, cycles,
                            shortName(nextGreeting), shortName(nextWelcome), String.join(", then ", done));
                }
                greeting = nextGreeting;
                welcome = nextWelcome;
            }
        } finally {
            callers.stop.set(true);
            callers.join(running, timeout);
        }
        current.set(null);
        for (UnloadReport r : loader.unloadWithDependents(greeting, timeout)) {
            unloads++;
            collected += r.collected() ? 1 : 0;
        }
        long late = loader.lateAccesses();
        loader.close(); // nothing is loaded any more: unregisters the MBeans, removes the copies' folder
        failures += timeouts + loadFailures + (unloads - collected)
                + (int) Math.min(Integer.MAX_VALUE, callers.ncdfe.get() + callers.otherErrors.get() + late);

        out.println();
        out.println("unloadguard demo --dependencies report");
        out.printf(Locale.ROOT, "  reload cycles:               %d%n", cycles);
        out.printf(Locale.ROOT, "  calls through welcome:       %d answered, %d refused at the call while unloading%n",
                callers.answered.get(), callers.refused.get());
        out.printf(Locale.ROOT, "  unloads (one per plugin):    %d, dependents first%n", unloads);
        out.printf(Locale.ROOT, "  loaders collected:           %d of %d%n", collected, unloads);
        out.printf(Locale.ROOT, "  late accesses:               %d%n", late);
        out.printf(Locale.ROOT, "  NoClassDefFoundError:        %d%n", callers.ncdfe.get());
        out.printf(Locale.ROOT, "  failures:                    %d%n", failures);
        if (failures > 0) {
            out.printf(Locale.ROOT, "    unload timeouts: %d, load failures: %d, not collected: %d, other errors: %d%n",
                    timeouts, loadFailures, unloads - collected, callers.otherErrors.get());
            Throwable first = callers.firstError.get();
            if (first != null) {
                out.println("    first caller error: " + first);
            }
        }
        return failures == 0 ? 0 : 1;
    }

    /** The host threads that call welcome generations, and what their calls did. */
    private static final class Callers {
        private static final MethodHandle SUPPLIER_GET = supplierGet();
        final AtomicBoolean stop = new AtomicBoolean();
        final AtomicLong answered = new AtomicLong();
        final AtomicLong refused = new AtomicLong();
        final AtomicLong ncdfe = new AtomicLong();
        final AtomicLong otherErrors = new AtomicLong();
        final AtomicReference<Throwable> firstError = new AtomicReference<>();

        /**
         * Two threads that call {@code welcome} until it refuses a call (its generation is
         * unloading) or the demo ends. Their task holds the welcome through a reference the
         * thread clears as it ends: from JDK 19 on, a {@code Thread} keeps its task after it
         * ended, and the demo holds these threads until after the unload's collection check.
         */
        List<Thread> start(Supplier<String> welcome, int generation) {
            List<Thread> threads = new ArrayList<>();
            for (int i = 0; i < 2; i++) {
                AtomicReference<Supplier<String>> target = new AtomicReference<>(welcome);
                Thread t = new Thread(() -> call(target), "demo-caller-gen" + generation + "-" + i);
                t.setDaemon(true);
                threads.add(t);
                t.start();
            }
            return threads;
        }

        private void call(AtomicReference<Supplier<String>> target) {
            try {
                call(target.get());
            } finally {
                target.set(null);                   // an ended thread keeps its task: not the generation
            }
        }

        private void call(Supplier<String> welcome) {
            // Through a method handle bound to this generation's welcome, not welcome.get(): this
            // loop is one compiled frame for as long as the thread runs, and a plain call site
            // shared by every generation's threads would make the JIT inline the generations it
            // profiled into it (docs/troubleshooting.md, "LEAKED, no suspects, no path in a heap
            // dump"); a call through a handle that is not a constant is never inlined.
            MethodHandle get = SUPPLIER_GET.bindTo(welcome);
            while (!stop.get()) {
                try {
                    Object unused = (Object) get.invokeExact();
                    answered.incrementAndGet();
                } catch (PluginUnloadedError e) {
                    refused.incrementAndGet();      // the generation is unloading: this thread's work is done
                    return;
                } catch (Throwable e) {
                    (e instanceof NoClassDefFoundError ? ncdfe : otherErrors).incrementAndGet();
                    firstError.compareAndSet(null, e);
                    return;
                }
            }
        }

        private static MethodHandle supplierGet() {
            try {
                return MethodHandles.publicLookup().findVirtual(Supplier.class, "get", MethodType.methodType(Object.class));
            } catch (ReflectiveOperationException e) {
                throw new AssertionError("Supplier.get is public", e);
            }
        }

        void join(List<Thread> threads, Duration timeout) throws InterruptedException {
            for (Thread t : threads) {
                t.join(timeout.toMillis());
            }
        }
    }

    private static String describe(Plugin p) {
        return "plugin " + p.id() + " generation " + p.generation() + " version " + p.version() + " from " + p.jar().getFileName();
    }

    private static String shortName(Plugin p) {
        return p.id() + " gen " + p.generation();
    }

    private static String dependencies(Plugin p) {
        List<String> out = new ArrayList<>();
        for (Plugin d : p.dependencies()) {
            out.add(d.id() + " generation " + d.generation() + " version " + d.version());
        }
        return String.join(", ", out);
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private static PluginLoader.Builder service(PluginLoader.Builder b, Class type, Object instance) {
        return b.service(type, instance);
    }
}
