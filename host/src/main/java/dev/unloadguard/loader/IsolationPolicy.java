package dev.unloadguard.loader;

/**
 * Where a plugin's class loader looks first for a class the plugin asks for: its parent (the
 * host) or the plugin itself. Chosen per loader ({@link PluginLoader.Builder#isolation}) and per
 * plugin ({@link LoadOption#PLUGIN_FIRST}, {@link LoadOption#PARENT_FIRST}). Either way,
 * unloadguard's API and runtime ({@code dev.unloadguard.driver}, {@code dev.unloadguard.device},
 * {@code dev.unloadguard.epoch}) always come from unloadguard's own loader, and a plugin never
 * sees the rest of unloadguard.
 */
public enum IsolationPolicy {
    /**
     * The parent first, then the plugin (the default, the JDK's usual delegation): a class the
     * host has is the host's, even if the plugin brings its own version of it.
     */
    PARENT_FIRST,

    /**
     * The plugin first (its classes and its libraries), then the parent, except for the JDK's own
     * packages (the boot and platform modules) and the packages the host declares shared
     * ({@link PluginLoader.Builder#sharedPackage}), which always come from the parent: a plugin
     * can bring its own version of a library the host also has. Resources likewise.
     */
    PLUGIN_FIRST
}
