package dev.unloadguard.loader;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.epoch.ReleaseGuard;
import dev.unloadguard.epoch.internal.PluginEpochClass;
import dev.unloadguard.epoch.internal.ReleaseEpoch;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The plugin loader defines its generation's epoch class ({@link PluginEpochClass}) itself, from
 * the runtime's bytes, whatever the plugin's jar holds under that name, in either isolation
 * policy, once, and also after it was closed; the rest of the epoch class's package stays
 * unloadguard's. Runs without the agent.
 */
class EpochClassTest {

    @TempDir
    Path dir;

    /** A plugin jar that ships its own "epoch class" (not a class file at all) and another class of that package. */
    private Path forgingJar() throws Exception {
        Path jar = dir.resolve("forger.jar");
        try (OutputStream os = Files.newOutputStream(jar); JarOutputStream out = new JarOutputStream(os)) {
            for (String name : List.of(PluginEpochClass.INTERNAL_NAME + ".class", "dev/unloadguard/epoch/woven/Other.class")) {
                out.putNextEntry(new JarEntry(name));
                out.write("forged: not the runtime's class".getBytes(StandardCharsets.UTF_8));
                out.closeEntry();
            }
        }
        return jar;
    }

    private PluginClassLoader loader(Path jar, IsolationPolicy policy, ReleaseEpoch epoch) throws Exception {
        return new PluginClassLoader("plugin:forger", new java.net.URL[] {jar.toUri().toURL()}, PluginLoader.class.getClassLoader(),
                PluginLoader.class.getClassLoader(), epoch, policy, List.of(), Map.of());
    }

    @Test
    void theLoaderDefinesTheRuntimesEpochClassAndIgnoresThePluginsCopy() throws Exception {
        Path jar = forgingJar();
        for (IsolationPolicy policy : IsolationPolicy.values()) {
            ReleaseEpoch epoch = new ReleaseEpoch("forger", true);
            try (PluginClassLoader cl = loader(jar, policy, epoch)) {
                assertTrue(PluginEpochClass.definedBy(cl), "the weaver reads the epoch from the epoch class for this loader");
                Class<?> c = Class.forName(PluginEpochClass.NAME, true, cl); // the jar's bytes would be a ClassFormatError
                assertSame(cl, c.getClassLoader(), policy + ": defined by the plugin loader itself");
                assertSame(c, cl.loadClass(PluginEpochClass.NAME), "once");
                Object constant = c.getField(PluginEpochClass.FIELD).get(null);
                assertInstanceOf(ReleaseGuard.epochConstantClass(), constant);
                int token = ReleaseGuard.enter(constant);
                assertEquals(1, epoch.depth(), "the generation's own epoch");
                ReleaseGuard.exit(constant, token);
                assertEquals(0, epoch.depth());

                ClassNotFoundException other = assertThrows(ClassNotFoundException.class,
                        () -> cl.loadClass("dev.unloadguard.epoch.woven.Other"));
                assertTrue(other.getMessage().contains("cannot use"), other.getMessage());
            }
        }
    }

    @Test
    void threadsAskingAtOnceGetOneClassAndAClosedLoaderStillDefinesIt() throws Exception {
        Path jar = forgingJar();
        PluginClassLoader cl = loader(jar, IsolationPolicy.PLUGIN_FIRST, new ReleaseEpoch("forger", true));
        ExecutorService pool = Executors.newFixedThreadPool(6);
        try {
            CountDownLatch start = new CountDownLatch(1);
            List<Future<Class<?>>> seen = new ArrayList<>();
            for (int i = 0; i < 6; i++) {
                seen.add(pool.submit(() -> {
                    start.await();
                    return Class.forName(PluginEpochClass.NAME, false, cl);
                }));
            }
            start.countDown();
            Class<?> first = seen.get(0).get(30, TimeUnit.SECONDS);
            for (Future<Class<?>> f : seen) {
                assertSame(first, f.get(30, TimeUnit.SECONDS));
            }
        } finally {
            pool.shutdownNow();
            cl.close();
        }

        // Woven code whose first run comes after the close (a release path during unload) still finds it.
        PluginClassLoader closed = loader(jar, IsolationPolicy.PARENT_FIRST, new ReleaseEpoch("closed", true));
        closed.close();
        Class<?> late = Class.forName(PluginEpochClass.NAME, true, closed);
        assertSame(closed, late.getClassLoader());
        assertInstanceOf(ReleaseGuard.epochConstantClass(), late.getField(PluginEpochClass.FIELD).get(null));
    }
}
