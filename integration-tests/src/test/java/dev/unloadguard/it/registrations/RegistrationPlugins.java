package dev.unloadguard.it.registrations;

import dev.unloadguard.it.support.TestPlugins;
import java.io.IOException;
import java.nio.file.Path;

/**
 * Purpose-built plugins, one per JDK registry managed registrations cover: each registers one
 * thing in its driver's {@code init} and forgets it in {@code exit}. Built from source into real
 * jars at test time ({@link TestPlugins}); loaded through the real loader and agent.
 */
public final class RegistrationPlugins {

    /** The system property the property plugin sets. */
    public static final String PROPERTY = "it.registrations.property";
    /** The logger the handler plugin adds its handler to. */
    public static final String LOGGER = "it.registrations";
    /** The MBean domain of the MBean plugin. */
    public static final String MBEAN_DOMAIN = "it.registrations";
    /** Prefix of the names of threads the plugins start. */
    public static final String THREADS = "it-registrations-";

    private RegistrationPlugins() {
    }

    /** A plugin whose init runs {@code body} (with {@code ctx}, {@code gen} and {@code handed} in scope) plus extra classes. */
    static Path plugin(String id, String imports, String body, String... extraClasses) throws IOException {
        String pkg = "it.reg." + id.replace('-', '_');
        TestPlugins p = TestPlugins.plugin().driver(pkg + ".RegDriver").source(pkg + ".RegDriver", """
                package %s;
                import dev.unloadguard.driver.*;
                import dev.unloadguard.it.registrations.Handed;
                %s
                public final class RegDriver implements Driver {
                    public String id() { return "%s"; }
                    public void init(DriverContext ctx) throws Exception {
                        int gen = ctx.generation();
                        Handed handed = ctx.service(Handed.class).orElseThrow();
                        %s
                    }
                    public void exit() { } // forgets what init registered
                }
                """.formatted(pkg, imports, id, body));
        for (int i = 0; i < extraClasses.length; i += 2) {
            p.source(pkg + "." + extraClasses[i], "package " + pkg + ";\n" + extraClasses[i + 1]);
        }
        return p.build(id);
    }

    /** Starts a thread running plugin code until it is interrupted. */
    public static Path thread() throws IOException {
        return plugin("reg-thread", "import java.util.concurrent.locks.LockSupport;", """
                Thread t = new Thread(() -> {
                    while (!Thread.currentThread().isInterrupted()) {
                        LockSupport.parkNanos(20_000_000L);
                    }
                }, "%sthread-g" + gen);
                t.setDaemon(true);
                t.start();
                """.formatted(THREADS));
    }

    /** Starts a plugin Thread subclass that ignores interrupts until the host's latch opens. */
    public static Path stubbornThread() throws IOException {
        return plugin("reg-stubborn", "import java.util.concurrent.CountDownLatch;", """
                CountDownLatch release = ctx.service(CountDownLatch.class).orElseThrow();
                Stubborn t = new Stubborn(release, "%sstubborn-g" + gen);
                t.start();
                """.formatted(THREADS), "Stubborn", """
                import java.util.concurrent.CountDownLatch;
                final class Stubborn extends Thread {
                    private final CountDownLatch release;
                    Stubborn(CountDownLatch release, String name) { super(name); this.release = release; setDaemon(true); }
                    @Override public void run() {
                        while (release.getCount() > 0) {
                            try { release.await(); } catch (InterruptedException ignored) { } // swallows the interrupt
                        }
                    }
                }
                """);
    }

    /** Creates two executors (a factory method and a constructor), each with an idle worker. */
    public static Path executor() throws IOException {
        return plugin("reg-executor", "import java.util.concurrent.*;", """
                ExecutorService pool = Executors.newSingleThreadExecutor();
                pool.submit(() -> { }).get(); // its worker now idles in the JDK's code, with the plugin's context loader
                ScheduledThreadPoolExecutor scheduled = new ScheduledThreadPoolExecutor(1);
                scheduled.prestartAllCoreThreads();
                handed.give(pool);
                handed.give(scheduled);
                """);
    }

    /** Creates a timer with a task scheduled far away. */
    public static Path timer() throws IOException {
        return plugin("reg-timer", "import java.util.*;", """
                Timer timer = new Timer("%stimer-g" + gen, true);
                timer.schedule(new TimerTask() {
                    final Timer owner = timer; // reachable from its thread's queue, so the test can cancel it
                    public void run() { }
                }, 3_600_000L);
                handed.give(timer);
                """.formatted(THREADS));
    }

    /** Adds a shutdown hook of a plugin class. */
    public static Path shutdownHook() throws IOException {
        return plugin("reg-hook", "", """
                Thread hook = new Thread(() -> { }, "%shook-g" + gen);
                Runtime.getRuntime().addShutdownHook(hook);
                handed.give(hook);
                """.formatted(THREADS));
    }

    /** Registers a plugin JDBC driver. */
    public static Path jdbcDriver() throws IOException {
        return plugin("reg-jdbc", "import java.sql.DriverManager;", """
                FakeJdbc d = new FakeJdbc();
                DriverManager.registerDriver(d);
                handed.give(d);
                """, "FakeJdbc", """
                import java.sql.*;
                import java.util.Properties;
                import java.util.logging.Logger;
                public final class FakeJdbc implements Driver {
                    /** For the test's clean-up of the unmanaged case: DriverManager lets only a class that sees the driver remove it. */
                    public static final java.lang.invoke.MethodHandles.Lookup LOOKUP = java.lang.invoke.MethodHandles.lookup();
                    public Connection connect(String url, Properties info) { return null; }
                    public boolean acceptsURL(String url) { return url.startsWith("jdbc:it-registrations:"); }
                    public DriverPropertyInfo[] getPropertyInfo(String url, Properties info) { return new DriverPropertyInfo[0]; }
                    public int getMajorVersion() { return 1; }
                    public int getMinorVersion() { return 0; }
                    public boolean jdbcCompliant() { return false; }
                    public Logger getParentLogger() throws SQLFeatureNotSupportedException { throw new SQLFeatureNotSupportedException(); }
                }
                """);
    }

    /** Registers a plugin MBean with the platform MBean server. */
    public static Path mbean() throws IOException {
        return plugin("reg-mbean", "import java.lang.management.ManagementFactory; import javax.management.ObjectName;", """
                ManagementFactory.getPlatformMBeanServer().registerMBean(new Probe(),
                        new ObjectName("%s:type=Probe,generation=" + gen));
                """.formatted(MBEAN_DOMAIN), "ProbeMBean", """
                public interface ProbeMBean { int getValue(); }
                """, "Probe", """
                public final class Probe implements ProbeMBean { public int getValue() { return 42; } }
                """);
    }

    /** Sets a plugin ThreadLocal on the thread that loads it (the host's). */
    public static Path threadLocal() throws IOException {
        return plugin("reg-threadlocal", "", """
                Values.LOCAL.set(new Values());
                handed.give(Values.LOCAL);
                """, "Values", """
                final class Values {
                    static final ThreadLocal<Values> LOCAL = new ThreadLocal<>();
                }
                """);
    }

    /** Sets a plugin ThreadLocal on a host thread it is handed (a host worker), from that thread. */
    public static Path threadLocalOnWorker() throws IOException {
        return plugin("reg-tl-worker", "import java.util.concurrent.ExecutorService;", """
                ExecutorService hostWorker = ctx.service(ExecutorService.class).orElseThrow();
                hostWorker.submit(() -> Values.LOCAL.set(new Values())).get();
                """, "Values", """
                final class Values {
                    static final ThreadLocal<Values> LOCAL = new ThreadLocal<>();
                }
                """);
    }

    /** Adds a plugin logging handler to a host logger. */
    public static Path logHandler() throws IOException {
        return plugin("reg-handler", "import java.util.logging.*;", """
                Logger.getLogger("%s").addHandler(new Quiet());
                """.formatted(LOGGER), "Quiet", """
                import java.util.logging.*;
                final class Quiet extends Handler {
                    public void publish(LogRecord r) { }
                    public void flush() { }
                    public void close() { }
                }
                """);
    }

    /** Installs a plugin security provider named {@code ItRegistrations<gen>}. */
    public static Path securityProvider() throws IOException {
        return plugin("reg-provider", "import java.security.Security;", """
                Security.addProvider(new PluginProvider("ItRegistrations" + gen));
                """, "PluginProvider", """
                final class PluginProvider extends java.security.Provider {
                    PluginProvider(String name) { super(name, "1.0", "a test provider"); }
                }
                """);
    }

    /** Points a host thread's context class loader at the plugin. */
    public static Path contextClassLoader() throws IOException {
        return plugin("reg-ccl", "", """
                Thread host = ctx.service(Thread.class).orElseThrow();
                host.setContextClassLoader(RegDriver.class.getClassLoader());
                """);
    }

    /** Sets {@link #PROPERTY} to {@code plugin-<gen>}. */
    public static Path systemProperty() throws IOException {
        return plugin("reg-property", "", """
                System.setProperty("%s", "plugin-" + gen);
                """.formatted(PROPERTY));
    }
}
