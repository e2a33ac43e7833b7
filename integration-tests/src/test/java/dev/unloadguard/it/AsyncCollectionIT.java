package dev.unloadguard.it;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.it.support.HostBus;
import dev.unloadguard.it.support.TestPlugins;
import dev.unloadguard.loader.Plugin;
import dev.unloadguard.loader.PluginLoadException;
import dev.unloadguard.loader.PluginLoader;
import dev.unloadguard.loader.PluginState;
import dev.unloadguard.loader.UnloadReport;
import java.lang.management.ManagementFactory;
import java.lang.ref.WeakReference;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import java.util.stream.Collectors;
import javax.management.MBeanServer;
import javax.management.ObjectName;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The asynchronous collection check (issue 11, target 1), with the agent and real plugin jars:
 * {@code unload} returns once the class loader is closed, and the outcome (COLLECTED, or LEAKED
 * with suspects at the deadline) reaches the plugin's state, its future, its MXBean and JFR later,
 * confirmed by the one watcher all pending unloads share.
 */
class AsyncCollectionIT {

    private static final Duration LONG = Duration.ofSeconds(30);
    private static final String WATCHER = "unloadguard-collection-watcher";

    private static Path clean;
    private static Path leaky;

    private final HostBus bus = new HostBus();
    private final List<PluginLoader> loaders = new ArrayList<>();

    @BeforeAll
    static void buildPlugins() throws Exception {
        clean = TestPlugins.plugin().driver("it.asyncclean.CleanDriver")
                .source("it.asyncclean.CleanDriver", """
                        package it.asyncclean;
                        import dev.unloadguard.device.Device;
                        import dev.unloadguard.driver.*;
                        public final class CleanDriver implements Driver {
                            private Device card;
                            public String id() { return "asyncclean"; }
                            @SuppressWarnings("unchecked")
                            public void init(DriverContext ctx) {
                                card = ctx.createDevice("card0");
                                // hands the host a weak reference to its class loader, if the host asks
                                ctx.service(java.util.function.Consumer.class)
                                        .ifPresent(c -> c.accept(new java.lang.ref.WeakReference<>(getClass().getClassLoader())));
                            }
                            public void exit() { card.release(); card = null; }
                        }
                        """)
                .build("asyncclean");
        leaky = TestPlugins.plugin().driver("it.asyncleak.LeakyDriver")
                .source("it.asyncleak.LeakyDriver", """
                        package it.asyncleak;
                        import dev.unloadguard.driver.*;
                        import dev.unloadguard.it.support.HostBus;
                        public final class LeakyDriver implements Driver {
                            public String id() { return "asyncleak"; }
                            public void init(DriverContext ctx) {
                                ctx.service(HostBus.class).orElseThrow().hotplug(name -> ctx.createDevice(name)); // never unregistered
                            }
                            public void exit() { }
                        }
                        """)
                .build("asyncleak");
    }

    @AfterEach
    void closeLoaders() throws Exception {
        bus.forget();
        for (PluginLoader l : loaders) {
            l.close();
        }
    }

    private PluginLoader loader(Duration collectionTimeout) {
        PluginLoader l = PluginLoader.builder().service(HostBus.class, bus).collectionTimeout(collectionTimeout).build();
        loaders.add(l);
        return l;
    }

    @Test
    void unloadReturnsAtTheCloseAndStateFutureMxBeanAndJfrTurnCollectedLater(@TempDir Path tmp) throws Exception {
        Path file = tmp.resolve("async.jfr");
        MBeanServer server = ManagementFactory.getPlatformMBeanServer();
        UnloadReport closed;
        UnloadReport checked;
        try (Recording recording = new Recording()) {
            List.of("PluginUnload", "CollectionCheck").forEach(e -> recording.enable("dev.unloadguard." + e).withThreshold(Duration.ZERO));
            recording.start();
            PluginLoader loader = loader(Duration.ofSeconds(10));
            Plugin plugin = loader.load(clean);
            closed = loader.unload(plugin, LONG);
            assertEquals(PluginState.UNLOADED, closed.outcome(), "unload returns at the close: " + closed);
            assertEquals(1, closed.devicesCreated());
            assertTrue(closed.agentActive());

            checked = plugin.collectionCheck().get(60, TimeUnit.SECONDS);
            assertEquals(PluginState.COLLECTED, checked.outcome(), checked::toString);
            assertTrue(checked.gcNudges() <= 1, "at most the one shared nudge: " + checked);
            assertEquals(PluginState.COLLECTED, plugin.state());
            assertEquals(checked, plugin.unloadReport().orElseThrow());
            ObjectName name = loader.mbeanName("asyncclean");
            assertEquals("COLLECTED", server.getAttribute(name, "State"), "the MXBean (and so the status command) flipped");
            assertTrue(((String) server.getAttribute(name, "LastUnloadReport")).contains("outcome: COLLECTED"));
            recording.stop();
            recording.dump(file);
        }
        Map<String, List<RecordedEvent>> byType = RecordingFile.readAllEvents(file).stream()
                .filter(e -> e.getEventType().getName().startsWith("dev.unloadguard.")
                        && "asyncclean".equals(e.getString("pluginId")))
                .collect(Collectors.groupingBy(e -> e.getEventType().getName().substring("dev.unloadguard.".length())));
        assertEquals("UNLOADED", byType.get("PluginUnload").get(0).getString("outcome"), byType::toString);
        RecordedEvent check = byType.get("CollectionCheck").get(0);
        assertEquals("COLLECTED", check.getString("outcome"));
        assertEquals(checked.gcNudges(), check.getInt("gcNudges"));
    }

    @Test
    void aLeakyPluginTurnsLeakedAtTheDeadlineWithSuspectsAndBlocksItsReload() throws Exception {
        PluginLoader loader = loader(Duration.ofSeconds(2));
        Plugin plugin = loader.load(leaky);
        assertEquals(PluginState.UNLOADED, loader.unload(plugin, LONG).outcome());
        UnloadReport leaked = plugin.collectionCheck().get(60, TimeUnit.SECONDS);
        assertEquals(PluginState.LEAKED, leaked.outcome(), leaked::toString);
        assertEquals(1, leaked.gcNudges(), "it was nudged once before its deadline: " + leaked);
        assertTrue(leaked.leakSuspects().stream().anyMatch(s -> s.contains("host service " + HostBus.class.getName())),
                leaked::toString);
        assertEquals(PluginState.LEAKED, plugin.state());
        assertEquals("LEAKED", ManagementFactory.getPlatformMBeanServer().getAttribute(loader.mbeanName("asyncleak"), "State"));
        PluginLoadException refused = assertThrows(PluginLoadException.class, () -> loader.load(leaky));
        assertTrue(refused.getMessage().contains("LEAKED"), refused::getMessage);
    }

    @Test
    void manyPendingUnloadsAreConfirmedTogetherEachWithAtMostOneNudge() throws Exception {
        PluginLoader loader = loader(Duration.ofSeconds(6));
        Plugin pinned = loader.load(leaky);
        loader.unload(pinned, LONG);
        List<Plugin> unloaded = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            Plugin p = loader.load(clean);
            assertEquals(PluginState.UNLOADED, loader.unload(p, LONG).outcome());
            unloaded.add(p);
        }
        Thread watcher = watcherThread();
        assertTrue(watcher.isDaemon(), "the watcher never keeps the JVM alive");
        for (Plugin p : unloaded) {
            UnloadReport r = p.collectionCheck().get(60, TimeUnit.SECONDS);
            assertEquals(PluginState.COLLECTED, r.outcome(), r::toString);
            assertTrue(r.gcNudges() <= 1, r::toString);
        }
        UnloadReport leaked = pinned.collectionCheck().get(60, TimeUnit.SECONDS);
        assertEquals(PluginState.LEAKED, leaked.outcome());
        assertEquals(1, leaked.gcNudges());
        bus.forget();
        await("the watcher thread ends once nothing is pending").atMost(LONG).until(() -> !watcher.isAlive());
    }

    @Test
    void aPendingCheckDoesNotPinThePlugin() throws Exception {
        AtomicReference<WeakReference<ClassLoader>> handed = new AtomicReference<>();
        Consumer<WeakReference<ClassLoader>> host = handed::set;
        PluginLoader loader = PluginLoader.builder().service(Consumer.class, host).collectionTimeout(Duration.ofSeconds(60)).build();
        loaders.add(loader);
        Plugin plugin = loader.load(clean);
        WeakReference<ClassLoader> cl = handed.get();
        loader.unload(plugin, LONG);
        await("the unloaded plugin is collectable while its check is pending (60 s deadline, nudge at 30 s)")
                .atMost(Duration.ofSeconds(20)).until(() -> {
                    System.gc();
                    return cl.refersTo(null);
                });
        assertEquals(PluginState.COLLECTED, plugin.collectionCheck().get(60, TimeUnit.SECONDS).outcome());
    }

    @Test
    void askingForTheAnswerNowGivesItInTheReport() throws Exception {
        PluginLoader sync = PluginLoader.builder().awaitCollection(true).build();
        loaders.add(sync);
        Plugin plugin = sync.load(clean);
        UnloadReport report = sync.unload(plugin, LONG);
        assertEquals(PluginState.COLLECTED, report.outcome(), report::toString);
        assertEquals(report, plugin.collectionCheck().getNow(null));

        PluginLoader async = loader(Duration.ofSeconds(60));
        Plugin other = async.load(clean);
        async.unload(other, LONG);
        UnloadReport now = other.awaitCollectionCheck();
        assertEquals(PluginState.COLLECTED, now.outcome(), now::toString);
        assertTrue(now.gcNudges() >= 1, "nudged on this thread: " + now);
        assertEquals(now, other.collectionCheck().get(10, TimeUnit.SECONDS));
    }

    private static Thread watcherThread() {
        return Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().equals(WATCHER)).findFirst()
                .orElseThrow(() -> new AssertionError("no " + WATCHER + " thread while checks are pending"));
    }
}
