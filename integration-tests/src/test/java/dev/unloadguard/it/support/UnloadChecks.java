package dev.unloadguard.it.support;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.fail;

import dev.unloadguard.loader.Plugin;
import dev.unloadguard.loader.PluginLoader;
import dev.unloadguard.loader.PluginState;
import dev.unloadguard.loader.UnloadReport;
import dev.unloadguard.loader.UnloadTimeoutException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import org.awaitility.core.ConditionTimeoutException;
import org.awaitility.core.TerminalFailureException;

/** What the in-JVM unload tests check about a plugin's events and an unload: waits, assertions, outcomes. */
public final class UnloadChecks {

    private UnloadChecks() {
    }

    /** Waits (at most 10 s) until plugin code recorded {@code event} on {@code bus}. */
    public static void awaitEvent(GatedRecorder bus, String event) {
        await("plugin event '" + event + "'; events so far: " + bus.events()).atMost(Duration.ofSeconds(10))
                .until(() -> bus.saw(event));
    }

    /**
     * Asserts the unload keeps waiting for the whole of {@code during}: not completed, the
     * plugin's class loader not closed. Fails as soon as either happens (the loader is closed
     * before the collection check starts, so this does not wait for that check).
     */
    public static void assertUnloadStillWaiting(CompletableFuture<UnloadReport> unload, Plugin plugin, Duration during, String why) {
        assertStillWaiting(unload, plugin, during, why, false);
    }

    /** As {@link #assertUnloadStillWaiting}, and the plugin stays GOING all the while. */
    public static void assertUnloadStillWaitingGoing(CompletableFuture<UnloadReport> unload, Plugin plugin, Duration during, String why) {
        assertStillWaiting(unload, plugin, during, why, true);
    }

    private static void assertStillWaiting(CompletableFuture<UnloadReport> unload, Plugin plugin, Duration during, String why,
            boolean staysGoing) {
        try {
            await(why).during(during).atMost(during.multipliedBy(2).plusSeconds(1)).pollInterval(Duration.ofMillis(10))
                    .failFast(staysGoing ? "the unload completed, left GOING or closed the plugin's class loader"
                            : "the unload completed or closed the plugin's class loader",
                            () -> unload.isDone() || (staysGoing && plugin.state() != PluginState.GOING) || plugin.unloadedAt().isPresent())
                    .until(() -> !unload.isDone() && (!staysGoing || plugin.state() == PluginState.GOING) && plugin.unloadedAt().isEmpty());
        } catch (ConditionTimeoutException | TerminalFailureException e) {
            fail(why + "; but the unload did not wait: " + plugin + ", class loader closed at " + plugin.unloadedAt().orElse(null)
                    + ", unload " + describe(unload, plugin));
        }
    }

    private static String describe(CompletableFuture<UnloadReport> unload, Plugin plugin) {
        if (!unload.isDone()) {
            return plugin.unloadedAt().isPresent() ? "still running (its collection check)" : "still running";
        }
        try {
            return "completed with:\n" + unload.get();
        } catch (ExecutionException e) {
            return "threw:\n" + e.getCause();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "(interrupted)";
        }
    }

    /** What {@code loader.unload(plugin, timeout)} ended with: its report, or what it threw. */
    public static Object unloadOutcome(PluginLoader loader, Plugin plugin, Duration timeout) throws InterruptedException {
        try {
            return loader.unload(plugin, timeout);
        } catch (UnloadTimeoutException | RuntimeException e) {
            return e;
        }
    }

    /** Unloads whatever a failed test left loaded, quietly (cleanup: the test's own failure is what counts). */
    public static void unloadLeftovers(List<PluginLoader> loaders) {
        for (PluginLoader loader : loaders) {
            for (Plugin p : loader.plugins()) {
                try {
                    loader.unload(p, Duration.ofSeconds(10));
                } catch (Exception | Error e) {
                    System.err.println("cleanup: could not unload " + p + ": " + e);
                }
            }
        }
    }

    /** An outcome for a failure message: a throwable's class and message, a report as it prints. */
    public static String show(Object outcome) {
        return outcome instanceof Throwable ? outcome.getClass().getName() + ": " + ((Throwable) outcome).getMessage()
                : String.valueOf(outcome);
    }
}
