package dev.unloadguard.sample.helper;

/**
 * A host hook the sample driver calls in the middle of a pagemap's release tail: after the
 * pagemap dropped its device reference (maybe the last one: the device is gone and the plugin's
 * live-device count may be zero), before the tail's bookkeeping loads its first class. Tests and
 * demos register it as a host service to hold a release callback at exactly the worst moment.
 */
public interface ReleaseTailHook {

    /** Called in the tail, after the device reference was dropped. May block. */
    void tailReached(String pagemap, boolean droppedLastReference);

    /** Called as the tail's last action, after its bookkeeping class was loaded and used. */
    default void tailFinished(String pagemap) {
    }
}
