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
 * {@code run --watch DIR}: a plugin host that hosts every jar in a directory and hot-reloads
 * them (see {@link PluginDirectory}) until the process is stopped; on stop (Ctrl-C, SIGTERM) it
 * unloads every plugin.
 */
final class Run {

    static final Set<String> OPTIONS = Set.of("--watch", "--host-classpath", "--settle-ms", "--unload-timeout-ms",
            "--track-references!", "--unguarded!");

    private Run() {
    }

    static int run(Options options, PrintStream out, PrintStream err) throws UsageException {
        String dir = options.get("--watch", null);
        if (dir == null) {
            throw new UsageException("run needs --watch DIR: the directory whose jars to host");
        }
        Path directory = Path.of(dir);
        if (!Files.isDirectory(directory)) {
            throw new UsageException(directory.toAbsolutePath() + " is not a directory: create it, or pass the directory that holds the plugin jars");
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
        PluginLoader loader = PluginLoader.builder()
                .parent(parent)
                .trackReferences(options.flag("--track-references"))
                .allowUnguardedUnload(unguarded)
                .build();
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
                events.println("stopped: every plugin unloaded");
            } catch (Exception e) {
                events.println("stopped: " + e.getMessage());
            } finally {
                stopped.countDown();
            }
        }, "unloadguard-run-shutdown"));
        out.println("hosting the jars in " + directory.toAbsolutePath() + " (settle " + settle.toMillis()
                + " ms); stop with Ctrl-C");
        out.flush();
        try {
            stopped.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return 0;
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
