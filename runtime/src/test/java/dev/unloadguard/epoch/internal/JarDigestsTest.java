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
        assertArrayEquals(sum, JarDigests.known(JarDigests.identity(a)));
        Files.write(file, new byte[] {1, 2, 3, 4});
        assertNull(JarDigests.known(JarDigests.identity(Files.readAttributes(file, BasicFileAttributes.class))),
                "rewritten in place: another identity");
    }

    /**
     * The identity names the file, not the path it was reached by: a link to the copy is the same
     * content; a file replaced under the same name (another inode) or rewritten is another.
     */
    @Test
    void theIdentityIsTheFileNotItsPath() throws Exception {
        Path file = Files.write(dir.resolve("copy.jar"), new byte[] {1, 2, 3});
        BasicFileAttributes a = Files.readAttributes(file, BasicFileAttributes.class);
        Assumptions.assumeTrue(a.fileKey() != null, "the file system has file keys");
        Path link = Files.createSymbolicLink(dir.resolve("link.jar"), file);
        assertEquals(JarDigests.identity(a), JarDigests.identity(Files.readAttributes(link, BasicFileAttributes.class)));
        Path replacement = Files.write(dir.resolve("next.jar"), new byte[] {1, 2, 3});
        Files.setLastModifiedTime(replacement, a.lastModifiedTime());
        Files.move(replacement, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        BasicFileAttributes replaced = Files.readAttributes(file, BasicFileAttributes.class);
        assertEquals(a.size(), replaced.size(), "same size and time: only the file key tells them apart");
        assertEquals(a.lastModifiedTime(), replaced.lastModifiedTime());
        Assumptions.assumeFalse(a.fileKey().equals(replaced.fileKey()), "the file system gave the replacement another inode");
        assertFalse(JarDigests.identity(a).equals(JarDigests.identity(replaced)), "a replaced file is another identity");
    }
}
