package dev.unloadguard.it.holes;

import dev.unloadguard.epoch.ReleaseGuard;

/**
 * The one place the hole reproducers ask "is this thread inside the release epoch that guards
 * this plugin's code?": each plugin generation has its own epoch, named here by a class of the
 * plugin. (Before each plugin had its own, this asked the one shared epoch.)
 */
public final class EpochProbe {

    private EpochProbe() {
    }

    /**
     * Whether the calling thread is inside the release epoch of the plugin that defined
     * {@code pluginClass}.
     */
    public static boolean insideEpoch(Class<?> pluginClass) {
        return ReleaseGuard.depth(pluginClass.getClassLoader()) > 0;
    }
}
