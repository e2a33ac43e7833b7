package dev.unloadguard.loader;

import java.util.List;

/**
 * An unload that did not finish in time, or whose close audit found plugin code still running
 * ({@link CloseAuditException}). Nothing was closed: the plugin stays {@link PluginState#GOING}
 * and intact, and {@link PluginLoader#unload} can be called again. The message is the report: the
 * step that failed, the live devices with their reference counts, and the threads inside the
 * plugin (its release epoch, or for the audit its class loader's frames) with their stacks.
 */
public sealed class UnloadTimeoutException extends Exception permits CloseAuditException {

    private static final long serialVersionUID = 1L;

    private final transient Plugin plugin;
    private final UnloadStep step;
    private final List<String> liveDevices;
    private final List<String> threadsInsideEpoch;

    UnloadTimeoutException(Plugin plugin, UnloadStep step, String report, List<String> liveDevices,
                           List<String> threadsInsideEpoch) {
        super(report);
        this.plugin = plugin;
        this.step = step;
        this.liveDevices = List.copyOf(liveDevices);
        this.threadsInsideEpoch = List.copyOf(threadsInsideEpoch);
    }

    /**
     * The plugin, still GOING; {@code null} for an unload of a foreign host's loader
     * ({@link ForeignPluginLoaders}), which has no {@link Plugin} handle.
     */
    public Plugin plugin() {
        return plugin;
    }

    /**
     * The step that failed: {@link UnloadStep#DRAIN} or {@link UnloadStep#BARRIER} (out of time),
     * or {@link UnloadStep#AUDIT} (a {@link CloseAuditException}).
     */
    public UnloadStep step() {
        return step;
    }

    /** The devices still live, each with its reference count. */
    public List<String> liveDevices() {
        return liveDevices;
    }

    /** The names of the threads that were inside the release epoch (for the audit: that had frames of the plugin). */
    public List<String> threadsInsideEpoch() {
        return threadsInsideEpoch;
    }
}
