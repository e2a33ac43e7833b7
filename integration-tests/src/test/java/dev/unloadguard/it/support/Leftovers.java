package dev.unloadguard.it.support;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.unloadguard.loader.PluginLoader;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * What a plugin load or unload may leave behind, checked from the host: class loaders not yet
 * collected (after bounded {@code System.gc()} nudges), private jar copies, and threads that
 * belong to a plugin (its context class loader, its class, or plugin code on its stack).
 */
public final class Leftovers {

    private Leftovers() {
    }

    /** The live threads now: take it before a test, pass it to {@link #assertNothingLeftBehind}. */
    public static Set<Thread> threads() {
        return Set.copyOf(Thread.getAllStackTraces().keySet());
    }

    /** Waits (bounded GC nudges) until every class loader {@code loader} made is collected. */
    public static void awaitLoadersCollected(PluginLoader loader) {
        await("every class loader the PluginLoader made is collected").atMost(Duration.ofSeconds(15))
                .pollInterval(Duration.ofMillis(50))
                .until(() -> {
                    System.gc();
                    return loader.classLoadersNotCollected() == 0;
                });
    }

    /**
     * No class loader left uncollected, no private jar copy left but those kept for reuse
     * ({@link PluginLoader#keptCopies()}), no new live thread that is the plugin's.
     */
    public static void assertNothingLeftBehind(PluginLoader loader, Set<Thread> threadsBefore) throws IOException {
        awaitLoadersCollected(loader);
        Path copies = loader.copyDirectory();
        try (Stream<Path> files = Files.list(copies)) {
            List<Path> left = files.sorted().collect(Collectors.toList());
            // A jar's copy no generation uses is kept for the next load of the same content (at most one
            // per plugin path, deleted at close): anything else would be a generation's, left behind.
            assertEquals(loader.keptCopies(), left, "private jar copies left behind in " + copies
                    + " (only the copies kept for reuse may stay: " + loader.keptCopies() + ")");
        }
        List<String> pluginThreads = Thread.getAllStackTraces().entrySet().stream()
                .filter(e -> !threadsBefore.contains(e.getKey()) && e.getKey().isAlive())
                .filter(e -> isPluginLoader(e.getKey().getContextClassLoader())
                        || isPluginLoader(e.getKey().getClass().getClassLoader())
                        || Stream.of(e.getValue()).anyMatch(f -> f.getClassLoaderName() != null
                                && f.getClassLoaderName().startsWith("plugin:")))
                .map(e -> e.getKey().getName())
                .collect(Collectors.toList());
        assertEquals(List.of(), pluginThreads, "threads of a plugin left running");
    }

    private static boolean isPluginLoader(ClassLoader cl) {
        return cl != null && cl.getName() != null && cl.getName().startsWith("plugin:");
    }

    /** Interrupts every live thread whose name starts with {@code prefix} and waits for it to end. */
    public static void stopThreads(String prefix) throws InterruptedException {
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.getName().startsWith(prefix)) {
                t.interrupt();
                t.join(10_000);
                if (t.isAlive()) {
                    throw new AssertionError("thread " + t.getName() + " did not stop within 10 s");
                }
            }
        }
    }
}
