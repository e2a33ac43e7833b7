package dev.unloadguard.it.support;

import java.util.function.Supplier;

/**
 * A host service holding the supplier the newest plugin generation offered: host threads call
 * whichever is current, so a reload switches them to the new generation without a gap.
 */
public final class LatestSupplier {

    private volatile Supplier<String> current;

    /** Called by a plugin's init: its supplier becomes the current one. */
    public void offer(Supplier<String> supplier) {
        current = supplier;
    }

    /** The current supplier, or null. */
    public Supplier<String> current() {
        return current;
    }

    /** Forgets the current supplier, so the host keeps nothing of the plugin. */
    public void clear() {
        current = null;
    }
}
