package dev.unloadguard.bench.binding;

import dev.unloadguard.bench.EpochBinding;
import dev.unloadguard.bench.PerCallLookup;
import dev.unloadguard.bench.SharedEpoch;
import dev.unloadguard.driver.GuardedRelease;
import dev.unloadguard.epoch.ReleaseGuard;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.lang.invoke.VarHandle;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Plugin code for {@code BindingBench}: defined by a {@code GuardingLoader} (a plugin loader with
 * a release epoch of its own) from the agent transformer's output, never from the class path.
 * Each method is one enter + exit, bound one way; see {@link EpochBinding}.
 */
public final class PluginBindings implements EpochBinding {

    /**
     * What {@code ReleaseGuard.bootstrap} puts into a constant call site, held in {@code static
     * final} fields instead: this class's lookup binds this class's plugin's epoch.
     */
    private static final MethodHandle ENTER;
    private static final MethodHandle EXIT;
    private static final AtomicInteger ATOMIC = new AtomicInteger();

    static {
        MethodHandles.Lookup self = MethodHandles.lookup();
        ENTER = ReleaseGuard.handle(self, "enter", MethodType.methodType(int.class));
        EXIT = ReleaseGuard.handle(self, "exit", MethodType.methodType(void.class, int.class));
    }

    @Override
    public int sharedStatic() {
        int t = SharedEpoch.enter();
        SharedEpoch.exit(t);
        return t;
    }

    /**
     * Only a constant as written: the agent's transformer weaves {@code invokedynamic enter} and
     * {@code exit} around it, whose fence and counter stores cannot be eliminated.
     */
    @Override
    @GuardedRelease
    public int indy() {
        return 1;
    }

    @Override
    @GuardedRelease
    public int depthInside() {
        return ReleaseGuard.depth();
    }

    @Override
    public int boundHandle() throws Throwable {
        int t = (int) ENTER.invokeExact();
        EXIT.invokeExact(t);
        return t;
    }

    @Override
    public int classValue() {
        int t = PerCallLookup.enterByClassValue(PluginBindings.class);
        PerCallLookup.exitByClassValue(PluginBindings.class, t);
        return t;
    }

    @Override
    public int loaderCast() {
        int t = PerCallLookup.enterByLoader(PluginBindings.class);
        PerCallLookup.exitByLoader(PluginBindings.class, t);
        return t;
    }

    @Override
    public int atomicInteger() {
        ATOMIC.incrementAndGet();
        return ATOMIC.decrementAndGet();
    }

    @Override
    public int fence() {
        VarHandle.fullFence();
        return 1;
    }
}
