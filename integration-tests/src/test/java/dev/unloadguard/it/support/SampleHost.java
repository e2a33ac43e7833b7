package dev.unloadguard.it.support;

import dev.unloadguard.loader.Plugin;
import dev.unloadguard.loader.PluginLoader;
import dev.unloadguard.loader.UnloadReport;
import dev.unloadguard.loader.UnloadTimeoutException;
import dev.unloadguard.sample.helper.PagemapCache;
import dev.unloadguard.sample.helper.ReleaseTailHook;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * The host side of the reference scenario for one test: the helper sample's pagemap cache (its
 * worker thread drops the driver's pagemaps), a {@link RecordingTailHook} in the release tails,
 * and a loader builder offering both as services, with driver-sample configured for one card and
 * two pagemaps. As a JUnit extension ({@code @RegisterExtension final SampleHost host = new
 * SampleHost();}, one per test instance) it is closed after each test: the gate is opened and the
 * helper's worker stopped.
 */
public final class SampleHost implements AutoCloseable, AfterEachCallback {

    public final PagemapCache cache = new PagemapCache("pagemap-cache-worker");
    public final RecordingTailHook hook = new RecordingTailHook();

    /** A builder with the cache and the hook as services, one card, two pagemaps. */
    public PluginLoader.Builder builder() {
        return PluginLoader.builder()
                .awaitCollection(true) // the tests assert the outcome in the report unload returns
                .service(PagemapCache.class, cache)
                .service(ReleaseTailHook.class, hook)
                .config("xe.devices", "1")
                .config("xe.pagemaps", "2");
    }

    /** Runs {@code loader.unload(plugin, timeout)} on another thread. */
    public static CompletableFuture<UnloadReport> unloadAsync(PluginLoader loader, Plugin plugin, Duration timeout) {
        // A thread of its own per unload: the common pool may have a single worker (2 cores), and
        // then a second unload would queue behind a first one that is waiting.
        return CompletableFuture.supplyAsync(() -> {
            try {
                return loader.unload(plugin, timeout);
            } catch (UnloadTimeoutException | InterruptedException e) {
                throw new CompletionException(e);
            }
        }, task -> {
            Thread t = new Thread(task, "unload-" + plugin.id() + "-" + plugin.generation());
            t.setDaemon(true);
            t.start();
        });
    }

    @Override
    public void afterEach(ExtensionContext context) throws InterruptedException {
        close();
    }

    @Override
    public void close() throws InterruptedException {
        hook.openGate();
        cache.close();
    }
}
