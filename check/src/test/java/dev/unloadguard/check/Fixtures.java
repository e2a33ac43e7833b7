package dev.unloadguard.check;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Predicate;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/** Fixture class files from the test class path, as jar entries; marker lines from their sources. */
final class Fixtures {

    static final String FIXTURE = "dev/unloadguard/check/fixture/";
    static final String GUARD = FIXTURE + "guard/";

    private Fixtures() {
    }

    /** Entry name to bytes of every fixture class file whose entry name passes {@code select}. */
    static Map<String, byte[]> entries(Predicate<String> select) {
        try {
            java.net.URI uri = Fixtures.class.getResource("/" + FIXTURE).toURI();
            if (uri.getScheme().equals("jar")) { // the check module's test jar, as the command line's tests see it
                try {
                    java.nio.file.FileSystems.getFileSystem(uri);
                } catch (java.nio.file.FileSystemNotFoundException e) {
                    java.nio.file.FileSystems.newFileSystem(uri, Map.of());
                }
            }
            Path root = Path.of(uri).getParent().getParent().getParent().getParent();
            Map<String, byte[]> entries = new TreeMap<>();
            try (Stream<Path> walk = Files.walk(root.resolve(FIXTURE))) {
                for (Path p : (Iterable<Path>) walk.filter(f -> f.toString().endsWith(".class"))::iterator) {
                    String name = root.relativize(p).toString().replace('\\', '/');
                    if (select.test(name)) {
                        entries.put(name, Files.readAllBytes(p));
                    }
                }
            }
            if (entries.isEmpty()) {
                throw new IllegalStateException("no fixture class files selected under " + root.resolve(FIXTURE));
            }
            return entries;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The entries of classes {@code a/b/C} and its nested {@code a/b/C$...}, by internal name. */
    static Predicate<String> classAndNested(String... internalNames) {
        return entry -> {
            for (String n : internalNames) {
                if (entry.equals(n + ".class") || entry.startsWith(n + "$")) {
                    return true;
                }
            }
            return false;
        };
    }

    /**
     * Line numbers of the {@code // hazard:TAG} and {@code // warning:TAG} markers in a fixture
     * source under {@code src/test/java}, by tag.
     */
    static Map<String, Integer> markers(String sourcePath) {
        Path source = Path.of(System.getProperty("basedir", "."), "src/test/java", sourcePath);
        try {
            return markers(Files.readAllLines(source));
        } catch (IOException e) {
            throw new UncheckedIOException("fixture source " + source + " (tests run from the agent module's directory)", e);
        }
    }

    static Map<String, Integer> markers(List<String> lines) {
        Pattern marker = Pattern.compile("// (?:hazard|warning):([\\w-]+)");
        Map<String, Integer> found = new LinkedHashMap<>();
        for (int i = 0; i < lines.size(); i++) {
            Matcher m = marker.matcher(lines.get(i));
            if (m.find() && found.put(m.group(1), i + 1) != null) {
                throw new IllegalStateException("marker " + m.group(1) + " used twice");
            }
        }
        return found;
    }

    /** Writes {@code entries} into a jar. */
    static Path jar(Path file, Map<String, byte[]> entries) throws IOException {
        try (OutputStream out = Files.newOutputStream(file); JarOutputStream jar = new JarOutputStream(out)) {
            for (Map.Entry<String, byte[]> e : entries.entrySet()) {
                jar.putNextEntry(new JarEntry(e.getKey()));
                jar.write(e.getValue());
                jar.closeEntry();
            }
        }
        return file;
    }
}
