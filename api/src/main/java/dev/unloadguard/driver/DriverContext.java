package dev.unloadguard.driver;

import dev.unloadguard.device.Device;
import java.util.Optional;

/** What the host gives a driver at {@link Driver#init}. */
public interface DriverContext {

    /** The plugin id of the driver being initialised. */
    String pluginId();

    /** The generation of this load of the plugin: 1 for the first load of an id, then 2, 3, ... */
    int generation();

    /**
     * Creates a device owned by this plugin with one reference, held by the caller
     * ({@code drm_dev_alloc}). The plugin's live-device count includes it until its last
     * reference is released.
     *
     * @throws IllegalStateException if the plugin is being unloaded (state GOING or later)
     */
    Device createDevice(String name);

    /** A service the host registered for its plugins, if any. */
    <T> Optional<T> service(Class<T> type);

    /** A configuration value the host passed for this plugin, if any. */
    Optional<String> config(String key);
}
