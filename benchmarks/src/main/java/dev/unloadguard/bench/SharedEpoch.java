package dev.unloadguard.bench;

import dev.unloadguard.epoch.internal.ReleaseEpoch;

/**
 * The baseline of {@link BindingBench}: the binding before per-plugin epochs, where woven code
 * called {@code invokestatic ReleaseGuard.enter()I} / {@code exit(I)V} and both went to one
 * {@code static final} epoch shared by every plugin ({@code ReleaseEpoch.shared()}). Today's
 * {@link ReleaseEpoch} behind the old binding: what differs is how the epoch is reached, nothing
 * else. Host code, as {@code ReleaseGuard} was.
 */
public final class SharedEpoch {

    private static final ReleaseEpoch EPOCH = new ReleaseEpoch("shared (old design)");

    private SharedEpoch() {
    }

    /** As the old {@code ReleaseGuard.enter()}. */
    public static int enter() {
        return EPOCH.enter();
    }

    /** As the old {@code ReleaseGuard.exit(int)}. */
    public static void exit(int token) {
        EPOCH.exit(token);
    }
}
