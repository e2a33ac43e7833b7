package dev.unloadguard.loader;

/** The life of one plugin generation: LOADING → LIVE → GOING → UNLOADED → COLLECTED or LEAKED. */
public enum PluginState {
    /** Its class loader exists and the driver's init is running. */
    LOADING,
    /** Loaded; the driver may create devices. */
    LIVE,
    /** Unload began: no new devices; waiting for live devices and the release barrier. */
    GOING,
    /**
     * The class loader is closed and the host holds no strong reference to the plugin; the
     * collection check is pending (it turns COLLECTED or LEAKED later), or was off.
     */
    UNLOADED,
    /** The plugin's class loader was garbage collected: its classes and metaspace are gone. */
    COLLECTED,
    /** Unloaded, but its class loader was still reachable when the collection check's deadline passed. */
    LEAKED
}
