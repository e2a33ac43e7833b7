package dev.unloadguard.it.pf4j;

import dev.unloadguard.driver.ReleaseCallback;

/**
 * The host API the test's PF4J plugin implements (next to extending {@code org.pf4j.Plugin}):
 * it hands the host a release callback, which a host library calls later from its own worker
 * thread, as a PF4J host's cache or event bus would.
 */
public interface CallbackPlugin {

    /** A callback whose tail reports to {@code gate} and may be held there. */
    ReleaseCallback releaseCallback(TailGate gate);
}
