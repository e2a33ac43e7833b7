package dev.unloadguard.it.support;

import dev.unloadguard.epoch.ReleaseGuard;
import dev.unloadguard.sample.helper.ReleaseTailHook;
import java.lang.ref.WeakReference;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * A {@link ReleaseTailHook} for tests: in every pagemap release tail it records the release-epoch
 * depth of the calling thread (1 when the agent guards the callback, 0 without) and a weak
 * reference to the plugin's class loader (found on the stack, not handed over by anyone); when
 * the tail dropped a device's last reference it can hold the tail on a gate until the test opens
 * it; when the tail finishes it records what {@code onFinish} observes (e.g. the plugin's state).
 */
public final class RecordingTailHook implements ReleaseTailHook {

    private static final StackWalker WALKER = StackWalker.getInstance(StackWalker.Option.RETAIN_CLASS_REFERENCE);

    private final List<Integer> depths = new CopyOnWriteArrayList<>();
    private final List<Object> finished = new CopyOnWriteArrayList<>();
    private volatile WeakReference<ClassLoader> pluginLoader = new WeakReference<>(null);
    private volatile CountDownLatch gate;
    private final CountDownLatch lastTailReached = new CountDownLatch(1);
    private volatile Supplier<Object> onFinish = () -> "finished";

    /** Makes tails that dropped a device's last reference wait until {@link #openGate()}. */
    public RecordingTailHook closeGate() {
        gate = new CountDownLatch(1);
        return this;
    }

    public void openGate() {
        CountDownLatch g = gate;
        if (g != null) {
            g.countDown();
        }
    }

    public RecordingTailHook onFinish(Supplier<Object> observation) {
        this.onFinish = observation;
        return this;
    }

    @Override
    public void tailReached(String pagemap, boolean droppedLastReference) {
        ClassLoader plugin = WALKER.walk(frames -> frames.map(StackWalker.StackFrame::getDeclaringClass)
                .filter(c -> c.getName().startsWith("dev.unloadguard.sample.driver."))
                .findFirst())
                .map(Class::getClassLoader).orElse(null);
        depths.add(ReleaseGuard.depth(plugin)); // the calling plugin's own epoch
        if (plugin != null) {
            pluginLoader = new WeakReference<>(plugin);
        }
        if (droppedLastReference) {
            lastTailReached.countDown();
            CountDownLatch g = gate;
            if (g != null) {
                try {
                    if (!g.await(60, TimeUnit.SECONDS)) {
                        throw new IllegalStateException("test gate was never opened");
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }
    }

    @Override
    public void tailFinished(String pagemap) {
        finished.add(onFinish.get());
    }

    public boolean lastTailReached() {
        return lastTailReached.getCount() == 0;
    }

    public List<Integer> depths() {
        return List.copyOf(depths);
    }

    public List<Object> finished() {
        return List.copyOf(finished);
    }

    public WeakReference<ClassLoader> pluginLoader() {
        return pluginLoader;
    }
}
