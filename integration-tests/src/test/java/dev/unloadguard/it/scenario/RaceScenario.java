package dev.unloadguard.it.scenario;

import dev.unloadguard.loader.Plugin;
import dev.unloadguard.loader.PluginLoader;
import dev.unloadguard.driver.PluginUnloadedError;
import dev.unloadguard.sample.helper.PagemapCache;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The reproducer, run in a forked JVM with or without {@code -javaagent}: the reference scenario
 * with nothing slowed down or gated. Each attempt loads the driver (one card, its pagemaps held
 * by the helper), has the helper drop them from its worker thread while the host unloads at the
 * same moment, and counts the release callbacks that failed — the tail that dropped the card's
 * last reference loads a class from the plugin's loader, so an unload that closes the loader
 * before that tail returns makes it fail. Any failure of the tail counts: the loader should turn
 * every such late access into a {@link PluginUnloadedError}, but a closed {@code URLClassLoader}
 * can also surface as {@code IllegalStateException: zip file closed} or {@code
 * NullPointerException: Inflater has been closed}, depending on where the close catches the tail.
 *
 * <p>The loader's close audit (step 5) runs with or without the agent unless turned off: when the
 * barrier did not wait for the tail, the audit's first scan finds its frame and holds the close
 * until the tail returned ({@code auditFrames}, summed over the attempts).
 *
 * <p>Arguments: driver jar, attempts, {@code stop-at-first-failure} (a failure, or a frame the
 * audit found) or {@code all}, optionally {@code closeAudit=false} (the loader's close audit off:
 * the reproducer of closing under the tail without any safety). Prints {@code key=value} lines: agent, attempts, failures,
 * auditFrames, pluginUnloadedErrors, lateAccesses (the
 * loader's count), failureClasses (each class with its count), first.CLASS (the first failure
 * of each class), firstFailure.
 */
public final class RaceScenario {

    public static void main(String[] args) throws Exception {
        Path driverJar = Path.of(args[0]);
        int attempts = Integer.parseInt(args[1]);
        boolean stopAtFirst = args[2].equals("stop-at-first-failure");
        boolean closeAudit = !(args.length > 3 && args[3].equals("closeAudit=false"));
        int failures = 0;
        int pluginUnloaded = 0;
        int done = 0;
        long auditFrames = 0;
        long lateAccesses;
        Map<String, Integer> failureClasses = new LinkedHashMap<>();
        Map<String, String> firstOfEachClass = new LinkedHashMap<>();
        Throwable first = null;
        try (PagemapCache cache = new PagemapCache("pagemap-cache-worker")) {
            PluginLoader loader = PluginLoader.builder()
                    .service(PagemapCache.class, cache)
                    .config("xe.devices", "1")
                    .config("xe.pagemaps", "2")
                    .config("xe.pages", "65536")
                    .allowUnguardedUnload(true)
                    .closeAudit(closeAudit)
                    .collectionTimeout(Duration.ZERO)
                    .awaitCollection(true).build();
            for (int i = 0; i < attempts; i++) {
                int before = cache.failures().size();
                Plugin plugin = loader.load(driverJar);
                cache.dropAllLater();
                auditFrames += loader.unload(plugin, Duration.ofSeconds(30)).audit().framesFound();
                while (!cache.idle()) {
                    Thread.onSpinWait();
                }
                done++;
                List<Throwable> now = cache.failures();
                for (Throwable t : now.subList(before, now.size())) {
                    failures++;
                    pluginUnloaded += t instanceof PluginUnloadedError ? 1 : 0;
                    failureClasses.merge(t.getClass().getName(), 1, Integer::sum);
                    firstOfEachClass.putIfAbsent(t.getClass().getName(), String.valueOf(t).replace('\n', ' '));
                    if (first == null) {
                        first = t;
                    }
                }
                if ((failures > 0 || auditFrames > 0) && stopAtFirst) {
                    break;
                }
                if (i % 50 == 49) {
                    System.gc(); // drop finished generations (no failure: nothing pins them)
                }
            }
            System.out.println("agent=" + loader.agentActive());
            lateAccesses = loader.lateAccesses();
        }
        System.out.println("attempts=" + done);
        System.out.println("failures=" + failures);
        System.out.println("auditFrames=" + auditFrames);
        System.out.println("pluginUnloadedErrors=" + pluginUnloaded);
        System.out.println("lateAccesses=" + lateAccesses);
        StringBuilder classes = new StringBuilder();
        failureClasses.forEach((c, n) -> classes.append(classes.length() == 0 ? "" : ", ").append(c).append(" x").append(n));
        System.out.println("failureClasses=" + classes);
        firstOfEachClass.forEach((c, f) -> System.out.println("first." + c + "=" + f));
        System.out.println("firstFailure=" + first);
        System.out.flush();
        System.exit(0);
    }
}
