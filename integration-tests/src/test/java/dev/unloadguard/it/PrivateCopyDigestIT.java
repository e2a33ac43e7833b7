package dev.unloadguard.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.epoch.internal.Epochs;
import dev.unloadguard.epoch.internal.JarDigests;
import dev.unloadguard.it.support.BuiltJars;
import dev.unloadguard.loader.Plugin;
import dev.unloadguard.loader.PluginLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A private copy is named by the runtime's checksum of its content, and that checksum is left for
 * the agent's woven-class cache (which keys the plugin by it), so a load reads its jar once:
 * through the real loader, with the real agent jar.
 */
class PrivateCopyDigestIT {

    @TempDir
    Path dir;

    @Test
    void theCopyIsNamedByItsChecksumWhichIsLeftForTheAgent() throws Exception {
        assertTrue(Epochs.agentActive(), "the integration tests run with -javaagent");
        Path jar = BuiltJars.driverSample();
        byte[] sum = new JarDigests.Checksum().update(Files.readAllBytes(jar)).digest();
        try (PluginLoader loader = PluginLoader.builder().copyDirectory(dir.resolve("copies")).build()) {
            Plugin p = loader.load(jar);
            loader.unload(p, Duration.ofSeconds(30));
            assertEquals(1, loader.keptCopies().size(), "kept for the next load of the same content");
            Path copy = loader.keptCopies().get(0);
            assertTrue(copy.getFileName().toString().endsWith("-c" + JarDigests.hex(java.util.Arrays.copyOf(sum, 8)) + "-"
                    + Long.toHexString(Files.size(jar)) + ".jar"), copy::toString);
            BasicFileAttributes a = Files.readAttributes(copy, BasicFileAttributes.class);
            org.junit.jupiter.api.Assumptions.assumeTrue(a.fileKey() != null, "the file system has file keys");
            assertArrayEquals(sum, JarDigests.known(JarDigests.identity(a)));
        }
    }
}
