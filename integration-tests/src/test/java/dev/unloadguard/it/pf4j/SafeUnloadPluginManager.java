package dev.unloadguard.it.pf4j;

import dev.unloadguard.loader.ForeignPluginLoaders;
import dev.unloadguard.loader.UnloadReport;
import dev.unloadguard.loader.UnloadTimeoutException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import org.pf4j.DefaultPluginManager;
import org.pf4j.PluginDescriptor;
import org.pf4j.PluginLoader;
import org.pf4j.PluginRuntimeException;
import org.pf4j.PluginState;

/**
 * The adapter a PF4J host writes to get unloadguard's release guard and safe unload sequence: a
 * {@link DefaultPluginManager} that
 * <ol>
 *   <li>registers every plugin class loader PF4J creates with the agent, right after PF4J
 *       creates it and before PF4J loads the plugin class from it ({@link #createPluginLoader()});</li>
 *   <li>unloads with stop → release barrier → PF4J's own unload, which closes the loader →
 *       confirm collection ({@link #unloadPlugin(String, boolean, boolean)}, which PF4J's public
 *       {@code unloadPlugin}, {@code unloadPlugins} and {@code deletePlugin} go through, and so do
 *       dependents unloaded with a plugin).</li>
 * </ol>
 * A release callback still running past the unload timeout leaves the plugin stopped but loaded
 * (its class loader open) and fails the unload with a {@link PluginRuntimeException} whose cause
 * is the {@link UnloadTimeoutException} report; unloading again retries.
 */
public class SafeUnloadPluginManager extends DefaultPluginManager {

    private final Duration unloadTimeout;
    private final Map<String, UnloadReport> reports = new ConcurrentHashMap<>();

    public SafeUnloadPluginManager(Duration unloadTimeout, Path... pluginsRoots) {
        super(pluginsRoots);
        this.unloadTimeout = Objects.requireNonNull(unloadTimeout, "unloadTimeout");
    }

    /** PF4J's own loaders (jar, directory, development), each loader they create guarded at once. */
    @Override
    protected PluginLoader createPluginLoader() {
        PluginLoader pf4j = super.createPluginLoader();
        return new PluginLoader() {
            @Override
            public boolean isApplicable(Path pluginPath) {
                return pf4j.isApplicable(pluginPath);
            }

            @Override
            public ClassLoader loadPlugin(Path pluginPath, PluginDescriptor pluginDescriptor) {
                return ForeignPluginLoaders.guard(pf4j.loadPlugin(pluginPath, pluginDescriptor));
            }
        };
    }

    @Override
    protected boolean unloadPlugin(String pluginId, boolean unloadDependents, boolean resolveDependencies) {
        if (!plugins.containsKey(pluginId)) {
            return false; // as PF4J: nothing to do
        }
        try {
            safeUnload(pluginId, unloadDependents, resolveDependencies);
            return true;
        } catch (UnloadTimeoutException e) {
            throw new PluginRuntimeException(e, "Plugin '{}' is stopped but still loaded: a release callback is still "
                    + "running its code; unload it again later", pluginId);
        }
    }

    /** {@code unloadPlugin(pluginId)} that returns unloadguard's report, or throws its timeout report. */
    public UnloadReport unloadWithReport(String pluginId) throws UnloadTimeoutException {
        checkPluginId(pluginId);
        return safeUnload(pluginId, true, true);
    }

    /** The report of the last unload of {@code pluginId}, if any. */
    public Optional<UnloadReport> unloadReport(String pluginId) {
        return Optional.ofNullable(reports.get(pluginId));
    }

    private UnloadReport safeUnload(String pluginId, boolean unloadDependents, boolean resolveDependencies)
            throws UnloadTimeoutException {
        UnloadReport report = ForeignPluginLoaders.unload("pf4j:" + pluginId,
                () -> getPluginClassLoader(pluginId),
                () -> {                                                         // 1. PF4J's stop
                    PluginState state = stopPlugin(pluginId, unloadDependents);
                    if (state.isStarted()) {
                        throw new PluginRuntimeException("Plugin '{}' did not stop: not unloading it", pluginId);
                    }
                },                                                              // 2. the release barrier
                () -> {                                                         // 3. PF4J closes the loader
                    if (!super.unloadPlugin(pluginId, unloadDependents, resolveDependencies)) {
                        throw new PluginRuntimeException("PF4J did not unload plugin '{}'", pluginId);
                    }
                },                                                              // 4. confirm collection
                unloadTimeout);
        reports.put(pluginId, report);
        return report;
    }
}
