package dev.unloadguard.bench.process;

import dev.unloadguard.epoch.ReleaseGuard;
import dev.unloadguard.loader.Plugin;
import dev.unloadguard.loader.PluginLoader;
import dev.unloadguard.loader.UndoneRegistration;
import dev.unloadguard.loader.UnloadReport;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import java.util.jar.Attributes;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import java.util.stream.Stream;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;

/**
 * Metaspace per reload cycle of a plugin that registers one of everything managed registrations
 * undo (a thread, an executor, a timer, a shutdown hook, a JDBC driver, an MBean, a
 * {@code ThreadLocal} value on the host's thread, a logging handler, a security provider, a host
 * thread's context class loader, a system property) and undoes none of it in its exit hook: each
 * unload undoes them all. Run with the agent:
 * <pre>
 * java -javaagent:agent/target/unloadguard-agent.jar -cp cli/target/unloadguard-cli.jar:benchmarks/target/classes \
 *      dev.unloadguard.bench.process.RegistrationCycles WORK_DIR [CYCLES]
 * </pre>
 * It generates the plugin under {@code WORK_DIR}, runs one cycle, then {@code CYCLES} (default
 * 1,000), then {@code CYCLES} more, measuring loaded classes and metaspace used after full GCs at
 * each of the three points, and checks that every cycle undid all eleven registrations and left
 * none over. Prints {@code key=value} lines.
 */
public final class RegistrationCycles {

    private static final int REGISTRATIONS = 11;

    private RegistrationCycles() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 1) {
            System.err.println("usage: RegistrationCycles WORK_DIR [CYCLES]");
            System.exit(2);
        }
        if (!ReleaseGuard.agentActive()) {
            System.err.println("run with -javaagent:unloadguard-agent.jar: without the agent nothing is recorded");
            System.exit(2);
        }
        Path jar = plugin(Path.of(args[0]));
        int n = args.length > 1 ? Integer.parseInt(args[1]) : 1000;
        CountDownLatch end = new CountDownLatch(1);
        Thread hostThread = new Thread(() -> {
            try {
                end.await();
            } catch (InterruptedException e) {
                // ends
            }
        }, "host-thread");
        hostThread.setDaemon(true);
        hostThread.start();
        PluginLoader loader = PluginLoader.builder().service(Thread.class, hostThread).collectionTimeout(Duration.ZERO).build();
        System.setProperty("bench.registrations", "host");
        cycle(loader, jar);
        long[] first = Probe.level(); // loaded classes, metaspace used (and heap), after full GCs
        long t0 = System.nanoTime();
        for (int i = 0; i < n; i++) {
            cycle(loader, jar);
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        long[] after = Probe.level();
        for (int i = 0; i < n; i++) {
            cycle(loader, jar);
        }
        long[] after2 = Probe.level();
        end.countDown();
        out("cycles", n);
        out("cyclesPerSecond", n / seconds);
        out("classes.first", first[0]);
        out("classes.after", after[0]);
        out("classes.after2", after2[0]);
        out("metaspace.first", first[1]);
        out("metaspace.after", after[1]);
        out("metaspace.after2", after2[1]);
        out("metaspace.perCycle.1..n", (after[1] - first[1]) / (double) n);
        out("metaspace.perCycle.n..2n", (after2[1] - after[1]) / (double) n);
        out("classes.perCycle.n..2n", (after2[0] - after[0]) / (double) n);
        out("loadersNotCollected", loader.classLoadersNotCollected());
        out("property", System.getProperty("bench.registrations"));
    }

    private static void cycle(PluginLoader loader, Path jar) throws Exception {
        Plugin plugin = loader.load(jar);
        UnloadReport r = loader.unload(plugin, Duration.ofSeconds(10));
        List<UndoneRegistration> undone = r.registrations();
        long done = undone.stream().filter(u -> u.outcome() == UndoneRegistration.Outcome.UNDONE).count();
        if (done < REGISTRATIONS || !r.leftoverRegistrations().isEmpty()) {
            throw new IllegalStateException("expected " + REGISTRATIONS + " registrations undone: " + r);
        }
    }


    private static void out(String key, Object value) {
        System.out.println(key + "=" + (value instanceof Double ? String.format(Locale.ROOT, "%.2f", value) : value));
    }

    private static final String DRIVER = """
            package gen.registers;

            import dev.unloadguard.driver.Driver;
            import dev.unloadguard.driver.DriverContext;
            import java.lang.management.ManagementFactory;
            import java.security.Security;
            import java.sql.DriverManager;
            import java.util.Timer;
            import java.util.TimerTask;
            import java.util.concurrent.ExecutorService;
            import java.util.concurrent.Executors;
            import java.util.logging.Logger;
            import javax.management.ObjectName;

            public final class RegistersDriver implements Driver {
                static final ThreadLocal<Object> LOCAL = new ThreadLocal<>();

                public String id() { return "registers"; }

                public void init(DriverContext ctx) throws Exception {
                    int gen = ctx.generation();
                    java.util.concurrent.CountDownLatch running = new java.util.concurrent.CountDownLatch(1);
                    Thread t = new Thread(() -> {
                        running.countDown();
                        try { Thread.sleep(Long.MAX_VALUE); } catch (InterruptedException e) { }
                    }, "registers-" + gen);
                    t.setDaemon(true);
                    t.start();
                    running.await(); // inside its run() before the unload can start: an entry started later is refused
                    ExecutorService pool = Executors.newSingleThreadExecutor();
                    pool.submit(() -> { }).get();
                    new Timer(true).schedule(new TimerTask() { public void run() { } }, 3_600_000L);
                    Runtime.getRuntime().addShutdownHook(new Thread(() -> { }));
                    DriverManager.registerDriver(new Jdbc());
                    ManagementFactory.getPlatformMBeanServer().registerMBean(new Probe(),
                            new ObjectName("gen.registers:type=Probe,generation=" + gen));
                    LOCAL.set(new Object[] {this});
                    Logger.getLogger("gen.registers").addHandler(new Quiet());
                    Security.addProvider(new Prov(gen));
                    ctx.service(Thread.class).orElseThrow().setContextClassLoader(RegistersDriver.class.getClassLoader());
                    System.setProperty("bench.registrations", "plugin-" + gen);
                }

                public void exit() { } // undoes nothing: the unload does
            }
            """;

    private static final String[][] OTHERS = {
        {"Jdbc", """
            package gen.registers;
            import java.sql.*;
            import java.util.Properties;
            public final class Jdbc implements Driver {
                public Connection connect(String url, Properties info) { return null; }
                public boolean acceptsURL(String url) { return false; }
                public DriverPropertyInfo[] getPropertyInfo(String url, Properties info) { return new DriverPropertyInfo[0]; }
                public int getMajorVersion() { return 1; }
                public int getMinorVersion() { return 0; }
                public boolean jdbcCompliant() { return false; }
                public java.util.logging.Logger getParentLogger() throws SQLFeatureNotSupportedException {
                    throw new SQLFeatureNotSupportedException();
                }
            }
            """},
        {"ProbeMBean", "package gen.registers;\npublic interface ProbeMBean { int getValue(); }\n"},
        {"Probe", "package gen.registers;\npublic final class Probe implements ProbeMBean { public int getValue() { return 1; } }\n"},
        {"Quiet", """
            package gen.registers;
            import java.util.logging.*;
            final class Quiet extends Handler {
                public void publish(LogRecord r) { }
                public void flush() { }
                public void close() { }
            }
            """},
        {"Prov", """
            package gen.registers;
            final class Prov extends java.security.Provider {
                private static final long serialVersionUID = 1L;
                Prov(int gen) { super("BenchRegisters" + gen, "1.0", "bench"); }
            }
            """},
    };

    /** Writes {@code dir/registers.jar}: the driver above and its classes, compiled against this JVM's class path. */
    static Path plugin(Path dir) throws IOException {
        Path src = dir.resolve("registers-src/gen/registers");
        Path out = dir.resolve("registers-classes");
        Files.createDirectories(src);
        Files.createDirectories(out);
        Files.writeString(src.resolve("RegistersDriver.java"), DRIVER, StandardCharsets.UTF_8);
        for (String[] o : OTHERS) {
            Files.writeString(src.resolve(o[0] + ".java"), o[1], StandardCharsets.UTF_8);
        }
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        if (javac == null) {
            throw new IllegalStateException("no Java compiler in this runtime: run the benchmark with a JDK, not a JRE");
        }
        List<String> args = new java.util.ArrayList<>(List.of("--release", "17", "-nowarn", "-proc:none", "-classpath",
                System.getProperty("java.class.path"), "-d", out.toString()));
        try (Stream<Path> s = Files.list(src)) {
            s.forEach(p -> args.add(p.toString()));
        }
        if (javac.run(null, null, System.err, args.toArray(new String[0])) != 0) {
            throw new IllegalStateException("javac failed for the registering plugin");
        }
        Path jar = dir.resolve("registers.jar");
        Manifest manifest = new Manifest();
        manifest.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
        try (OutputStream os = Files.newOutputStream(jar); JarOutputStream jos = new JarOutputStream(os, manifest)) {
            jos.putNextEntry(new JarEntry("META-INF/services/dev.unloadguard.driver.Driver"));
            jos.write("gen.registers.RegistersDriver\n".getBytes(StandardCharsets.UTF_8));
            jos.closeEntry();
            List<Path> files;
            try (Stream<Path> s = Files.walk(out)) {
                files = s.filter(Files::isRegularFile).sorted().toList();
            }
            for (Path f : files) {
                jos.putNextEntry(new JarEntry(out.relativize(f).toString().replace('\\', '/')));
                jos.write(Files.readAllBytes(f));
                jos.closeEntry();
            }
        }
        return jar;
    }
}
