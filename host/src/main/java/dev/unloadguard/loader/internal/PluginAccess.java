package dev.unloadguard.loader.internal;

import dev.unloadguard.epoch.internal.ReleaseEpoch;
import dev.unloadguard.loader.Plugin;
import java.util.Objects;
import java.util.function.Function;

/**
 * What unloadguard's own modules (the test kit) may read of a {@link Plugin} that hosts may not:
 * its generation's release epoch, for the test kit's crossing probe
 * ({@link ReleaseEpoch#probeCrossings}). Internal (not API, not delegated to plugin loaders);
 * {@link Plugin} hands its accessor over when its class is initialized, the way the JDK's
 * {@code SharedSecrets} do, so {@code Plugin} needs no public method for it.
 */
public final class PluginAccess {

    private static volatile Function<Plugin, ReleaseEpoch> epochs;

    private PluginAccess() {
    }

    /** Called once, by {@link Plugin}'s static initializer; later calls are ignored. */
    public static void install(Function<Plugin, ReleaseEpoch> accessor) {
        Objects.requireNonNull(accessor, "accessor");
        synchronized (PluginAccess.class) {
            if (epochs == null) {
                epochs = accessor;
            }
        }
    }

    /** The release epoch of {@code plugin}'s generation. */
    public static ReleaseEpoch epoch(Plugin plugin) {
        Objects.requireNonNull(plugin, "plugin");
        return epochs.apply(plugin);   // installed: a Plugin exists, so its class was initialized
    }
}
