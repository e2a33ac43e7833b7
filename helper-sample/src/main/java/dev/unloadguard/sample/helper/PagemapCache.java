package dev.unloadguard.sample.helper;

import dev.unloadguard.driver.ReleaseCallback;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The drm_pagemap-like helper: a host-side library that holds objects drivers give it (think
 * pagemaps, each holding a device reference) and drops them later, from its own worker thread,
 * by calling their release callback — plugin code, like a kernel work item calling a driver's
 * destroy op. It never pins a plugin: it takes no plugin reference and does not block unload from
 * starting; the plugin's unload waits for the device references its pagemaps hold.
 *
 * <p>The worker thread is started by the host that creates the cache, with this library's class
 * loader as context loader, so the thread never keeps a plugin's class loader alive.
 */
public final class PagemapCache implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger("dev.unloadguard.sample.helper");
    private static final Runnable STOP = () -> { };

    private final Object lock = new Object();
    private final List<ReleaseCallback> held = new ArrayList<>(); // guarded by lock
    private final LinkedBlockingQueue<Runnable> work = new LinkedBlockingQueue<>();
    private final AtomicLong dropped = new AtomicLong();
    private final AtomicLong pending = new AtomicLong();
    private final ConcurrentLinkedQueue<Throwable> failures = new ConcurrentLinkedQueue<>();
    private final Thread worker;
    private volatile boolean closed;

    /** Creates the cache and starts its worker thread, named {@code name}. */
    public PagemapCache(String name) {
        worker = new Thread(this::runWorker, name);
        worker.setDaemon(true);
        worker.setContextClassLoader(PagemapCache.class.getClassLoader());
        worker.start();
    }

    /** Keeps a driver's pagemap until the cache drops it. */
    public void hold(ReleaseCallback pagemap) {
        if (pagemap == null) {
            throw new NullPointerException("pagemap");
        }
        synchronized (lock) {
            if (closed) {
                throw new IllegalStateException("pagemap cache " + worker.getName() + " is closed: it takes no more pagemaps");
            }
            held.add(pagemap);
        }
    }

    /** How many pagemaps the cache holds now. */
    public int held() {
        synchronized (lock) {
            return held.size();
        }
    }

    /** Queues a work item that drops every pagemap held now, on the worker thread. */
    public void dropAllLater() {
        dropAllLater(Duration.ZERO);
    }

    /** Queues a work item that, after {@code delay} on the worker, drops every pagemap held then. */
    public void dropAllLater(Duration delay) {
        pending.incrementAndGet();
        work.add(() -> {
            if (!delay.isZero()) {
                long until = System.nanoTime() + delay.toNanos();
                for (long left; (left = until - System.nanoTime()) > 0; ) {
                    java.util.concurrent.locks.LockSupport.parkNanos(left);
                }
            }
            List<ReleaseCallback> batch;
            synchronized (lock) {
                batch = new ArrayList<>(held);
                held.clear();
            }
            for (int i = 0; i < batch.size(); i++) {
                ReleaseCallback pagemap = batch.set(i, null); // hold nothing once dropped
                drop(pagemap);
            }
        });
    }

    /** Whether no drop work is queued or running. */
    public boolean idle() {
        return pending.get() == 0;
    }

    /** Pagemaps dropped so far. */
    public long dropped() {
        return dropped.get();
    }

    /** Errors release callbacks threw on the worker thread (for example a NoClassDefFoundError). */
    public List<Throwable> failures() {
        return List.copyOf(failures);
    }

    private void drop(ReleaseCallback pagemap) {
        try {
            pagemap.release(); // plugin code
        } catch (Throwable t) {
            failures.add(t);
            LOG.log(System.Logger.Level.WARNING, "release callback of pagemap " + pagemap.getClass().getName() + " threw", t);
        } finally {
            dropped.incrementAndGet();
        }
    }

    private void runWorker() {
        while (true) {
            Runnable item;
            try {
                item = work.take();
            } catch (InterruptedException e) {
                continue; // only close() stops the worker, with STOP
            }
            if (item == STOP) {
                return;
            }
            try {
                item.run();
            } finally {
                pending.decrementAndGet();
            }
        }
    }

    /**
     * Drops every pagemap still held, on the worker, then stops the worker and waits for it.
     */
    @Override
    public void close() throws InterruptedException {
        synchronized (lock) {
            if (closed) {
                return;
            }
            closed = true;
        }
        dropAllLater();
        work.add(STOP);
        worker.join(TimeUnit.SECONDS.toMillis(30));
        if (worker.isAlive()) {
            throw new IllegalStateException("pagemap cache worker " + worker.getName() + " did not stop within 30 s");
        }
    }
}
