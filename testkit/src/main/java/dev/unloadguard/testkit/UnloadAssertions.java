package dev.unloadguard.testkit;

import static org.awaitility.Awaitility.await;

import dev.unloadguard.loader.Plugin;
import dev.unloadguard.loader.PluginLoader;
import dev.unloadguard.loader.PluginState;
import dev.unloadguard.loader.UnloadReport;
import dev.unloadguard.loader.UnloadTimeoutException;
import java.lang.ref.PhantomReference;
import java.lang.ref.Reference;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.awaitility.core.ConditionTimeoutException;
import org.awaitility.core.TerminalFailureException;
import org.opentest4j.AssertionFailedError;

/**
 * Assertions for a host's own tests, in a JVM started with {@code -javaagent:unloadguard-agent.jar}:
 *
 * <pre> {@code
 * UnloadReport report = assertUnloadsCleanly(loader, plugin, Duration.ofSeconds(10));
 * assertCollected(new WeakReference<>(somePluginClass), Duration.ofSeconds(5));
 * assertStillWaiting(unloadRunningElsewhere, Duration.ofMillis(500));}</pre>
 *
 * Each failure is an {@link AssertionFailedError} whose message carries what unloadguard knows:
 * the timeout report (live devices, threads inside the release epoch with their stacks) or the
 * whole unload report (step times, barrier, outcome, release failures, leak suspects). A LEAKED
 * generation's failure, and an {@link #assertCollected} failure for a class loader or a class,
 * also carry the leak path: the shortest chain of strong references from a GC root to the class
 * loader, found in a heap dump of the test JVM taken at the failure and deleted afterwards
 * (unloadguard-leaks; {@code -Dunloadguard.testkit.leakPaths=false} turns it off). Waiting
 * is done with Awaitility on conditions; nothing here sleeps for a fixed time.
 */
public final class UnloadAssertions {

    /** GC nudges are bounded: at most one per poll, polls at least this far apart. */
    private static final Duration GC_POLL = Duration.ofMillis(50);

    private UnloadAssertions() {
    }

    /**
     * Runs an unload that returns an {@link UnloadReport}: a foreign host's sequence
     * ({@code () -> ForeignPluginLoaders.unload(...)}), an unload started on another thread
     * ({@code () -> future.get(30, SECONDS)}), or anything else.
     */
    @FunctionalInterface
    public interface Unload {
        UnloadReport run() throws Exception;
    }

    /**
     * Unloads {@code plugin} with {@link PluginLoader#unload(Plugin, Duration) loader.unload(plugin,
     * within)}, awaits its collection check ({@link Plugin#awaitCollectionCheck()}: at once, nudging
     * the GC, whether the loader checks asynchronously or not) and asserts it was clean: no
     * timeout, the class loader COLLECTED, no release callback threw, and the release callbacks
     * were guarded by the agent. {@code within} bounds the exit hook, the live-device drain and the
     * release barrier; the collection check has the loader's own bound
     * ({@code PluginLoader.Builder.collectionTimeout}, default 5 s).
     *
     * @return the report, for further checks ({@code report.barrierWaited()}, step times)
     * @throws AssertionFailedError whose message is the timeout report or the whole unload report
     */
    public static UnloadReport assertUnloadsCleanly(PluginLoader loader, Plugin plugin, Duration within) {
        Objects.requireNonNull(loader, "loader");
        Objects.requireNonNull(plugin, "plugin");
        Objects.requireNonNull(within, "within");
        String what = "plugin " + plugin.id() + " generation " + plugin.generation();
        return check(what, within, () -> {
            loader.unload(plugin, within);
            return plugin.awaitCollectionCheck(); // the final report: COLLECTED or LEAKED
        });
    }

    /**
     * Runs {@code unload} and asserts the report it returns is clean, as
     * {@link #assertUnloadsCleanly(PluginLoader, Plugin, Duration)} does. An
     * {@link UnloadTimeoutException} thrown by it, or by the task a {@link Future} ran, fails
     * with its report; anything else it throws fails naming it.
     */
    public static UnloadReport assertUnloadsCleanly(Unload unload) {
        Objects.requireNonNull(unload, "unload");
        return check(null, null, unload);
    }

    private static UnloadReport check(String what, Duration within, Unload unload) {
        UnloadReport report;
        try {
            report = unload.run();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionFailedError("interrupted while unloading " + (what == null ? "the plugin" : what), e);
        } catch (Exception e) {
            UnloadTimeoutException timeout = timeoutIn(e);
            if (timeout != null) {
                String name = what != null ? what : timeout.plugin() != null ? timeout.plugin().toString() : "the plugin";
                String bound = within == null ? "" : " within " + format(within);
                throw new AssertionFailedError(name + " did not unload" + bound + ":\n" + timeout.getMessage(), timeout);
            }
            throw new AssertionFailedError("unloading " + (what == null ? "the plugin" : what) + " threw " + e, e);
        }
        if (report == null) {
            throw new AssertionFailedError("the unload returned no report");
        }
        List<String> problems = new ArrayList<>();
        if (report.outcome() == PluginState.LEAKED) {
            problems.add("its class loader was not collected (LEAKED): see the leak suspects and the leak path below");
        } else if (report.outcome() != PluginState.COLLECTED) {
            problems.add("its collection was not checked (" + report.outcome() + "): build the loader with a non-zero "
                    + "collection timeout, and return the report of the check (plugin.awaitCollectionCheck(), or a loader "
                    + "built with awaitCollection(true))");
        }
        if (!report.releaseFailures().isEmpty()) {
            problems.add(report.releaseFailures().size() + " release callback(s) or action(s) threw");
        }
        if (!report.agentActive()) {
            problems.add("the unload was UNGUARDED: release callbacks ran outside the release epoch (start the test JVM "
                    + "with -javaagent:unloadguard-agent.jar)");
        }
        if (!problems.isEmpty()) {
            throw new AssertionFailedError("plugin " + report.pluginId()
                    + (report.generation() > 0 ? " generation " + report.generation() : "")
                    + " did not unload cleanly: " + String.join("; ", problems) + "\n" + report
                    + (report.outcome() == PluginState.LEAKED ? LeakPathsInFailures.forReport(report) : ""));
        }
        return report;
    }

    private static UnloadTimeoutException timeoutIn(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof UnloadTimeoutException) {
                return (UnloadTimeoutException) t;
            }
            if (!(t instanceof ExecutionException || t instanceof CompletionException || t == e)) {
                return null;
            }
        }
        return null;
    }

    /**
     * Asserts that the referent of {@code ref} (typically a plugin's class loader, a class or
     * an object of the plugin) becomes unreachable within {@code within}: polls with Awaitility,
     * nudging the GC with {@code System.gc()} at most once per poll. Hold the referent in no
     * local variable of the calling method (create the reference in a helper method, or from
     * something looked up), or the caller's own frame keeps it alive.
     *
     * @throws AssertionFailedError naming the referent and pointing to the unload report's leak
     *         suspects
     */
    public static void assertCollected(Reference<?> ref, Duration within) {
        Objects.requireNonNull(ref, "ref");
        Objects.requireNonNull(within, "within");
        AtomicInteger nudges = new AtomicInteger();
        try {
            await("collection of a weakly referenced object").atMost(within).pollDelay(Duration.ZERO)
                    .pollInterval(GC_POLL).until(() -> {
                        if (ref.refersTo(null)) {
                            return true;
                        }
                        System.gc();
                        nudges.incrementAndGet();
                        return ref.refersTo(null);
                    });
        } catch (ConditionTimeoutException e) {
            String loader = loaderNameOf(ref);
            String path = loader == null ? "" : LeakPathsInFailures.forLoader(loader);
            throw new AssertionFailedError("expected " + describe(ref) + " to be garbage collected within " + format(within)
                    + ", but it is still reachable after " + nudges.get() + " GC nudge(s). Something keeps it alive: "
                    + "if it is (or belongs to) an unloaded plugin, the unload report lists leak suspects (a host "
                    + "service, a thread, a cache holding a plugin object; printed when the outcome is LEAKED); "
                    + "otherwise take a heap dump (jcmd <pid> GC.heap_dump) and look for the paths to it" + path);
        }
    }

    /**
     * Asserts that {@code future} stays incomplete for the whole of {@code during} (Awaitility's
     * {@code during}): an unload that must keep waiting for a device or a release callback. Fails
     * as soon as it completes.
     *
     * @throws AssertionFailedError with what the future completed with (an unload report, a
     *         timeout report, an exception)
     */
    public static void assertStillWaiting(Future<?> future, Duration during) {
        Objects.requireNonNull(future, "future");
        Objects.requireNonNull(during, "during");
        long start = System.nanoTime();
        try {
            await("an operation that must keep waiting").during(during).atMost(during.plus(during).plusSeconds(1))
                    .pollInterval(Duration.ofMillis(10))
                    .failFast("the future completed", future::isDone)
                    .until(() -> !future.isDone());
        } catch (TerminalFailureException | ConditionTimeoutException e) {
            Duration after = Duration.ofNanos(System.nanoTime() - start);
            throw new AssertionFailedError("expected the future to stay incomplete (still waiting) for " + format(during) + ", but it completed after "
                    + format(after) + " " + outcome(future));
        }
    }

    private static String outcome(Future<?> future) {
        try {
            Object value = future.get();
            return "with:\n" + value;
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            return "by throwing:\n" + (cause instanceof UnloadTimeoutException ? cause.getMessage() : String.valueOf(cause));
        } catch (CancellationException e) {
            return "by being cancelled";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "(interrupted while reading its result)";
        }
    }

    /**
     * The name of the class loader the referent is, or whose class it is (its leak path is then
     * looked for), or {@code null} (unnamed, the JDK's, or not a loader or class).
     */
    private static String loaderNameOf(Reference<?> ref) {
        Object o = ref.get();
        ClassLoader cl = o instanceof ClassLoader ? (ClassLoader) o : o instanceof Class ? ((Class<?>) o).getClassLoader() : null;
        return cl == null || cl == ClassLoader.getSystemClassLoader() || cl == ClassLoader.getPlatformClassLoader() ? null : cl.getName();
    }

    /** Names a referent without calling its own {@code toString} (plugin code). */
    private static String describe(Reference<?> ref) {
        if (ref instanceof PhantomReference) {
            return "the referent of a phantom reference";
        }
        Object o = ref.get();
        if (o == null) {
            return "the referent (collected meanwhile)";
        }
        if (o instanceof ClassLoader) {
            ClassLoader cl = (ClassLoader) o;
            return "class loader " + (cl.getName() == null ? "" : "'" + cl.getName() + "' ") + "(" + cl.getClass().getName()
                    + "@" + Integer.toHexString(System.identityHashCode(cl)) + ")";
        }
        if (o instanceof Class) {
            Class<?> c = (Class<?>) o;
            ClassLoader cl = c.getClassLoader();
            return "class " + c.getName() + " (defined by " + (cl == null ? "the bootstrap loader"
                    : cl.getName() != null ? "'" + cl.getName() + "'" : cl.getClass().getName()) + ")";
        }
        return "an object of class " + o.getClass().getName() + "@" + Integer.toHexString(System.identityHashCode(o));
    }

    static String format(Duration d) {
        long ms = d.toMillis();
        return ms % 1000 == 0 && ms > 0 ? (ms / 1000) + " s" : ms + " ms";
    }
}
