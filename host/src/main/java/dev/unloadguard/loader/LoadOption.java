package dev.unloadguard.loader;

/** Options for {@link PluginLoader#load(java.nio.file.Path, LoadOption...)}. */
public enum LoadOption {
    /**
     * Load even if an earlier generation of the same plugin id was unloaded but is still
     * reachable (LEAKED). Without it such a load is refused: every reload would leak one more
     * class loader and its metaspace.
     */
    IGNORE_LEAKED_GENERATIONS,

    /**
     * Load a new generation while earlier generations of the same id are still loaded (LIVE, or
     * GOING with their unload waiting): the new one becomes the id's current generation
     * ({@link PluginLoader#plugin(String)}) and gets the new devices; unload the old ones after.
     * This is how a hot reload replaces a plugin without a gap. Without it such a load is refused.
     */
    ALONGSIDE_LOADED_GENERATIONS,

    /**
     * Guard this plugin's release paths only ({@link GuardScope#RELEASE_PATHS}), whatever the
     * loader's {@link PluginLoader.Builder#guardScope}: its other code is neither waited for nor
     * refused once it is unloading.
     */
    GUARD_RELEASE_PATHS_ONLY,

    /**
     * Load this plugin {@link IsolationPolicy#PLUGIN_FIRST plugin-first}, whatever the loader's
     * {@link PluginLoader.Builder#isolation}: its own classes and libraries win over the host's
     * (except the JDK's, unloadguard's API and the host's shared packages).
     */
    PLUGIN_FIRST,

    /**
     * Load this plugin {@link IsolationPolicy#PARENT_FIRST parent-first}, whatever the loader's
     * {@link PluginLoader.Builder#isolation}: the host's classes win over the plugin's.
     */
    PARENT_FIRST,

    /**
     * Do not manage this plugin's JDK registrations: what its code registers with JVM-wide
     * registries (threads it starts, executors and timers it creates, shutdown hooks, JDBC drivers,
     * MBeans, {@code ThreadLocal} values, logging handlers, security providers, context class
     * loaders, system properties) is neither recorded nor undone at unload, and its exit hook must
     * undo it all itself. Managed registrations are on by default (with the agent); see
     * {@link UnloadReport#registrations()}.
     */
    UNMANAGED_REGISTRATIONS
}
