package dev.unloadguard.testkit;

import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.stream.Stream;
import javax.tools.DiagnosticCollector;
import javax.tools.JavaCompiler;
import javax.tools.JavaFileObject;
import javax.tools.SimpleJavaFileObject;
import javax.tools.StandardJavaFileManager;
import javax.tools.StandardLocation;
import javax.tools.ToolProvider;

/**
 * Builds one-driver plugin jars for the kit's tests: the driver's source compiled against the
 * agent jar this JVM was started with and the test class path ({@link Holder}), jarred with its
 * services entry. Real jars, loaded through the real loader: none of their classes is on the
 * test class path.
 */
final class TestJars {

    private TestJars() {
    }

    static Path agentJar() {
        String jar = System.getProperty("unloadguard.agentJar");
        if (jar == null || !Files.isRegularFile(Path.of(jar))) {
            throw new IllegalStateException("system property unloadguard.agentJar=" + jar + " is not the built agent jar: "
                    + "run the tests through Maven");
        }
        return Path.of(jar);
    }

    static Path driverJar(Path dir, String driverClass, String source) throws IOException {
        Path classes = Files.createTempDirectory(dir, "classes");
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        DiagnosticCollector<JavaFileObject> diagnostics = new DiagnosticCollector<>();
        try (StandardJavaFileManager files = javac.getStandardFileManager(diagnostics, null, StandardCharsets.UTF_8)) {
            files.setLocation(StandardLocation.CLASS_OUTPUT, List.of(classes.toFile()));
            JavaFileObject unit = new SimpleJavaFileObject(
                    URI.create("string:///" + driverClass.replace('.', '/') + ".java"), JavaFileObject.Kind.SOURCE) {
                @Override
                public CharSequence getCharContent(boolean ignoreEncodingErrors) {
                    return source;
                }
            };
            String cp = System.getProperty("java.class.path"); // the api and the host library
            boolean ok = javac.getTask(null, files, diagnostics, List.of("--release", "17", "-proc:none", "-cp", cp),
                    null, List.of(unit)).call();
            if (!ok) {
                throw new IllegalStateException("test plugin does not compile: " + diagnostics.getDiagnostics());
            }
        }
        Path jar = Files.createTempFile(dir, "plugin", ".jar");
        try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(jar));
             Stream<Path> walk = Files.walk(classes)) {
            out.putNextEntry(new JarEntry("META-INF/services/dev.unloadguard.driver.Driver"));
            out.write((driverClass + "\n").getBytes(StandardCharsets.UTF_8));
            out.closeEntry();
            for (Path f : (Iterable<Path>) walk.filter(Files::isRegularFile).sorted()::iterator) {
                out.putNextEntry(new JarEntry(classes.relativize(f).toString().replace('\\', '/')));
                out.write(Files.readAllBytes(f));
                out.closeEntry();
            }
        }
        return jar;
    }
}
