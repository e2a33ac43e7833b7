package dev.unloadguard.leaks.internal;

import com.sun.management.HotSpotDiagnosticMXBean;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;

/** Takes a heap dump of this JVM with the HotSpot diagnostic MXBean. */
public final class HeapDumps {

    private HeapDumps() {
    }

    /**
     * Dumps the live objects of this JVM (a full GC first) to {@code file}, which must not exist
     * and must end in {@code .hprof}.
     */
    public static void dumpLive(Path file) throws IOException {
        HotSpotDiagnosticMXBean hotspot;
        try {
            hotspot = ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class);
        } catch (LinkageError | RuntimeException e) {
            hotspot = null;
        }
        if (hotspot == null) {
            throw new IOException("this JVM cannot dump its heap: it has no HotSpotDiagnosticMXBean (module jdk.management; "
                    + "a HotSpot or OpenJ9 JVM has one)");
        }
        if (Files.exists(file)) {
            throw new IOException("heap dump file " + file + " exists already: name a new file");
        }
        if (!file.getFileName().toString().endsWith(".hprof")) {
            throw new IOException("heap dump file " + file + " must end in .hprof");
        }
        Path dir = file.toAbsolutePath().getParent();
        if (dir != null) {
            Files.createDirectories(dir);
        }
        hotspot.dumpHeap(file.toAbsolutePath().toString(), true);
    }

    /** A new, not yet existing {@code .hprof} path in {@code java.io.tmpdir}. */
    public static Path temporaryFile(String prefix) throws IOException {
        Path tmp = Files.createTempFile(prefix, ".hprof");
        Files.delete(tmp); // the MXBean refuses to overwrite a file
        return tmp;
    }
}
