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

    /**
     * How this loader finds a class or resource besides its class path, as far as it changes
     * which supertypes the agent's weaver reads (and so the woven bytes): {@code "parent-first"}
     * (the default: the parent, then the class path) or, for a loader that looks in its class path
     * first, a string naming that and every exception (e.g. {@code "plugin-first;shared=com.x.api"}).
     * The agent's cache of woven classes keys by it; the same for the loader's whole life.
     */
    default String lookupOrder() {
        return "parent-first";
    }

    /**
     * The packages this loader takes from other plugin loaders (a dependency's exports), each with
     * that loader; empty by default. The agent's cache of woven classes keys by the content of
     * those loaders (it keeps none of them). Read once, when the loader defines its first class.
     */
    default java.util.Map<String, ClassLoader> importSources() {
        return java.util.Map.of();
    }
}
