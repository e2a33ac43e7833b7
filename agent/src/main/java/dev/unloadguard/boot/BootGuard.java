package dev.unloadguard.boot;

import java.util.function.IntConsumer;
import java.util.function.IntSupplier;

/**
 * The bridge for plugin loaders that cannot see unloadguard's runtime: a foreign host's loader
 * registered with {@code ReleaseGuard.registerPluginLoader} whose parents do not reach the loader
 * of {@code dev.unloadguard.epoch} (for example one whose parent is the platform loader). For those
 * loaders only, the agent appends this one class to the bootstrap class path (lazily, the first
 * time such a loader is registered) and weaves calls to it instead of {@code ReleaseGuard}.
 *
 * <p>It holds no state of its own and links no unloadguard class: the agent {@link #wire wires} it
 * to the one shared release epoch through JDK functional interfaces, so there is still exactly one
 * epoch however many loaders the classes are reachable from.
 *
 * <p>Never referenced from unloadguard's own code except reflectively through the bootstrap loader:
 * a direct reference would define a second copy in the application loader.
 */
public final class BootGuard {

    /**
     * Written once by {@link #wire}, before any class calling this one is transformed (the agent
     * wires the bridge before it answers that a loader needs it); volatile so every reader thread
     * sees the wired functions. A read is a plain load on x86 and ARM64 (acquire).
     */
    private static volatile IntSupplier enter;
    private static volatile IntConsumer exit;

    private BootGuard() {
    }

    /** Enters the shared release epoch; woven into guarded methods of bridged plugin classes. */
    public static int enter() {
        return enter.getAsInt();
    }

    /** Exits the shared release epoch. */
    public static void exit(int token) {
        exit.accept(token);
    }

    /** Called once by the agent: connects the bridge to {@code ReleaseEpoch.shared()}. */
    public static synchronized void wire(IntSupplier enterEpoch, IntConsumer exitEpoch) {
        if (enter != null) {
            return;
        }
        exit = exitEpoch;
        enter = enterEpoch;
    }
}
