package dev.unloadguard.epoch.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Arrays;
import java.util.zip.CRC32;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class JarDigestsTest {

    @TempDir
    Path dir;

    @Test
    void theChecksumIsBothCrcsAndTheLengthWhateverTheChunks() {
        byte[] content = "the content of a jar".getBytes(StandardCharsets.UTF_8);
        CRC32C c = new CRC32C();
        c.update(content);
        CRC32 d = new CRC32();
        d.update(content);
        byte[] sum = new JarDigests.Checksum().update(content, 0, 5).update(content, 5, content.length - 5).digest();
        assertEquals(String.format("%08x%08x%016x", c.getValue(), d.getValue(), (long) content.length), JarDigests.hex(sum));
        byte[] other = content.clone();
        other[3] ^= 1;
        assertFalse(Arrays.equals(sum, new JarDigests.Checksum().update(other).digest()), "one bit changed");
        assertFalse(Arrays.equals(sum, new JarDigests.Checksum().update(Arrays.copyOf(content, content.length + 1)).digest()),
                "a zero byte more");
    }

    @Test
    void aRecordedDigestIsKnownUntilTheFileChanges() throws Exception {
        Path file = Files.write(dir.resolve("copy.jar"), new byte[] {1, 2, 3});
        BasicFileAttributes a = Files.readAttributes(file, BasicFileAttributes.class);
        Assumptions.assumeTrue(a.fileKey() != null, "the file system has file keys");
        byte[] sum = new JarDigests.Checksum().update(Files.readAllBytes(file)).digest();
        JarDigests.record(file, sum);
        assertArrayEquals(sum, JarDigests.known(JarDigests.identity(file, a)));
        Files.write(file, new byte[] {1, 2, 3, 4});
        assertNull(JarDigests.known(JarDigests.identity(file, Files.readAttributes(file, BasicFileAttributes.class))),
                "rewritten in place: another identity");
    }
}
