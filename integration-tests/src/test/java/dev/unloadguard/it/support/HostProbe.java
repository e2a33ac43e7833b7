package dev.unloadguard.it.support;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A host-side service for purpose-built fault, leak and late-access plugins: the plugin records
 * what it observed (plain strings, so the probe never pins a plugin), stops at named gates the
 * test opens, and hands the host objects it keeps (release callbacks, runnables, devices) as a
 * host-side subsystem would. {@link #forget()} drops those, so the host keeps nothing of the plugin.
 */
public final class HostProbe extends GatedRecorder {

    private final List<Object> kept = new CopyOnWriteArrayList<>();

    /** Makes {@link #pass(String)} with this name block until {@link #openGate(String)}. */
    public HostProbe closeGate(String name) {
        closeGateNamed(name);
        return this;
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

    /**
     * Host code for a plugin's own thread to run: passes the gate {@code gate}, then runs
     * {@code body} (plugin code) and records what it threw, if anything. While it waits at the gate
     * the thread runs no plugin code (no frame of the plugin is on its stack).
     */
    public Runnable afterGate(String gate, Runnable body) {
        return () -> {
            pass(gate);
            try {
                body.run();
            } catch (Throwable t) {
                record("threw " + t);
            }
        };
    }

    /** Drops everything the host kept, so it keeps nothing of the plugin. */
    public void forget() {
        kept.clear();
    }
}
