package dev.unloadguard.loader;

import static dev.unloadguard.loader.PluginLayoutsTest.list;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The private copy is made once per jar content and shared ({@link PrivateCopies}): reused by a
 * reload of unchanged content, never by changed content, immune to the jar being rewritten in
 * place, kept unused at most once per path, and never left behind by a failed load that made it.
 * Without the agent (unguarded unloads allowed): what is checked is files and URLs.
 */
class PrivateCopiesTest {

    private static final String FAIL = "dev.unloadguard.test.copies.fail";

    @TempDir
    static Path shared;

    @TempDir
    Path dir;

    /** A driver whose init fails while the system property {@link #FAIL} is true. */
    private static Map<String, byte[]> driver;

    @BeforeAll
    static void build() throws IOException {
        driver = PluginLayoutsTest.compile(shared, Map.of("copies.CopiesDriver", """
                package copies;
                import dev.unloadguard.driver.*;
                public final class CopiesDriver implements Driver {
                    public String id() { return "copies"; }
                    public void init(DriverContext ctx) {
                        if (Boolean.getBoolean("%s")) { throw new IllegalStateException("asked to fail"); }
                    }
                    public void exit() { }
                }
                """.formatted(FAIL)), List.of());
        driver.put(PluginJars.SERVICES, "copies.CopiesDriver\n".getBytes(StandardCharsets.UTF_8));
    }

    @AfterEach
    void clear() {
        System.clearProperty(FAIL);
    }

    /** The driver jar, with a {@code version.txt} entry so that versions differ in content. */
    private Path jar(Path at, String version) throws IOException {
        Map<String, byte[]> entries = new LinkedHashMap<>(driver);
        entries.put("version.txt", version.getBytes(StandardCharsets.UTF_8));
        return PluginLayoutsTest.jar(at, entries, null);
    }

    private PluginLoader loader() {
        return PluginLoader.builder().copyDirectory(dir.resolve("copies")).allowUnguardedUnload(true)
                .collectionTimeout(Duration.ZERO).build();
    }

    private static Path copyOf(Plugin p) throws Exception {
        return Path.of(p.classLoader().getURLs()[0].toURI());
    }

    @Test
    void generationsOfOneContentShareOneCopyKeptForTheNextLoad() throws Exception {
        Path jar = jar(dir.resolve("p.jar"), "1");
        try (PluginLoader loader = loader()) {
            Plugin first = loader.load(jar);
            Plugin second = loader.load(jar, LoadOption.ALONGSIDE_LOADED_GENERATIONS);
            Path copy = copyOf(first);
            assertEquals(copy, copyOf(second), "one copy for both generations");
            assertEquals(List.of(copy), list(loader.copyDirectory()));
            assertEquals(List.of(), loader.keptCopies(), "in use");
            loader.unload(first, Duration.ofSeconds(10));
            assertEquals(List.of(copy), list(loader.copyDirectory()), "still used by the second generation");
            loader.unload(second, Duration.ofSeconds(10));
            assertEquals(List.of(copy), loader.keptCopies(), "kept once unused");
            Object fileKey = Files.readAttributes(copy, java.nio.file.attribute.BasicFileAttributes.class).fileKey();

            Plugin third = loader.load(jar);
            assertEquals(copy, copyOf(third), "the load after the unload reuses it");
            assertEquals(fileKey, Files.readAttributes(copy, java.nio.file.attribute.BasicFileAttributes.class).fileKey(),
                    "the same file, not made again");
            loader.unload(third, Duration.ofSeconds(10));
        }
        assertEquals(List.of(), list(dir.resolve("copies")), "close() deletes the kept copy");
    }

    @Test
    void aJarRewrittenInPlaceGetsANewCopyAndTheLoadedGenerationKeepsItsOwn() throws Exception {
        Path jar = jar(dir.resolve("p.jar"), "1");
        byte[] v1 = Files.readAllBytes(jar);
        try (PluginLoader loader = loader()) {
            Plugin old = loader.load(jar);
            Path oldCopy = copyOf(old);
            jar(jar, "2"); // in place: same path, other content
            Plugin fresh = loader.load(jar, LoadOption.ALONGSIDE_LOADED_GENERATIONS);
            Path freshCopy = copyOf(fresh);
            assertNotEquals(oldCopy, freshCopy, "other content, another copy");
            assertArrayEquals(v1, Files.readAllBytes(oldCopy), "the loaded generation's copy is untouched by the rewrite");
            assertArrayEquals(Files.readAllBytes(jar), Files.readAllBytes(freshCopy));
            assertEquals("1", new String(old.classLoader().getResourceAsStream("version.txt").readAllBytes(), StandardCharsets.UTF_8));
            assertEquals("2", new String(fresh.classLoader().getResourceAsStream("version.txt").readAllBytes(), StandardCharsets.UTF_8));

            loader.unload(old, Duration.ofSeconds(10));
            assertFalse(Files.exists(oldCopy), "its path now holds other content: the old copy is not kept");
            loader.unload(fresh, Duration.ofSeconds(10));
            assertEquals(List.of(freshCopy), list(loader.copyDirectory()), "the latest content's copy is kept");

            jar(jar, "3");
            Plugin third = loader.load(jar);
            assertFalse(Files.exists(freshCopy), "the path changed again: the kept copy of version 2 is deleted");
            assertEquals(List.of(copyOf(third)), list(loader.copyDirectory()), "at most one unused copy per path, none here");
            loader.unload(third, Duration.ofSeconds(10));
        }
    }

    @Test
    void aLargeJarIsStreamedAndSharedTheSameWay() throws Exception {
        PrivateCopies copies = new PrivateCopies(dir.resolve("streamed"), 16); // anything over 16 bytes is streamed
        Path jar = jar(dir.resolve("big.jar"), "1");
        byte[] v1 = Files.readAllBytes(jar);
        PrivateCopies.Lease first = copies.acquire(jar);
        assertTrue(first.created);
        assertArrayEquals(v1, Files.readAllBytes(first.file()));
        assertTrue(first.file().getFileName().toString().startsWith("big-") && first.file().toString().endsWith(".jar"),
                first.file()::toString);
        PrivateCopies.Lease again = copies.acquire(jar);
        assertFalse(again.created);
        assertEquals(first.file(), again.file());
        jar(jar, "2");
        PrivateCopies.Lease other = copies.acquire(jar);
        assertNotEquals(first.file(), other.file());
        assertArrayEquals(v1, Files.readAllBytes(first.file()), "the copy in use is untouched");
        assertArrayEquals(Files.readAllBytes(jar), Files.readAllBytes(other.file()));
        copies.release(first.file());
        copies.release(again.file());
        assertFalse(Files.exists(first.file()), "not the path's latest content, unused: deleted");
        copies.release(other.file());
        assertEquals(List.of(other.file()), copies.kept());
        copies.close();
        assertEquals(List.of(), list(dir.resolve("streamed")));
    }

    @Test
    void aFailedLoadDeletesTheCopyItMadeAndKeepsOneItReused() throws Exception {
        Path jar = jar(dir.resolve("p.jar"), "1");
        try (PluginLoader loader = loader()) {
            System.setProperty(FAIL, "true");
            PluginLoadException e = assertThrows(PluginLoadException.class, () -> loader.load(jar));
            assertTrue(e.getMessage().contains("failed in init") && e.getMessage().contains("asked to fail"), e::getMessage);
            assertEquals(List.of(), list(loader.copyDirectory()), "the failed load made the copy: it is deleted");

            System.clearProperty(FAIL);
            loader.unload(loader.load(jar), Duration.ofSeconds(10));
            List<Path> kept = loader.keptCopies();
            assertEquals(1, kept.size());
            System.setProperty(FAIL, "true");
            assertThrows(PluginLoadException.class, () -> loader.load(jar));
            assertEquals(kept, list(loader.copyDirectory()), "a copy that existed before the failed load stays");

            jar(jar, "2");
            assertThrows(PluginLoadException.class, () -> loader.load(jar));
            assertEquals(List.of(), list(loader.copyDirectory()),
                    "the failed load's own copy is deleted, and so is the copy of the content the path no longer has");

            Path text = Files.writeString(dir.resolve("text.jar"), "not a zip");
            String m = assertThrows(PluginLoadException.class, () -> loader.load(text)).getMessage();
            assertTrue(m.contains("not a jar (zip) file") && m.contains("rebuild the plugin"), m);
            assertEquals(List.of(), list(loader.copyDirectory()), "nothing left of a file that is not a jar");
        }
    }

    /**
     * A copy is named by checksums of its content (CRC-32C, CRC-32, length: no cryptographic digest,
     * which a starting host would pay for at its first load), read whole or streamed alike, and the
     * checksum is left in the runtime's JarDigests under the copy's identity, so the agent's
     * woven-class cache keys the plugin without reading the copy again.
     */
    @Test
    void aCopyIsNamedByChecksumsOfItsContentWhichAreLeftForTheAgent() throws Exception {
        for (int readWhole : new int[] {1 << 20, 16}) {
            PrivateCopies copies = new PrivateCopies(dir.resolve("named-" + readWhole), readWhole);
            Path jar = jar(dir.resolve("named-" + readWhole + ".jar"), "1");
            PrivateCopies.Lease one = copies.acquire(jar);
            byte[] content = Files.readAllBytes(jar);
            java.util.zip.CRC32C c = new java.util.zip.CRC32C();
            c.update(content);
            java.util.zip.CRC32 d = new java.util.zip.CRC32();
            d.update(content);
            assertEquals(String.format("named-%d-c%08x%08x-%x.jar", readWhole, c.getValue(), d.getValue(), content.length),
                    one.file().getFileName().toString());
            java.nio.file.attribute.BasicFileAttributes a =
                    Files.readAttributes(one.file(), java.nio.file.attribute.BasicFileAttributes.class);
            if (a.fileKey() != null) {
                assertArrayEquals(new dev.unloadguard.epoch.internal.JarDigests.Checksum().update(content).digest(),
                        dev.unloadguard.epoch.internal.JarDigests.known(dev.unloadguard.epoch.internal.JarDigests.identity(a)),
                        "left for the agent, read whole up to " + readWhole + " bytes");
            }
            jar(jar, "2");
            PrivateCopies.Lease two = copies.acquire(jar);
            assertNotEquals(one.file(), two.file(), "other content, other name");
            copies.release(one.file());
            copies.release(two.file());
        }
    }

    /**
     * A copy is reused only if its bytes are the jar's: a kept copy changed in the copy directory
     * (the same length, so the same name would match any checksum collision too) is not handed
     * out: the load gets a fresh copy of the jar's bytes, and the changed one is deleted (at once
     * if unused, at its generation's release if in use). Read whole and streamed alike.
     */
    @Test
    void aCopyWhoseBytesAreNotTheJarsIsNeverReused() throws Exception {
        for (int readWhole : new int[] {1 << 20, 16}) {
            PrivateCopies copies = new PrivateCopies(dir.resolve("checked-" + readWhole), readWhole);
            Path jar = jar(dir.resolve("checked-" + readWhole + ".jar"), "1");
            byte[] content = Files.readAllBytes(jar);

            PrivateCopies.Lease kept = copies.acquire(jar);
            copies.release(kept.file());
            assertEquals(List.of(kept.file()), copies.kept());
            tamper(kept.file());
            PrivateCopies.Lease fresh = copies.acquire(jar);
            assertTrue(fresh.created, "not the tampered copy");
            assertArrayEquals(content, Files.readAllBytes(fresh.file()));
            assertFalse(Files.exists(kept.file()) && !kept.file().equals(fresh.file()), "the unused tampered copy is deleted");

            tamper(fresh.file()); // now in use by a generation
            PrivateCopies.Lease another = copies.acquire(jar);
            assertTrue(another.created);
            assertNotEquals(fresh.file(), another.file());
            assertArrayEquals(content, Files.readAllBytes(another.file()));
            assertTrue(Files.exists(fresh.file()), "still used by its generation: kept until its release");
            copies.release(fresh.file());
            assertFalse(Files.exists(fresh.file()), "released: deleted, never reused");
            copies.release(another.file());
            assertEquals(List.of(another.file()), copies.kept());
        }
    }

    /**
     * A JVM that exits with a plugin loaded and its loader never closed leaves no temporary copy
     * directory: the exit hook deletes it with the copy in it (before it, {@code deleteOnExit}
     * removed it only if empty, and a kept or used copy is never empty).
     */
    @Test
    void aJvmThatExitsWithoutClosingItsLoaderLeavesNoTemporaryCopies() throws Exception {
        Path jar = jar(dir.resolve("exit.jar"), "v1");
        Path tmp = Files.createDirectories(dir.resolve("tmp"));
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Djava.io.tmpdir=" + tmp, "-cp", System.getProperty("java.class.path"),
                LoadAndExit.class.getName(), jar.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, java.util.concurrent.TimeUnit.SECONDS), out);
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.contains("copy at " + tmp), "the copy was made in the temporary directory: " + out);
        try (java.util.stream.Stream<Path> left = Files.list(tmp)) {
            assertEquals(List.of(), left.toList(), "nothing left in java.io.tmpdir: " + out);
        }
    }

    /** Loads the jar at {@code args[0]} with the default copy directory and exits without unloading or closing. */
    static final class LoadAndExit {
        public static void main(String[] args) throws Exception {
            PluginLoader loader = PluginLoader.builder().allowUnguardedUnload(true).collectionTimeout(Duration.ZERO).build();
            Plugin p = loader.load(Path.of(args[0]));
            System.out.println("copy at " + copyOf(p));
            System.exit(0);
        }
    }

    /**
     * The comparison with a kept copy reads it in pieces: a difference in its last byte, a byte
     * more or a byte fewer than the jar is a different copy too, for a jar larger than one piece
     * (64 KB) and for a small one.
     */
    @Test
    void aCopyThatDiffersAtItsEndOrInLengthIsNeverReused() throws Exception {
        for (int padding : new int[] {0, 200_000}) {
            java.util.Random random = new java.util.Random(padding);
            StringBuilder version = new StringBuilder("1");
            for (int i = 0; i < padding; i++) {
                version.append((char) ('a' + random.nextInt(26))); // compresses poorly: several pieces
            }
            Path jar = jar(dir.resolve("ends-" + padding + ".jar"), version.toString());
            byte[] content = Files.readAllBytes(jar);
            assertTrue(padding == 0 ? content.length < 64 * 1024 : content.length > 64 * 1024, "jar of " + content.length + " bytes");
            PrivateCopies copies = new PrivateCopies(dir.resolve("ends-" + padding), 1 << 22);
            java.util.List<java.util.function.UnaryOperator<byte[]>> changes = List.of(
                    b -> { b[b.length - 1] ^= 1; return b; },
                    b -> java.util.Arrays.copyOf(b, b.length + 1),
                    b -> java.util.Arrays.copyOf(b, b.length - 1));
            for (java.util.function.UnaryOperator<byte[]> change : changes) {
                PrivateCopies.Lease kept = copies.acquire(jar);
                copies.release(kept.file());
                assertEquals(List.of(kept.file()), copies.kept());
                Files.write(kept.file(), change.apply(Files.readAllBytes(kept.file())));
                PrivateCopies.Lease fresh = copies.acquire(jar);
                assertTrue(fresh.created, "the changed copy is not reused (jar of " + content.length + " bytes)");
                assertArrayEquals(content, Files.readAllBytes(fresh.file()));
                copies.release(fresh.file());
                PrivateCopies.Lease again = copies.acquire(jar);
                assertFalse(again.created, "an unchanged copy is reused");
                copies.release(again.file());
            }
        }
    }

    /** Changes one byte of {@code file} in place, its length kept. */
    private static void tamper(Path file) throws IOException {
        byte[] b = Files.readAllBytes(file);
        b[b.length / 2] ^= 0x5a;
        Files.write(file, b);
    }
}
