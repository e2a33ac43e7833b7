package dev.unloadguard.it.pf4j;

import dev.unloadguard.epoch.ReleaseGuard;
import java.lang.ref.WeakReference;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Host side of the PF4J plugin's release callback: the callback reports here in the middle of its
 * tail, after which it loads a plugin class for the first time. The gate records the release-epoch
 * depth of the calling thread (1 when the agent guards the callback, 0 without) and, weakly, the
 * plugin's class loader; it holds the tail until the test opens it.
 */
public final class TailGate {

    private final CountDownLatch reached = new CountDownLatch(1);
    private final CountDownLatch open = new CountDownLatch(1);
    private final AtomicInteger finished = new AtomicInteger();
    private volatile int depth = -1;
    private volatile WeakReference<ClassLoader> pluginLoader = new WeakReference<>(null);

    /** Called by the plugin's callback tail with its own class; blocks until {@link #open()}. */
    public void reached(Class<?> pluginClass) {
        depth = ReleaseGuard.depth(pluginClass.getClassLoader());
        pluginLoader = new WeakReference<>(pluginClass.getClassLoader());
        reached.countDown();
        try {
            if (!open.await(60, TimeUnit.SECONDS)) {
                throw new IllegalStateException("test gate was never opened");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Called by the tail's last action, after the class first used there was loaded. */
    public void finished() {
        finished.incrementAndGet();
    }

    public void open() {
        open.countDown();
    }

    public boolean isReached() {
        return reached.getCount() == 0;
    }

    /** The release-epoch depth the tail ran at; -1 before it was reached. */
    public int depth() {
        return depth;
    }

    public int finishedTails() {
        return finished.get();
    }

    public WeakReference<ClassLoader> pluginLoader() {
        return pluginLoader;
    }
}
