package dev.unloadguard.leaks;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * What {@link LeakPaths} found in one heap dump: each leaked class loader with its path.
 *
 * @param dump     the heap dump read; after {@link LeakPaths#inThisJvm} it is deleted unless it was
 *                 asked to keep it (then {@link #keptDump()} names it)
 * @param leaked   the loaders found, each with its path (or none, if no root reaches it)
 * @param objects  how many objects the dump holds
 * @param dumpTime how long taking the dump took ({@link Duration#ZERO} if it was given)
 * @param analysisTime how long reading it and searching the paths took
 * @param kept     whether the dump file was kept
 */
public record LeakAnalysis(Path dump, List<LeakedLoader> leaked, int objects, Duration dumpTime, Duration analysisTime,
                           boolean kept) {

    public LeakAnalysis {
        leaked = List.copyOf(leaked);
    }

    /** The dump file, if it still exists (given, or kept). */
    public Optional<Path> keptDump() {
        return kept ? Optional.of(dump) : Optional.empty();
    }

    /** The loader of {@code pluginId}'s generation {@code generation}, if it was found. */
    public Optional<LeakedLoader> generation(String pluginId, int generation) {
        return leaked.stream().filter(l -> pluginId.equals(l.pluginId()) && l.generation() == generation).findFirst();
    }

    /** The loader named {@code loaderName}, if it was found. */
    public Optional<LeakedLoader> loader(String loaderName) {
        return leaked.stream().filter(l -> loaderName.equals(l.loaderName())).findFirst();
    }

    /** Each loader with its path, or a sentence saying none was found. */
    @Override
    public String toString() {
        if (leaked.isEmpty()) {
            return "no leaked plugin generation in " + dump + " (no unloaded unloadguard plugin class loader is in it,"
                    + " nor a loader asked for by name: every unloaded generation was collected)";
        }
        StringBuilder sb = new StringBuilder();
        for (LeakedLoader l : leaked) {
            sb.append(l).append('\n');
        }
        return sb.toString();
    }
}
