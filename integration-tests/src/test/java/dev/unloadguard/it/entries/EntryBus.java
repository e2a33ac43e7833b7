package dev.unloadguard.it.entries;

import dev.unloadguard.it.support.KeepingRecorder;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The host side of the entry-guard tests: plugins hand the host named objects (services,
 * listeners) and record what they saw as plain strings (so nothing recorded pins a plugin), and
 * plugin code stops at named gates the test opens ({@link #pass}). Host code fetches what the plugin
 * handed it by name at the moment of the call ({@link #kept}), so no host frame or field holds a
 * plugin object longer than the host means to; {@link #forget()} drops them all.
 */
public final class EntryBus extends KeepingRecorder<EntryBus> {

    private final Map<String, Boolean> stops = new ConcurrentHashMap<>();
    private final Set<String> open = ConcurrentHashMap.newKeySet();
    private volatile boolean allOpen;
    /** Notified on every event, for {@link #awaitEvent} (child JVMs have no Awaitility). */
    private final Object eventMonitor = new Object();

    @Override
    public void record(String event) {
        super.record(event);
        synchronized (eventMonitor) {
            eventMonitor.notifyAll();
        }
    }

    /** Waits until {@code event} was recorded, at most {@code bound}; returns whether it was. */
    public boolean awaitEvent(String event, Duration bound) throws InterruptedException {
        long deadline = System.nanoTime() + bound.toNanos();
        synchronized (eventMonitor) {
            while (!saw(event)) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                java.util.concurrent.TimeUnit.NANOSECONDS.timedWait(eventMonitor, left);
            }
            return true;
        }
    }

    /**
     * Called by plugin code: records {@code "reached " + name}, then spins (never parks: a virtual
     * thread stays mounted on its carrier) until {@link #openSpin(String)}, at most 60 s.
     */
    public void spin(String name) {
        record("reached " + name);
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (!allOpen && !open.contains(name) && System.nanoTime() - deadline < 0) {
            Thread.onSpinWait();
        }
    }

    /** Opens every gate and lets every spin return. */
    @Override
    public void openAllGates() {
        allOpen = true;
        super.openAllGates();
    }

    /** Lets {@link #spin(String)} with this name return. */
    public void openSpin(String name) {
        open.add(name);
    }

    /** Called by plugin code: records {@code what + " " + request} (the concatenation is host code). */
    public void event(String what, String request) {
        record(what + " " + request);
    }

    /** The host asks the plugin's threads named {@code name} to stop (a host-side switch, read by plugin code). */
    public void requestStop(String name) {
        stops.put(name, Boolean.TRUE);
    }

    /** Called by plugin code: whether the host asked threads named {@code name} to stop. */
    public boolean stopRequested(String name) {
        return stops.containsKey(name);
    }
}
