package dev.unloadguard.it.fuzz;

/**
 * A session of a {@link Storage}: written to, then committed. Each call from the host is an entry
 * into the plugin ({@code commit}, not {@code close()}: the agent guards {@code close()V} as a
 * clean-up entry, which is never refused and so is not a crossing).
 */
public interface Session {

    /** Buffers {@code data}; the plugin registers a flush callback with the host until the session is committed. */
    void write(String data);

    void commit();
}
