package dev.unloadguard.it;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.it.scenario.TailDepthScenario;
import dev.unloadguard.it.support.BuiltJars;
import dev.unloadguard.it.support.ChildJvm;
import dev.unloadguard.it.support.RecordingTailHook;
import dev.unloadguard.it.support.SampleHost;
import dev.unloadguard.it.support.TestPlugins;
import dev.unloadguard.loader.LoadOption;
import dev.unloadguard.loader.Plugin;
import dev.unloadguard.loader.PluginLoader;
import dev.unloadguard.loader.PluginState;
import dev.unloadguard.driver.PluginUnloadedError;
import dev.unloadguard.loader.UnloadReport;
import dev.unloadguard.loader.UnloadTimeoutException;
import dev.unloadguard.sample.helper.PagemapCache;
import dev.unloadguard.sample.helper.ReleaseTailHook;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import java.util.stream.Collectors;
import javax.management.MBeanServer;
import javax.management.ObjectName;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** JFR events, the per-plugin MXBean and the status command. */
class ObservabilityIT {

    private static final List<String> EVENTS = List.of("PluginLoad", "PluginUnload", "BarrierWait", "UnloadTimeout",
            "LeakDetected", "LateAccess", "EntryRefused");

    @Test
    void jfrRecordsLoadsUnloadsBarrierWaitsTimeoutsLeaksLateAccessesAndRefusedEntries(@TempDir Path tmp) throws Exception {
        Path file = tmp.resolve("unloadguard.jfr");
        try (Recording recording = new Recording()) {
            EVENTS.forEach(e -> recording.enable("dev.unloadguard." + e).withThreshold(Duration.ZERO));
            recording.start();
            unloadWithABarrierWaitAndATimeout();
            leakAndAccessLate();
            recording.stop();
            recording.dump(file);
        }
        Map<String, List<RecordedEvent>> byType = RecordingFile.readAllEvents(file).stream()
                .filter(e -> e.getEventType().getName().startsWith("dev.unloadguard."))
                .collect(Collectors.groupingBy(e -> e.getEventType().getName().substring("dev.unloadguard.".length())));
        for (String type : EVENTS) {
            assertTrue(byType.containsKey(type), () -> "no " + type + " event; recorded: " + byType.keySet());
        }
        RecordedEvent load = byType.get("PluginLoad").stream().filter(e -> e.getString("pluginId").equals("xe")).findFirst().orElseThrow();
        assertEquals(1, load.getInt("generation"));
        assertTrue(load.getString("classLoader").startsWith("plugin:driver-sample"), load::toString);

        RecordedEvent unload = byType.get("PluginUnload").stream().filter(e -> e.getString("pluginId").equals("xe")).findFirst().orElseThrow();
        assertEquals("COLLECTED", unload.getString("outcome"));
        assertEquals("WAITED", unload.getString("barrier"));
        assertTrue(unload.getDuration("releaseBarrier").toNanos() > 0 && unload.getDuration("drain").toNanos() > 0, unload::toString);
        assertTrue(unload.getBoolean("agentActive"));
        assertEquals("ENTRIES", unload.getString("guardScope"));

        RecordedEvent barrier = byType.get("BarrierWait").get(0);
        assertEquals("xe", barrier.getString("pluginId"));
        assertEquals("WAITED", barrier.getString("outcome"));

        RecordedEvent timeout = byType.get("UnloadTimeout").get(0);
        assertEquals("DRAIN", timeout.getString("step"));
        assertTrue(timeout.getString("liveDevices").contains("xe/card0"), timeout::toString);

        RecordedEvent leak = byType.get("LeakDetected").get(0);
        assertEquals("obs", leak.getString("pluginId"));

        RecordedEvent late = byType.get("LateAccess").get(0);
        assertEquals("obs", late.getString("pluginId"));
        assertEquals("it.obs.Late", late.getString("className"));

        RecordedEvent refused = byType.get("EntryRefused").get(0);
        assertEquals("obs", refused.getString("pluginId"));
        assertEquals(2, refused.getInt("generation"));
        assertTrue(refused.getString("method").startsWith("it.obs.ObsDriver.lambda$"), refused::toString);
    }

    private static void unloadWithABarrierWaitAndATimeout() throws Exception {
        RecordingTailHook hook = new RecordingTailHook().closeGate();
        try (PagemapCache cache = new PagemapCache("pagemap-cache-worker")) {
            PluginLoader loader = PluginLoader.builder().service(PagemapCache.class, cache).service(ReleaseTailHook.class, hook)
                    .config("xe.devices", "1").awaitCollection(true).build();
            Plugin plugin = loader.load(BuiltJars.driverSample());
            assertThrows(UnloadTimeoutException.class, () -> loader.unload(plugin, Duration.ofMillis(100)));
            cache.dropAllLater();
            await().atMost(Duration.ofSeconds(10)).until(hook::lastTailReached);
            CompletableFuture<UnloadReport> unload = SampleHost.unloadAsync(loader, plugin, Duration.ofSeconds(30));
            await().during(Duration.ofMillis(200)).atMost(Duration.ofSeconds(5)).until(() -> !unload.isDone());
            hook.openGate();
            assertEquals(PluginState.COLLECTED, unload.get().outcome());
        } finally {
            hook.openGate();
        }
    }

    private static void leakAndAccessLate() throws Exception {
        Path jar = TestPlugins.plugin().driver("it.obs.ObsDriver")
                .source("it.obs.ObsDriver", """
                        package it.obs;
                        import dev.unloadguard.driver.*;
                        import java.util.function.Consumer;
                        public final class ObsDriver implements Driver {
                            public String id() { return "obs"; }
                            @SuppressWarnings("unchecked")
                            public void init(DriverContext ctx) {
                                Consumer<Runnable> host = ctx.service(Consumer.class).orElseThrow();
                                host.accept(() -> new Late().touch());  // an unguarded path the host runs later
                            }
                            public void exit() { }
                        }
                        """)
                .source("it.obs.Late", """
                        package it.obs;
                        final class Late { void touch() { } }
                        """)
                .build("obs");
        AtomicReference<Runnable> kept = new AtomicReference<>();
        Consumer<Runnable> host = kept::set;
        // release paths only: the late Runnable runs and asks the closed loader for a class (a late access)
        PluginLoader loader = PluginLoader.builder().service(Consumer.class, host)
                .collectionTimeout(Duration.ofMillis(300)).awaitCollection(true).build();
        Plugin plugin = loader.load(jar, LoadOption.GUARD_RELEASE_PATHS_ONLY);
        UnloadReport report = loader.unload(plugin, Duration.ofSeconds(10));
        assertEquals(PluginState.LEAKED, report.outcome(), "the host keeps the plugin's Runnable");
        PluginUnloadedError late = assertThrows(PluginUnloadedError.class, () -> kept.get().run());
        assertTrue(late.getMessage().contains("plugin obs generation 1 was unloaded at"), late::getMessage);
        assertEquals(1, plugin.lateAccesses());
        kept.set(null);

        // every entry guarded (the default): the same late Runnable is refused at its entry
        Plugin second = loader.load(jar, LoadOption.IGNORE_LEAKED_GENERATIONS);
        loader.unload(second, Duration.ofSeconds(10));
        PluginUnloadedError refused = assertThrows(PluginUnloadedError.class, () -> kept.get().run());
        assertTrue(refused.getMessage().contains(" refused: plugin obs generation 2 was unloaded at"), refused::getMessage);
        assertEquals(1, second.refusedEntries());
        kept.set(null);
    }

    @Test
    void eachPluginIdHasAnMXBeanWithStateGenerationDevicesAndTheLastReport() throws Exception {
        MBeanServer server = ManagementFactory.getPlatformMBeanServer();
        try (PagemapCache cache = new PagemapCache("pagemap-cache-worker")) {
            PluginLoader loader = PluginLoader.builder().service(PagemapCache.class, cache).config("xe.devices", "1").awaitCollection(true).build();
            Plugin plugin = loader.load(BuiltJars.driverSample());
            ObjectName name = loader.mbeanName("xe");
            assertEquals("LIVE", server.getAttribute(name, "State"));
            assertEquals(1, server.getAttribute(name, "Generation"));
            assertEquals(1, server.getAttribute(name, "LiveDevices"));
            assertEquals(1, server.getAttribute(name, "LoadedGenerations"));
            assertEquals("", server.getAttribute(name, "LastUnloadReport"));
            cache.dropAllLater();
            loader.unload(plugin, Duration.ofSeconds(30));
            assertEquals("COLLECTED", server.getAttribute(name, "State"));
            assertEquals(0, server.getAttribute(name, "LiveDevices"));
            assertTrue(((String) server.getAttribute(name, "LastUnloadReport")).contains("unload of plugin xe generation 1"));
            loader.close();
            assertFalse(server.isRegistered(name), "closing the loader unregisters its MBeans");
        }
    }

    /**
     * Dependencies in the MXBean and the load event: the dependency's MXBean lists its exports and
     * its dependents, the dependent's its resolved dependencies; the dependent's PluginLoad event
     * names them (greeting-sample and welcome-sample, the built samples).
     */
    @Test
    void theMXBeanAndTheLoadEventShowDependencies(@TempDir Path tmp) throws Exception {
        MBeanServer server = ManagementFactory.getPlatformMBeanServer();
        Path file = tmp.resolve("deps.jfr");
        PluginLoader loader = PluginLoader.builder().awaitCollection(true).build();
        try (Recording recording = new Recording()) {
            recording.enable("dev.unloadguard.PluginLoad").withThreshold(Duration.ZERO);
            recording.start();
            Plugin greeting = loader.load(BuiltJars.greetingSample());
            Plugin welcome = loader.load(BuiltJars.welcomeSample());
            recording.stop();
            recording.dump(file);
            ObjectName g = loader.mbeanName("greeting");
            ObjectName w = loader.mbeanName("welcome");
            assertEquals("1.0.0", server.getAttribute(g, "Version"));
            assertEquals(List.of("dev.unloadguard.sample.greeting.api"), List.of((String[]) server.getAttribute(g, "Exports")));
            assertEquals(List.of(), List.of((String[]) server.getAttribute(g, "Dependencies")));
            assertEquals(List.of("welcome generation " + welcome.generation()), List.of((String[]) server.getAttribute(g, "Dependents")));
            assertEquals(List.of("greeting generation " + greeting.generation() + " version 1.0.0"),
                    List.of((String[]) server.getAttribute(w, "Dependencies")));
            assertEquals(List.of(), List.of((String[]) server.getAttribute(w, "Dependents")));

            loader.unloadWithDependents(greeting, Duration.ofSeconds(30));
            assertEquals(List.of(), List.of((String[]) server.getAttribute(g, "Dependents")), "nothing depends on an unloaded plugin");
            assertEquals(List.of(), List.of((String[]) server.getAttribute(w, "Dependencies")));
        } finally {
            loader.close();
        }
        List<RecordedEvent> loads = RecordingFile.readAllEvents(file).stream()
                .filter(e -> e.getEventType().getName().equals("dev.unloadguard.PluginLoad")).collect(Collectors.toList());
        RecordedEvent welcomeLoad = loads.stream().filter(e -> e.getString("pluginId").equals("welcome")).findFirst().orElseThrow();
        assertEquals("greeting generation 1 version 1.0.0", welcomeLoad.getString("dependencies"));
        assertEquals("1.0.0", welcomeLoad.getString("version"));
        RecordedEvent greetingLoad = loads.stream().filter(e -> e.getString("pluginId").equals("greeting")).findFirst().orElseThrow();
        assertEquals("", greetingLoad.getString("dependencies"));
    }

    /**
     * {@code status} names each plugin's version and dependencies: a {@code run --watch} host (the
     * real command line) with greeting-sample and welcome-sample dropped in its directory.
     */
    @Test
    void theStatusCommandShowsDependencies(@TempDir Path tmp) throws Exception {
        Path plugins = java.nio.file.Files.createDirectory(tmp.resolve("plugins"));
        java.nio.file.Files.copy(BuiltJars.welcomeSample(), plugins.resolve("welcome.jar")); // before its dependency: any order
        java.nio.file.Files.copy(BuiltJars.greetingSample(), plugins.resolve("greeting.jar"));
        try (ChildJvm host = ChildJvm.java(List.of(ChildJvm.javaagent(), "-jar", BuiltJars.cli().toString(), "run", "--watch",
                plugins.toString(), "--settle-ms", "100"))) {
            host.awaitLine(l -> l.contains("loaded welcome generation"), Duration.ofSeconds(30));
            try (ChildJvm status = ChildJvm.java(List.of("-jar", BuiltJars.cli().toString(), "status", Long.toString(host.pid())))) {
                assertEquals(0, status.waitFor(Duration.ofMinutes(1)), status::output);
                String out = status.output();
                assertTrue(out.contains("2 plugin id(s)"), out);
                assertTrue(out.lines().anyMatch(l -> l.matches("\\s+version 1\\.0\\.0; required by welcome generation \\d+; exports "
                        + "dev\\.unloadguard\\.sample\\.greeting\\.api")), out);
                assertTrue(out.lines().anyMatch(l -> l.matches("\\s+version 1\\.0\\.0; requires greeting generation \\d+ version 1\\.0\\.0")), out);
            }
            // SIGTERM: the host's shutdown unloads every plugin, the dependent before its dependency
            ProcessHandle.of(host.pid()).orElseThrow().destroy();
            host.waitFor(Duration.ofMinutes(1)); // the status a signal gives: not asserted, it differs by platform
            assertTrue(host.lines().contains("stopped: every plugin unloaded"), host::output);
        }
    }

    @Test
    void theStatusCommandListsThePluginsOfARunningJvm() throws Exception {
        try (ChildJvm target = ChildJvm.start(List.of(ChildJvm.javaagent()), TailDepthScenario.class.getName(),
                BuiltJars.driverSample().toString(), "wait")) {
            target.awaitLine(l -> l.startsWith("loaded="), Duration.ofSeconds(30));
            try (ChildJvm status = ChildJvm.java(List.of("-jar", BuiltJars.cli().toString(), "status", Long.toString(target.pid())))) {
                assertEquals(0, status.waitFor(Duration.ofMinutes(1)), status::output);
                String out = status.output();
                assertTrue(out.contains("1 plugin id(s)"), out);
                assertTrue(out.lines().anyMatch(l -> l.matches("1\\s+xe\\s+1\\s+LIVE\\s+1\\s+0\\s+0\\s+.*driver-sample.*\\.jar")), out);
            }
            target.send("go");
            assertEquals(0, target.waitFor(Duration.ofMinutes(1)), target::output);
        }
    }
}
