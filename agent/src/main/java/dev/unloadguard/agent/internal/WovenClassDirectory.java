package dev.unloadguard.agent.internal;

import dev.unloadguard.epoch.internal.JarDigests;
import dev.unloadguard.weave.internal.Log;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.zip.CRC32C;

/**
 * The on-disk half of the {@link WovenClassCache}: woven class files kept across JVM starts, so a
 * restarted JVM that loads the same plugin jar defines the stored bytes without parsing, planning
 * or weaving them (and, when every class is found, without loading the weaver's classes at all).
 *
 * <h2>Files</h2>
 * One file per <em>store key</em>: everything the woven bytes of a loader's classes depend on
 * besides the class's own bytes, as a text ({@link WovenClassCache} builds it: the agent's
 * identity, the content of the loader's jars, what determines its parent's classes, its lookup
 * order, the store keys of the loaders it imports from, the guard scope and guard owner). The file
 * is named by the runtime's checksum of that text ({@link JarDigests.Checksum}; a name only: two
 * texts with one name would share a file that each finds is not its own, and rewrites) and holds
 * the text itself, which is compared whole when the file is read. Layout: magic {@code UGWC}, format {@value #FORMAT}, the key text, the number of
 * classes, then per class its name, its input bytes, the methods guarded and its woven bytes
 * (length -1: defined unchanged); then the length of all that and its CRC-32C. A file
 * whose length, checksum, magic, format or key text does not match is torn, truncated or someone
 * else's: it is logged once (INFO) and ignored, and the next write replaces it. A stored class is
 * used only when the bytes being defined equal its stored input, compared whole (stronger than
 * comparing a digest, and cheaper in a JVM that just started: SHA-256 runs interpreted until the
 * JIT compiles its intrinsic, measured here at ~25 µs per 600-byte class, against ~0.2 µs for the
 * comparison).
 *
 * <h2>Reading, and writing off the class-loading path</h2>
 * The directory is created and checked when a class first needs it ({@link #usable}), not while
 * the agent starts. A store's file is read whole, once, by the first class its loader defines
 * (under the store's monitor: the loader's other classes wait for it instead of weaving); its
 * classes stay slices of the file's bytes. Classes woven afresh are added to the store in memory
 * only. One daemon thread ({@code unloadguard-woven-cache}, started with the agent: never from a
 * class-loading thread, whose context loader, inherited thread locals and access-control context
 * would pin a plugin) writes a store once no class was added to it for {@value #QUIET_MILLIS} ms;
 * a shutdown hook writes what is left. A write reads the file again (another JVM may have written
 * it meanwhile), merges it with every class this JVM knows of the store (this JVM's win), writes a
 * temporary file in the directory and renames it over the old one atomically: concurrent JVMs
 * sharing the directory never see a half-written file; at worst one's additions are lost and woven
 * again next time, and the last of several writers that follow each other leaves the union. Then
 * the directory is trimmed to its bound ({@link #maxBytes}), oldest files (by last modification; a
 * file read is touched by the thread) first, and temporary files left by a killed JVM are removed
 * once an hour old. A store not used for {@value #IDLE_SECONDS} s drops its classes from memory
 * (read again if its loader's key comes back).
 *
 * <h2>Who may write the directory</h2>
 * A stored class file is code this JVM will run: a file another user could write is a way to
 * inject code. The directory is created owner-only ({@code rwx------}) where the file system is
 * POSIX; an existing one is used only if it is owned by the current user and not writable by group
 * or others, and every ancestor is owned by the user or by root and not writable by group or others
 * unless it has the sticky bit (as {@code /tmp} has); a file in it is read only if it is a regular
 * file owned by the user and not writable by group or others. Otherwise the disk cache is off for
 * this JVM, said once at INFO. On a file system without POSIX attributes only the owner is checked.
 *
 * <h2>Concurrency</h2>
 * {@link #state} is volatile: its write (under this object's monitor, once) publishes {@link #dir}
 * and {@link #me}, and a reader that sees 1 sees them. {@link #stores} is a concurrent map; each
 * {@link Store}'s state is guarded by its own monitor, held to look up, add or snapshot classes and
 * to read the file on first use, never while writing. Writes are serialized by {@link #writeLock}
 * (the daemon and the shutdown hook). A write takes a snapshot of the classes added so far and,
 * once the file is renamed, clears the pending set if no class was added meanwhile, else removes
 * exactly the entries it wrote. The writer parks; the first class added to an empty pending set
 * unparks it ({@link #writer} is volatile, written before the thread starts).
 */
final class WovenClassDirectory {

    /** System property: the directory, or {@code off}. The agent argument {@code cacheDir=} wins. */
    static final String DIR_PROPERTY = "unloadguard.wovenClassCache.dir";
    /** System property: the bound on the directory's files, in bytes. */
    static final String MAX_BYTES_PROPERTY = "unloadguard.wovenClassCache.diskMaxBytes";
    static final long DEFAULT_MAX_BYTES = 256L * 1024 * 1024;
    static final String SUFFIX = ".woven";
    static final int FORMAT = 1;
    static final long QUIET_MILLIS = 500;
    static final long IDLE_SECONDS = 30;
    private static final byte[] MAGIC = {'U', 'G', 'W', 'C'};
    private static final Set<PosixFilePermission> OWNER_ONLY = PosixFilePermissions.fromString("rwx------");

    private final Path requested;
    private final long maxBytes;
    /** 0: not checked yet, 1: usable, 2: off (said once). Written under this, read without it (volatile). */
    private volatile int state;
    /** The directory's real path and the current user, once checked; written before {@link #state} is set to 1. */
    private Path dir;
    private UserPrincipal me;
    private final ConcurrentHashMap<String, Store> stores = new ConcurrentHashMap<>();
    private final Object writeLock = new Object();
    /** Files whose corruption was logged: once each. */
    private final Set<String> reported = ConcurrentHashMap.newKeySet();
    /** Set once a write failed: logged once, later writes still tried. */
    private volatile boolean writeFailureLogged;
    private volatile Thread writer;

    /**
     * A cache over {@code dir}, not looked at yet: the directory is created and checked when a
     * class first needs it ({@link #usable}), not while the agent starts (that needs the file
     * system's user look-up and attribute classes, which a JVM that loads no plugin never pays for).
     */
    WovenClassDirectory(Path dir, long maxBytes) {
        this.requested = dir;
        this.maxBytes = Math.max(0, maxBytes);
    }

    /** The directory's cache, checked now; {@code null} (said once at INFO) if it cannot be used. */
    static WovenClassDirectory open(Path dir, long maxBytes) {
        WovenClassDirectory d = new WovenClassDirectory(dir, maxBytes);
        return d.usable() ? d : null;
    }

    /**
     * Whether the directory can be used, creating it owner-only if need be; checked once (see the
     * class comment), and if not, said in one INFO line.
     */
    boolean usable() {
        int s = state;
        if (s != 0) {
            return s == 1;
        }
        synchronized (this) {
            if (state == 0) {
                String why;
                try {
                    Path d = requested.toAbsolutePath().normalize();
                    createOwnerOnly(d);
                    why = unsafe(d);
                    if (why == null) {
                        dir = d.toRealPath();
                        me = currentUser(d);
                    }
                } catch (IOException | RuntimeException e) {
                    why = "cannot use the directory " + requested + ": " + e;
                }
                if (why != null) {
                    Log.info("unloadguard's woven-class cache is off: " + why + " (choose another directory with -D" + DIR_PROPERTY
                            + "=<dir> or the agent option cacheDir=<dir>; 'off' turns it off)");
                }
                state = why == null ? 1 : 2; // volatile write: publishes dir and me
            }
            return state == 1;
        }
    }

    /** The directory's real path once {@link #usable}, else {@code null}. */
    Path directory() {
        return state == 1 ? dir : null;
    }

    /** Creates the missing directories of {@code d}, each owner-only where POSIX. */
    private static void createOwnerOnly(Path d) throws IOException {
        if (Files.isDirectory(d)) {
            return;
        }
        Path parent = d.getParent();
        if (parent != null) {
            createOwnerOnly(parent);
        }
        try {
            if (d.getFileSystem().supportedFileAttributeViews().contains("posix")) {
                Files.createDirectory(d, PosixFilePermissions.asFileAttribute(OWNER_ONLY));
                Files.setPosixFilePermissions(d, OWNER_ONLY); // the umask may have taken some away: never adds any
            } else {
                Files.createDirectory(d);
            }
        } catch (FileAlreadyExistsException e) {
            if (!Files.isDirectory(d)) {
                throw e;
            }
        }
    }

    /** Why {@code d} is not safe to hold code this JVM runs, or {@code null} if it is. */
    static String unsafe(Path d) throws IOException {
        UserPrincipal me = currentUser(d);
        Path real = d.toRealPath();
        if (!real.getFileSystem().supportedFileAttributeViews().contains("posix")) {
            UserPrincipal owner = Files.getOwner(real);
            return owner.equals(me) ? null : real + " is owned by " + owner.getName() + ", not by " + me.getName();
        }
        PosixFileAttributes a = Files.readAttributes(real, PosixFileAttributes.class);
        if (!a.owner().equals(me)) {
            return real + " is owned by " + a.owner().getName() + ", not by " + me.getName() + ": another user could put code in it";
        }
        if (a.permissions().contains(PosixFilePermission.GROUP_WRITE) || a.permissions().contains(PosixFilePermission.OTHERS_WRITE)) {
            return real + " is writable by group or others (" + PosixFilePermissions.toString(a.permissions())
                    + "): another user could put code in it; make it owner-only (chmod 700)";
        }
        for (Path p = real.getParent(); p != null; p = p.getParent()) {
            PosixFileAttributes pa = Files.readAttributes(p, PosixFileAttributes.class);
            boolean trustedOwner = pa.owner().equals(me) || "root".equals(pa.owner().getName());
            if (!trustedOwner) {
                return "its ancestor " + p + " is owned by " + pa.owner().getName() + ", who could replace the cache directory";
            }
            boolean shared = pa.permissions().contains(PosixFilePermission.GROUP_WRITE)
                    || pa.permissions().contains(PosixFilePermission.OTHERS_WRITE);
            if (shared && !sticky(p, pa)) {
                return "its ancestor " + p + " is writable by group or others (" + PosixFilePermissions.toString(pa.permissions())
                        + ") without the sticky bit: they could replace the cache directory";
            }
        }
        return null;
    }

    /**
     * Whether a directory others may write has the sticky bit (only a file's owner may rename or
     * delete it there, as in {@code /tmp}): read from the {@code unix} attribute view where there
     * is one; without it, assumed for a directory owned by root.
     */
    private static boolean sticky(Path p, PosixFileAttributes pa) {
        try {
            Object mode = Files.getAttribute(p, "unix:mode");
            if (mode instanceof Integer) {
                return ((Integer) mode & 01000) != 0;
            }
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
            // no unix view
        }
        return "root".equals(pa.owner().getName());
    }

    private static UserPrincipal currentUser(Path d) throws IOException {
        return d.getFileSystem().getUserPrincipalLookupService().lookupPrincipalByName(System.getProperty("user.name"));
    }

    /** Whether a file in the directory may be read: owned by the user and not writable by group or others. */
    private static boolean trusted(Path file, UserPrincipal me) throws IOException {
        PosixFileAttributeView view = Files.getFileAttributeView(file, PosixFileAttributeView.class, LinkOption.NOFOLLOW_LINKS);
        if (view == null) {
            return Files.getOwner(file, LinkOption.NOFOLLOW_LINKS).equals(me);
        }
        PosixFileAttributes a = view.readAttributes();
        return a.isRegularFile() && a.owner().equals(me) && !a.permissions().contains(PosixFilePermission.GROUP_WRITE)
                && !a.permissions().contains(PosixFilePermission.OTHERS_WRITE);
    }

    /** The store for {@code keyText}, one per text in this JVM; call once {@link #usable}. */
    Store store(String keyText) {
        Store s = stores.get(keyText);
        return s != null ? s : stores.computeIfAbsent(keyText, k -> new Store(k, dir.resolve(checksumOf(k) + SUFFIX)));
    }

    /**
     * A class as stored: its input bytes, the methods guarded, its woven bytes (none: unchanged).
     * A class read from a file is a slice of the file's bytes (read once, never copied whole per
     * class); one added by this JVM holds its own arrays. Never written to.
     */
    static final class Stored {
        private final byte[] inBuf;
        private final int inOff;
        private final int inLen;
        final int methodsGuarded;
        private final byte[] outBuf; // null: defined unchanged
        private final int outOff;
        private final int outLen;

        Stored(byte[] input, int methodsGuarded, byte[] output) {
            this(input, 0, input.length, methodsGuarded, output, 0, output == null ? 0 : output.length);
        }

        private Stored(byte[] inBuf, int inOff, int inLen, int methodsGuarded, byte[] outBuf, int outOff, int outLen) {
            this.inBuf = inBuf;
            this.inOff = inOff;
            this.inLen = inLen;
            this.methodsGuarded = methodsGuarded;
            this.outBuf = outBuf;
            this.outOff = outOff;
            this.outLen = outLen;
        }

        /** Whether {@code classfile} is this class's input, compared whole. */
        boolean inputEquals(byte[] classfile) {
            return Arrays.equals(inBuf, inOff, inOff + inLen, classfile, 0, classfile.length);
        }

        /** A new copy of the woven bytes, or {@code null}: defined unchanged. */
        byte[] output() {
            return outBuf == null ? null : Arrays.copyOfRange(outBuf, outOff, outOff + outLen);
        }

        int size() {
            return inLen + (outBuf == null ? 0 : outLen);
        }
    }

    /** The stored classes of one store key: read from its file on first use, added to by this JVM. */
    final class Store {
        final String keyText;
        final Path file;
        /** Guarded by this; {@code null} until read (or after it was dropped while idle). */
        private Map<String, Stored> classes;
        /** Added by this JVM and not written yet; guarded by this. */
        private final Map<String, Stored> pending = new HashMap<>();
        /** Guarded by this: counts {@link #add}s, so a write that saw them all can clear {@link #pending} at once. */
        private long adds;
        /** Guarded by this: when a class was last added, and when the store was last used (nanoTime). */
        private long lastAdd;
        private long lastUse;
        /** Guarded by this: the file was read and found valid, and its time not yet touched. */
        private boolean touch;

        Store(String keyText, Path file) {
            this.keyText = keyText;
            this.file = file;
        }

        /** The stored class {@code className}, or {@code null}; reads the file on first use. */
        synchronized Stored get(String className) {
            lastUse = System.nanoTime();
            if (classes == null) {
                classes = read(this);
                touch = !classes.isEmpty();
            }
            return classes.get(className);
        }

        /** Adds a class woven in this JVM; written later by the cache thread. */
        synchronized void add(String className, Stored s) {
            if (classes == null) {
                classes = read(this);
            }
            classes.put(className, s);
            boolean first = pending.isEmpty();
            pending.put(className, s);
            adds++;
            lastAdd = lastUse = System.nanoTime();
            if (first) {
                Thread w = writer;
                if (w != null) {
                    LockSupport.unpark(w); // pairs with the park in writeLoop: it now waits for the quiet time
                }
            }
        }

        synchronized int pendingCount() {
            return pending.size();
        }
    }

    // ---- reading --------------------------------------------------------------------------

    /** The classes in the store's file; empty if there is none, or it is not valid (logged once). */
    private Map<String, Stored> read(Store store) {
        byte[] bytes;
        try {
            if (!trusted(store.file, me)) {
                reportOnce(store.file, "it is not a regular file owned by this user and writable by it alone");
                return new HashMap<>();
            }
            bytes = Files.readAllBytes(store.file);
        } catch (NoSuchFileException e) {
            return new HashMap<>();
        } catch (IOException | RuntimeException e) {
            reportOnce(store.file, "cannot read it: " + e);
            return new HashMap<>();
        }
        try {
            return parse(bytes, store.keyText);
        } catch (Corrupt | RuntimeException e) {
            reportOnce(store.file, e.getMessage());
            return new HashMap<>();
        }
    }

    private void reportOnce(Path file, String why) {
        if (reported.add(file.getFileName().toString())) {
            Log.info("unloadguard's woven-class cache ignores " + file + ": " + why + "; its classes are woven again and the file rewritten");
        }
    }

    static final class Corrupt extends Exception {
        private static final long serialVersionUID = 1L;

        Corrupt(String message) {
            super(message, null, false, false);
        }
    }

    /** The classes of a file's bytes, checked whole (length, checksum, magic, format, key). */
    static Map<String, Stored> parse(byte[] bytes, String keyText) throws Corrupt {
        if (bytes.length < 16 + MAGIC.length + 4) {
            throw new Corrupt("truncated: " + bytes.length + " bytes");
        }
        ByteBuffer b = ByteBuffer.wrap(bytes);
        long length = b.getLong(bytes.length - 16);
        long crc = b.getLong(bytes.length - 8);
        if (length != bytes.length - 16) {
            throw new Corrupt("torn or truncated: it says " + length + " bytes, holds " + (bytes.length - 16));
        }
        CRC32C c = new CRC32C();
        c.update(bytes, 0, bytes.length - 16);
        if (c.getValue() != crc) {
            throw new Corrupt("its checksum does not match");
        }
        for (byte m : MAGIC) {
            if (b.get() != m) {
                throw new Corrupt("not a woven-class file");
            }
        }
        int format = b.getInt();
        if (format != FORMAT) {
            throw new Corrupt("format " + format + ", this agent reads " + FORMAT);
        }
        if (!keyText.equals(string(b))) {
            throw new Corrupt("it was written for another key");
        }
        int n = b.getInt();
        if (n < 0) {
            throw new Corrupt("a negative number of classes");
        }
        Map<String, Stored> classes = new HashMap<>(Math.max(16, n * 4 / 3 + 1));
        int end = bytes.length - 16;
        int p = b.position();
        for (int i = 0; i < n; i++) {
            p = parseClass(bytes, p, end, i, classes);
        }
        b.position(p);
        if (b.position() != bytes.length - 16) {
            throw new Corrupt("bytes after the last class");
        }
        return classes;
    }

    /**
     * One class's record at {@code p} into {@code classes}; returns where the next one starts.
     * Plain array reads (see format), and a method of its own rather than the body of the loop
     * over the classes: in a JVM that just started, the JIT compiles a method called a few
     * hundred times long before it compiles a loop that runs ten thousand times once, so most
     * records are read by compiled code.
     */
    private static int parseClass(byte[] bytes, int p, int end, int i, Map<String, Stored> classes) throws Corrupt {
        if (end - p < 4) {
            throw new Corrupt("truncated in class " + i);
        }
        int nameLen = getInt(bytes, p);
        p += 4;
        if (nameLen < 0 || nameLen > end - p) {
            throw new Corrupt("a name of length " + nameLen);
        }
        String name = new String(bytes, p, nameLen, StandardCharsets.UTF_8);
        p += nameLen;
        if (end - p < 4) {
            throw new Corrupt("truncated in class " + name);
        }
        int inLen = getInt(bytes, p);
        int inOff = p + 4;
        if (inLen < 0 || inLen > end - inOff - 8) {
            throw new Corrupt("a class of length " + inLen);
        }
        p = inOff + inLen;
        int guarded = getInt(bytes, p);
        int len = getInt(bytes, p + 4);
        int outOff = p + 8;
        if (len < -1 || len > end - outOff) {
            throw new Corrupt("a class of length " + len);
        }
        classes.put(name, new Stored(bytes, inOff, inLen, guarded, len < 0 ? null : bytes, outOff, Math.max(len, 0)));
        return outOff + Math.max(len, 0);
    }

    private static String string(ByteBuffer b) throws Corrupt {
        int len = b.getInt();
        if (len < 0 || len > b.remaining()) {
            throw new Corrupt("a string of length " + len);
        }
        byte[] s = new byte[len];
        b.get(s);
        return new String(s, StandardCharsets.UTF_8);
    }

    // ---- writing --------------------------------------------------------------------------

    private static int putInt(byte[] b, int p, int v) {
        b[p] = (byte) (v >>> 24);
        b[p + 1] = (byte) (v >>> 16);
        b[p + 2] = (byte) (v >>> 8);
        b[p + 3] = (byte) v;
        return p + 4;
    }

    private static int putLong(byte[] b, int p, long v) {
        return putInt(b, putInt(b, p, (int) (v >>> 32)), (int) v);
    }

    private static int getInt(byte[] b, int p) {
        return (b[p] & 0xff) << 24 | (b[p + 1] & 0xff) << 16 | (b[p + 2] & 0xff) << 8 | (b[p + 3] & 0xff);
    }

    /** The file's bytes for {@code classes}: the layout of the class comment, in one array. */
    static byte[] format(String keyText, Map<String, Stored> classes) {
        byte[] key = keyText.getBytes(StandardCharsets.UTF_8);
        List<byte[]> names = new ArrayList<>(classes.size());
        long total = MAGIC.length + 4 + 4 + key.length + 4;
        for (Map.Entry<String, Stored> e : classes.entrySet()) {
            byte[] name = e.getKey().getBytes(StandardCharsets.UTF_8);
            names.add(name);
            total += 4 + name.length + 4 + e.getValue().inLen + 4 + 4 + (e.getValue().outBuf == null ? 0 : e.getValue().outLen);
        }
        if (total + 16 > Integer.MAX_VALUE - 16) {
            throw new IllegalStateException("a store of " + total + " bytes is too large for one file");
        }
        byte[] bytes = new byte[(int) total + 16];
        // Plain array writes, not a ByteBuffer: this runs in a JVM that just started (often at
        // exit), where every buffer call is interpreted; 10,000 classes took 3x as long that way.
        System.arraycopy(MAGIC, 0, bytes, 0, MAGIC.length);
        int p = putInt(bytes, MAGIC.length, FORMAT);
        p = putInt(bytes, p, key.length);
        System.arraycopy(key, 0, bytes, p, key.length);
        p = putInt(bytes, p + key.length, classes.size());
        int i = 0;
        for (Map.Entry<String, Stored> e : classes.entrySet()) { // the same order as above: the map is not changed
            Stored s = e.getValue();
            byte[] name = names.get(i++);
            p = putInt(bytes, p, name.length);
            System.arraycopy(name, 0, bytes, p, name.length);
            p = putInt(bytes, p + name.length, s.inLen);
            System.arraycopy(s.inBuf, s.inOff, bytes, p, s.inLen);
            p = putInt(bytes, p + s.inLen, s.methodsGuarded);
            if (s.outBuf == null) {
                p = putInt(bytes, p, -1);
            } else {
                p = putInt(bytes, p, s.outLen);
                System.arraycopy(s.outBuf, s.outOff, bytes, p, s.outLen);
                p += s.outLen;
            }
        }
        CRC32C crc = new CRC32C();
        crc.update(bytes, 0, p);
        p = putLong(bytes, p, p);
        putLong(bytes, p, crc.getValue());
        return bytes;
    }

    /**
     * Writes the stores with pending classes: those quiet for {@value #QUIET_MILLIS} ms, or all
     * of them; touches files read since the last call; drops idle stores' classes; trims the
     * directory if anything was written. Returns how many files were written.
     */
    int flush(boolean all) {
        if (state != 1) {
            return 0;
        }
        synchronized (writeLock) {
            long now = System.nanoTime();
            int written = 0;
            for (Store s : stores.values()) {
                Map<String, Stored> snapshot;
                Map<String, Stored> known = null;
                boolean touch;
                long addsSeen;
                synchronized (s) {
                    addsSeen = s.adds;
                    touch = s.touch;
                    s.touch = false;
                    boolean quiet = now - s.lastAdd >= TimeUnit.MILLISECONDS.toNanos(QUIET_MILLIS);
                    snapshot = !s.pending.isEmpty() && (all || quiet) ? new HashMap<>(s.pending) : null;
                    if (snapshot != null && s.classes != null) {
                        known = new HashMap<>(s.classes);
                    }
                    if (snapshot == null && s.pending.isEmpty() && s.classes != null
                            && now - s.lastUse >= TimeUnit.SECONDS.toNanos(IDLE_SECONDS)) {
                        s.classes = null; // idle: read again if it is used again
                    }
                }
                if (snapshot != null) {
                    if (write(s, known, snapshot)) {
                        written++;
                        synchronized (s) {
                            if (s.adds == addsSeen) {
                                s.pending.clear(); // nothing added while writing: all of it was written
                            } else {
                                for (Map.Entry<String, Stored> e : snapshot.entrySet()) {
                                    s.pending.remove(e.getKey(), e.getValue());
                                }
                            }
                        }
                    } else {
                        synchronized (s) {
                            s.pending.clear(); // not writable now: do not try again with every flush
                        }
                    }
                } else if (touch) {
                    try {
                        Files.setLastModifiedTime(s.file, FileTime.fromMillis(System.currentTimeMillis()));
                    } catch (IOException | RuntimeException e) {
                        // gone or not ours: nothing to keep fresh
                    }
                }
            }
            if (written > 0) {
                trim();
            }
            return written;
        }
    }

    /**
     * Merges what this JVM knows of the store ({@code known}, may be {@code null}) and
     * {@code added} into the store's file as it is now, written atomically; false if it failed
     * (logged once). The file's current classes come first and this JVM's win: another JVM may
     * have written it since, and its classes are kept unless this JVM has the same class.
     */
    private boolean write(Store s, Map<String, Stored> known, Map<String, Stored> added) {
        Path tmp = null;
        try {
            Map<String, Stored> merged = read(s);
            merged.putAll(known != null ? known : added); // known holds added: Store.add puts in both
            tmp = Files.createTempFile(dir, s.file.getFileName().toString(), ".tmp"); // owner-only where POSIX
            byte[] bytes = format(s.keyText, merged);
            try (java.nio.channels.FileChannel out = java.nio.channels.FileChannel.open(tmp, java.nio.file.StandardOpenOption.WRITE)) {
                ByteBuffer all = ByteBuffer.wrap(bytes);
                while (all.hasRemaining()) {
                    out.write(all);
                }
            }
            try {
                Files.move(tmp, s.file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, s.file, StandardCopyOption.REPLACE_EXISTING);
            }
            reported.remove(s.file.getFileName().toString()); // valid again: a new corruption is worth a line
            return true;
        } catch (IOException | RuntimeException e) {
            if (!writeFailureLogged) {
                writeFailureLogged = true;
                Log.info("unloadguard's woven-class cache cannot write " + s.file + ": " + e
                        + "; plugin classes are still woven, only not kept for the next start");
            }
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException | RuntimeException ignored) {
                    // best effort
                }
            }
            return false;
        }
    }

    /** Deletes the oldest files until the directory holds at most {@link #maxBytes}, and stale temporary files. */
    private void trim() {
        List<Path> files = new ArrayList<>();
        Map<Path, long[]> attrs = new HashMap<>();
        long total = 0;
        long staleBefore = System.currentTimeMillis() - TimeUnit.HOURS.toMillis(1);
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
            for (Path p : ds) {
                String name = p.getFileName().toString();
                try {
                    long modified = Files.getLastModifiedTime(p, LinkOption.NOFOLLOW_LINKS).toMillis();
                    if (name.endsWith(".tmp")) {
                        if (modified < staleBefore) {
                            Files.deleteIfExists(p); // left by a JVM killed while writing
                        }
                    } else if (name.endsWith(SUFFIX)) {
                        long size = Files.size(p);
                        total += size;
                        files.add(p);
                        attrs.put(p, new long[] {modified, size});
                    }
                } catch (IOException e) {
                    // removed by another JVM meanwhile
                }
            }
        } catch (IOException | RuntimeException e) {
            return;
        }
        if (total <= maxBytes) {
            return;
        }
        files.sort(Comparator.comparingLong(p -> attrs.get(p)[0]));
        for (Path p : files) {
            if (total <= maxBytes) {
                break;
            }
            try {
                Files.deleteIfExists(p);
                total -= attrs.get(p)[1];
            } catch (IOException e) {
                // another JVM's: leave it
            }
        }
    }

    /**
     * Starts the writer thread and the shutdown hook. Call from the agent's installation (premain
     * or agentmain), never from a class-loading thread (see the class comment).
     */
    void start() {
        Thread t = new Thread(null, this::writeLoop, "unloadguard-woven-cache", 0, false);
        t.setDaemon(true);
        t.setContextClassLoader(null);
        writer = t; // volatile: a Store.add on another thread sees it, or sees null and the loop's first look finds its class
        t.start();
        Thread hook = new Thread(null, () -> flush(true), "unloadguard-woven-cache-shutdown", 0, false);
        hook.setContextClassLoader(null);
        Runtime.getRuntime().addShutdownHook(hook);
    }

    /**
     * The writer: parks until a store gets its first pending class (unparked by {@link Store#add}),
     * then flushes every {@value #QUIET_MILLIS}/2 ms until nothing is pending or held, then parks
     * again (waking every {@value #IDLE_SECONDS} s to drop idle stores). A spurious or early wake-up
     * only costs a look at the stores.
     */
    private void writeLoop() {
        while (true) {
            try {
                flush(false);
                boolean busy = false;
                for (Store s : stores.values()) {
                    synchronized (s) {
                        busy |= !s.pending.isEmpty();
                    }
                }
                LockSupport.parkNanos(this, busy ? TimeUnit.MILLISECONDS.toNanos(QUIET_MILLIS / 2) : TimeUnit.SECONDS.toNanos(IDLE_SECONDS));
            } catch (RuntimeException | Error e) {
                Log.debug(() -> "unloadguard's woven-class cache writer: " + e);
                LockSupport.parkNanos(this, TimeUnit.SECONDS.toNanos(IDLE_SECONDS));
            }
        }
    }

    // ---- digests --------------------------------------------------------------------------

    /** The runtime's checksum of {@code text} ({@link JarDigests.Checksum}: CRC-32C, CRC-32, length), in hex. */
    static String checksumOf(String text) {
        return JarDigests.hex(new JarDigests.Checksum().update(text.getBytes(StandardCharsets.UTF_8)).digest());
    }
}
