package dev.unloadguard.bench;

/**
 * What {@link BindingBench} calls on plugin code: each method is one read section (enter + exit)
 * of the plugin's release epoch, bound the way its name says, or a baseline without an epoch.
 * Host side (the application class loader); implemented by
 * {@code dev.unloadguard.bench.binding.PluginBindings}, which a {@link GuardingLoader} defines
 * (and the agent's transformer weaves) as a class of a plugin with a release epoch of its own.
 * Every method returns something derived from its work, so nothing is eliminated.
 */
public interface EpochBinding {

    /** The old shape: one shared epoch in a {@code static final} field, reached through static methods. */
    int sharedStatic();

    /** What ships: a woven guarded method, {@code invokedynamic} bound by {@code ReleaseGuard.bootstrap}. */
    int indy();

    /** A {@code static final MethodHandle} bound to the plugin's epoch, {@code invokeExact}. */
    int boundHandle() throws Throwable;

    /** A {@code ClassValue<ReleaseEpoch>} lookup at enter and again at exit. */
    int classValue();

    /** {@code ((EpochHolder) cls.getClassLoader()).releaseEpoch()} at enter and again at exit. */
    int loaderCast();

    /** Not an epoch: a shared {@code AtomicInteger} incremented then decremented. */
    int atomicInteger();

    /** For the set-up check: a woven method returning its depth in its plugin's epoch (1). */
    int depthInside();

    /** Not an epoch: one full fence ({@code VarHandle.fullFence()}), the CPU floor of enter. */
    int fence();
}
