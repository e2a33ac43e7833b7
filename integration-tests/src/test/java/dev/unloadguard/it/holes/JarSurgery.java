package dev.unloadguard.it.holes;

import dev.unloadguard.it.support.RawJars;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Set;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;

/**
 * Assembles a plugin jar from two compiled ones: every entry of {@code base}, except that the
 * named entries come from {@code donor}. For class files javac will not produce together but the
 * JVM links happily (a plugin built against an older version of one of its own types).
 */
public final class JarSurgery {

    private JarSurgery() {
    }

    public static Path replaceEntries(Path base, Path donor, Set<String> entries, String name) throws IOException {
        RawJars out = RawJars.jar();
        try (JarFile b = new JarFile(base.toFile()); JarFile d = new JarFile(donor.toFile())) {
            for (JarEntry e : java.util.Collections.list(b.entries())) {
                if (e.isDirectory()) {
                    continue;
                }
                JarFile from = entries.contains(e.getName()) ? d : b;
                JarEntry source = from.getJarEntry(e.getName());
                if (source == null) {
                    throw new IllegalStateException(e.getName() + " is missing from " + (from == d ? donor : base));
                }
                try (var in = from.getInputStream(source)) {
                    out.entry(e.getName(), in.readAllBytes());
                }
            }
        }
        return out.build(name);
    }
}
