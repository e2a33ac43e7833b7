package dev.unloadguard.it.fuzz;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The host of the unload-point fuzzing tests: a storage plugin offers it its {@link Storage}
 * (withdrawn in the driver's {@code exit()}), and its sessions register flush callbacks with it
 * (a host-wide registry, like a JVM shutdown hook list) that the plugin must take back: one left
 * behind keeps the plugin's class loader reachable.
 */
public final class FuzzBus {

    private volatile Storage storage;
    private final Set<Runnable> flushers = ConcurrentHashMap.newKeySet();

    /** Called by the plugin's driver at init. */
    public void offer(Storage s) {
        storage = s;
    }

    /** Called by the plugin's driver at exit. */
    public void withdraw(Storage s) {
        if (storage == s) {
            storage = null;
        }
    }

    /** The storage the loaded plugin offered. */
    public Storage storage() {
        Storage s = storage;
        if (s == null) {
            throw new IllegalStateException("no storage plugin is loaded");
        }
        return s;
    }

    /** Called by plugin code: run {@code flusher} when the host flushes, until removed. */
    public void onFlush(Runnable flusher) {
        flushers.add(flusher);
    }

    /** Called by plugin code. */
    public void removeFlush(Runnable flusher) {
        flushers.remove(flusher);
    }

    /** How many flush callbacks are registered. */
    public int flushers() {
        return flushers.size();
    }

    /** Drops everything plugin-provided (the end of a test). */
    public void forget() {
        flushers.clear();
        storage = null;
    }
}
