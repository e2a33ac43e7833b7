package dev.unloadguard.device;

import java.util.List;

/**
 * A reference-counted device owned by a driver plugin: the twin of {@code struct drm_device}
 * with its {@code kref}. A driver creates it with one reference
 * ({@link dev.unloadguard.driver.DriverContext#createDevice}); whoever keeps it beyond a call
 * takes a reference ({@link #acquire} / {@link #tryAcquire}) and drops it with {@link #release}.
 * When the last reference is released, the device's release sequence runs once, inside the
 * release epoch of the device's plugin (as the kernel's {@code drm_dev_release} runs inside
 * {@code drm_dev_release_srcu}): the driver's {@link dev.unloadguard.driver.Driver#release}
 * callback, then the managed {@linkplain #addReleaseAction release actions} in reverse
 * registration order, then the plugin's live-device count falls by one.
 *
 * <p>The host implements it; plugins and helpers only use it.
 */
public interface Device {

    /** The name the driver gave this device. */
    String name();

    /** The id of the plugin that owns this device. */
    String pluginId();

    /** The current reference count (a snapshot, for diagnostics). */
    int references();

    /**
     * Takes a reference ({@code drm_dev_get}). The caller must already hold one, directly or
     * through something it owns; to take one from a possibly released device use
     * {@link #tryAcquire}.
     *
     * @return this device, for chaining
     * @throws IllegalStateException if the device was already released (count zero)
     */
    Device acquire();

    /**
     * Takes a reference on behalf of {@code holder}, the object that will hold it (a pagemap, a
     * cache entry). With reference tracking on, reports name the holder and where it acquired.
     * Release it with {@link #release(Object)} and the same holder.
     *
     * @throws IllegalStateException if the device was already released (count zero)
     */
    Device acquire(Object holder);

    /**
     * Takes a reference unless the count already reached zero ({@code kref_get_unless_zero}).
     *
     * @return whether a reference was taken
     */
    boolean tryAcquire();

    /** {@link #tryAcquire()} on behalf of {@code holder} (see {@link #acquire(Object)}). */
    boolean tryAcquire(Object holder);

    /**
     * Drops a reference ({@code drm_dev_put}). Dropping the last one runs the release sequence on
     * the calling thread, inside the plugin's release epoch.
     *
     * @return whether this call dropped the last reference and ran the release sequence
     *         ({@code kref_put}'s return value)
     * @throws IllegalStateException if no reference is left to drop (released more often than acquired)
     */
    boolean release();

    /**
     * Drops the reference {@code holder} took with {@link #acquire(Object)}.
     *
     * @return whether this call dropped the last reference
     * @throws IllegalStateException if no reference is left to drop; with tracking on, the message
     *                               names where the last reference was released and where this
     *                               second release comes from
     */
    boolean release(Object holder);

    /**
     * Registers a managed release action ({@code drmm_add_action}): it runs once when the last
     * reference is released, after the driver's release callback and after every action
     * registered later than it.
     *
     * @throws IllegalStateException if the device is already being released
     */
    void addReleaseAction(ReleaseAction action);

    /**
     * Who holds this device's references and where they took them: one entry per outstanding
     * reference with reference tracking on, empty with it off.
     */
    List<String> holders();
}
