package dev.unloadguard.testkit;

import dev.unloadguard.loader.Plugin;
import dev.unloadguard.loader.PluginLoader;
import dev.unloadguard.loader.UnloadReport;
import dev.unloadguard.loader.UnloadTimeoutException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.opentest4j.AssertionFailedError;

/**
 * A JUnit 5 extension that closes the {@link PluginLoader}s a test tracks and fails the test if
 * it left a plugin loaded. Register it on an instance field:
 *
 * <pre> {@code
 * @RegisterExtension
 * final NoPluginLeftLoaded noPluginLeftLoaded = new NoPluginLeftLoaded();
 *
 * @Test
 * void reloads() throws Exception {
 *     PluginLoader loader = noPluginLeftLoaded.track(PluginLoader.builder().build());
 *     Plugin plugin = loader.load(jar);
 *     ...
 *     assertUnloadsCleanly(loader, plugin, Duration.ofSeconds(10));
 * }}</pre>
 *
 * After each test, every plugin still loaded (LIVE or GOING) in a tracked loader is unloaded
 * (bounded by the timeout given to the constructor, default 30 s), the loader is closed, and the
 * test fails naming each such plugin with its unload report (or its timeout report, if it would
 * not unload: then its loader is left open, the plugin GOING and intact). A left-over that LEAKED
 * is named with its leak path (see {@link UnloadAssertions}).
 */
public final class NoPluginLeftLoaded implements AfterEachCallback {

    private final Duration unloadTimeout;
    private final List<PluginLoader> loaders = new CopyOnWriteArrayList<>();

    /** Unloads left-over plugins with a 30 s bound each. */
    public NoPluginLeftLoaded() {
        this(Duration.ofSeconds(30));
    }

    /** Unloads left-over plugins with {@code unloadTimeout} each. */
    public NoPluginLeftLoaded(Duration unloadTimeout) {
        this.unloadTimeout = Objects.requireNonNull(unloadTimeout, "unloadTimeout");
    }

    /** Tracks {@code loader} until the end of the current test; returns it. */
    public PluginLoader track(PluginLoader loader) {
        loaders.add(Objects.requireNonNull(loader, "loader"));
        return loader;
    }

    /** Unloads what the test left loaded, closes the tracked loaders, and fails if anything was left. */
    @Override
    public void afterEach(ExtensionContext context) throws Exception {
        List<String> leftLoaded = new ArrayList<>();
        try {
            for (PluginLoader loader : loaders) {
                for (Plugin plugin : loader.plugins()) {
                    leftLoaded.add(unloadLeftOver(loader, plugin));
                }
                if (loader.plugins().isEmpty()) {
                    loader.close();
                }
            }
        } finally {
            loaders.clear();
        }
        if (!leftLoaded.isEmpty()) {
            throw new AssertionFailedError(leftLoaded.size() + " plugin(s) left loaded by the test (unload each one in the "
                    + "test, e.g. with UnloadAssertions.assertUnloadsCleanly):\n" + String.join("\n", leftLoaded));
        }
    }

    private String unloadLeftOver(PluginLoader loader, Plugin plugin) throws InterruptedException {
        String left = "- " + plugin + " from " + plugin.jar();
        try {
            loader.unload(plugin, unloadTimeout);
            UnloadReport report = plugin.awaitCollectionCheck(); // the outcome now: a left-over that leaked says so
            return left + "; unloaded after the test:\n" + report
                    + (report.outcome() == dev.unloadguard.loader.PluginState.LEAKED ? LeakPathsInFailures.forReport(report) : "");
        } catch (UnloadTimeoutException e) {
            return left + "; it did not unload after the test either, it stays GOING and its loader open:\n" + e.getMessage();
        } catch (RuntimeException e) {
            return left + "; unloading it after the test threw " + e;
        }
    }
}
