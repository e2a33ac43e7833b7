package dev.unloadguard.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.it.leaks.LeakHolders;
import dev.unloadguard.it.leaks.LeakingHost;
import dev.unloadguard.it.leaks.LeakingPlugins;
import dev.unloadguard.it.support.BuiltJars;
import dev.unloadguard.it.support.ChildJvm;
import dev.unloadguard.leaks.HeapDumpLeakExplainer;
import dev.unloadguard.loader.Plugin;
import dev.unloadguard.loader.PluginLoader;
import dev.unloadguard.loader.PluginState;
import dev.unloadguard.loader.UnloadReport;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The leak path through the real agent and the real loader: purpose-built plugins that leak one
 * way each (a static field of a host class, a JDK-wide registry, a ThreadLocal value on a host
 * pool thread, a throwable the host keeps), unloaded by a loader with the heap-dump leak
 * explainer; each LEAKED report names the exact chain of fields from the GC root to the
 * generation's class loader. Then the command line: {@code leaks PID} on a forked host that
 * leaked (it has neither the explainer nor unloadguard-leaks), {@code analyze} on the dump it kept.
 */
class LeakPathIT {

    private static final Duration LONG = Duration.ofSeconds(30);
    private static final Duration COLLECTION = Duration.ofMillis(1500);
    private final Level rootLevel = Logger.getLogger("").getLevel();

    /**
     * The host, not a plugin's init, initializes {@link LeakHolders}: a pool thread started from
     * plugin code inherits its access control context (JDK 17 to 23), whose protection domain holds
     * the plugin's loader: a second, shorter path (the first run of {@code leaks PID} found it).
     */
    @BeforeAll
    static void hostClassesFirst() {
        LeakHolders.pool();
    }

    @AfterEach
    void fix() {
        Logger.getLogger("").setLevel(rootLevel);
        LeakHolders.forget();
        Logger root = Logger.getLogger("");
        for (Handler h : root.getHandlers()) {
            if (h.getClass().getName().startsWith("it.logleak.")) {
                root.removeHandler(h);
            }
        }
    }

    /**
     * Loads {@code jar} with managed registrations off (the root logger's handler and the pool
     * thread's value would otherwise be undone at unload: ManagedRegistrationsIT shows that),
     * unloads it: LEAKED, with the leak path in the report.
     */
    private static UnloadReport leaked(Path jar) throws Exception {
        PluginLoader loader = PluginLoader.builder().collectionTimeout(COLLECTION).awaitCollection(true)
                .leakExplainer(HeapDumpLeakExplainer.create()).build();
        Plugin plugin = loader.load(jar, dev.unloadguard.loader.LoadOption.UNMANAGED_REGISTRATIONS);
        UnloadReport report = loader.unload(plugin, LONG);
        assertEquals(PluginState.LEAKED, report.outcome(), report::toString);
        return report;
    }

    /** The report's leak path, split into its steps. */
    private static List<String> path(UnloadReport report) {
        String line = report.leakSuspects().stream().filter(s -> s.startsWith("leak path: ")).findFirst()
                .orElseThrow(() -> new AssertionError("no leak path in the report:\n" + report));
        System.out.println(report.pluginId() + ": " + line); // the paths docs/troubleshooting.md shows
        return List.of(line.substring("leak path: ".length()).split(" → "));
    }

    private static void assertEndsAtTheLoader(List<String> path, String id) {
        String last = path.get(path.size() - 1);
        assertTrue(last.startsWith("PluginClassLoader plugin:" + id + ".jar#") || last.startsWith("PluginClassLoader plugin:" + id),
                () -> "ends at the generation's loader: " + path);
        assertTrue(last.endsWith(", plugin " + id + " generation 1, unloaded"), () -> "names the generation: " + path);
    }

    @Test
    void aStaticFieldOfAHostClass() throws Exception {
        UnloadReport report = leaked(LeakingPlugins.staticField());
        List<String> path = path(report);
        assertEquals("static field " + LeakHolders.class.getName() + ".LISTENERS (class " + LeakHolders.class.getName()
                + " (loader app))", path.get(0), path::toString);
        assertEquals("java.util.concurrent.CopyOnWriteArrayList.array[0]", path.get(1), path::toString);
        assertTrue(path.get(2).startsWith("it.staticleak.Listener (loader plugin:staticleak"), path::toString);
        assertEquals(4, path.size(), path::toString);
        assertEndsAtTheLoader(path, "staticleak");
        assertTrue(report.toString().contains("leak path: static field"), report::toString);
    }

    @Test
    void aJdkRegistryTheRootLoggersHandlers() throws Exception {
        // unloadguard's own warning about the leak would go to the plugin's handler, an entry into
        // unloaded plugin code, refused (PluginUnloadedError): logging is off until the handler is removed
        Logger.getLogger("").setLevel(Level.OFF);
        List<String> path = path(leaked(LeakingPlugins.jdkRegistry()));
        assertTrue(path.get(0).startsWith("static field java.util.logging."), path::toString);
        // e.g. static field java.util.logging.Logging.logManager → LogManager.rootLogger → ... (the JDK's own fields)
        assertTrue(path.contains("java.util.logging.LogManager.rootLogger"), path::toString);
        assertTrue(path.contains("java.util.logging.Logger$ConfigurationData.handlers"), path::toString);
        assertTrue(path.get(path.size() - 3).startsWith("java.util.concurrent.CopyOnWriteArrayList.array["), path::toString);
        assertTrue(path.get(path.size() - 2).startsWith("it.logleak.PluginHandler (loader plugin:logleak"), path::toString);
        assertEndsAtTheLoader(path, "logleak");
    }

    @Test
    void aThreadLocalValueOnAHostPoolThread() throws Exception {
        List<String> path = path(leaked(LeakingPlugins.threadLocal()));
        assertEquals("live thread \"host-pool-1\"", path.get(0), path::toString);
        assertEquals("java.lang.Thread.threadLocals (thread \"host-pool-1\")", path.get(1), path::toString);
        assertTrue(path.get(2).startsWith("java.lang.ThreadLocal$ThreadLocalMap.table["), path::toString);
        assertEquals("java.lang.ThreadLocal$ThreadLocalMap$Entry.value", path.get(3), path::toString);
        assertTrue(path.get(4).startsWith("it.tlleak.Session (loader plugin:tlleak"), path::toString);
        assertEndsAtTheLoader(path, "tlleak");
        assertFalse(path.stream().anyMatch(s -> s.contains("referent")), () -> "the entry's weak key is no path: " + path);
    }

    @Test
    void aThrowableTheHostKeeps() throws Exception {
        List<String> path = path(leaked(LeakingPlugins.keptException()));
        assertEquals("static field " + LeakHolders.class.getName() + ".lastError (class " + LeakHolders.class.getName()
                + " (loader app))", path.get(0), path::toString);
        assertTrue(path.get(1).startsWith("java.lang.IllegalArgumentException.backtrace"), path::toString);
        // JDK 17: backtrace[2] is the array of the frames' classes (mirrors); the layout is the JVM's
        assertTrue(path.stream().anyMatch(s -> s.startsWith("class it.excleak.Parser (loader plugin:excleak")), path::toString);
        assertEndsAtTheLoader(path, "excleak");
    }

    @Test
    void leaksPidAndAnalyzeNameThePathOfAJvmThatLeaked() throws Exception {
        Path jar = LeakingPlugins.staticField();
        Path kept = Files.createTempDirectory(Path.of("target"), "leaks").toAbsolutePath().resolve("host.hprof");
        try (ChildJvm host = ChildJvm.start(List.of(ChildJvm.javaagent()), LeakingHost.class.getName(), jar.toString())) {
            host.awaitLine(l -> l.startsWith("outcome="), Duration.ofSeconds(60));
            assertEquals("LEAKED", host.value("outcome").orElseThrow(), host::output);

            try (ChildJvm leaks = ChildJvm.java(List.of("-jar", BuiltJars.cli().toString(), "leaks", Long.toString(host.pid()),
                    "--keep", kept.toString()))) {
                assertEquals(1, leaks.waitFor(Duration.ofMinutes(2)), leaks::output);
                String out = leaks.output();
                assertTrue(out.contains("1 leaked plugin generation(s):"), out);
                assertTrue(out.contains("plugin staticleak generation 1, loader plugin:staticleak"), out);
                assertTrue(out.contains("static field " + LeakHolders.class.getName() + ".LISTENERS (class "), out);
                assertTrue(out.contains("→ java.util.concurrent.CopyOnWriteArrayList.array[0]"), out);
                assertTrue(out.contains("→ it.staticleak.Listener (loader plugin:staticleak"), out);
                assertTrue(out.contains("→ PluginClassLoader plugin:staticleak"), out);
            }
            assertTrue(Files.isRegularFile(kept), "--keep keeps the dump");
            try (ChildJvm analyze = ChildJvm.java(List.of("-jar", BuiltJars.cli().toString(), "analyze", kept.toString()))) {
                assertEquals(1, analyze.waitFor(Duration.ofMinutes(2)), analyze::output);
                assertTrue(analyze.output().contains("→ it.staticleak.Listener (loader plugin:staticleak"), analyze::output);
            }

            host.send("fix");
            host.awaitLine(l -> l.equals("fixed"), Duration.ofSeconds(30));
            try (ChildJvm leaks = ChildJvm.java(List.of("-jar", BuiltJars.cli().toString(), "leaks", Long.toString(host.pid())))) {
                assertEquals(0, leaks.waitFor(Duration.ofMinutes(2)), leaks::output);
                assertTrue(leaks.output().contains("no leaked plugin generations found"), leaks::output);
                assertTrue(leaks.output().contains("; deleted after the analysis"), leaks::output);
            }
            host.send("exit");
            assertEquals(0, host.waitFor(Duration.ofMinutes(1)), host::output);
        } finally {
            Files.deleteIfExists(kept);
        }
    }

    @Test
    void badInputToAnalyzeAndLeaksSaysWhatIsWrong() throws Exception {
        try (ChildJvm analyze = ChildJvm.java(List.of("-jar", BuiltJars.cli().toString(), "analyze", "no-such.hprof"))) {
            assertEquals(2, analyze.waitFor(Duration.ofMinutes(1)), analyze::output);
            assertTrue(analyze.output().contains("unloadguard analyze: no such file: no-such.hprof"), analyze::output);
        }
        Path notADump = Files.writeString(Files.createTempDirectory(Path.of("target"), "leaks").resolve("notes.hprof"), "hello");
        try (ChildJvm analyze = ChildJvm.java(List.of("-jar", BuiltJars.cli().toString(), "analyze", notADump.toString()))) {
            assertEquals(1, analyze.waitFor(Duration.ofMinutes(1)), analyze::output);
            assertTrue(analyze.output().contains("is not a heap dump (.hprof)"), analyze::output);
        }
        try (ChildJvm leaks = ChildJvm.java(List.of("-jar", BuiltJars.cli().toString(), "leaks", "not-a-pid"))) {
            assertEquals(2, leaks.waitFor(Duration.ofMinutes(1)), leaks::output);
            assertTrue(leaks.output().contains("'not-a-pid' is not a process id"), leaks::output);
        }
    }
}
