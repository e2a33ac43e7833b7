package dev.unloadguard.device;


/**
 * A managed release action ({@code drmm_add_action}): registered on a device with
 * {@link Device#addReleaseAction}, run once when the device's last reference is released,
 * after the driver's release callback, in reverse registration order, inside the release epoch.
 * With the agent attached, lambda and method-reference bodies passed as release actions are
 * guarded wherever they are called from.
 */
@FunctionalInterface
public interface ReleaseAction {
    void release(Device device) throws Exception;
}
