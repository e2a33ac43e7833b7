package dev.unloadguard.loader;

import java.time.Instant;

/**
 * Thrown to code that still runs in a plugin after its class loader was closed and asks it for a
 * class: a late access. Instead of a bare {@link NoClassDefFoundError} naming only the class, it
 * names the plugin, its generation and when it was unloaded. It is a {@code NoClassDefFoundError},
 * so code that handles those keeps working; the host counts every one
 * ({@link PluginLoader#lateAccesses()}, {@link Plugin#lateAccesses()}).
 */
public final class PluginUnloadedError extends NoClassDefFoundError {

    private static final long serialVersionUID = 1L;

    private final String pluginId;
    private final int generation;
    private final transient Instant unloadedAt;

    PluginUnloadedError(String className, String pluginId, int generation, Instant unloadedAt, String loaderName) {
        super(className + " cannot be loaded: plugin " + pluginId + " generation " + generation + " was unloaded at "
                + unloadedAt + " (class loader " + loaderName + " is closed). Code still running in an unloaded plugin is "
                + "a late access: run release paths as guarded release callbacks (ReleaseCallback, ReleaseAction, "
                + "@GuardedRelease) and stop the plugin's own threads in its driver's exit()");
        this.pluginId = pluginId;
        this.generation = generation;
        this.unloadedAt = unloadedAt;
    }

    public String pluginId() {
        return pluginId;
    }

    public int generation() {
        return generation;
    }

    public Instant unloadedAt() {
        return unloadedAt;
    }
}
