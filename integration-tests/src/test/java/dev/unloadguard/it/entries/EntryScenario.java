package dev.unloadguard.it.entries;

import dev.unloadguard.epoch.ReleaseGuard;
import dev.unloadguard.loader.Plugin;
import dev.unloadguard.loader.PluginLoader;
import dev.unloadguard.loader.PluginState;
import dev.unloadguard.loader.UnloadReport;
import dev.unloadguard.loader.UnloadTimeoutException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;

/**
 * The entry-guard scenarios of {@code EntryGuardIT} with the host's calls on <em>virtual</em>
 * threads, run in a child JVM (JDK 21+, with the agent; {@code EntryGuardIT} runs it on Temurin
 * 25): a host call in flight inside the service plugin, parked on a gate (the virtual thread
 * unmounts), must keep the unload waiting, complete, and leave the generation collected; and a
 * virtual thread inside a plugin method the weaving missed ({@link ServicePlugins#auditJar()}) must
 * be found by the close audit, once parked (unmounted) and once spinning (mounted on its carrier),
 * with nothing closed and the retry succeeding. Conditions are waited for with bounded waits on
 * synchronizers or polls ({@link #until}); the child has no Awaitility.
 *
 * <p>Arguments {@code service=<jar> audit=<jar>}. Prints {@code key=value} lines the test judges:
 * {@code jvm}, {@code agent}, {@code virtual}, and per scenario ({@code inflight}, {@code parked},
 * {@code spinning}) what happened. Exit status 0 when every scenario ran, 1 on an unexpected
 * failure.
 */
public final class EntryScenario {

    private static final Duration LONG = Duration.ofSeconds(30);
    private static final Duration STILL_WAITING = Duration.ofMillis(500);

    private final Map<String, Path> jars;

    private EntryScenario(Map<String, Path> jars) {
        this.jars = jars;
    }

    public static void main(String[] args) {
        int status = 0;
        try {
            Map<String, Path> jars = new HashMap<>();
            for (String a : args) {
                int eq = a.indexOf('=');
                jars.put(a.substring(0, eq), Path.of(a.substring(eq + 1)));
            }
            print("jvm", System.getProperty("java.version") + " " + System.getProperty("java.vm.name"));
            print("agent", ReleaseGuard.agentActive());
            EntryScenario s = new EntryScenario(jars);
            s.inFlight();
            s.audit("parked", "hold-vp");
            s.audit("spinning", "spin-vs");
        } catch (Throwable t) {
            t.printStackTrace(System.out);
            status = 1;
        }
        System.out.flush();
        System.exit(status);
    }

    private static void print(String key, Object value) {
        System.out.println(key + "=" + String.valueOf(value).replace('\n', ' '));
    }

    /** A host call on a new virtual thread named {@code name}: the service is fetched at the call. */
    private static Thread virtualCall(EntryBus bus, String name, String request, AtomicReference<String> outcome) throws Exception {
        Runnable body = () -> {
            try {
                outcome.set("returned " + bus.kept("service", Service.class).handle(request));
            } catch (Throwable e) {
                outcome.set("threw " + e);
            }
        };
        Object builder = Thread.class.getMethod("ofVirtual").invoke(null);
        Class<?> builderType = Class.forName("java.lang.Thread$Builder");
        builder = builderType.getMethod("name", String.class).invoke(builder, name);
        Thread t = (Thread) builderType.getMethod("start", Runnable.class).invoke(builder, body);
        print("virtual", t.getClass().getName().contains("Virtual"));
        return t;
    }

    private static CompletableFuture<UnloadReport> unloadAsync(PluginLoader loader, Plugin plugin) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return loader.unload(plugin, LONG);
            } catch (UnloadTimeoutException | InterruptedException e) {
                throw new CompletionException(e);
            }
        }, task -> {
            Thread t = new Thread(task, "unloader");
            t.setDaemon(true);
            t.start();
        });
    }

    /** Polls a condition every millisecond, at most {@code bound}; returns whether it held. */
    private static boolean until(BooleanSupplier condition, Duration bound) {
        long deadline = System.nanoTime() + bound.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() - deadline > 0) {
                return false;
            }
            LockSupport.parkNanos(1_000_000L);
        }
        return true;
    }

    private static String join(Thread t, AtomicReference<String> outcome) throws InterruptedException {
        t.join(TimeUnit.SECONDS.toMillis(10));
        return t.isAlive() ? "still running" : outcome.get();
    }

    /** A host call in flight on a virtual thread, parked inside the service: waited for, completes, collected. */
    private void inFlight() throws Exception {
        EntryBus bus = new EntryBus().closeGate("hold-v");
        PluginLoader loader = PluginLoader.builder().service(EntryBus.class, bus).collectionTimeout(Duration.ofSeconds(10)).awaitCollection(true).build();
        Plugin plugin = loader.load(jars.get("service"));
        AtomicReference<String> outcome = new AtomicReference<>();
        Thread caller = virtualCall(bus, "v-caller", "hold-v", outcome);
        print("inflight.reached", bus.awaitEvent("reached hold-v", Duration.ofSeconds(10)));
        bus.forget();

        CompletableFuture<UnloadReport> unload = unloadAsync(loader, plugin);
        print("inflight.going", until(() -> plugin.state() != PluginState.LIVE, Duration.ofSeconds(10)));
        boolean waited;
        try {
            unload.get(STILL_WAITING.toMillis(), TimeUnit.MILLISECONDS);
            waited = false;
        } catch (TimeoutException e) {
            waited = true;
        } catch (ExecutionException e) {
            waited = false;
        }
        print("inflight.stillWaiting", waited && plugin.state() == PluginState.GOING && plugin.unloadedAt().isEmpty());
        print("inflight.stateWhileHeld", plugin.state());
        bus.openGate("hold-v");
        print("inflight.call", join(caller, outcome));
        try {
            UnloadReport r = unload.get(LONG.toSeconds(), TimeUnit.SECONDS);
            print("inflight.barrier", r.barrier());
            print("inflight.outcome", r.outcome());
        } catch (ExecutionException e) {
            print("inflight.barrier", "none");
            print("inflight.outcome", "threw " + e.getCause());
        }
        print("inflight.lateAccesses", plugin.lateAccesses());
    }

    /**
     * A virtual thread inside a plugin method the weaving missed, parked ({@code hold...}) or
     * spinning ({@code spin...}): the audit must find it, close nothing, and the retry succeed.
     */
    private void audit(String key, String request) throws Exception {
        EntryBus bus = new EntryBus().closeGate(request);
        PluginLoader loader = PluginLoader.builder().service(EntryBus.class, bus).collectionTimeout(Duration.ofSeconds(10)).awaitCollection(true).build();
        Plugin plugin = loader.load(jars.get("audit"));
        AtomicReference<String> outcome = new AtomicReference<>();
        String name = "v-audit-" + key;
        Thread caller = virtualCall(bus, name, request, outcome);
        print(key + ".reached", bus.awaitEvent("reached " + request, Duration.ofSeconds(10)));
        bus.forget();

        try {
            UnloadReport r = loader.unload(plugin, Duration.ofSeconds(2));
            print(key + ".unload", "completed " + r.outcome() + ", barrier " + r.barrier());
        } catch (UnloadTimeoutException e) {
            String m = e.getMessage();
            print(key + ".unload", e.getClass().getSimpleName() + " in " + e.step());
            print(key + ".namesThread", m.contains("\"" + name)); // "v-audit-parked (virtual)"
            print(key + ".namesFrame", m.contains("it.entries.audit.Unwoven.handle"));
            print(key + ".report", m);
        }
        print(key + ".state", plugin.state());
        print(key + ".closed", plugin.unloadedAt().isPresent());
        bus.openGate(request);
        bus.openSpin(request);
        print(key + ".call", join(caller, outcome));
        try {
            UnloadReport r = plugin.state() == PluginState.GOING ? loader.unload(plugin, LONG) : null;
            print(key + ".retry", r == null ? "none" : r.outcome());
        } catch (UnloadTimeoutException e) {
            print(key + ".retry", "timed out in " + e.step());
        }
    }
}
