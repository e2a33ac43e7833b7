package dev.unloadguard.it.support;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;

/** Writes jars byte for byte (valid zips with whatever entries a test needs, garbage included). */
public final class RawJars {

    private static final AtomicInteger SEQ = new AtomicInteger();
    private final Map<String, byte[]> entries = new LinkedHashMap<>();

    public static RawJars jar() {
        return new RawJars();
    }

    public RawJars entry(String name, byte[] content) {
        entries.put(name, content);
        return this;
    }

    public RawJars entry(String name, String content) {
        return entry(name, content.getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }

    /** Writes the jar in {@code target/test-plugins}; returns its path. */
    public Path build(String name) throws IOException {
        Path dir = Path.of("target", "test-plugins").toAbsolutePath();
        Files.createDirectories(dir);
        return write(dir.resolve(name + "-raw-" + SEQ.incrementAndGet() + ".jar"), entries);
    }

    /** Writes {@code entries} (name to bytes, in their order) as the jar {@code jar}; returns it. */
    public static Path write(Path jar, Map<String, byte[]> entries) throws IOException {
        try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(jar))) {
            for (Map.Entry<String, byte[]> e : entries.entrySet()) {
                out.putNextEntry(new JarEntry(e.getKey()));
                out.write(e.getValue());
                out.closeEntry();
            }
        }
        return jar;
    }
}
