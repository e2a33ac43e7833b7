package dev.unloadguard.it.support;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * What every host-side test service shares: plugin code records what it observed (plain strings,
 * so recording never pins a plugin) and stops at named gates the test opens.
 */
public abstract class GatedRecorder {

    private final List<String> events = new CopyOnWriteArrayList<>();
    private final Map<String, CountDownLatch> gates = new ConcurrentHashMap<>();

    /** Records an observation (the plugin calls it). */
    public void record(String event) {
        events.add(event);
    }

    public List<String> events() {
        return List.copyOf(events);
    }

    public boolean saw(String event) {
        return events.contains(event);
    }

    /** Makes {@link #pass(String)} with this name block until {@link #openGate(String)}. */
    protected void closeGateNamed(String name) {
        gates.put(name, new CountDownLatch(1));
    }

    public void openGate(String name) {
        CountDownLatch g = gates.get(name);
        if (g != null) {
            g.countDown();
        }
    }

    public void openAllGates() {
        gates.values().forEach(CountDownLatch::countDown);
    }

    /**
     * Called by plugin code: records {@code "reached " + name}, then blocks while the gate of that
     * name is closed (bounded, so a forgotten gate cannot hang the build).
     */
    public void pass(String name) {
        record("reached " + name);
        CountDownLatch g = gates.get(name);
        if (g == null) {
            return;
        }
        try {
            if (!g.await(60, TimeUnit.SECONDS)) {
                throw new IllegalStateException("test gate " + name + " was never opened");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
