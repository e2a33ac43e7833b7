package dev.unloadguard.it.leaks;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * Host-side holders the leaking plugins of {@link LeakingPlugins} put their objects in: a static
 * field of a host class, a host thread pool whose thread keeps a plugin's {@code ThreadLocal}
 * value, a kept exception thrown by plugin code.
 */
public final class LeakHolders {

    /** A host registry in a static field: plugins add listeners and never remove them. */
    public static final List<Object> LISTENERS = new CopyOnWriteArrayList<>();

    /** The last error a plugin reported: the host keeps the throwable (its backtrace names plugin classes). */
    public static volatile Throwable lastError;

    /**
     * A host pool of one thread, started here (from the host, so its context class loader is the
     * host's): plugins run tasks on it that set their ThreadLocals and never remove them.
     */
    private static volatile ThreadPoolExecutor pool = newPool();

    private LeakHolders() {
    }

    public static ThreadPoolExecutor pool() {
        return pool;
    }

    private static ThreadPoolExecutor newPool() {
        ThreadPoolExecutor p = new ThreadPoolExecutor(1, 1, 0, TimeUnit.MILLISECONDS, new LinkedBlockingQueue<>(), r -> {
            Thread t = new Thread(r, "host-pool-1");
            t.setDaemon(true);
            t.setContextClassLoader(LeakHolders.class.getClassLoader());
            return t;
        });
        p.prestartAllCoreThreads();
        return p;
    }

    public static void report(Throwable error) {
        lastError = error;
    }

    /** Forgets what the plugins left (the fix): the static fields, and the pool (a new one). */
    public static void forget() {
        LISTENERS.clear();
        lastError = null;
        pool.shutdown(); // its thread ends, and its ThreadLocal values with it
        pool = newPool();
    }
}
