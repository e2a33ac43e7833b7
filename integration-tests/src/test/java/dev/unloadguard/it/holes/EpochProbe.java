package dev.unloadguard.it.holes;

import dev.unloadguard.epoch.ReleaseEpoch;

/**
 * The one place the hole reproducers ask "is this thread inside the release epoch that guards
 * this plugin's code?". Today there is one shared epoch and the answer is its depth; once each
 * plugin has its own epoch, switch this method to the new API (the plugin class names the
 * plugin whose epoch is meant) and every reproducer follows.
 */
public final class EpochProbe {

    private EpochProbe() {
    }

    /**
     * Whether the calling thread is inside the release epoch of the plugin that defined
     * {@code pluginClass}.
     */
    public static boolean insideEpoch(Class<?> pluginClass) {
        return ReleaseEpoch.shared().depth() > 0;
    }
}
