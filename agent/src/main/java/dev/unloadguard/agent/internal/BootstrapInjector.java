package dev.unloadguard.agent.internal;

import dev.unloadguard.weave.internal.GuardTransformer;
import dev.unloadguard.weave.internal.Log;
import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.instrument.Instrumentation;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.security.CodeSource;
import dev.unloadguard.epoch.ReleaseGuard;
import dev.unloadguard.epoch.internal.Epochs;
import dev.unloadguard.epoch.internal.Throwables;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.Enumeration;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/**
 * Appends the bootstrap bridge ({@code dev/unloadguard/boot/*.class}, see
 * {@code dev.unloadguard.boot.BootGuard}) to the bootstrap class path and wires it to the runtime — lazily, the first time a host registers a foreign plugin loader that cannot see
 * unloadguard's runtime. Never at agent start: appending to the bootstrap class path makes HotSpot
 * print "Sharing is only supported for boot loader classes because bootstrap classpath has been
 * appended" and stop using class-data sharing for application classes, a startup cost every host
 * would pay for a case few have.
 *
 * <p>This class never links {@code BootGuard}: a direct reference would define it in the
 * application loader (the agent jar is on the class path), a copy beside the bootstrap one. It
 * finds the bootstrap copy by name through the bootstrap loader after appending.
 *
 * <p>How: copy exactly the {@code dev/unloadguard/boot/*.class} entries of the agent jar into a
 * temporary jar, {@link Instrumentation#appendToBootstrapClassLoaderSearch append} it, delete
 * it. HotSpot opens the jar when it is appended, so on Linux the deleted file stays readable for
 * the life of the JVM; where deleting an open file fails it is deleted on exit instead. If the
 * agent does not run from a jar (a classes directory), there is nothing to copy: the bridge cannot
 * be installed, and foreign loaders that cannot see the runtime stay unguarded (with a warning).
 */
final class BootstrapInjector {

    static final String BRIDGE_PACKAGE = "dev/unloadguard/boot/";
    private static final String BRIDGE_CLASS = "dev.unloadguard.boot.BootGuard";

    /** Guarded by the class: 0 not tried, 1 installed, -1 failed (not retried). */
    private static int state;

    private BootstrapInjector() {
    }

    /** Appends and wires the bridge once; later calls return at once. */
    static synchronized void installBridge(Instrumentation inst, Class<?> anchor) {
        if (state != 0) {
            return;
        }
        state = -1;
        Path jar = agentJar(anchor);
        if (jar == null) {
            Log.warning("a registered plugin loader cannot see unloadguard's runtime and the agent does not run from a jar, "
                    + "so the bootstrap bridge cannot be installed: that loader's release callbacks are not guarded. "
                    + "Make dev.unloadguard.epoch visible to it (a parent that reaches unloadguard-agent.jar)");
            return;
        }
        try {
            File bridge = extract(jar);
            if (bridge == null) {
                Log.warning("the agent jar " + jar + " holds no " + BRIDGE_PACKAGE + " classes: no bootstrap bridge");
                return;
            }
            try (JarFile appended = new JarFile(bridge, false)) {
                // Only the path is handed over: the JVM opens the jar itself, now.
                inst.appendToBootstrapClassLoaderSearch(appended);
            } finally {
                delete(bridge);
            }
            Class<?> guard = Class.forName(BRIDGE_CLASS, true, null);
            MethodHandles.Lookup l = MethodHandles.lookup();
            MethodHandle handle = l.findStatic(ReleaseGuard.class, "handle", MethodType.methodType(MethodHandle.class,
                    MethodHandles.Lookup.class, String.class, MethodType.class));
            MethodHandle enterFor = l.findStatic(Epochs.class, "enterFor", MethodType.methodType(int.class, Class.class));
            MethodHandle exitFor = l.findStatic(Epochs.class, "exitFor", MethodType.methodType(void.class, Class.class, int.class));
            MethodHandle unpin = l.findStatic(Throwables.class, "unpin", MethodType.methodType(Throwable.class, Throwable.class));
            MethodHandle entryHandle = l.findStatic(ReleaseGuard.class, "entryHandle", MethodType.methodType(MethodHandle.class,
                    MethodHandles.Lookup.class, String.class, MethodType.class, String.class));
            MethodHandle enterEntryFor = l.findStatic(Epochs.class, "enterEntryFor",
                    MethodType.methodType(int.class, Class.class, String.class));
            MethodHandle epochConstant = l.findStatic(ReleaseGuard.class, "epochConstant", MethodType.methodType(Object.class,
                    MethodHandles.Lookup.class, String.class, Class.class));
            guard.getMethod("wire", MethodHandle.class, MethodHandle.class, MethodHandle.class, MethodHandle.class,
                    MethodHandle.class, MethodHandle.class, MethodHandle.class, Class.class).invoke(null, handle, enterFor, exitFor,
                    unpin, entryHandle, enterEntryFor, epochConstant, ReleaseGuard.epochConstantClass());
            state = 1;
            Log.info("appended unloadguard's bootstrap bridge for plugin loaders that cannot see its runtime");
        } catch (IOException | ReflectiveOperationException | RuntimeException | LinkageError e) {
            Log.warning("could not install unloadguard's bootstrap bridge; plugin loaders that cannot see its runtime "
                    + "stay unguarded", e);
        }
    }

    /** The agent jar, or {@code null} (with a debug note) when not running from a jar. */
    private static Path agentJar(Class<?> anchor) {
        CodeSource source = anchor.getProtectionDomain().getCodeSource();
        URL location = source == null ? null : source.getLocation();
        Path path = null;
        if (location != null && "file".equals(location.getProtocol())) {
            try {
                path = Paths.get(location.toURI());
            } catch (URISyntaxException | RuntimeException e) {
                path = null;
            }
        }
        if (path == null || !Files.isRegularFile(path)) {
            Object where = location;
            Log.debug(() -> "the agent does not run from a jar (" + where
                    + "): nothing can be appended to the bootstrap class path");
            return null;
        }
        return path;
    }

    /**
     * A temporary jar with the bridge classes, or {@code null} if there are none.
     *
     * <p>Startup matters here (this runs before {@code main}), so it avoids what would double the
     * agent's own start time: {@code Files.createTempFile} (it seeds a {@code SecureRandom}:
     * security providers, message digests), compressing (entries are stored, with the size and
     * CRC the agent jar's central directory already has) and converting entry times (the
     * source entry's DOS time is copied as is; converting one loads the time-zone rules).
     * {@link File#createNewFile()} creates the file exclusively, so a name guessed in advance
     * by someone else only costs a retry.
     */
    private static File extract(Path agentJar) throws IOException {
        File tmp = createTempFile();
        int copied = 0;
        try (JarFile source = new JarFile(agentJar.toFile(), false);
             OutputStream file = new FileOutputStream(tmp);
             ZipOutputStream out = new ZipOutputStream(file)) {
            Enumeration<JarEntry> entries = source.entries();
            while (entries.hasMoreElements()) {
                JarEntry entry = entries.nextElement();
                String name = entry.getName();
                if (!name.startsWith(BRIDGE_PACKAGE) || !name.endsWith(".class")
                        || name.indexOf('/', BRIDGE_PACKAGE.length()) >= 0) {
                    continue;
                }
                ZipEntry copy = new ZipEntry(entry); // keeps the DOS time
                copy.setMethod(ZipEntry.STORED);
                copy.setCompressedSize(entry.getSize());
                copy.setExtra(null);
                copy.setComment(null);
                out.putNextEntry(copy);
                try (InputStream in = source.getInputStream(entry)) {
                    in.transferTo(out);
                }
                out.closeEntry();
                copied++;
            }
        } catch (IOException | RuntimeException e) {
            delete(tmp);
            throw e;
        }
        if (copied == 0) {
            delete(tmp);
            return null;
        }
        return tmp;
    }

    private static File createTempFile() throws IOException {
        File dir = new File(System.getProperty("java.io.tmpdir"));
        String prefix = "unloadguard-bridge-";
        // Not ProcessHandle.current().pid(): its class initializer starts a thread pool.
        long seed = System.nanoTime() ^ ((long) System.identityHashCode(dir) << 32);
        for (int attempt = 0; attempt < 100; attempt++) {
            File f = new File(dir, prefix + Long.toHexString(seed + attempt) + ".jar");
            if (f.createNewFile()) {
                return f;
            }
        }
        throw new IOException("could not create a temporary file in " + dir);
    }

    /** Deletes {@code f}, or (where an open file cannot be deleted) schedules it for exit. */
    private static void delete(File f) {
        if (!f.delete() && f.exists()) {
            f.deleteOnExit();
        }
    }
}
