package dev.unloadguard.epoch.internal;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.concurrent.TimeUnit;

/**
 * SHA-256 digests of jars that are never written again once made (the host's private copies),
 * remembered by the file's identity and shared by the two parts that need them: the host digests
 * a jar to name its private copy, and the agent's woven-class cache keys a plugin loader by the
 * digest of its jars. Without this each load would read the jar twice, and a JVM that just started
 * runs SHA-256 interpreted (about 0.1 s for a 4 MB jar).
 *
 * <p>A file's identity is its real path, size, last-modified time and file key (device and inode
 * where the file system has them): a file rewritten, even in place, has another size, time or (if
 * replaced) inode, and is read again. A file system without file keys gets no memo. Only the host
 * and the agent use this (the package is never delegated to plugin loaders, so plugin code cannot
 * record a digest); the agent asks it only for unloadguard's own plugin loaders, whose jars are the
 * private copies. Bounded: the {@value #MAX} most recently used digests. Guarded by its own monitor.
 */
public final class JarDigests {

    static final int MAX = 1024;
    private static final LinkedHashMap<String, byte[]> KNOWN = new LinkedHashMap<>(16, 0.75f, true);

    private JarDigests() {
    }

    /** {@code file}'s identity from {@code attributes}, or {@code null} if its file system has no file keys. */
    public static String identity(Path file, BasicFileAttributes attributes) throws IOException {
        if (attributes.fileKey() == null) {
            return null;
        }
        return file.toRealPath() + "|" + attributes.size() + "|" + attributes.lastModifiedTime().to(TimeUnit.NANOSECONDS)
                + "|" + attributes.fileKey();
    }

    /** The digest remembered for the identity {@code id}, or {@code null}. */
    public static byte[] known(String id) {
        synchronized (KNOWN) {
            byte[] d = KNOWN.get(id);
            return d == null ? null : d.clone();
        }
    }

    /** Remembers {@code sha256} as the digest of the file whose identity is {@code id}. */
    public static void remember(String id, byte[] sha256) {
        if (id == null) {
            return;
        }
        synchronized (KNOWN) {
            KNOWN.put(id, sha256.clone());
            if (KNOWN.size() > MAX) {
                Iterator<String> eldest = KNOWN.keySet().iterator();
                eldest.next();
                eldest.remove();
            }
        }
    }

    /**
     * Remembers {@code sha256} as the digest of {@code file} as it is now: for the host, right after
     * it wrote the file from the bytes it digested. A file that cannot be read is not remembered.
     */
    public static void record(Path file, byte[] sha256) {
        try {
            remember(identity(file, Files.readAttributes(file, BasicFileAttributes.class)), sha256);
        } catch (IOException | SecurityException e) {
            // not remembered: the agent reads the jar itself
        }
    }
}
