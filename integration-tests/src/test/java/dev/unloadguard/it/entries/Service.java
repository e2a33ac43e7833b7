package dev.unloadguard.it.entries;

/**
 * A host service interface the entry-guard test plugins implement ({@code EntryGuardIT},
 * {@code Pf4jIT}): the host calls {@link #handle} on its own threads, as a request handler, an
 * event listener or an extension point would be called. Not a release path: with the guard scope
 * ENTRIES every such call is an entry into the plugin.
 */
public interface Service {

    /** Handles a request; the test plugins hold a request starting with {@code "hold"} on a gate. */
    String handle(String request);
}
