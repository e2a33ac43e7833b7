package dev.unloadguard.pf4j;

import dev.unloadguard.loader.ForeignPluginLoaders;
import dev.unloadguard.loader.GuardScope;
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
 * PF4J's {@link DefaultPluginManager} with unloadguard's release guard and safe unload sequence:
 *
 * <pre> {@code
 * PluginManager plugins = new SafeUnloadPluginManager(Duration.ofSeconds(10), Path.of("plugins"));
 * plugins.loadPlugins();
 * plugins.startPlugins();
 * ...
 * plugins.unloadPlugin("hello");   // stop, release barrier, PF4J's unload, confirm collection}</pre>
 *
 * It
 * <ol>
 *   <li>registers every plugin class loader PF4J creates with the agent
 *       ({@link ForeignPluginLoaders#guard}), right after PF4J creates it and before PF4J loads
 *       the plugin class from it ({@link #createPluginLoader()}): by default every entry into
 *       the plugin (extension and plugin methods the host calls, the plugin's threads, its release
 *       callbacks) then runs inside that loader's release epoch, and once an unload starts a new
 *       call from outside fails at the call with {@code PluginUnloadedError}
 *       ({@link GuardScope#ENTRIES}; {@link GuardScope#RELEASE_PATHS} guards release callbacks
 *       only);</li>
 *   <li>unloads with stop → release barrier → PF4J's own unload, which closes the loader →
 *       confirm collection ({@link ForeignPluginLoaders#unload}, from
 *       {@link #unloadPlugin(String, boolean, boolean)}, which PF4J's public
 *       {@code unloadPlugin}, {@code unloadPlugins} and {@code deletePlugin} go through, and so do
 *       dependents unloaded with a plugin).</li>
 * </ol>
 * {@link #unloadWithReport(String)} returns unloadguard's {@link UnloadReport} (barrier outcome,
 * step times, COLLECTED or LEAKED with suspects); {@link #unloadReport(String)} keeps the last one
 * of each plugin for unloads started through PF4J's own methods.
 *
 * <p>PF4J's class loaders have no name, so the close audit (a scan of every thread for frames of
 * the plugin's loader, which needs the loader's name) does not run for them: the release
 * barrier is what the adapter relies on.
 *
 * <p>Plugin code still running past the unload timeout leaves the plugin stopped but loaded
 * (its class loader open) and fails the unload with a {@link PluginRuntimeException} whose cause
 * is the {@link UnloadTimeoutException} report; unloading again retries. The JVM must run with
 * {@code -javaagent:unloadguard-agent.jar}, or release callbacks are not guarded (a warning is
 * logged and the report says UNGUARDED). What a PF4J host does not get (no device count, only
 * guarded release paths are waited for) is said in {@link ForeignPluginLoaders}.
 *
 * <p>Tested with PF4J 3.15.0; PF4J itself is a {@code provided} dependency of this artifact: the
 * host's own PF4J is used.
 */
public class SafeUnloadPluginManager extends DefaultPluginManager {

    private final Duration unloadTimeout;
    private final GuardScope scope;
    private final Map<String, UnloadReport> reports = new ConcurrentHashMap<>();

    /**
     * @param unloadTimeout bounds PF4J's stop and the release barrier of each unload together
     * @param pluginsRoots  as for {@link DefaultPluginManager#DefaultPluginManager(Path...)}
     */
    public SafeUnloadPluginManager(Duration unloadTimeout, Path... pluginsRoots) {
        this(unloadTimeout, GuardScope.ENTRIES, pluginsRoots);
    }

    /**
     * @param unloadTimeout bounds PF4J's stop and the release barrier of each unload together
     * @param scope         what the agent guards in the plugins: {@link GuardScope#ENTRIES} (the
     *                      default: every entry into a plugin, so an unload waits for host calls
     *                      in flight and refuses new ones) or {@link GuardScope#RELEASE_PATHS}
     *                      (release callbacks only)
     * @param pluginsRoots  as for {@link DefaultPluginManager#DefaultPluginManager(Path...)}
     */
    public SafeUnloadPluginManager(Duration unloadTimeout, GuardScope scope, Path... pluginsRoots) {
        super(pluginsRoots);
        this.unloadTimeout = Objects.requireNonNull(unloadTimeout, "unloadTimeout");
        this.scope = Objects.requireNonNull(scope, "scope");
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
                return ForeignPluginLoaders.guard(pf4j.loadPlugin(pluginPath, pluginDescriptor), scope);
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

    /**
     * {@code unloadPlugin(pluginId)} (dependents too) that returns unloadguard's report.
     *
     * @throws UnloadTimeoutException if a release callback was still running when the timeout
     *         elapsed: the plugin is stopped but still loaded, call again to retry
     * @throws org.pf4j.PluginNotFoundException if no plugin {@code pluginId} is loaded (PF4J's check)
     */
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
