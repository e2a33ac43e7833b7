package dev.unloadguard.agent.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What names the agent build and the host's class path in the disk cache's key, computed the
 * cheap way at start-up: the agent jar's raw central directory, and directories walked without
 * streams. Each must still tell apart what the slower way told apart.
 */
class AgentIdentityTest {

    @TempDir
    Path dir;

    private Path zip(String name, String comment, String... entries) throws IOException {
        Path zip = dir.resolve(name);
        try (OutputStream os = Files.newOutputStream(zip); ZipOutputStream z = new ZipOutputStream(os)) {
            for (int i = 0; i < entries.length; i += 2) {
                ZipEntry e = new ZipEntry(entries[i]);
                e.setTime(0);
                z.putNextEntry(e);
                z.write(entries[i + 1].getBytes(StandardCharsets.UTF_8));
                z.closeEntry();
            }
            if (comment != null) {
                z.setComment(comment);
            }
        }
        return zip;
    }

    @Test
    void theCentralDirectoryChecksumTellsApartAnyEntryChangedEvenAtTheSameSize() throws Exception {
        Path a = zip("a.jar", null, "x/A.class", "aaaa", "x/B.class", "bbbb");
        Path same = zip("same.jar", null, "x/A.class", "aaaa", "x/B.class", "bbbb");
        Path changed = zip("changed.jar", null, "x/A.class", "aaaa", "x/B.class", "bbbc"); // same size, other CRC-32
        Path renamed = zip("renamed.jar", null, "x/A.class", "aaaa", "x/C.class", "bbbb");
        Path more = zip("more.jar", null, "x/A.class", "aaaa", "x/B.class", "bbbb", "x/D.class", "");
        byte[] sum = AgentInstaller.centralDirectoryChecksum(a);
        assertArrayEquals(sum, AgentInstaller.centralDirectoryChecksum(same), "the same entries: the same identity");
        assertFalse(java.util.Arrays.equals(sum, AgentInstaller.centralDirectoryChecksum(changed)));
        assertFalse(java.util.Arrays.equals(sum, AgentInstaller.centralDirectoryChecksum(renamed)));
        assertFalse(java.util.Arrays.equals(sum, AgentInstaller.centralDirectoryChecksum(more)));
        // read from the raw directory, not the fallback through JarFile (which sums other fields)
        assertFalse(java.util.Arrays.equals(sum, AgentInstaller.entriesChecksum(a)));
    }

    @Test
    void aCommentHoldingTheEndSignatureIsNotTakenForTheEndRecord() throws Exception {
        String fake = "PK\u0005\u0006 not an end record";
        Path plain = zip("plain.jar", null, "x/A.class", "aaaa");
        Path commented = zip("commented.jar", fake, "x/A.class", "aaaa");
        Path commentedChanged = zip("commented-changed.jar", fake, "x/A.class", "aaab");
        byte[] sum = AgentInstaller.centralDirectoryChecksum(commented);
        assertArrayEquals(AgentInstaller.centralDirectoryChecksum(plain), sum, "the comment is not part of the directory");
        assertFalse(java.util.Arrays.equals(sum, AgentInstaller.centralDirectoryChecksum(commentedChanged)));
    }

    @Test
    void aFileThatIsNotAZipIsAnErrorNotAnIdentity() throws Exception {
        Path junk = Files.writeString(dir.resolve("junk.jar"), "not a zip at all, long enough to have no end record in it");
        assertThrows(IOException.class, () -> AgentInstaller.centralDirectoryChecksum(junk));
    }

    @Test
    void theFeatureVersionIsTheRuntimes() {
        assertEquals(Runtime.version().feature(), AgentInstaller.featureVersion());
    }

    /**
     * A directory on the class path is named by every regular file under it, as
     * {@code Files.walk} filtered by {@code Files::isRegularFile} and sorted named it before
     * (links to files followed, links to directories not entered): the same text, so a file
     * changed deep in it changes the key.
     */
    @Test
    void aClassPathDirectoryIsNamedByEveryFileUnderItAsTheWalkNamedIt() throws Exception {
        Path cp = Files.createDirectories(dir.resolve("classes/a/b"));
        Path root = dir.resolve("classes");
        Files.writeString(cp.resolve("Deep.class"), "deep");
        Files.writeString(root.resolve("Top.class"), "top");
        Path elsewhere = Files.createDirectories(dir.resolve("elsewhere"));
        Files.writeString(elsewhere.resolve("Hidden.class"), "hidden");
        Path target = Files.writeString(dir.resolve("target.txt"), "target");
        boolean links = true;
        try {
            Files.createSymbolicLink(root.resolve("linkToDir"), elsewhere);
            Files.createSymbolicLink(root.resolve("a/linkToFile"), target);
        } catch (UnsupportedOperationException | IOException e) {
            links = false; // no symbolic links here: the rest still holds
        }
        String text = WovenClassCache.pathFingerprint(root.toString());
        assertEquals(walked(root), text);
        assertTrue(text.contains("Deep.class"));
        assertFalse(text.contains("Hidden.class"), "a link to a directory is not entered");
        if (links) {
            assertTrue(text.contains("linkToFile"), "a link to a file is followed");
        }
        Path deep = cp.resolve("Deep.class");
        Files.setLastModifiedTime(deep, FileTime.from(Files.getLastModifiedTime(deep).to(TimeUnit.NANOSECONDS) + 1_000_000_000L,
                TimeUnit.NANOSECONDS));
        assertNotEquals(text, WovenClassCache.pathFingerprint(root.toString()), "a file changed deep in the directory changes the key");
    }

    /** The text the earlier walk gave for one directory entry of the class path. */
    private static String walked(Path root) throws IOException {
        Path p = root.toAbsolutePath().normalize();
        StringBuilder t = new StringBuilder().append(p).append(' ');
        List<Path> files = new ArrayList<>();
        try (Stream<Path> walk = Files.walk(p)) {
            walk.filter(Files::isRegularFile).sorted().forEach(files::add);
        }
        for (Path f : files) {
            t.append(p.relativize(f)).append(' ').append(Files.size(f)).append(' ')
                    .append(Files.getLastModifiedTime(f).to(TimeUnit.NANOSECONDS)).append(',');
        }
        return t.append(";\n").toString();
    }
}
