package dev.unloadguard.loader;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import dev.unloadguard.epoch.ReleaseGuard;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The host's leak explainer ({@link PluginLoader.Builder#leakExplainer}): asked once per LEAKED
 * generation with its class loader, synchronously and from the asynchronous check; its lines join
 * the suspects; one that throws is one line; never asked for a collected generation.
 */
class LeakExplainerTest {

    @TempDir
    static Path shared;

    @TempDir
    Path dir;

    private static Path pinning;
    private static Path clean;

    /** A host registry that keeps what a plugin hands it: a leak. */
    static final class Keeper implements Consumer<Object> {
        final List<Object> kept = new CopyOnWriteArrayList<>();

        @Override
        public void accept(Object o) {
            kept.add(o);
        }
    }

    @BeforeAll
    static void buildPlugins() throws IOException {
        pinning = PluginLoaderTest.compileJar(shared, "pinning", "pinning.PinningDriver", """
                package pinning;
                import dev.unloadguard.driver.*;
                import java.util.function.Consumer;
                public final class PinningDriver implements Driver {
                    public String id() { return "pinning"; }
                    @SuppressWarnings("unchecked")
                    public void init(DriverContext ctx) { ctx.service(Consumer.class).ifPresent(c -> c.accept(this)); }
                    public void exit() { }
                }
                """);
        clean = PluginLoaderTest.compileJar(shared, "clean", "clean.CleanDriver", """
                package clean;
                import dev.unloadguard.driver.*;
                public final class CleanDriver implements Driver {
                    public String id() { return "clean"; }
                    public void init(DriverContext ctx) { }
                    public void exit() { }
                }
                """);
    }

    @BeforeEach
    void needsNoAgent() {
        assumeFalse(ReleaseGuard.agentActive(), "this JVM runs with the agent: the integration tests cover it");
    }

    private PluginLoader.Builder builder(Keeper keeper) {
        return PluginLoader.builder().copyDirectory(dir.resolve("copies")).allowUnguardedUnload(true)
                .service(Consumer.class, keeper).collectionTimeout(Duration.ofMillis(800));
    }

    @Test
    void itsLinesJoinTheSuspectsOfALeakedGenerationAndItIsAskedWithThatLoader() throws Exception {
        Keeper keeper = new Keeper();
        List<String> asked = new CopyOnWriteArrayList<>();
        PluginLoader loader = builder(keeper).awaitCollection(true)
                .leakExplainer(cl -> {
                    asked.add(cl.getName());
                    return List.of("leak path: somewhere → " + cl.getName());
                }).build();
        Plugin p = loader.load(pinning);
        UnloadReport report = loader.unload(p, Duration.ofSeconds(10));
        assertEquals(PluginState.LEAKED, report.outcome(), report::toString);
        assertEquals(List.of(p.classLoaderName()), asked);
        assertTrue(report.leakSuspects().contains("leak path: somewhere → " + p.classLoaderName()), report::toString);
        assertTrue(report.leakSuspects().stream().anyMatch(s -> s.contains("host service java.util.function.Consumer")),
                () -> "its own suspects stay: " + report);
        assertTrue(report.leakSuspects().stream().noneMatch(s -> s.contains("LeakExplainer")),
                () -> "the explainer is no host service to scan: " + report);
        keeper.kept.clear();
    }

    @Test
    void asynchronouslyOnTheWatcherAndNeverForACollectedGeneration() throws Exception {
        Keeper keeper = new Keeper();
        List<String> asked = new CopyOnWriteArrayList<>();
        PluginLoader loader = builder(keeper).leakExplainer(cl -> {
            asked.add(Thread.currentThread().getName());
            return List.of("leak path: x");
        }).build();
        Plugin leaking = loader.load(pinning);
        Plugin fine = loader.load(clean);
        loader.unload(leaking, Duration.ofSeconds(10));
        loader.unload(fine, Duration.ofSeconds(10));
        UnloadReport leaked = leaking.collectionCheck().get(60, TimeUnit.SECONDS);
        assertEquals(PluginState.LEAKED, leaked.outcome(), leaked::toString);
        assertTrue(leaked.leakSuspects().contains("leak path: x"), leaked::toString);
        assertEquals(PluginState.COLLECTED, fine.collectionCheck().get(60, TimeUnit.SECONDS).outcome());
        assertEquals(1, asked.size(), () -> "asked once, for the leaked one only: " + asked);
        keeper.kept.clear();
    }

    @Test
    void oneThatThrowsIsOneLineNotAFailedUnload() throws Exception {
        Keeper keeper = new Keeper();
        PluginLoader loader = builder(keeper).awaitCollection(true).leakExplainer(cl -> {
            throw new IOException("disk full");
        }).build();
        Plugin p = loader.load(pinning);
        UnloadReport report = loader.unload(p, Duration.ofSeconds(10));
        assertEquals(PluginState.LEAKED, report.outcome(), report::toString);
        assertTrue(report.leakSuspects().stream().anyMatch(s -> s.startsWith("leak explainer ")
                && s.contains("could not explain " + p.classLoaderName() + ": java.io.IOException: disk full")), report::toString);
        keeper.kept.clear();
    }
}
