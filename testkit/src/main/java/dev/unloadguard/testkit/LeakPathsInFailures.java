package dev.unloadguard.testkit;

import dev.unloadguard.leaks.LeakAnalysis;
import dev.unloadguard.leaks.LeakPaths;
import dev.unloadguard.leaks.LeakedLoader;
import dev.unloadguard.loader.UnloadReport;
import java.io.IOException;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;

/**
 * The leak path a failure message carries: a heap dump of the test JVM taken at the failure,
 * searched for the shortest chain of strong references to the leaked class loader, then deleted.
 * On unless the system property {@value #PROPERTY} is {@code false}. The test thread's stack
 * counts as a root (the dump is taken on a thread of its own).
 */
final class LeakPathsInFailures {

    /** {@code -Dunloadguard.testkit.leakPaths=false} turns the heap dump at a leak failure off. */
    static final String PROPERTY = "unloadguard.testkit.leakPaths";

    private LeakPathsInFailures() {
    }

    static boolean on() {
        return !"false".equalsIgnoreCase(System.getProperty(PROPERTY, "true"));
    }

    /**
     * The path of a LEAKED report's generation, as a paragraph to append ("" when turned off, or
     * when the host's own leak explainer already put one in the report).
     */
    static String forReport(UnloadReport report) {
        if (!on() || report.leakSuspects().stream().anyMatch(s -> s.startsWith("leak path:"))) {
            return "";
        }
        return find(Set.of(), a -> a.generation(report.pluginId(), report.generation()),
                "plugin " + report.pluginId() + " generation " + report.generation());
    }

    /** The path of the class loader named {@code loaderName} (or the one defining a class), "" when off. */
    static String forLoader(String loaderName) {
        if (!on() || loaderName == null) {
            return "";
        }
        return find(Set.of(loaderName), a -> a.loader(loaderName), "class loader '" + loaderName + "'");
    }

    /**
     * Dumps and searches on a thread of its own: the dumping thread's frames are not roots (they
     * hold what it asks about), but the test thread's are, and a test's local variable or the
     * test instance is often what holds the plugin.
     */
    private static LeakAnalysis onItsOwnThread(Set<String> names) throws IOException, InterruptedException {
        java.util.concurrent.FutureTask<LeakAnalysis> task = new java.util.concurrent.FutureTask<>(() -> LeakPaths.inThisJvm(names, null));
        Thread t = new Thread(task, "unloadguard-leak-path");
        t.setDaemon(true);
        t.start();
        try {
            return task.get();
        } catch (java.util.concurrent.ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof IOException) {
                throw (IOException) cause;
            }
            if (cause instanceof RuntimeException) {
                throw (RuntimeException) cause;
            }
            if (cause instanceof Error) {
                throw (Error) cause;
            }
            throw new IllegalStateException(cause);
        }
    }

    private static String find(Set<String> names, Function<LeakAnalysis, Optional<LeakedLoader>> pick, String what) {
        try {
            LeakAnalysis a = onItsOwnThread(names);
            String how = " (from a heap dump of this JVM: " + a.dumpTime().toMillis() + " ms to take, "
                    + a.analysisTime().toMillis() + " ms to read; -D" + PROPERTY + "=false turns it off)";
            return pick.apply(a).map(l -> l.reachable()
                            ? "\nleak path" + how + ":\n  " + String.join("\n  → ", l.path())
                            : "\nleak path" + how + ": " + l.pathLine())
                    .orElse("\nleak path" + how + ": " + what + " is not in the heap dump (collected meanwhile)");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "\nleak path: not searched (interrupted)";
        } catch (IOException | RuntimeException | LinkageError e) {
            return "\nleak path: could not be found (" + e + "); take a heap dump (jcmd <pid> GC.heap_dump FILE.hprof) "
                    + "and run 'unloadguard analyze FILE.hprof'";
        }
    }
}
