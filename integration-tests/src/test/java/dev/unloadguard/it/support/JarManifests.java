package dev.unloadguard.it.support;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Enumeration;
import java.util.Map;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;

/**
 * Adds main-manifest entries to a jar {@link TestPlugins} built: for plugin hosts that read their
 * plugin descriptor from the manifest (PF4J's {@code Plugin-Id}, {@code Plugin-Version},
 * {@code Plugin-Class}).
 */
public final class JarManifests {

    private JarManifests() {
    }

    /** Writes a copy of {@code jar} whose manifest also has {@code entries}; returns the copy's path. */
    public static Path withEntries(Path jar, Map<String, String> entries) throws IOException {
        String name = jar.getFileName().toString().replaceFirst("\\.jar$", "");
        Path out = jar.resolveSibling(name + "-manifest.jar");
        try (JarFile in = new JarFile(jar.toFile())) {
            Manifest mf = in.getManifest() == null ? new Manifest() : new Manifest(in.getManifest());
            mf.getMainAttributes().putValue("Manifest-Version", "1.0");
            entries.forEach((k, v) -> mf.getMainAttributes().putValue(k, v));
            try (JarOutputStream o = new JarOutputStream(Files.newOutputStream(out), mf)) {
                for (Enumeration<JarEntry> e = in.entries(); e.hasMoreElements(); ) {
                    JarEntry entry = e.nextElement();
                    if (entry.getName().equalsIgnoreCase(JarFile.MANIFEST_NAME)) {
                        continue;
                    }
                    o.putNextEntry(new JarEntry(entry.getName()));
                    try (InputStream data = in.getInputStream(entry)) {
                        data.transferTo(o);
                    }
                    o.closeEntry();
                }
            }
        }
        return out;
    }
}
