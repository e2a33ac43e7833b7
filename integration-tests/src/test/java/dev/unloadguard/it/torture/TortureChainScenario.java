package dev.unloadguard.it.torture;

import dev.unloadguard.driver.PluginUnloadedError;
import dev.unloadguard.epoch.ReleaseGuard;
import dev.unloadguard.loader.LoadOption;
import dev.unloadguard.loader.Plugin;
import dev.unloadguard.loader.PluginLoader;
import dev.unloadguard.loader.UnloadReport;
import dev.unloadguard.loader.UnloadTimeoutException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

/**
 * The torture test's dependency chain, run in a forked JVM: plugin {@code chain-b} requires
 * {@code chain-a} and calls its export ({@link TortureChain}); host caller threads call through
 * chain-b into chain-a all the time, and run callbacks of chain-a's own code that chain-b handed
 * them (a while later, when chain-b may already be gone), while each cycle reloads the chain:
 * load a new generation of chain-a beside the old one, a new chain-b resolved against it (its
 * init makes it the callers' current service), then, after a random delay, unload the old
 * chain-a with the cascade ({@link PluginLoader#unloadWithDependents}): the old chain-b first,
 * then the old chain-a, each with the full protocol; once the cascade returned, each of the
 * two old generations must be collected ({@link Plugin#awaitCollectionCheck()}).
 *
 * <p>A caller keeps the service it read for a random number of calls (a host caching it), and
 * reads the current one again then or once a call was refused; it may take a chain-a callback,
 * hold it a random time, run it, and forget it. A call made while its generation is unloading or unloaded is refused at the call
 * ({@link PluginUnloadedError} "... refused: plugin ..."); code already inside when the unload
 * began is waited for; code that sees its driver's exit lingers, then loads a class nothing
 * loaded before, so a loader closed under it would fail with {@link NoClassDefFoundError} (or
 * the loader's late-access {@link PluginUnloadedError}).
 *
 * <p>Arguments, {@code key=value}: {@code a}, {@code b} (the two jars, required), {@code cycles}
 * (60), {@code seed} (random), {@code callers} (4), {@code parkMicros} (longest park inside
 * plugin code, 300), {@code holdMicros} (longest time a caller holds a callback before running it, 20000: longer than the old chain-b takes to unload and be collected, so callbacks of the old chain-a are still held and run while it unloads), {@code unloadDelayMicros} (longest delay
 * before the cascade, 3000), {@code guardA} (true; false loads chain-a guarding its release
 * paths only, so nothing waits for or refuses host calls into its callbacks), {@code closeAudit}
 * (true; false only with {@code guardA=false}, to show what then goes wrong).
 *
 * <p>Prints {@code key=value} lines: agent, cycles, calls (calls through chain-b that returned),
 * tails (chain-a callbacks run to their end), lateNotes (plugin code that saw its exit and ran to
 * its end), refused (calls and callbacks refused at the call), ncdfe, lateAccesses (the loader's
 * count of classes requested of a closed loader), otherErrors, timeouts, wrongOrder (cascades
 * whose reports were not the old chain-b then the old chain-a), notCollected, releaseFailures,
 * seed, elapsedMs, firstError. Exit status 0 when every cycle ran, 2 when a cascade failed,
 * 1 on an unexpected failure.
 */
public final class TortureChainScenario {

    private static final Duration UNLOAD_TIMEOUT = Duration.ofSeconds(30);

    private final Map<String, String> args;
    private final ChainBus bus = new ChainBus();
    private final AtomicLong calls = new AtomicLong();
    private final AtomicLong refused = new AtomicLong();
    private final AtomicLong ncdfe = new AtomicLong();
    private final AtomicLong otherErrors = new AtomicLong();
    private final AtomicReference<String> firstError = new AtomicReference<>();

    private TortureChainScenario(Map<String, String> args) {
        this.args = args;
    }

    public static void main(String[] argv) {
        Map<String, String> args = new HashMap<>();
        for (String a : argv) {
            int eq = a.indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException("argument '" + a + "' is not key=value");
            }
            args.put(a.substring(0, eq), a.substring(eq + 1));
        }
        int status;
        try {
            status = new TortureChainScenario(args).run();
        } catch (Throwable t) {
            t.printStackTrace(System.out);
            status = 1;
        }
        System.out.flush();
        System.exit(status);
    }

    private int run() throws Exception {
        Path a = Path.of(required("a"));
        Path b = Path.of(required("b"));
        int cycles = Integer.parseInt(args.getOrDefault("cycles", "60"));
        long seed = Long.parseLong(args.getOrDefault("seed", Long.toString(System.nanoTime())));
        int callerCount = Integer.parseInt(args.getOrDefault("callers", "4"));
        long parkNanos = TimeUnit.MICROSECONDS.toNanos(Long.parseLong(args.getOrDefault("parkMicros", "300")));
        long holdNanos = TimeUnit.MICROSECONDS.toNanos(Long.parseLong(args.getOrDefault("holdMicros", "20000")));
        long unloadDelayNanos = TimeUnit.MICROSECONDS.toNanos(Long.parseLong(args.getOrDefault("unloadDelayMicros", "3000")));
        boolean guardA = Boolean.parseBoolean(args.getOrDefault("guardA", "true"));
        boolean closeAudit = Boolean.parseBoolean(args.getOrDefault("closeAudit", "true"));
        LoadOption[] aOptions = guardA ? new LoadOption[] {LoadOption.ALONGSIDE_LOADED_GENERATIONS}
                : new LoadOption[] {LoadOption.ALONGSIDE_LOADED_GENERATIONS, LoadOption.GUARD_RELEASE_PATHS_ONLY};
        boolean agent = ReleaseGuard.agentActive();

        PluginLoader loader = PluginLoader.builder()
                .service(ChainBus.class, bus)
                .allowUnguardedUnload(!agent)
                .closeAudit(closeAudit)
                .collectionTimeout(Duration.ofSeconds(10))
                .build(); // unloads return at the close: the cascade goes on to chain-a at once, checked for collection after it

        long start = System.nanoTime();
        int done = 0;
        int timeouts = 0;
        int wrongOrder = 0;
        int notCollected = 0;
        int releaseFailures = 0;
        int status = 0;
        AtomicBoolean stop = new AtomicBoolean();
        SplittableRandom root = new SplittableRandom(seed);
        Plugin oldA = loader.load(a, aOptions);
        Plugin oldB = loader.load(b, LoadOption.ALONGSIDE_LOADED_GENERATIONS);
        List<Thread> callers = new ArrayList<>();
        for (int i = 0; i < callerCount; i++) {
            SplittableRandom rnd = root.split();
            Thread t = new Thread(() -> call(rnd, parkNanos, holdNanos, stop), "chain-caller-" + i);
            t.setDaemon(true);
            callers.add(t);
        }
        callers.forEach(Thread::start);
        try {
            for (int c = 1; c <= cycles; c++) {
                Plugin nextA = loader.load(a, aOptions);
                Plugin nextB = loader.load(b, LoadOption.ALONGSIDE_LOADED_GENERATIONS); // offers its service: the callers switch
                if (!nextB.dependencies().equals(List.of(nextA))) {
                    throw new IllegalStateException(nextB + " resolved against " + nextB.dependencies() + ", not " + nextA);
                }
                LockSupport.parkNanos(root.nextLong(unloadDelayNanos + 1));
                List<UnloadReport> reports;
                try {
                    reports = loader.unloadWithDependents(oldA, UNLOAD_TIMEOUT);
                } catch (UnloadTimeoutException e) {
                    timeouts++;
                    error("cycle " + c + ": " + e.getMessage().replace('\n', ' '));
                    status = 2;
                    break;
                }
                if (reports.size() != 2 || !reports.get(0).pluginId().equals(TortureChain.B_ID)
                        || reports.get(0).generation() != oldB.generation()
                        || !reports.get(1).pluginId().equals(TortureChain.A_ID) || reports.get(1).generation() != oldA.generation()) {
                    wrongOrder++;
                    error("cycle " + c + ": the cascade unloaded " + reports.stream().map(r -> r.pluginId() + "#" + r.generation()).toList()
                            + ", not " + oldB + " then " + oldA);
                }
                for (Plugin p : List.of(oldB, oldA)) {
                    UnloadReport r = p.awaitCollectionCheck(); // nudges the GC until collected, or the deadline passed
                    if (!r.collected()) {
                        notCollected++;
                        error("cycle " + c + ": " + r.summary());
                    }
                    for (String f : r.releaseFailures()) {
                        releaseFailures++;
                        error("cycle " + c + ": release failure: " + f);
                    }
                }
                oldA = nextA;
                oldB = nextB;
                done++;
            }
        } finally {
            stop.set(true);
            for (Thread t : callers) {
                t.join(TimeUnit.SECONDS.toMillis(60));
                if (t.isAlive()) {
                    error("caller " + t.getName() + " still runs: " + java.util.Arrays.toString(t.getStackTrace()));
                    status = 2;
                }
            }
        }
        bus.clear();
        if (status == 0) {
            loader.unloadWithDependents(oldA, UNLOAD_TIMEOUT);
            for (Plugin p : List.of(oldB, oldA)) {
                UnloadReport r = p.awaitCollectionCheck();
                if (!r.collected()) {
                    notCollected++;
                    error("final cascade: " + r.summary());
                }
            }
        }
        Map<String, Object> out = new java.util.LinkedHashMap<>();
        out.put("agent", agent);
        out.put("guardA", guardA);
        out.put("cycles", done);
        out.put("calls", calls.get());
        out.put("tails", ChainBus.tails());
        out.put("lateNotes", ChainBus.lateNotes());
        out.put("refused", refused.get());
        out.put("ncdfe", ncdfe.get());
        out.put("lateAccesses", loader.lateAccesses());
        out.put("otherErrors", otherErrors.get());
        out.put("timeouts", timeouts);
        out.put("wrongOrder", wrongOrder);
        out.put("notCollected", notCollected);
        out.put("releaseFailures", releaseFailures);
        out.put("loadersNotCollected", loader.classLoadersNotCollected());
        out.put("seed", seed);
        out.put("jvm", TortureScenario.jvm());
        out.put("elapsedMs", TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start));
        out.put("firstError", firstError.get() == null ? "none" : firstError.get());
        out.forEach((k, v) -> System.out.println(k + "=" + v));
        return status;
    }

    /**
     * A host caller: through chain-b into chain-a, and chain-a's callbacks a while later. It keeps
     * the service it read for a random number of calls (as a host caching it would), and reads the
     * current one again after that or once a call was refused.
     */
    private void call(SplittableRandom rnd, long parkNanos, long holdNanos, AtomicBoolean stop) {
        ChainBus.Service service = null;
        int uses = 0;
        for (long seq = 1; !stop.get(); seq++) {
            if (service == null || uses-- <= 0) {
                service = bus.current();
                uses = rnd.nextInt(32);
            }
            try {
                if (rnd.nextInt(3) == 0) {
                    Runnable tail = service.tail(seq, rnd.nextLong(parkNanos + 1));
                    LockSupport.parkNanos(rnd.nextLong(holdNanos + 1)); // the chain may be unloading meanwhile
                    tail.run();
                } else {
                    service.call(seq, rnd.nextLong(parkNanos + 1));
                    calls.incrementAndGet();
                }
            } catch (Throwable t) {
                service = null;
                if (t instanceof PluginUnloadedError && String.valueOf(t.getMessage()).contains(" refused: plugin ")) {
                    refused.incrementAndGet();
                } else {
                    (t instanceof NoClassDefFoundError ? ncdfe : otherErrors).incrementAndGet();
                    error(Thread.currentThread().getName() + ": " + describe(t));
                }
            }
        }
    }

    private void error(String s) {
        firstError.compareAndSet(null, s);
    }

    private String required(String key) {
        String v = args.get(key);
        if (v == null) {
            throw new IllegalArgumentException(key + "=<jar> is required");
        }
        return v;
    }

    private static String describe(Throwable t) {
        StringBuilder sb = new StringBuilder(String.valueOf(t));
        StackTraceElement[] st = t.getStackTrace();
        for (int i = 0; i < Math.min(st.length, 8); i++) {
            sb.append(" <- ").append(st[i]);
        }
        return sb.toString();
    }
}
