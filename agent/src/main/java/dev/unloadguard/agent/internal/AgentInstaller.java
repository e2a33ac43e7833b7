package dev.unloadguard.agent.internal;

import dev.unloadguard.weave.internal.GuardTransformer;
import dev.unloadguard.weave.internal.Log;
import dev.unloadguard.epoch.internal.Epochs;
import dev.unloadguard.epoch.internal.JarDigests;
import dev.unloadguard.epoch.internal.ThreadFrames;
import dev.unloadguard.epoch.internal.Throwables;
import java.io.IOException;
import java.lang.instrument.Instrumentation;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.security.CodeSource;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.HashMap;
import java.util.Map;
import java.util.jar.JarEntry;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.jar.Attributes;
import java.util.jar.JarFile;
import java.util.jar.Manifest;

/**
 * Installs the {@link GuardTransformer}, behind its {@link WovenClassCache}, once per JVM, tells the
 * runtime the agent is active (and how to install the bootstrap bridge if a host ever needs it, see
 * {@link BootstrapInjector}), and on a late attach retransforms the plugin classes loaded before it.
 */
final class AgentInstaller {

    private static final AtomicInteger INSTALLED = new AtomicInteger();
    /** The transformer this copy of the agent installed, or {@code null} (diagnostics, tests). */
    private static volatile WovenClassCache cache;

    private AgentInstaller() {
    }

    /**
     * @param args the agent's argument ({@code -javaagent:unloadguard-agent.jar=ARGS}): options
     *     {@code name=value} separated by commas; {@code cacheDir=<dir>} or {@code cacheDir=off}
     *     (see {@link #cacheDirectory})
     */
    static void install(Instrumentation inst, String args, boolean lateAttach) {
        // AgentMain's flag stops a second premain/agentmain of the same AgentMain class; this
        // stops a second copy of the agent classes (another loader) sharing the runtime.
        if (Epochs.agentActive()) {
            Log.info("unloadguard agent " + Epochs.agentVersion()
                    + " is already installed in this JVM; not installing it again");
            return;
        }
        openThrowableToRuntime(inst);
        openThreadContainersToRuntime(inst);
        // The weaver behind a cache of woven class files (reloads do not weave again), bounded by
        // -Dunloadguard.wovenClassCache.maxBytes (0: off), kept on disk for the next start in
        // cacheDir= / -Dunloadguard.wovenClassCache.dir (default: the user's cache directory).
        Map<String, String> options = options(args);
        long maxBytes = WovenClassCache.configuredMaxBytes();
        WovenClassDirectory disk = null;
        Path dir = maxBytes == 0 ? null : cacheDirectory(options.get("cacheDir"));
        if (dir != null) {
            disk = new WovenClassDirectory(dir, configuredDiskMaxBytes()); // looked at when a class first needs it
            disk.start(); // the writer thread: here, never from a class-loading thread
        }
        WovenClassCache installed = new WovenClassCache(new GuardTransformer(inst), maxBytes, disk, AgentInstaller::identity);
        inst.addTransformer(installed, true);
        cache = installed;
        INSTALLED.incrementAndGet();
        Epochs.agentInstalled(inst, version(), () -> BootstrapInjector.installBridge(inst, AgentInstaller.class));
        // For tools outside the JVM (the command line's status): the version, readable with jcmd.
        System.setProperty("unloadguard.agent.version", version());
        if (lateAttach) {
            retransformLoadedPluginClasses(inst);
        }
    }

    /**
     * Opens {@code java.lang} to the runtime's module (only that: no other package, no exports), so
     * {@link Throwables} can drop the backtrace of exceptions leaving plugin code, which would
     * otherwise keep the plugin's class loader reachable. The runtime shares the application class
     * loader's unnamed module with the host; a JVM that refuses leaves exceptions able to pin.
     */
    private static void openThrowableToRuntime(Instrumentation inst) {
        Module runtime = Throwables.class.getModule();
        try {
            if (!Object.class.getModule().isOpen("java.lang", runtime)) {
                inst.redefineModule(Object.class.getModule(), java.util.Set.of(), java.util.Map.of(),
                        java.util.Map.of("java.lang", java.util.Set.of(runtime)), java.util.Set.of(), java.util.Map.of());
            }
            if (!Throwables.enable()) {
                Log.warning("could not reach Throwable.backtrace: an exception that leaves plugin code and is kept by the "
                        + "host keeps that plugin's class loader reachable", null);
            }
        } catch (RuntimeException e) {
            Log.warning("could not open java.lang to unloadguard's runtime: an exception that leaves plugin code and is kept "
                    + "by the host keeps that plugin's class loader reachable", e);
        }
    }

    /**
     * Opens {@code jdk.internal.vm} to the runtime's module (only that package: no other, no
     * exports), so the close audit ({@link ThreadFrames}) can walk the JDK's thread containers and
     * see every virtual thread, mounted or not. Only on a JDK that has the containers (21+); a JVM
     * that refuses leaves the audit scanning platform threads only, and its reports say so. Also
     * {@code jdk.internal.misc}, for one question only: whether any virtual thread was ever started
     * (its class initialized, {@code Unsafe.shouldBeInitialized}), so a host without virtual threads
     * skips that walk; refused, the walk always runs.
     */
    private static void openThreadContainersToRuntime(Instrumentation inst) {
        if (featureVersion() < 21) {
            return;
        }
        RuntimeException vm = openToRuntime(inst, "jdk.internal.vm");
        if (vm != null) {
            Log.warning("could not open jdk.internal.vm to unloadguard's runtime: the close audit sees platform threads only, "
                    + "not virtual threads", vm);
        }
        RuntimeException misc = openToRuntime(inst, "jdk.internal.misc");
        if (misc != null) {
            Log.debug(() -> "could not open jdk.internal.misc to unloadguard's runtime (" + misc + "): the close audit walks the "
                    + "thread containers even in a JVM that never started a virtual thread");
        }
    }

    /** Opens {@code java.base}'s {@code pkg} to the runtime's module (that package only); the failure, or {@code null}. */
    private static RuntimeException openToRuntime(Instrumentation inst, String pkg) {
        Module base = Object.class.getModule();
        Module runtime = ThreadFrames.class.getModule();
        try {
            if (base.getPackages().contains(pkg) && !base.isOpen(pkg, runtime)) {
                inst.redefineModule(base, java.util.Set.of(), java.util.Map.of(), java.util.Map.of(pkg, java.util.Set.of(runtime)),
                        java.util.Set.of(), java.util.Map.of());
            }
            return null;
        } catch (RuntimeException e) {
            return e;
        }
    }

    /**
     * The JDK's feature version, from {@code java.specification.version} ("17", "21", ...):
     * {@code Runtime.version()} compiles a regular expression to parse the full version, a few
     * milliseconds of a JVM's start that nothing else here needs.
     */
    static int featureVersion() {
        try {
            return Integer.parseInt(System.getProperty("java.specification.version", ""));
        } catch (NumberFormatException e) {
            return Runtime.version().feature();
        }
    }

    /** The agent argument's options; an unknown one is logged and ignored. */
    static Map<String, String> options(String args) {
        Map<String, String> options = new HashMap<>();
        if (args == null || args.isBlank()) {
            return options;
        }
        for (String option : args.split(",")) {
            int eq = option.indexOf('=');
            String name = (eq < 0 ? option : option.substring(0, eq)).trim();
            if (!"cacheDir".equals(name)) {
                Log.warning("unknown unloadguard agent option '" + option + "' in -javaagent:unloadguard-agent.jar=" + args
                        + "; ignored. Options: cacheDir=<directory> or cacheDir=off (the woven-class cache on disk)");
                continue;
            }
            options.put(name, eq < 0 ? "" : option.substring(eq + 1).trim());
        }
        return options;
    }

    /**
     * Where woven classes are kept across starts, or {@code null}: off. The agent option
     * {@code cacheDir=} wins over the system property {@value WovenClassDirectory#DIR_PROPERTY};
     * {@code off} (or {@code none}, {@code false}, empty) turns it off. Default:
     * {@code $XDG_CACHE_HOME/unloadguard/woven} or {@code ~/.cache/unloadguard/woven}, or, without
     * a usable home directory, {@code java.io.tmpdir/unloadguard-<user>/woven}.
     */
    static Path cacheDirectory(String option) {
        String v = option != null ? option : System.getProperty(WovenClassDirectory.DIR_PROPERTY);
        if (v != null) {
            v = v.trim();
            if (v.isEmpty() || v.equalsIgnoreCase("off") || v.equalsIgnoreCase("none") || v.equalsIgnoreCase("false")) {
                return null;
            }
            return Paths.get(v);
        }
        String xdg = System.getenv("XDG_CACHE_HOME");
        if (xdg != null && !xdg.isBlank() && Paths.get(xdg).isAbsolute()) {
            return Paths.get(xdg, "unloadguard", "woven");
        }
        String home = System.getProperty("user.home");
        if (home != null && !home.isBlank() && !home.equals("?") && Files.isDirectory(Paths.get(home))
                && Files.isWritable(Paths.get(home))) {
            return Paths.get(home, ".cache", "unloadguard", "woven");
        }
        return Paths.get(System.getProperty("java.io.tmpdir"), "unloadguard-" + System.getProperty("user.name", "user"), "woven");
    }

    /** The bound on the cache directory, from {@value WovenClassDirectory#MAX_BYTES_PROPERTY}, or the default. */
    static long configuredDiskMaxBytes() {
        String v = System.getProperty(WovenClassDirectory.MAX_BYTES_PROPERTY);
        if (v == null || v.isBlank()) {
            return WovenClassDirectory.DEFAULT_MAX_BYTES;
        }
        try {
            return Long.parseLong(v.trim());
        } catch (NumberFormatException e) {
            Log.warning("-D" + WovenClassDirectory.MAX_BYTES_PROPERTY + "=" + v + " is not a number of bytes; using the default "
                    + WovenClassDirectory.DEFAULT_MAX_BYTES);
            return WovenClassDirectory.DEFAULT_MAX_BYTES;
        }
    }

    /** Where this agent's classes come from, or {@code null}. */
    private static URL agentLocation() {
        CodeSource source = AgentInstaller.class.getProtectionDomain().getCodeSource();
        return source == null ? null : source.getLocation();
    }

    /** The agent jar at {@code location}, or {@code null} if its classes do not come from a jar file. */
    private static Path agentJar(URL location) throws URISyntaxException {
        if (location == null || !"file".equals(location.getProtocol())) {
            return null;
        }
        Path path = Paths.get(location.toURI());
        return Files.isRegularFile(path) ? path : null;
    }

    /**
     * What identifies this agent's weaving, so woven classes kept on disk are never used by
     * another build: the agent's version and the runtime's checksum of the agent jar's central
     * directory ({@link #centralDirectoryChecksum}: every entry's name, size and CRC-32, and
     * more). {@code null} (the disk cache off, said at DEBUG) when the agent's classes do not
     * come from a jar.
     */
    static String identity() {
        URL location = agentLocation();
        try {
            Path path = agentJar(location);
            if (path != null) {
                return version() + "/" + JarDigests.hex(centralDirectoryChecksum(path));
            }
        } catch (IOException | URISyntaxException | RuntimeException e) {
            Log.debug(() -> "unloadguard's woven-class cache on disk is off: cannot read the agent jar " + location + ": " + e);
            return null;
        }
        Log.debug(() -> "unloadguard's woven-class cache on disk is off: the agent's classes do not come from a jar (" + location + ")");
        return null;
    }

    /** The longest zip end record: 22 bytes and a comment of up to 65,535. */
    private static final int MAX_END_RECORD = 22 + 0xFFFF;

    /**
     * The runtime's checksum ({@link JarDigests.Checksum}) of a jar's central directory, read raw:
     * one record per entry with its name, CRC-32, sizes, time and offset, so any change to any
     * entry's content changes it (a rebuild with new times as well: then the cache is only
     * missed). One read of the file's tail and one of the directory, no {@code JarEntry} per
     * entry (in a JVM that just started, iterating the agent's few hundred entries through
     * {@link JarFile} cost several milliseconds). A zip64 jar, or anything this does not
     * recognise, falls back to {@link #entriesChecksum}.
     */
    static byte[] centralDirectoryChecksum(Path jar) throws IOException {
        try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(jar)) {
            long size = ch.size();
            int tailLength = (int) Math.min(size, MAX_END_RECORD);
            java.nio.ByteBuffer tail = java.nio.ByteBuffer.allocate(tailLength).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            readFully(ch, tail, size - tailLength);
            for (int end = tailLength - 22; end >= 0; end--) {
                if (tail.getInt(end) != 0x06054b50) {
                    continue;
                }
                long cenSize = tail.getInt(end + 12) & 0xFFFFFFFFL;
                long cenOffset = tail.getInt(end + 16) & 0xFFFFFFFFL;
                int commentLength = tail.getShort(end + 20) & 0xFFFF;
                if (end + 22 + commentLength != tailLength || cenSize == 0xFFFFFFFFL || cenOffset == 0xFFFFFFFFL
                        || cenOffset + cenSize > size - tailLength + end || cenSize > Integer.MAX_VALUE) {
                    continue; // not the end record (a signature inside a comment), or zip64
                }
                java.nio.ByteBuffer cen = java.nio.ByteBuffer.allocate((int) cenSize);
                readFully(ch, cen, cenOffset);
                if (cenSize < 4 || cen.order(java.nio.ByteOrder.LITTLE_ENDIAN).getInt(0) != 0x02014b50) {
                    break;
                }
                return new JarDigests.Checksum().update(cen.array()).digest();
            }
        }
        return entriesChecksum(jar);
    }

    private static void readFully(java.nio.channels.FileChannel ch, java.nio.ByteBuffer b, long position) throws IOException {
        while (b.hasRemaining()) {
            if (ch.read(b, position + b.position()) < 0) {
                throw new java.io.EOFException("the jar ended early");
            }
        }
    }

    /** The checksum of every entry's name, size and CRC-32, through {@link JarFile}: the fallback. */
    static byte[] entriesChecksum(Path jar) throws IOException {
        JarDigests.Checksum sum = new JarDigests.Checksum();
        try (JarFile file = new JarFile(jar.toFile(), false)) {
            for (Enumeration<JarEntry> e = file.entries(); e.hasMoreElements(); ) {
                JarEntry entry = e.nextElement();
                byte[] name = entry.getName().getBytes(StandardCharsets.UTF_8);
                sum.update(name.length).update(name).update(entry.getSize()).update(entry.getCrc());
            }
        }
        return sum.digest();
    }

    /** The transformer this copy of the agent installed, or {@code null} (diagnostics, tests). */
    static WovenClassCache cache() {
        return cache;
    }

    /** How many transformers this copy of the agent installed: 0 or 1 (diagnostics, tests). */
    static int installedTransformers() {
        return INSTALLED.get();
    }

    /**
     * {@code Implementation-Version} of the jar this class came from (read from the jar itself:
     * the package may have been defined from another class path entry first), or {@code "dev"}.
     */
    static String version() {
        String v = version;
        if (v == null) {
            v = readVersion();
            version = v; // racy but idempotent: every thread computes the same string
        }
        return v;
    }

    /** {@link #version}, read once: the manifest is read from the jar, which costs a few milliseconds at start. */
    private static volatile String version;

    private static String readVersion() {
        String v = null;
        URL location = agentLocation();
        try {
            Path path = agentJar(location);
            if (path != null) {
                try (JarFile jar = new JarFile(path.toFile(), false)) {
                    Manifest manifest = jar.getManifest();
                    v = manifest == null ? null : manifest.getMainAttributes().getValue(Attributes.Name.IMPLEMENTATION_VERSION);
                }
            }
        } catch (IOException | URISyntaxException | RuntimeException e) {
            v = null;
        }
        if (v == null) {
            v = AgentInstaller.class.getPackage().getImplementationVersion();
        }
        return v == null ? "dev" : v;
    }

    /**
     * Dynamic attach: plugin classes loaded before the agent get their guards by retransformation
     * (only method bodies and annotations change, which retransformation allows). One batch; if
     * it fails, one class at a time so one bad class does not leave the others unguarded.
     */
    private static void retransformLoadedPluginClasses(Instrumentation inst) {
        if (!inst.isRetransformClassesSupported()) {
            Log.warning("this JVM cannot retransform classes: plugin classes loaded before the agent attached stay unguarded");
            return;
        }
        List<Class<?>> plugin = new ArrayList<>();
        for (Class<?> c : inst.getAllLoadedClasses()) {
            if (Epochs.isPluginLoader(c.getClassLoader()) && inst.isModifiableClass(c)) {
                plugin.add(c);
            }
        }
        if (plugin.isEmpty()) {
            return;
        }
        try {
            inst.retransformClasses(plugin.toArray(new Class<?>[0]));
        } catch (Throwable batch) {
            for (Class<?> c : plugin) {
                try {
                    inst.retransformClasses(c);
                } catch (Throwable t) {
                    Log.warning("could not retransform " + c.getName() + ": it stays unguarded", t);
                }
            }
        }
        Log.debug(() -> "retransformed " + plugin.size() + " plugin classes loaded before the agent attached");
    }
}
