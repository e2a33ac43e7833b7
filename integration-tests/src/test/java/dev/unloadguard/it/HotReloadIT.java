package dev.unloadguard.it;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.device.Device;
import dev.unloadguard.driver.PluginUnloadedError;
import dev.unloadguard.it.support.BuiltJars;
import dev.unloadguard.it.support.ChildJvm;
import dev.unloadguard.it.support.HostBus;
import dev.unloadguard.it.support.TestPlugins;
import dev.unloadguard.loader.Plugin;
import dev.unloadguard.loader.PluginDirectory;
import dev.unloadguard.loader.PluginLoader;
import dev.unloadguard.loader.PluginState;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Hot reload: a directory of plugin jars followed by {@link PluginDirectory} and by {@code run --watch}. */
class HotReloadIT {

    private static final Duration SETTLE = Duration.ofMillis(200);

    private static Path version(String v) throws Exception {
        return TestPlugins.plugin().driver("it.hot.HotDriver").source("it.hot.HotDriver", """
                package it.hot;
                import dev.unloadguard.device.Device;
                import dev.unloadguard.driver.*;
                import dev.unloadguard.it.support.HostBus;
                public final class HotDriver implements Driver {
                    static final String VERSION = "%s";
                    private Device first;
                    public String id() { return "hot"; }
                    public void init(DriverContext ctx) {
                        HostBus bus = ctx.service(HostBus.class).orElseThrow();
                        first = ctx.createDevice(VERSION + "-dev0");
                        bus.hold(first.acquire());                       // the host keeps a reference
                        bus.hotplug(name -> ctx.createDevice(VERSION + "-" + name));
                    }
                    public void exit() { first.release(); first = null; }
                }
                """.formatted(v)).build("hot-" + v);
    }

    private static boolean has(List<String> events, String text) {
        return events.stream().anyMatch(e -> e.contains(text));
    }

    /**
     * The message of the refusal to create a device through {@code hotplug}: with every entry
     * guarded (the default), the call into the draining generation's lambda is refused at its
     * entry. Only the message leaves this frame.
     */
    private static String refusal(Function<String, Device> hotplug) {
        return assertThrows(PluginUnloadedError.class, () -> hotplug.apply("late")).getMessage();
    }

    /** Waits for an event line containing {@code text}; on timeout the failure lists every event. */
    private static void awaitEvent(List<String> events, String text) {
        try {
            await().atMost(Duration.ofSeconds(20)).until(() -> has(events, text));
        } catch (org.awaitility.core.ConditionTimeoutException e) {
            throw new AssertionError("no event containing '" + text + "'; events:\n" + String.join("\n", events), e);
        }
    }

    @Test
    void aReplacedJarLoadsAlongsideTheOldGenerationWhichDrainsAndARemovedJarUnloads(@TempDir Path dir) throws Exception {
        Path v1 = version("v1");
        Path v2 = version("v2");
        HostBus bus = new HostBus();
        PluginLoader loader = PluginLoader.builder().service(HostBus.class, bus).build();
        List<String> events = new CopyOnWriteArrayList<>();
        Path hot = dir.resolve("hot.jar");
        try (PluginDirectory watched = PluginDirectory.watch(loader, dir, SETTLE, Duration.ofSeconds(1), events::add)) {
            Files.copy(v1, hot);
            awaitEvent(events, "loaded hot generation 1 from hot.jar");
            // Generation 1's hotplug function is a plugin lambda: held only until checked, so the
            // test itself does not keep generation 1 alive.
            java.util.concurrent.atomic.AtomicReference<Function<String, Device>> gen1Hotplug =
                    new java.util.concurrent.atomic.AtomicReference<>(bus.hotplugFunction());
            Device gen1Held = bus.held().get(0);

            Files.copy(v2, hot, StandardCopyOption.REPLACE_EXISTING);
            Files.setLastModifiedTime(hot, FileTime.from(Instant.now().plusSeconds(1)));
            awaitEvent(events, "reloaded hot.jar: hot generation 2 is live, hot generation 1 unloading");
            await().atMost(Duration.ofSeconds(5)).until(() -> loader.plugins().size() == 2
                    && loader.plugins().get(0).state() == PluginState.GOING);
            Plugin gen2 = loader.plugin("hot").orElseThrow();
            assertEquals(2, gen2.generation());
            assertEquals(PluginState.LIVE, gen2.state());

            // New devices go to the new generation; the draining one refuses them.
            String refused = refusal(gen1Hotplug.getAndSet(null));
            assertTrue(refused.contains(" refused: plugin hot generation 1 is unloading"), refused);
            Device fresh = bus.createDevice("fresh");
            assertTrue(fresh.name().startsWith("v2-") && fresh.toString().contains("generation 2"), fresh::toString);
            assertTrue(fresh.release());
            await().during(Duration.ofMillis(500)).atMost(Duration.ofSeconds(5)).until(() -> !has(events, "unloaded hot generation 1"));

            assertTrue(gen1Held.release(), "the host drops generation 1's last reference");
            awaitEvent(events, "unloaded hot generation 1");
            awaitEvent(events, "collection check of hot generation 1: COLLECTED"); // later: the check is asynchronous

            for (Device d : bus.held()) {
                if (d != gen1Held) {
                    d.release();
                }
            }
            bus.forget();
            Files.delete(hot);
            awaitEvent(events, "unloaded hot generation 2");
            assertTrue(loader.plugins().isEmpty());
            assertTrue(watched.hosted().isEmpty());
        }
    }

    @Test
    void aJarBeingWrittenIsNotLoadedUntilItIsComplete(@TempDir Path dir) throws Exception {
        byte[] jar = Files.readAllBytes(version("v3"));
        HostBus bus = new HostBus();
        PluginLoader loader = PluginLoader.builder().service(HostBus.class, bus).build();
        List<String> events = new CopyOnWriteArrayList<>();
        Path partial = dir.resolve("partial.jar");
        try (PluginDirectory watched = PluginDirectory.watch(loader, dir, SETTLE, Duration.ofSeconds(1), events::add)) {
            try (OutputStream out = Files.newOutputStream(partial)) {
                out.write(Arrays.copyOf(jar, jar.length / 2));
            }
            await().during(SETTLE.multipliedBy(4)).atMost(Duration.ofSeconds(10)).until(() -> loader.plugins().isEmpty());
            assertFalse(has(events, "loaded hot"), events::toString);

            try (OutputStream out = Files.newOutputStream(partial, java.nio.file.StandardOpenOption.APPEND)) {
                out.write(Arrays.copyOfRange(jar, jar.length / 2, jar.length));
            }
            awaitEvent(events, "loaded hot generation 1 from partial.jar");
            bus.held().forEach(Device::release);
            bus.forget();
            loader.close();
            assertTrue(watched.hosted().containsKey(partial.toAbsolutePath().normalize()));
        }
    }

    @Test
    void theRunCommandHostsADirectoryUntilStopped(@TempDir Path dir) throws Exception {
        List<String> args = List.of(ChildJvm.javaagent(), "-jar", BuiltJars.cli().toString(), "run", "--watch", dir.toString(),
                "--host-classpath", BuiltJars.helperSample().toString(), "--settle-ms", "200");
        try (ChildJvm host = ChildJvm.java(args)) {
            host.awaitLine(l -> l.startsWith("hosting the jars in"), Duration.ofSeconds(30));
            Path jar = dir.resolve("xe.jar");
            Files.copy(BuiltJars.driverSample(), jar);
            host.awaitLine(l -> l.contains("loaded xe generation 1 from xe.jar"), Duration.ofSeconds(30));
            Files.setLastModifiedTime(jar, FileTime.from(Instant.now().plusSeconds(5)));
            host.awaitLine(l -> l.contains("reloaded xe.jar: xe generation 2 is live, xe generation 1 unloading"), Duration.ofSeconds(30));
            host.awaitLine(l -> l.contains("unloaded xe generation 1") && l.contains("UNLOADED"), Duration.ofSeconds(30));
            host.awaitLine(l -> l.contains("collection check of xe generation 1: COLLECTED"), Duration.ofSeconds(30));
            Files.delete(jar);
            host.awaitLine(l -> l.contains("unloaded xe generation 2"), Duration.ofSeconds(30));
        }
    }
}
