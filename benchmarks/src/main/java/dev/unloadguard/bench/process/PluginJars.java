package dev.unloadguard.bench.process;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.jar.Attributes;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import java.util.stream.Stream;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;

/**
 * Generates plugin jars at benchmark time (never committed): {@code n} small classes in package
 * {@code gen.<id>}, every tenth of them a {@code ReleaseCallback} (so the agent guards some and
 * rejects the rest), and a driver whose {@code init} creates one device and instantiates and calls
 * every class, so loading the plugin loads all of them through the plugin's class loader. Compiled
 * with {@code javax.tools} against the agent jar.
 */
public final class PluginJars {

    /** Calls per generated "touch" method of the driver (well under the JVM's 64 KB per method). */
    private static final int CALLS_PER_METHOD = 500;

    private PluginJars() {
    }

    /**
     * {@code PluginJars DIR ID CLASSES API_CLASS_PATH}: writes {@code DIR/ID.jar} (see
     * {@link #generate}) and prints its path; for {@code benchmarks/startup.sh}.
     */
    public static void main(String[] args) throws IOException {
        if (args.length != 4) {
            System.err.println("usage: PluginJars DIR ID CLASSES API_CLASS_PATH");
            System.exit(2);
        }
        System.out.println(generate(Path.of(args[0]), args[1], Integer.parseInt(args[2]), args[3]));
    }

    /** Writes {@code <dir>/<id>.jar} with {@code classes} classes plus the driver; returns it. */
    public static Path generate(Path dir, String id, int classes, String apiClassPath) throws IOException {
        String pkg = "gen." + id;
        Path src = dir.resolve(id + "-src");
        Path out = dir.resolve(id + "-classes");
        deleteTree(src);
        deleteTree(out);
        Path pkgDir = src.resolve(pkg.replace('.', '/'));
        Files.createDirectories(pkgDir);
        Files.createDirectories(out);
        List<Path> sources = new ArrayList<>();
        // The driver touches every class from methods of at most CALLS_PER_METHOD calls each: one
        // method for all of them would pass the JVM's 64 KB code limit near 3,000 classes.
        StringBuilder calls = new StringBuilder();
        StringBuilder touchers = new StringBuilder();
        int touch = 0;
        for (int i = 0; i < classes; i++) {
            if (i % CALLS_PER_METHOD == 0) {
                if (i > 0) {
                    touchers.append("        return sum;\n    }\n\n");
                }
                touchers.append("    private static int touch").append(touch).append("() {\n        int sum = 0;\n");
                calls.append("        sum += touch").append(touch).append("();\n");
                touch++;
            }
            boolean callback = i % 10 == 0;
            String body = "package " + pkg + ";\n\n"
                    + "public final class C" + i + (callback ? " implements dev.unloadguard.driver.ReleaseCallback" : "") + " {\n"
                    + "    private int value;\n"
                    + "    public int work(int x) {\n"
                    + "        value += x * " + (i + 1) + ";\n"
                    + "        return value;\n"
                    + "    }\n"
                    + (callback ? "    @Override\n    public void release() {\n        value = 0;\n    }\n" : "")
                    + "}\n";
            Path file = pkgDir.resolve("C" + i + ".java");
            Files.writeString(file, body, StandardCharsets.UTF_8);
            sources.add(file);
            touchers.append("        sum += new C").append(i).append("().work(").append(i).append(");\n");
            if (callback) {
                touchers.append("        new C").append(i).append("().release();\n");
            }
        }
        if (classes > 0) {
            touchers.append("        return sum;\n    }\n\n");
        }
        String driver = "package " + pkg + ";\n\n"
                + "import dev.unloadguard.device.Device;\n"
                + "import dev.unloadguard.driver.Driver;\n"
                + "import dev.unloadguard.driver.DriverContext;\n\n"
                + "public final class GenDriver implements Driver {\n"
                + "    private Device device;\n"
                + "    public static volatile int sink;\n\n"
                + "    @Override\n    public String id() {\n        return \"" + id + "\";\n    }\n\n"
                + "    @Override\n    public void init(DriverContext context) {\n"
                + "        device = context.createDevice(\"card0\");\n"
                + "        int sum = 0;\n"
                + calls
                + "        sink = sum;\n"
                + "    }\n\n"
                + "    @Override\n    public void exit() {\n        device.release();\n        device = null;\n    }\n\n"
                + touchers
                + "}\n";
        Path driverFile = pkgDir.resolve("GenDriver.java");
        Files.writeString(driverFile, driver, StandardCharsets.UTF_8);
        sources.add(driverFile);

        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        if (javac == null) {
            throw new IllegalStateException("no Java compiler in this runtime: run the benchmarks with a JDK, not a JRE");
        }
        List<String> args = new ArrayList<>(List.of("--release", "17", "-nowarn", "-proc:none",
                "-classpath", apiClassPath, "-d", out.toString()));
        sources.forEach(p -> args.add(p.toString()));
        int rc = javac.run(null, null, System.err, args.toArray(new String[0]));
        if (rc != 0) {
            throw new IllegalStateException("javac failed (" + rc + ") for the generated plugin " + id);
        }

        Path jar = dir.resolve(id + ".jar");
        Manifest manifest = new Manifest();
        manifest.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
        writeJar(jar, manifest, out, "META-INF/services/dev.unloadguard.driver.Driver", pkg + ".GenDriver\n");
        deleteTree(src);
        deleteTree(out);
        return jar;
    }

    /**
     * Writes {@code <dir>/<name>.jar}, a java agent for the startup breakdown: with
     * {@code transformer} false its premain does nothing (what any {@code -javaagent} costs);
     * with it true it adds a retransform-capable transformer that returns {@code null} for every
     * class (what the JVM's class-file-load hook costs with a transformer that does no work).
     */
    public static Path agent(Path dir, String name, boolean transformer) throws IOException {
        Path src = dir.resolve(name + "-src");
        Path out = dir.resolve(name + "-classes");
        deleteTree(src);
        deleteTree(out);
        Path pkgDir = src.resolve("gen/agent");
        Files.createDirectories(pkgDir);
        Files.createDirectories(out);
        String cls = transformer ? "NoopTransformerAgent" : "EmptyAgent";
        String body = "package gen.agent;\n\n"
                + "public final class " + cls + " {\n"
                + "    public static void premain(String args, java.lang.instrument.Instrumentation inst) {\n"
                + (transformer ? "        inst.addTransformer(new java.lang.instrument.ClassFileTransformer() {\n"
                        + "            @Override\n"
                        + "            public byte[] transform(ClassLoader l, String n, Class<?> c, java.security.ProtectionDomain d, byte[] b) {\n"
                        + "                return null;\n"
                        + "            }\n"
                        + "        }, true);\n" : "")
                + "    }\n"
                + "}\n";
        Path file = pkgDir.resolve(cls + ".java");
        Files.writeString(file, body, StandardCharsets.UTF_8);
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        if (javac == null || javac.run(null, null, System.err, "--release", "17", "-nowarn", "-proc:none", "-d", out.toString(), file.toString()) != 0) {
            throw new IllegalStateException("could not compile the " + name + " agent");
        }
        Path jar = dir.resolve(name + ".jar");
        Manifest manifest = new Manifest();
        manifest.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
        manifest.getMainAttributes().putValue("Premain-Class", "gen.agent." + cls);
        manifest.getMainAttributes().putValue("Can-Retransform-Classes", "true");
        writeJar(jar, manifest, out, null, null);
        deleteTree(src);
        deleteTree(out);
        return jar;
    }

    /** Writes {@code jar}: the manifest, an optional extra text entry, then every file under {@code classes}. */
    private static void writeJar(Path jar, Manifest manifest, Path classes, String entry, String text) throws IOException {
        try (OutputStream os = Files.newOutputStream(jar); JarOutputStream jos = new JarOutputStream(os, manifest)) {
            if (entry != null) {
                jos.putNextEntry(new JarEntry(entry));
                jos.write(text.getBytes(StandardCharsets.UTF_8));
                jos.closeEntry();
            }
            List<Path> files;
            try (Stream<Path> s = Files.walk(classes)) {
                files = s.filter(Files::isRegularFile).sorted().toList();
            }
            for (Path f : files) {
                jos.putNextEntry(new JarEntry(classes.relativize(f).toString().replace('\\', '/')));
                jos.write(Files.readAllBytes(f));
                jos.closeEntry();
            }
        }
    }

    private static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) {
            return;
        }
        try (Stream<Path> s = Files.walk(p)) {
            s.sorted(Comparator.reverseOrder()).forEach(f -> {
                try {
                    Files.delete(f);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        }
    }
}
