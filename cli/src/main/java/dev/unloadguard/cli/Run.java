package dev.unloadguard.cli;

import dev.unloadguard.epoch.ReleaseGuard;
import dev.unloadguard.loader.PluginDirectory;
import dev.unloadguard.loader.PluginLoader;
import java.io.File;
import java.io.IOException;
import java.io.PrintStream;
import java.net.MalformedURLException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalTime;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;

/**
 * {@code run --watch DIR}: a plugin host that hosts every plugin in a directory (jars, zips and
 * PF4J-layout directories) and hot-reloads them, dependents with their dependencies (see
 * {@link PluginDirectory}) until the process is stopped; on stop (Ctrl-C, SIGTERM) it
 * unloads every plugin. Plugins get configuration ({@code --config KEY=VALUE}) and services
 * ({@code --service TYPE=CLASS}, host classes made with their no-argument constructor) the way
 * {@link PluginLoader.Builder#config} and {@link PluginLoader.Builder#service} give them.
 */
final class Run {

    static final Set<String> OPTIONS = Set.of("--watch", "--host-classpath", "--settle-ms", "--unload-timeout-ms",
            "--track-references!", "--unguarded!", "--config+", "--service+");

    private Run() {
    }

    static int run(Options options, PrintStream out, PrintStream err) throws UsageException {
        String dir = options.get("--watch", null);
        if (dir == null) {
            throw new UsageException("run needs --watch DIR: the directory whose plugins to host");
        }
        Path directory = Path.of(dir);
        if (!Files.isDirectory(directory)) {
            throw new UsageException(directory.toAbsolutePath() + " is not a directory: create it, or pass the directory that holds the plugins");
        }
        Duration settle = Duration.ofMillis(options.positiveInt("--settle-ms", 500));
        Duration unloadTimeout = Duration.ofMillis(options.positiveInt("--unload-timeout-ms", 10_000));
        boolean unguarded = options.flag("--unguarded");
        if (!ReleaseGuard.agentActive() && !unguarded) {
            err.println("unloadguard run: the agent is not attached. Start it as");
            err.println("  java -javaagent:unloadguard-agent.jar -jar unloadguard-cli.jar run --watch DIR");
            err.println("or add --unguarded to host without the release barrier's protection.");
            return 2;
        }
        ClassLoader parent = hostClassLoader(options.get("--host-classpath", null));
        PluginLoader.Builder builder = PluginLoader.builder()
                .parent(parent)
                .trackReferences(options.flag("--track-references"))
                .allowUnguardedUnload(unguarded);
        for (String kv : options.all("--config")) {
            int eq = kv.indexOf('=');
            if (eq <= 0) {
                throw new UsageException("--config takes KEY=VALUE (e.g. --config xe.devices=2), not '" + kv + "'");
            }
            builder.config(kv.substring(0, eq), kv.substring(eq + 1));
        }
        List<Object> services = new ArrayList<>();
        for (String spec : options.all("--service")) {
            services.add(service(builder, parent, spec));
        }
        PluginLoader loader = builder.build();
        PrintStream events = out;
        CountDownLatch stopped = new CountDownLatch(1);
        PluginDirectory hostedDir;
        try {
            hostedDir = PluginDirectory.watch(loader, directory, settle, unloadTimeout,
                    line -> events.println(LocalTime.now().truncatedTo(ChronoUnit.MILLIS) + " " + line));
        } catch (IOException e) {
            err.println("unloadguard run: cannot watch " + directory + ": " + e);
            return 1;
        }
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                hostedDir.close();
                loader.close();
                for (Object service : services) {
                    if (service instanceof AutoCloseable c) {
                        c.close();
                    }
                }
                events.println("stopped: every plugin unloaded");
            } catch (Exception e) {
                events.println("stopped: " + e.getMessage());
            } finally {
                stopped.countDown();
            }
        }, "unloadguard-run-shutdown"));
        out.println("hosting the jars in " + directory.toAbsolutePath() + " (zips and PF4J directories too; settle " + settle.toMillis()
                + " ms); stop with Ctrl-C");
        out.flush();
        try {
            stopped.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return 0;
    }

    /**
     * {@code --service TYPE=CLASS} (or {@code --service CLASS}, registered under its own type): a
     * host class with a public no-argument constructor, loaded from the host class path, offered
     * to plugins as {@code ctx.service(TYPE.class)}. Returns the instance.
     */
    private static Object service(PluginLoader.Builder builder, ClassLoader host, String spec) throws UsageException {
        int eq = spec.indexOf('=');
        String typeName = eq < 0 ? spec : spec.substring(0, eq);
        String className = eq < 0 ? spec : spec.substring(eq + 1);
        if (typeName.isBlank() || className.isBlank()) {
            throw new UsageException("--service takes TYPE=CLASS (e.g. --service com.example.Cache=com.example.LruCache), not '" + spec + "'");
        }
        Class<?> type = hostClass(host, typeName, spec);
        Class<?> impl = hostClass(host, className, spec);
        if (!type.isAssignableFrom(impl)) {
            throw new UsageException("--service " + spec + ": " + className + " is not a " + typeName);
        }
        Object instance;
        try {
            instance = impl.getConstructor().newInstance();
        } catch (NoSuchMethodException e) {
            throw new UsageException("--service " + spec + ": " + className + " has no public no-argument constructor");
        } catch (java.lang.reflect.InvocationTargetException e) {
            throw new UsageException("--service " + spec + ": new " + className + "() threw " + e.getCause());
        } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
            throw new UsageException("--service " + spec + ": cannot create " + className + ": " + TargetJvm.oneLine(e));
        }
        register(builder, type, instance);
        return instance;
    }

    private static <T> void register(PluginLoader.Builder builder, Class<T> type, Object instance) {
        builder.service(type, type.cast(instance));
    }

    private static Class<?> hostClass(ClassLoader host, String name, String spec) throws UsageException {
        try {
            return Class.forName(name, false, host);
        } catch (ClassNotFoundException | LinkageError e) {
            throw new UsageException("--service " + spec + ": class " + name + " not found on the host class path"
                    + " (add its jar with --host-classpath)");
        }
    }

    private static ClassLoader hostClassLoader(String classPath) throws UsageException {
        ClassLoader app = Run.class.getClassLoader();
        if (classPath == null || classPath.isBlank()) {
            return app;
        }
        List<URL> urls = new ArrayList<>();
        for (String entry : classPath.split(File.pathSeparator)) {
            Path p = Path.of(entry);
            if (!Files.exists(p)) {
                throw new UsageException("--host-classpath entry " + p.toAbsolutePath() + " does not exist");
            }
            try {
                urls.add(p.toUri().toURL());
            } catch (MalformedURLException e) {
                throw new UsageException("--host-classpath entry " + p + " is not a valid path: " + e.getMessage());
            }
        }
        return new URLClassLoader("host", urls.toArray(new URL[0]), app);
    }
}
