package dev.unloadguard.agent.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.epoch.internal.PluginEpochClass;
import dev.unloadguard.epoch.internal.ReleaseEpoch;
import dev.unloadguard.weave.internal.GuardTransformer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The woven-class cache keys by the epoch binding: a loader that defines the epoch class
 * ({@link PluginEpochClass.Definer}) and one that does not, over the same jar, with the same scope
 * and parent, are woven differently (a field read, a dynamic constant) and never answered from each
 * other's entries.
 */
class WovenClassCacheBindingTest {

    @TempDir
    Path dir;

    /** A loader over one jar that defines the epoch class, as the host's plugin loaders do. */
    static final class DefiningJarLoader extends URLClassLoader implements PluginEpochClass.Definer {
        private final ReleaseEpoch epoch = new ReleaseEpoch("test", true);

        DefiningJarLoader(Path jar) throws IOException {
            super("plugin:defining", new URL[] {jar.toUri().toURL()}, WovenClassCacheBindingTest.class.getClassLoader());
        }

        @Override
        public ReleaseEpoch releaseEpoch() {
            return epoch;
        }
    }

    /** A jar holding {@code p.Plain} alone; {@code plain[0]} gets its class file. */
    private Path jarWithPlain(byte[][] plainOut) throws IOException {
        Path src = Files.createDirectories(dir.resolve("src/p"));
        Files.writeString(src.resolve("Plain.java"), "package p;\npublic final class Plain {\n    public int twice(int x) { return 2 * x; }\n}\n");
        Path out = Files.createDirectories(dir.resolve("classes"));
        assertEquals(0, ToolProvider.getSystemJavaCompiler().run(null, null, null, "--release", "17", "-proc:none", "-d", out.toString(),
                src.resolve("Plain.java").toString()));
        byte[] plain = Files.readAllBytes(out.resolve("p/Plain.class"));
        Path jar = dir.resolve("plain.jar");
        try (OutputStream os = Files.newOutputStream(jar); JarOutputStream jos = new JarOutputStream(os)) {
            jos.putNextEntry(new JarEntry("p/Plain.class"));
            jos.write(plain);
            jos.closeEntry();
        }
        plainOut[0] = plain;
        return jar;
    }

    private static boolean readsEpochField(byte[] classfile) {
        return new String(classfile, StandardCharsets.ISO_8859_1).contains(PluginEpochClass.INTERNAL_NAME);
    }

    @Test
    void aLoaderThatDefinesTheEpochClassAndOneThatDoesNotNeverShareAnEntry() throws Exception {
        byte[][] plainOut = new byte[1][];
        Path jar = jarWithPlain(plainOut);
        byte[] input = plainOut[0];
        WovenClassCache cache = new WovenClassCache(new GuardTransformer(null), 1 << 20);
        try (WovenClassCacheTest.JarLoader plain = new WovenClassCacheTest.JarLoader(jar, true);
             DefiningJarLoader defining = new DefiningJarLoader(jar);
             DefiningJarLoader definingAgain = new DefiningJarLoader(jar)) {
            byte[] condy = cache.transform(plain, "p/Plain", null, null, input);
            assertNotNull(condy);
            assertFalse(readsEpochField(condy), "a loader that does not define the epoch class gets the dynamic constant");
            byte[] field = cache.transform(defining, "p/Plain", null, null, input);
            assertTrue(readsEpochField(field), "not the other loader's entry: the binding is part of the key");
            assertEquals(0, cache.hits());
            assertArrayEquals(field, cache.transform(definingAgain, "p/Plain", null, null, input));
            assertEquals(1, cache.hits(), "the same binding hits");
        }
    }

    /**
     * On disk too: a JVM that stored a class woven with the field binding, restarted, answers a
     * loader that does not define the epoch class by weaving it (one file per binding), not with
     * the stored field reads, which such a loader could not resolve.
     */
    @Test
    void onDiskTheTwoBindingsKeepSeparateFiles() throws Exception {
        byte[][] plainOut = new byte[1][];
        Path jar = jarWithPlain(plainOut);
        byte[] input = plainOut[0];
        Path cacheDir = dir.resolve("cache/woven");
        WovenClassDirectory first = WovenClassDirectory.open(cacheDir, 1L << 30);
        assertNotNull(first);
        WovenClassCache before = new WovenClassCache(new GuardTransformer(null), 1 << 20, first, () -> "agent-1");
        try (DefiningJarLoader defining = new DefiningJarLoader(jar)) {
            assertTrue(readsEpochField(before.transform(defining, "p/Plain", null, null, input)));
        }
        assertEquals(1, before.disk().flush(true));

        WovenClassCache restarted = new WovenClassCache(new GuardTransformer(null), 1 << 20,
                WovenClassDirectory.open(cacheDir, 1L << 30), () -> "agent-1");
        try (WovenClassCacheTest.JarLoader plain = new WovenClassCacheTest.JarLoader(jar, true)) {
            byte[] condy = restarted.transform(plain, "p/Plain", null, null, input);
            assertFalse(readsEpochField(condy), "the constant binding: not the stored field reads of the other binding");
            assertEquals(0, restarted.diskHits());
            assertEquals(1, restarted.woven());
        }
        try (DefiningJarLoader definingAgain = new DefiningJarLoader(jar)) {
            assertTrue(readsEpochField(restarted.transform(definingAgain, "p/Plain", null, null, input)));
            assertEquals(1, restarted.diskHits(), "the field binding's file answers its own binding");
        }
    }
}
