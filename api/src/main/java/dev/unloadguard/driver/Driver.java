package dev.unloadguard.driver;

import dev.unloadguard.device.Device;

/**
 * A driver plugin: the service a plugin jar provides, discovered with {@link java.util.ServiceLoader}
 * from {@code META-INF/services/dev.unloadguard.driver.Driver} in the plugin jar. Exactly one
 * driver per jar. The kernel twin is a driver module: {@code module_init}, {@code module_exit}
 * and {@code drm_driver.release}.
 *
 * <p>Lifecycle: the host loads the jar, instantiates the driver, calls {@link #init}; later it
 * unloads: creating devices is refused from then on, {@link #exit} is called, the host waits for
 * the plugin's live devices to reach zero and for the release barrier, then closes the loader.
 */
public interface Driver {

    /**
     * The plugin id: stable across generations of the same plugin, 1 to 64 characters of
     * {@code [A-Za-z0-9._-]}.
     */
    String id();

    /** Module init: create devices, hand objects to helpers. Throwing fails the load. */
    void init(DriverContext context) throws Exception;

    /**
     * Module exit: drop the references the driver itself holds. Devices held by others
     * (helpers) stay alive until they are released; the host waits for them.
     */
    void exit();

    /**
     * The driver's device release callback ({@code drm_driver.release}): runs once, when the
     * last reference to one of this driver's devices is released, inside the release epoch,
     * before the device's managed release actions.
     */
    default void release(Device device) {
    }
}
