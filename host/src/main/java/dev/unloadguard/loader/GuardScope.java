package dev.unloadguard.loader;

/**
 * What the agent guards in a plugin, and so what an unload waits for and refuses. Chosen per
 * loader ({@link PluginLoader.Builder#guardScope}) and per plugin
 * ({@link LoadOption#GUARD_RELEASE_PATHS_ONLY}); the unload report says which was in force.
 */
public enum GuardScope {
    /**
     * Every way into the plugin (the default). Every method, constructor and static initializer
     * of every plugin class is a section of the plugin's release epoch, so the unload waits for
     * all plugin code that is running, and once it starts (GOING) a new call from outside into
     * the plugin fails at the call with {@link dev.unloadguard.driver.PluginUnloadedError}.
     * Release paths and clean-up methods ({@code hashCode}, {@code equals}, {@code toString},
     * {@code compareTo}, {@code close}, {@code finalize}) are never refused, only waited for, and
     * a thread already inside the plugin calls on freely.
     */
    ENTRIES,

    /**
     * Release paths only (the narrower mode of unloadguard's first versions): release callbacks
     * and actions are waited for; any other plugin code is neither waited for nor refused, so the
     * host must stop it itself before the close (the close audit still checks).
     */
    RELEASE_PATHS
}
