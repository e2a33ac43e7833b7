package dev.unloadguard.agent;

import dev.unloadguard.epoch.ReleaseGuard;
import dev.unloadguard.epoch.internal.Epochs;
import java.util.Set;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntSupplier;

/** Records the release-epoch depth of the calling thread where fixture code calls it. */
public final class Probe {

    private static final List<Integer> DEPTHS = new ArrayList<>();

    /**
     * How the depth is read. A copy of this class in a plugin loader that cannot see the epoch
     * runtime (a foreign loader under the platform loader) gets the host's reader set here; the
     * default reads the depth in the epoch of the nearest plugin class on the stack (each plugin
     * has its own epoch), and links the runtime only when it first runs.
     */
    public static volatile IntSupplier depth = Probe::callerPluginDepth;

    private static int callerPluginDepth() {
        ClassLoader plugin = StackWalker.getInstance(Set.of(StackWalker.Option.RETAIN_CLASS_REFERENCE)).walk(frames -> frames
                .map(f -> f.getDeclaringClass().getClassLoader())
                .filter(Epochs::isPluginLoader)
                .findFirst().orElse(null));
        return ReleaseGuard.depth(plugin);
    }

    private Probe() {
    }

    public static synchronized void record() {
        DEPTHS.add(depth.getAsInt());
    }

    /** Records, then returns {@code value}: for code that must be an expression (arguments of {@code super(...)}). */
    public static <T> T recorded(T value) {
        record();
        return value;
    }

    /** The depths recorded since the last call, oldest first. */
    public static synchronized List<Integer> drain() {
        List<Integer> copy = List.copyOf(DEPTHS);
        DEPTHS.clear();
        return copy;
    }

    /** The last depth recorded, or -1. */
    public static synchronized int last() {
        return DEPTHS.isEmpty() ? -1 : DEPTHS.get(DEPTHS.size() - 1);
    }
}
