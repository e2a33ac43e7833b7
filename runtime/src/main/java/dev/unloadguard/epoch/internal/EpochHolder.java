package dev.unloadguard.epoch.internal;

/**
 * A plugin class loader that owns the release epoch of its plugin generation: unloadguard's own
 * plugin loaders implement it. The agent guards the classes such a loader defines, and their woven
 * code enters {@link #releaseEpoch()}. Internal: plugin class loaders never delegate this package,
 * so plugin code cannot implement it or reach the epoch through it.
 */
public interface EpochHolder {

    /** The release epoch of this loader's plugin generation; the same object for its whole life. */
    ReleaseEpoch releaseEpoch();
}
