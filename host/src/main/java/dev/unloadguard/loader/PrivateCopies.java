package dev.unloadguard.loader;

import dev.unloadguard.epoch.internal.JarDigests;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.jar.JarFile;

/**
 * The loader's private copies of plugin jars. A class loader reads its jar lazily for as long as
 * it lives; if it read the host's file, replacing that file (a new build, a deploy) or deleting it
 * would break the generation still running — classes not loaded yet would come from the new jar,
 * or from nowhere. So each generation reads a private copy, never the host's file.
 *
 * <p><b>One copy per content.</b> A plugin jar's copy is named by checksums of its content
 * ({@link ContentDigest}): {@code <name>-c<crc32c><crc32>-<length>.jar} for {@code <name>.jar}. It is shared by every generation that loads that content: a reload,
 * or a load after an unload, of an unchanged jar reads the jar (to digest it) and the copy (to
 * compare them: the checksum names a copy, the bytes decide) but writes nothing.
 * The copy is made from the very bytes that were digested, so it never changes: rewriting the
 * host's jar in place gives the next load another digest, hence another copy, and the generations
 * on the old one read it undisturbed. What the copy holds (its service file, manifest, layout) is
 * read once per copy ({@link #scanned}), and one {@link JarFile} stays open on it while it exists,
 * so a class loader's own open of the same file shares the JDK's parsed zip directory instead of
 * reading it again.
 *
 * <p><b>When a copy is deleted.</b> Counted per copy: the generations using it. A copy no
 * generation uses is kept, for the next load of the same content, only while it is the content
 * last loaded from its path (the <em>latest</em> copy of that path): at most one unused copy per
 * plugin path. It is deleted as soon as
 * <ul>
 * <li>the path is loaded with other content (the jar changed: its old copy will not be reused),</li>
 * <li>its last generation ends and it is no longer any path's latest,</li>
 * <li>the load that created it fails ({@link #discardIfCreated}: a failed load leaves no file it
 *     made; a copy it reused, which existed before, stays), or</li>
 * <li>the {@link PluginLoader} is closed ({@link #close}; copies still used by generations that did
 *     not unload go when they do), or</li>
 * <li>the JVM exits, for a directory this class made in {@code java.io.tmpdir} (no
 *     {@code copyDirectory} configured): one shutdown hook for the JVM deletes every such directory
 *     still on disk with what is left in it, so a host that never closes its loader, or exits with
 *     plugins loaded, leaves no {@code unloadguard-plugins-*} behind. A configured directory is the
 *     host's: only the copies are ours there, and they go as above.</li>
 * </ul>
 * A copy found missing when it is about to be reused (a temporary-file cleaner) is made again.
 *
 * <p>A plugin with libraries or in a folder layout gets, per generation, a directory made from
 * the copy ({@link PluginFiles}), deleted with everything in it when that generation ends.
 *
 * <p>Concurrency: the maps and counts are guarded by this object's monitor, held for map
 * operations only; file work (reading, writing, deleting) is done outside it. Two loads of the same
 * new content may both write a copy: the first to register it wins, the other deletes its own.
 */
final class PrivateCopies {

    private static final System.Logger LOG = System.getLogger("dev.unloadguard.loader");
    /** Jars up to this size are read whole (digested, then written from the same bytes); larger ones are streamed. */
    private static final long READ_WHOLE = 16L << 20;
    private final long readWhole;

    /** One content's copy. {@code users}, {@code deleted}: guarded by the {@link PrivateCopies} monitor. */
    static final class Copy {
        final Path file;
        final String digest;
        int users;
        boolean deleted;
        /** What the copy holds ({@link PluginFiles}'s scan), set once; and the jar kept open on it. */
        private Object scan;
        private JarFile open;

        Copy(Path file, String digest) {
            this.file = file;
            this.digest = digest;
        }
    }

    /** A load's use of a copy: which one, and whether this load made it. */
    static final class Lease {
        final Copy copy;
        final boolean created;

        Lease(Copy copy, boolean created) {
            this.copy = copy;
            this.created = created;
        }

        Path file() {
            return copy.file;
        }
    }

    private final Path configured;
    private final AtomicLong seq = new AtomicLong();
    private Path directory; // guarded by this, created on first use
    private final Map<String, Copy> byDigest = new HashMap<>();
    private final Map<Path, Copy> byFile = new HashMap<>();
    /** Per plugin path, the copy of the content last loaded from it. */
    private final Map<Path, Copy> latest = new HashMap<>();
    private boolean closed;

    PrivateCopies(Path configured) {
        this(configured, READ_WHOLE);
    }

    /** Tests: jars larger than {@code readWhole} bytes are streamed. */
    PrivateCopies(Path configured, long readWhole) {
        this.configured = configured;
        this.readWhole = readWhole;
    }

    synchronized Path directory() {
        if (directory == null) {
            try {
                if (configured != null) {
                    directory = Files.createDirectories(configured);
                } else {
                    directory = Files.createTempDirectory("unloadguard-plugins-");
                    deleteAtExit(directory);
                }
            } catch (IOException e) {
                throw new IllegalStateException("cannot create the directory for private plugin copies"
                        + (configured == null ? " in java.io.tmpdir" : " " + configured)
                        + ": " + e + "; pass a writable one with PluginLoader.Builder.copyDirectory", e);
            }
        }
        return directory;
    }

    /**
     * The copy of the content of {@code jar} now, counted as used by the caller's generation:
     * an existing copy of the same content, or a new one. On failure nothing of it is left.
     */
    Lease acquire(Path jar) throws PluginLoadException {
        byte[] bytes = null;
        byte[] sum = null;
        String digest;
        try (java.nio.channels.SeekableByteChannel in = Files.newByteChannel(jar)) { // one open, one fstat for the size
            long size = in.size();
            if (size <= readWhole) {
                java.nio.ByteBuffer all = java.nio.ByteBuffer.allocate((int) size);
                while (all.hasRemaining() && in.read(all) > 0) {
                    // until the end, or the size seen at the open (a jar growing meanwhile is copied as it was then)
                }
                bytes = all.position() == size ? all.array() : java.util.Arrays.copyOf(all.array(), all.position());
                ContentDigest cd = ContentDigest.start();
                cd.update(bytes, 0, bytes.length);
                digest = cd.finish();
                sum = cd.digest;
            } else {
                digest = digestOf(in);
            }
        } catch (java.nio.file.AccessDeniedException e) {
            throw PluginJars.notReadable(jar, e);
        } catch (IOException | OutOfMemoryError e) {
            throw new PluginLoadException(jar, "cannot read plugin jar " + jar + ": " + e + "; check that it is readable", e);
        }
        Lease reused = reuse(jar, digest, bytes);
        if (reused != null) {
            return reused;
        }
        String name = jar.getFileName().toString();
        int dot = name.lastIndexOf('.');
        String base = dot > 0 ? name.substring(0, dot) : name;
        String ext = dot > 0 ? name.substring(dot) : ".jar";
        Path target;
        try {
            target = directory().resolve(base + "-" + digest + ext);
        } catch (IllegalStateException e) {
            throw new PluginLoadException(jar, e.getMessage(), e);
        }
        Path written = null;
        try {
            if (bytes != null) {
                written = write(target, bytes);
            } else {
                // Streamed: digested again while copying, and named by what was written (the jar may have changed since).
                Path part = directory().resolve(base + "-" + seq.incrementAndGet() + ".part");
                written = part;
                ContentDigest md = ContentDigest.start();
                try (InputStream in = Files.newInputStream(jar);
                     OutputStream out = Files.newOutputStream(part, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                    byte[] buf = new byte[1 << 16];
                    for (int n; (n = in.read(buf)) > 0; ) {
                        md.update(buf, 0, n);
                        out.write(buf, 0, n);
                    }
                }
                digest = md.finish();
                sum = md.digest;
                target = directory().resolve(base + "-" + digest + ext);
                written = move(part, target);
            }
        } catch (IOException e) {
            delete(written);
            throw new PluginLoadException(jar, "cannot make the private copy of plugin jar " + jar + " at " + target + ": "
                    + e + "; check free space and permissions there (PluginLoader.Builder.copyDirectory)", e);
        }
        // The agent keys this plugin's woven classes by the copy's checksum: it need not read the copy again.
        JarDigests.record(written, sum);
        Copy mine = new Copy(written, digest);
        Copy theirs;
        List<Copy> drop = new ArrayList<>();
        synchronized (this) {
            theirs = byDigest.get(digest);
            if (theirs == null) {
                byDigest.put(digest, mine);
                byFile.put(mine.file, mine);
                theirs = mine;
            }
            theirs.users++;
            becomeLatest(jar, theirs, drop);
        }
        if (theirs != mine) {
            delete(mine.file); // another load of the same content registered its copy first
        }
        deleteAll(drop);
        return new Lease(theirs, theirs == mine);
    }

    /**
     * An existing copy of {@code digest}, now used by one more generation; {@code null} if there is
     * none on disk, or if its bytes are not the jar's ({@code bytes}, or the jar's file when it was
     * streamed): a checksum names a copy, the bytes decide. A copy whose bytes differ (changed in
     * the copy directory, or a checksum collision) is never handed out again, and is deleted once
     * no generation uses it.
     */
    private Lease reuse(Path jar, String digest, byte[] bytes) {
        Copy c;
        synchronized (this) {
            c = byDigest.get(digest);
            if (c == null) {
                return null;
            }
            c.users++; // held from here: nothing deletes it while we look
        }
        boolean there = Files.isRegularFile(c.file, LinkOption.NOFOLLOW_LINKS);
        boolean same = there && sameBytes(jar, bytes, c.file);
        List<Copy> drop = new ArrayList<>();
        synchronized (this) {
            c.users--;
            if (!there || (!same && c.users == 0)) {
                forget(c, drop); // gone from under us, or not the jar's bytes: make a new one
            } else if (!same) {
                byDigest.remove(c.digest, c); // its generations keep it; deleted at their last release
                latest.values().removeIf(v -> v == c);
            } else {
                c.users++;
                becomeLatest(jar, c, drop);
            }
        }
        deleteAll(drop);
        return same ? new Lease(c, false) : null;
    }

    /** Whether {@code copy} holds exactly the jar's bytes ({@code bytes} if it was read whole, else the file {@code jar}). */
    private static boolean sameBytes(Path jar, byte[] bytes, Path copy) {
        try {
            if (bytes == null) {
                return Files.mismatch(jar, copy) == -1L;
            }
            // One open and reads into a buffer of at most 64 KB, compared as they come: no stat for
            // the size and no array as large as the jar (a byte more than the jar, or fewer, is a
            // difference too).
            try (java.nio.channels.SeekableByteChannel in = Files.newByteChannel(copy, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS)) {
                java.nio.ByteBuffer buf = java.nio.ByteBuffer.allocate((int) Math.min(bytes.length + 1L, 64 * 1024));
                int at = 0;
                for (int n; (n = in.read(buf.clear())) >= 0; ) { // n > 0: the buffer always has room
                    if (n > bytes.length - at || java.util.Arrays.mismatch(bytes, at, at + n, buf.array(), 0, n) != -1) {
                        return false;
                    }
                    at += n;
                }
                return at == bytes.length;
            }
        } catch (IOException | OutOfMemoryError e) {
            return false;
        }
    }

    /** Under the monitor: {@code c} is {@code jar}'s latest copy; the one it replaces goes if nothing uses it. */
    private void becomeLatest(Path jar, Copy c, List<Copy> drop) {
        Copy before = latest.put(jar, c);
        if (before != null && before != c && before.users == 0 && !latest.containsValue(before)) {
            forget(before, drop); // the jar changed: its old copy will not be loaded again from here
        }
    }

    /** Under the monitor: {@code c} leaves the maps and goes on {@code drop}, to be deleted outside the monitor. */
    private void forget(Copy c, List<Copy> drop) {
        if (c.deleted) {
            return;
        }
        c.deleted = true;
        byDigest.remove(c.digest, c);
        byFile.remove(c.file, c);
        latest.values().removeIf(v -> v == c);
        drop.add(c);
    }

    /**
     * What {@code reader} found in the copy, read once per copy: the first caller reads it (with a
     * {@link JarFile} {@code reader} opens and that stays open while the copy exists).
     */
    <T> T scanned(Lease lease, Scanner<T> reader) throws PluginLoadException {
        Copy c = lease.copy;
        synchronized (this) {
            if (c.scan != null) {
                @SuppressWarnings("unchecked")
                T s = (T) c.scan;
                return s;
            }
        }
        Opened<T> read = reader.scan(c.file);
        synchronized (this) {
            if (c.scan == null && !c.deleted) {
                c.scan = read.scan;
                c.open = read.jar;
                return read.scan;
            }
        }
        close(read.jar); // another load of it was first (or it is being deleted): keep theirs
        return read.scan;
    }

    /** Reads a copy: what it holds, and the jar open on it (kept open by the copy). */
    @FunctionalInterface
    interface Scanner<T> {
        Opened<T> scan(Path copy) throws PluginLoadException;
    }

    /** A scan's result and the {@link JarFile} it read it with. */
    static final class Opened<T> {
        final T scan;
        final JarFile jar;

        Opened(T scan, JarFile jar) {
            this.scan = scan;
            this.jar = jar;
        }
    }

    /**
     * A generation no longer uses {@code copy}: a shared copy is counted down (and kept or deleted,
     * see the class comment); anything else (a generation's directory) is deleted.
     */
    void release(Path copy) {
        if (copy == null) {
            return;
        }
        List<Copy> drop = new ArrayList<>();
        synchronized (this) {
            Copy c = byFile.get(copy);
            if (c != null) {
                if (--c.users == 0 && (closed || !latest.containsValue(c))) {
                    forget(c, drop);
                }
                copy = null;
            }
        }
        deleteAll(drop);
        if (copy != null) {
            delete(copy);
        }
    }

    /** After a failed load released its copy: deletes it if that load made it and nothing uses it. */
    void discardIfCreated(Lease lease) {
        if (lease == null || !lease.created) {
            return;
        }
        List<Copy> drop = new ArrayList<>();
        synchronized (this) {
            if (lease.copy.users == 0) {
                forget(lease.copy, drop);
            }
        }
        deleteAll(drop);
    }

    /** The copies no generation uses, kept for a load of the same content. */
    synchronized List<Path> kept() {
        List<Path> out = new ArrayList<>();
        for (Copy c : byDigest.values()) {
            if (c.users == 0) {
                out.add(c.file);
            }
        }
        out.sort(null);
        return out;
    }

    /** The loader is closing: unused copies go now, the others when their last generation ends. */
    void close() {
        List<Copy> drop = new ArrayList<>();
        synchronized (this) {
            closed = true;
            for (Copy c : new ArrayList<>(byDigest.values())) {
                if (c.users == 0) {
                    forget(c, drop);
                }
            }
        }
        deleteAll(drop);
        deleteDirectoryIfEmpty();
    }

    /** A new, empty directory for the private copy of the plugin at {@code plugin}. */
    Path newDirectory(Path plugin) throws PluginLoadException {
        String name = plugin.getFileName().toString();
        Path target = null;
        try {
            target = directory().resolve(name + "-" + seq.incrementAndGet());
            return Files.createDirectory(target);
        } catch (IllegalStateException | IOException e) {
            throw new PluginLoadException(plugin, "cannot make the private copy of plugin " + plugin
                    + (target == null ? "" : " at " + target) + ": " + e.getMessage()
                    + "; check free space and permissions there (PluginLoader.Builder.copyDirectory)", e);
        }
    }

    /** Deletes a file, or a directory with everything in it. */
    void delete(Path copy) {
        if (copy == null) {
            return;
        }
        try {
            if (Files.isDirectory(copy, LinkOption.NOFOLLOW_LINKS)) {
                deleteTree(copy);
                return;
            }
            Files.deleteIfExists(copy);
        } catch (IOException | java.io.UncheckedIOException e) {
            LOG.log(System.Logger.Level.WARNING, "could not delete the private plugin copy " + copy, e);
        }
    }

    /** Deletes a directory with everything in it; links are not followed (a link is deleted, not its target). */
    private static void deleteTree(Path directory) throws IOException {
        try (java.util.stream.Stream<Path> walk = Files.walk(directory)) {
            for (Path p : (Iterable<Path>) walk.sorted(java.util.Comparator.reverseOrder())::iterator) {
                Files.deleteIfExists(p);
            }
        }
    }

    private void deleteAll(List<Copy> drop) {
        for (Copy c : drop) {
            JarFile open;
            synchronized (this) {
                open = c.open;
                c.open = null;
            }
            close(open); // before the delete: some systems do not delete an open file
            delete(c.file);
        }
    }

    private static void close(JarFile jar) {
        if (jar != null) {
            try {
                jar.close();
            } catch (IOException e) {
                LOG.log(System.Logger.Level.DEBUG, "could not close " + jar.getName(), e);
            }
        }
    }

    /** Temporary copy directories made in this JVM and still on disk: the exit hook deletes them. */
    private static final Set<Path> TEMPORARY = ConcurrentHashMap.newKeySet();
    private static final AtomicBoolean EXIT_HOOK = new AtomicBoolean();

    /**
     * Has {@code temporary} deleted, with everything in it, when the JVM exits. One hook for the
     * JVM, which references only paths (never a loader or a copy's open file); its thread has no
     * context class loader and inherits no thread locals, so it pins no plugin either.
     */
    private static void deleteAtExit(Path temporary) {
        TEMPORARY.add(temporary);
        if (EXIT_HOOK.compareAndSet(false, true)) {
            Thread hook = new Thread(null, PrivateCopies::deleteTemporaryDirectories, "unloadguard-copies-at-exit", 0, false);
            hook.setContextClassLoader(null);
            try {
                Runtime.getRuntime().addShutdownHook(hook);
            } catch (IllegalStateException shuttingDown) {
                // the JVM is exiting already: the directory stays, as it would have before
            }
        }
    }

    private static void deleteTemporaryDirectories() {
        for (Path d : TEMPORARY) {
            try {
                deleteTree(d);
            } catch (IOException | java.io.UncheckedIOException | SecurityException e) {
                // at exit there is no one left to tell but the log
                LOG.log(System.Logger.Level.DEBUG, "could not delete the private plugin copies in " + d, e);
            }
        }
    }

    /** Removes the directory if this loader created it and it is empty. */
    synchronized void deleteDirectoryIfEmpty() {
        if (directory != null && configured == null) {
            try {
                Files.deleteIfExists(directory);
                TEMPORARY.remove(directory);
                directory = null;
            } catch (DirectoryNotEmptyException e) {
                // generations still loaded (or leaked copies): keep it
            } catch (IOException e) {
                LOG.log(System.Logger.Level.DEBUG, "could not delete " + directory, e);
            }
        }
    }

    /** Writes {@code bytes} at {@code target}, or beside it if a file (not ours) is there already. */
    private Path write(Path target, byte[] bytes) throws IOException {
        try {
            return Files.write(target, bytes, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
        } catch (FileAlreadyExistsException e) {
            Path beside = unique(target);
            return Files.write(beside, bytes, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
        }
    }

    private Path move(Path part, Path target) throws IOException {
        try {
            return Files.move(part, target);
        } catch (FileAlreadyExistsException e) {
            return Files.move(part, unique(target));
        }
    }

    /** {@code <name>-<digest>-<n>.jar}: a file of that name exists and is not one of ours (another loader's, an old run's). */
    private Path unique(Path target) {
        String n = target.getFileName().toString();
        int dot = n.lastIndexOf('.');
        return target.resolveSibling(n.substring(0, dot) + "-" + seq.incrementAndGet() + n.substring(dot));
    }

    private String digestOf(java.nio.channels.ReadableByteChannel in) throws IOException {
        ContentDigest md = ContentDigest.start();
        java.nio.ByteBuffer buf = java.nio.ByteBuffer.allocate(1 << 16);
        while (in.read(buf) >= 0) {
            md.update(buf.array(), 0, buf.position());
            buf.clear();
        }
        return md.finish();
    }

    /**
     * What names a copy by its content: the runtime's {@link JarDigests.Checksum} (CRC-32C,
     * CRC-32 and length), which the agent's woven-class cache keys the plugin by too, so the digest
     * is left for it ({@link JarDigests}) and the jar is read once per load. Not SHA-256: see the
     * checksum's comment (a starting host would pay ~50 ms for it at its first load).
     */
    static final class ContentDigest {
        private final JarDigests.Checksum sum = new JarDigests.Checksum();
        /** The 16 bytes once finished. */
        byte[] digest;

        static ContentDigest start() {
            return new ContentDigest();
        }

        void update(byte[] b, int off, int len) {
            sum.update(b, off, len);
        }

        /** The name part: {@code c<crc32c><crc32>-<length>}, in hex. */
        String finish() {
            digest = sum.digest();
            String crcs = JarDigests.hex(java.util.Arrays.copyOf(digest, 8));
            return "c" + crcs + "-" + Long.toHexString(sum.length());
        }
    }

}
