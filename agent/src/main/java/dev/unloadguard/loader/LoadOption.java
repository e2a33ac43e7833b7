package dev.unloadguard.loader;

/** Options for {@link PluginLoader#load(java.nio.file.Path, LoadOption...)}. */
public enum LoadOption {
    /**
     * Load even if an earlier generation of the same plugin id was unloaded but is still
     * reachable (LEAKED). Without it such a load is refused: every reload would leak one more
     * class loader and its metaspace.
     */
    IGNORE_LEAKED_GENERATIONS
}
