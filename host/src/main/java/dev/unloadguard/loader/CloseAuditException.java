package dev.unloadguard.loader;

import java.util.List;

/**
 * The close audit (step 5) found threads still running code of the plugin's class loader after
 * the release barrier: code no guard covers (a thread the plugin started and its exit hook did not
 * stop, in {@link GuardScope#RELEASE_PATHS}; a class defined before the agent attached; a frame
 * the weaving missed). Like every {@link UnloadTimeoutException}, nothing was closed: the plugin
 * stays {@link PluginState#GOING} and intact, and the unload can be retried once those threads
 * left. The message lists each thread with its stack.
 */
public final class CloseAuditException extends UnloadTimeoutException {

    private static final long serialVersionUID = 1L;

    private final CloseAudit audit;

    CloseAuditException(Plugin plugin, String report, List<String> threads, CloseAudit audit) {
        super(plugin, UnloadStep.AUDIT, report, List.of(), threads);
        this.audit = audit;
    }

    /** What the audit scanned and found. */
    public CloseAudit audit() {
        return audit;
    }

    /** The names of the threads that still had frames of the plugin's class loader. */
    public List<String> threads() {
        return threadsInsideEpoch();
    }
}
