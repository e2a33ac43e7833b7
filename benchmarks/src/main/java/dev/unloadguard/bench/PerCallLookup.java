package dev.unloadguard.bench;

import dev.unloadguard.epoch.internal.EpochHolder;
import dev.unloadguard.epoch.internal.ReleaseEpoch;

/**
 * Two bindings {@link BindingBench} compares with the shipped {@code invokedynamic}, as a runtime
 * would offer them to woven code: woven code cannot name {@link ReleaseEpoch} (plugin loaders do
 * not delegate the internal package), so it would pass its own class ({@code ldc}) at enter and
 * again at exit, and the runtime finds the epoch on each call. Host code.
 */
public final class PerCallLookup {

    private static final ClassValue<ReleaseEpoch> EPOCHS = new ClassValue<>() {
        @Override
        protected ReleaseEpoch computeValue(Class<?> type) {
            return ((EpochHolder) type.getClassLoader()).releaseEpoch();
        }
    };

    private PerCallLookup() {
    }

    /** Enters the epoch of {@code pluginClass}'s plugin, found in a {@link ClassValue}. */
    public static int enterByClassValue(Class<?> pluginClass) {
        return EPOCHS.get(pluginClass).enter();
    }

    /** Exits the innermost section of {@code pluginClass}'s plugin's epoch, found in a {@link ClassValue}. */
    public static void exitByClassValue(Class<?> pluginClass, int token) {
        EPOCHS.get(pluginClass).exit(token);
    }

    /** Enters the epoch of {@code pluginClass}'s plugin, asked of its class loader. */
    public static int enterByLoader(Class<?> pluginClass) {
        return ((EpochHolder) pluginClass.getClassLoader()).releaseEpoch().enter();
    }

    /** Exits the innermost section of {@code pluginClass}'s plugin's epoch, asked of its class loader. */
    public static void exitByLoader(Class<?> pluginClass, int token) {
        ((EpochHolder) pluginClass.getClassLoader()).releaseEpoch().exit(token);
    }
}
