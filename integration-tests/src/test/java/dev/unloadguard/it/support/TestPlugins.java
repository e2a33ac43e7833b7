package dev.unloadguard.it.support;

import java.io.IOException;
import java.io.OutputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import javax.tools.Diagnostic;
import javax.tools.DiagnosticCollector;
import javax.tools.JavaCompiler;
import javax.tools.JavaFileObject;
import javax.tools.SimpleJavaFileObject;
import javax.tools.StandardJavaFileManager;
import javax.tools.StandardLocation;
import javax.tools.ToolProvider;

/**
 * Builds purpose-made plugin jars for tests: Java sources compiled with the JDK's compiler against
 * this JVM's class path (unloadguard's api and runtime (host-side test types such as {@link HostBus}),
 * jarred with an optional driver service entry, in {@code target/test-plugins}. Real jars, loaded
 * through the real loader: nothing of them is on the test class path.
 */
public final class TestPlugins {

    private static final AtomicInteger SEQ = new AtomicInteger();
    private final Map<String, String> sources = new LinkedHashMap<>();
    private String driverClass;
    private final List<Path> classPath = new ArrayList<>();

    public static TestPlugins plugin() {
        return new TestPlugins();
    }

    /** Adds a class; {@code fqcn} is its binary name, {@code source} its whole compilation unit. */
    public TestPlugins source(String fqcn, String source) {
        sources.put(fqcn, source);
        return this;
    }

    /** Compiles against {@code jars} too (a plugin's libraries), ahead of this JVM's class path. */
    public TestPlugins classPath(Path... jars) {
        classPath.addAll(List.of(jars));
        return this;
    }

    /** Declares the driver in {@code META-INF/services/dev.unloadguard.driver.Driver}. */
    public TestPlugins driver(String fqcn) {
        this.driverClass = fqcn;
        return this;
    }

    /** Compiles and writes the jar; returns its path. */
    public Path build(String name) throws IOException {
        Path dir = Path.of("target", "test-plugins").toAbsolutePath();
        Files.createDirectories(dir);
        Path classes = Files.createTempDirectory(dir, name + "-classes");
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        if (javac == null) {
            throw new IllegalStateException("no system Java compiler: run the tests on a JDK, not a JRE");
        }
        DiagnosticCollector<JavaFileObject> diagnostics = new DiagnosticCollector<>();
        try (StandardJavaFileManager files = javac.getStandardFileManager(diagnostics, null, StandardCharsets.UTF_8)) {
            files.setLocation(StandardLocation.CLASS_OUTPUT, List.of(classes.toFile()));
            List<JavaFileObject> units = new ArrayList<>();
            sources.forEach((fqcn, src) -> units.add(new Source(fqcn, src)));
            StringBuilder cp = new StringBuilder();
            for (Path p : classPath) {
                cp.append(p).append(java.io.File.pathSeparator);
            }
            cp.append(System.getProperty("java.class.path")); // the api and host-side test types
            boolean ok = javac.getTask(null, files, diagnostics, List.of("--release", "17", "-cp", cp.toString(), "-proc:none"), null, units).call();
            if (!ok) {
                StringBuilder sb = new StringBuilder("test plugin " + name + " does not compile:\n");
                for (Diagnostic<? extends JavaFileObject> d : diagnostics.getDiagnostics()) {
                    sb.append(d).append('\n');
                }
                throw new IllegalStateException(sb.toString());
            }
        }
        Path jar = dir.resolve(name + "-" + SEQ.incrementAndGet() + ".jar");
        Manifest mf = new Manifest();
        mf.getMainAttributes().putValue("Manifest-Version", "1.0");
        try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(jar), mf)) {
            if (driverClass != null) {
                out.putNextEntry(new JarEntry("META-INF/services/dev.unloadguard.driver.Driver"));
                out.write((driverClass + "\n").getBytes(StandardCharsets.UTF_8));
                out.closeEntry();
            }
            try (var walk = Files.walk(classes)) {
                for (Path f : (Iterable<Path>) walk.filter(Files::isRegularFile).sorted()::iterator) {
                    out.putNextEntry(new JarEntry(classes.relativize(f).toString().replace('\\', '/')));
                    try (OutputStream o = new NonClosing(out)) {
                        Files.copy(f, o);
                    }
                    out.closeEntry();
                }
            }
        }
        try (var walk = Files.walk(classes)) {
            walk.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
        return jar;
    }

    private static final class Source extends SimpleJavaFileObject {
        private final String code;

        Source(String fqcn, String code) {
            super(URI.create("string:///" + fqcn.replace('.', '/') + Kind.SOURCE.extension), Kind.SOURCE);
            this.code = code;
        }

        @Override
        public CharSequence getCharContent(boolean ignoreEncodingErrors) {
            return code;
        }
    }

    private static final class NonClosing extends java.io.FilterOutputStream {
        NonClosing(OutputStream out) {
            super(out);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            out.write(b, off, len);
        }

        @Override
        public void close() throws IOException {
            flush();
        }
    }
}
