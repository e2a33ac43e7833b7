package dev.unloadguard.leaks;

import dev.unloadguard.leaks.internal.HeapDumps;
import dev.unloadguard.leaks.internal.HeapPaths;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * Names what keeps leaked plugin generations alive: the shortest chain of strong references from
 * a GC root to each class loader that should have been collected, read from a heap dump.
 *
 * <pre> {@code
 * LeakAnalysis a = LeakPaths.analyze(Path.of("host.hprof"));   // a dump you took
 * LeakAnalysis b = LeakPaths.inThisJvm();                         // dumps this JVM, then deletes the dump
 * b.leaked().forEach(System.out::println);}</pre>
 *
 * In a dump, the loaders looked for are every unloaded unloadguard plugin class loader (closed by
 * an unload: its generation is UNLOADED, LEAKED, or garbage not collected yet) and, if asked, the
 * class loaders of the given names (a foreign host's). References held by
 * {@link java.lang.ref.Reference}s (weak, soft, phantom, finalizer) are not strong and are never
 * part of a path. The paths are shortest in number of references, not the only ones: cut the one
 * reported, and the next analysis names the next path if there is one.
 *
 * <p>Taking a dump pauses the JVM (a full GC, then the dump: 0.3 to 0.4 s with 100 MB live, about
 * 5 s with 1 GB, on the 2-core machine of docs/performance.md) and writes a file as large as the
 * live heap; reading it takes longer than taking it. For tests and diagnosis, not for every unload
 * of a busy host.
 */
public final class LeakPaths {

    private static final System.Logger LOG = System.getLogger("dev.unloadguard.leaks");

    private LeakPaths() {
    }

    /** Analyses {@code hprof} for every unloaded plugin generation's class loader. */
    public static LeakAnalysis analyze(Path hprof) throws IOException {
        return analyze(hprof, Set.of());
    }

    /**
     * Analyses {@code hprof} for every unloaded plugin generation's class loader and for the
     * class loaders named {@code loaderNames}.
     *
     * @throws java.nio.file.NoSuchFileException if there is no such file
     * @throws IOException naming the file if it is not an uncompressed JVM heap dump
     */
    public static LeakAnalysis analyze(Path hprof, Set<String> loaderNames) throws IOException {
        Objects.requireNonNull(hprof, "hprof");
        long start = System.nanoTime();
        HeapPaths.Result r = HeapPaths.analyze(hprof, loaderNames, Set.of());
        return new LeakAnalysis(hprof, convert(r), r.objects(), Duration.ZERO, Duration.ofNanos(System.nanoTime() - start), true);
    }

    /** Dumps this JVM's live heap, analyses it for every unloaded plugin generation, deletes the dump. */
    public static LeakAnalysis inThisJvm() throws IOException {
        return inThisJvm(Set.of(), null);
    }

    /**
     * Dumps this JVM's live heap (a full GC first), analyses it for every unloaded plugin
     * generation's class loader and for the class loaders named {@code loaderNames}, and deletes
     * the dump unless {@code keepAs} names where to keep it. The calling thread's own stack is
     * not a root: it may hold the loader it asks about while it asks.
     *
     * @param keepAs a new {@code .hprof} file to keep the dump in, or {@code null} to delete it
     */
    public static LeakAnalysis inThisJvm(Set<String> loaderNames, Path keepAs) throws IOException {
        Path file = keepAs != null ? keepAs : HeapDumps.temporaryFile("unloadguard-leaks-");
        long start = System.nanoTime();
        try {
            HeapDumps.dumpLive(file);
            long dumped = System.nanoTime();
            HeapPaths.Result r = HeapPaths.analyze(file, loaderNames, Set.of(Thread.currentThread().getName()));
            long end = System.nanoTime();
            LOG.log(Level.DEBUG, () -> "heap dump of " + r.objects() + " objects took " + (dumped - start) / 1_000_000
                    + " ms, its analysis " + (end - dumped) / 1_000_000 + " ms");
            return new LeakAnalysis(file, convert(r), r.objects(), Duration.ofNanos(dumped - start),
                    Duration.ofNanos(end - dumped), keepAs != null);
        } finally {
            if (keepAs == null) {
                Files.deleteIfExists(file);
            }
        }
    }

    private static List<LeakedLoader> convert(HeapPaths.Result r) {
        List<LeakedLoader> out = new ArrayList<>();
        for (HeapPaths.Found f : r.loaders()) {
            out.add(new LeakedLoader(f.loaderName(), f.loaderClass(), f.pluginId(), f.generation(), f.unloaded(), f.root(), f.path()));
        }
        return out;
    }
}
