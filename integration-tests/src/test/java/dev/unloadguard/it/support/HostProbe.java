package dev.unloadguard.it.support;

import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * A host-side service for purpose-built fault, leak and late-access plugins: the plugin records
 * what it observed (plain strings, so the probe never pins a plugin), stops at named gates the
 * test opens, and hands the host objects it keeps (release callbacks, runnables, devices) as a
 * host-side subsystem would. {@link #forget()} drops those, so the host keeps nothing of the plugin.
 */
public final class HostProbe {

    private final List<String> events = new CopyOnWriteArrayList<>();
    private final ConcurrentHashMap<String, CountDownLatch> gates = new ConcurrentHashMap<>();
    private final List<Object> kept = new CopyOnWriteArrayList<>();

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
    public HostProbe closeGate(String name) {
        gates.put(name, new CountDownLatch(1));
        return this;
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

    /** The host keeps an object the plugin handed it (a callback, a runnable, a device). */
    public void keep(Object o) {
        kept.add(o);
    }

    /** The first kept object of {@code type}. */
    public <T> T kept(Class<T> type) {
        return kept.stream().filter(type::isInstance).map(type::cast).findFirst()
                .orElseThrow(() -> new IllegalStateException("the plugin handed the host no " + type.getName() + "; kept: " + kept));
    }

    /** Drops everything the host kept, so it keeps nothing of the plugin. */
    public void forget() {
        kept.clear();
    }
}
