package dev.unloadguard.epoch.internal;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.concurrent.TimeUnit;

/**
 * {@linkplain Checksum Checksums} of jars that are never written again once made (the host's private copies),
 * remembered by the file's identity and shared by the two parts that need them: the host digests
 * a jar to name its private copy, and the agent's woven-class cache keys a plugin loader by the
 * checksum of its jars. Without this each load would read the jar twice.
 *
 * <p>A file's identity is its file key (device and inode where the file system has them), size and
 * last-modified time: a file rewritten, even in place, has another size, time or (if replaced)
 * inode, and is read again. A file system without file keys gets no memo. Only the host
 * and the agent use this (the package is never delegated to plugin loaders, so plugin code cannot
 * record a digest); the agent asks it only for unloadguard's own plugin loaders, whose jars are the
 * private copies. Bounded: the {@value #MAX} most recently used digests. Guarded by its own monitor.
 */
public final class JarDigests {

    static final int MAX = 1024;
    private static final LinkedHashMap<String, byte[]> KNOWN = new LinkedHashMap<>(16, 0.75f, true);

    private JarDigests() {
    }

    /**
     * The identity of the file whose {@code attributes} these are, or {@code null} if its file
     * system has no file keys: its file key (device and inode), size and last-modified time. No
     * path: the file key alone names one file at a time (a path only adds the lookup of its real
     * form, a system call per directory of it, at every load), and the same file reached through
     * another spelling or a link is the same content.
     */
    public static String identity(BasicFileAttributes attributes) {
        Object key = attributes.fileKey();
        if (key == null) {
            return null;
        }
        return key + "|" + attributes.size() + "|" + attributes.lastModifiedTime().to(TimeUnit.NANOSECONDS);
    }

    /** The digest remembered for the identity {@code id}, or {@code null}. */
    public static byte[] known(String id) {
        synchronized (KNOWN) {
            byte[] d = KNOWN.get(id);
            return d == null ? null : d.clone();
        }
    }

    /** Remembers {@code digest} as the checksum of the file whose identity is {@code id}. */
    public static void remember(String id, byte[] digest) {
        if (id == null) {
            return;
        }
        synchronized (KNOWN) {
            KNOWN.put(id, digest.clone());
            if (KNOWN.size() > MAX) {
                Iterator<String> eldest = KNOWN.keySet().iterator();
                eldest.next();
                eldest.remove();
            }
        }
    }

    /**
     * Remembers {@code digest} as the checksum of {@code file} as it is now: for the host, right after
     * it wrote the file from the bytes it summed. A file that cannot be read is not remembered.
     */
    public static void record(Path file, byte[] digest) {
        try {
            remember(identity(Files.readAttributes(file, BasicFileAttributes.class)), digest);
        } catch (IOException | SecurityException e) {
            // not remembered: the agent reads the jar itself
        }
    }

    /**
     * What identifies a content (a jar, the agent's build, a cache key) for unloadguard: CRC-32C
     * and CRC-32 of the bytes and their count, 16 bytes. Not SHA-256, on purpose: these digests are
     * computed at start-up, the first thing a JVM does with a plugin, and there SHA-256 costs the
     * JDK's security set-up (~25–40 ms) and then runs interpreted (~30 ms for a 100 KB jar, ~70 ms
     * for 800 KB, measured on a 2-core AMD EPYC), while both CRCs run as intrinsics even in the
     * interpreter (~1 ms a megabyte). Two CRCs with different polynomials and the length tell apart
     * any two contents that differ by accident (a collision has odds of about 2^-64); they are no
     * defence against a content made on purpose to collide, which only the author of a plugin
     * could make, who runs code in the host anyway. Where a collision could matter, the user of a
     * checksum compares bytes whole (the woven-class cache compares every class it reuses).
     */
    public static final class Checksum {
        private final java.util.zip.CRC32C crc32c = new java.util.zip.CRC32C();
        private final java.util.zip.CRC32 crc32 = new java.util.zip.CRC32();
        private long length;

        /** Adds {@code len} bytes of {@code b} from {@code off}. */
        public Checksum update(byte[] b, int off, int len) {
            crc32c.update(b, off, len);
            crc32.update(b, off, len);
            length += len;
            return this;
        }

        /** Adds all of {@code b}. */
        public Checksum update(byte[] b) {
            return update(b, 0, b.length);
        }

        /** Adds {@code v} as eight bytes, least significant first. */
        public Checksum update(long v) {
            byte[] b = new byte[8];
            for (int i = 0; i < 8; i++) {
                b[i] = (byte) (v >>> (8 * i));
            }
            return update(b);
        }

        /** The 16 bytes: CRC-32C, CRC-32 (four bytes each, most significant first), then the length (eight). */
        public byte[] digest() {
            byte[] d = new byte[16];
            put(d, 0, crc32c.getValue(), 4);
            put(d, 4, crc32.getValue(), 4);
            put(d, 8, length, 8);
            return d;
        }

        /** The bytes summed so far. */
        public long length() {
            return length;
        }

        private static void put(byte[] d, int at, long v, int n) {
            for (int i = 0; i < n; i++) {
                d[at + i] = (byte) (v >>> (8 * (n - 1 - i)));
            }
        }
    }

    /** {@code bytes} in lower-case hex. */
    public static String hex(byte[] bytes) {
        StringBuilder s = new StringBuilder(bytes.length * 2);
        for (byte x : bytes) {
            s.append(Character.forDigit((x >> 4) & 0xf, 16)).append(Character.forDigit(x & 0xf, 16));
        }
        return s.toString();
    }
}
