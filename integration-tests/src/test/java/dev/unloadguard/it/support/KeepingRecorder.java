package dev.unloadguard.it.support;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A {@link GatedRecorder} whose host also keeps named objects a plugin hands it (services,
 * listeners, callbacks), fetched by name at the moment of use ({@link #kept}) so no host frame or
 * field holds a plugin object longer than the host means to; {@link #forget()} drops them all.
 *
 * @param <B> the bus itself, so {@link #closeGate} chains on it
 */
public abstract class KeepingRecorder<B extends KeepingRecorder<B>> extends GatedRecorder {

    private final Map<String, Object> kept = new ConcurrentHashMap<>();

    /** Makes {@link #pass(String)} with this name block until {@link #openGate(String)}. */
    @SuppressWarnings("unchecked")
    public B closeGate(String name) {
        closeGateNamed(name);
        return (B) this;
    }

    /** Called by plugin code: the host keeps an object the plugin handed it, under a name. */
    public void keep(String name, Object o) {
        kept.put(name, o);
    }

    /** The object kept under {@code name}. */
    public <T> T kept(String name, Class<T> type) {
        Object o = kept.get(name);
        if (o == null) {
            throw new IllegalStateException("the plugin handed the host nothing named " + name + "; kept: " + kept.keySet());
        }
        return type.cast(o);
    }

    /** Drops one object the host kept. */
    public void drop(String name) {
        kept.remove(name);
    }

    /** Drops everything plugin-provided. */
    public void forget() {
        kept.clear();
    }
}
