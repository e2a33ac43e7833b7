package dev.unloadguard.leaks;

import dev.unloadguard.loader.LeakExplainer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * The {@link LeakExplainer} a host opts in with: for each LEAKED generation, it dumps the JVM's
 * live heap, finds the shortest path of strong references from a GC root to the generation's class
 * loader ({@link LeakPaths#inThisJvm}), and adds it to the report's leak suspects as
 * {@code "leak path: static field ... → ... → PluginClassLoader ..."}. The dump is deleted
 * afterwards, unless {@link #keepingDumpsIn} names a directory to keep it in.
 *
 * <pre> {@code
 * PluginLoader loader = PluginLoader.builder()
 *         .leakExplainer(HeapDumpLeakExplainer.create())
 *         .build();}</pre>
 *
 * Each dump pauses the whole JVM for a full GC and the dump (see docs/performance.md), once per
 * LEAKED generation, on the thread that ends its collection check.
 */
public final class HeapDumpLeakExplainer implements LeakExplainer {

    /**
     * A loader in a dump of live objects (the JVM ran a full GC first) that no strong path reaches
     * survived that GC through a holder the heap-dump format does not record.
     */
    static final String NO_STRONG_PATH = "none in the heap: the class loader survived the full GC before the dump, yet no "
            + "strong path from a root the dump records reaches it, so the JIT-compiled code of a running thread holds it "
            + "(a long-running host loop that called this generation; -XX:-UseOnStackReplacement confirms it), or only a "
            + "SoftReference does, or a local variable of the thread that ran this check (its frames are not searched: "
            + "they hold the loader asked about); see \"LEAKED with no suspects and no path in a heap dump\" in "
            + "docs/troubleshooting.md";

    private final Path keepIn;

    private HeapDumpLeakExplainer(Path keepIn) {
        this.keepIn = keepIn;
    }

    /** Deletes each dump once analysed. */
    public static HeapDumpLeakExplainer create() {
        return new HeapDumpLeakExplainer(null);
    }

    /** Keeps each dump, as {@code leak-<loader>-<time>.hprof} in {@code directory} (created if needed). */
    public static HeapDumpLeakExplainer keepingDumpsIn(Path directory) {
        return new HeapDumpLeakExplainer(Objects.requireNonNull(directory, "directory"));
    }

    @Override
    public List<String> explain(ClassLoader loader) throws IOException {
        String name = loader.getName();
        if (name == null) {
            return List.of("leak path: unknown (the class loader has no name, so it cannot be found in a heap dump)");
        }
        Path keep = null;
        if (keepIn != null) {
            Files.createDirectories(keepIn);
            keep = keepIn.resolve("leak-" + name.replaceAll("[^A-Za-z0-9._-]", "_") + "-" + System.currentTimeMillis() + ".hprof");
        }
        LeakAnalysis a = LeakPaths.inThisJvm(Set.of(name), keep);
        String kept = keep == null ? "" : " (heap dump kept: " + keep + ")";
        return a.loader(name)
                .map(l -> List.of("leak path: " + (l.reachable() ? l.pathLine() : NO_STRONG_PATH) + kept))
                .orElse(List.of("leak path: class loader " + name + " is not in the heap dump (collected meanwhile)" + kept));
    }
}
