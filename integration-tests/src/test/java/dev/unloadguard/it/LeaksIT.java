package dev.unloadguard.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.it.support.HostBus;
import dev.unloadguard.it.support.Leftovers;
import dev.unloadguard.it.support.TestPlugins;
import dev.unloadguard.loader.LoadOption;
import dev.unloadguard.loader.Plugin;
import dev.unloadguard.loader.PluginLoadException;
import dev.unloadguard.loader.PluginLoader;
import dev.unloadguard.loader.PluginState;
import dev.unloadguard.loader.UnloadReport;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Plugins that leak after unload, in this JVM started by Failsafe with {@code -javaagent}: a
 * plugin thread left running (a plugin {@code Thread} subclass parked in host code: one running
 * plugin code would keep the unload waiting instead, see {@code EntryGuardIT}), and a plugin
 * object kept in a host registry. The unload reports
 * LEAKED with suspects naming the culprit; reloading the id is refused until the leak is fixed
 * and the old loader collected (or the host insists with IGNORE_LEAKED_GENERATIONS).
 */
class LeaksIT {

    private static final Duration LONG = Duration.ofSeconds(30);
    private static final Duration COLLECTION = Duration.ofMillis(1500);
    private static final String WORKER = "threadleak-worker-g";

    private static Path threadLeak;
    private static Path registryLeak;

    private final HostBus bus = new HostBus();

    @BeforeAll
    static void buildPlugins() throws Exception {
        threadLeak = TestPlugins.plugin().driver("it.threadleak.ThreadLeakDriver")
                .source("it.threadleak.ThreadLeakDriver", """
                        package it.threadleak;
                        import dev.unloadguard.driver.*;
                        import dev.unloadguard.it.support.HostBus;
                        public final class ThreadLeakDriver implements Driver {
                            public String id() { return "threadleak"; }
                            public void init(DriverContext ctx) {
                                Worker w = new Worker("%s" + ctx.generation(), ctx.service(HostBus.class).orElseThrow().parker());
                                w.setDaemon(true);
                                w.start();
                            }
                            public void exit() { } // forgets to stop its worker
                        }
                        """.formatted(WORKER))
                .source("it.threadleak.Worker", """
                        package it.threadleak;
                        /**
                         * A plugin Thread subclass running host code it was handed (it overrides nothing): it runs no
                         * plugin code, yet its class and its context class loader keep the plugin reachable.
                         */
                        final class Worker extends Thread {
                            Worker(String name, Runnable body) { super(body, name); }
                        }
                        """)
                .build("threadleak");
        registryLeak = TestPlugins.plugin().driver("it.regleak.RegistryLeakDriver")
                .source("it.regleak.RegistryLeakDriver", """
                        package it.regleak;
                        import dev.unloadguard.driver.*;
                        import dev.unloadguard.it.support.HostBus;
                        public final class RegistryLeakDriver implements Driver {
                            public String id() { return "regleak"; }
                            public void init(DriverContext ctx) {
                                // a plugin lambda kept by the host's bus after unload
                                ctx.service(HostBus.class).orElseThrow().hotplug(name -> ctx.createDevice(name));
                            }
                            public void exit() { } // forgets to unregister
                        }
                        """)
                .build("regleak");
    }

    @AfterEach
    void stopLeaks() throws InterruptedException {
        Leftovers.stopThreads(WORKER);
        bus.forget();
    }

    private PluginLoader loader() {
        return PluginLoader.builder().service(HostBus.class, bus).collectionTimeout(COLLECTION).awaitCollection(true).build();
    }

    private static String refused(PluginLoader loader, Path jar) {
        PluginLoadException e = assertThrows(PluginLoadException.class, () -> loader.load(jar, LoadOption.UNMANAGED_REGISTRATIONS));
        return e.getMessage();
    }

    private static void assertSuspect(List<String> suspects, Predicate<String> p, String what) {
        assertTrue(suspects.stream().anyMatch(p), () -> "expected a suspect: " + what + "; suspects: " + suspects);
    }

    @Test
    void aPluginThreadLeftRunningLeaksIsNamedAndBlocksReloadingUntilStopped() throws Exception {
        PluginLoader loader = loader();
        // unmanaged: managed registrations would interrupt and join the worker at unload (ManagedRegistrationsIT)
        Plugin g1 = loader.load(threadLeak, LoadOption.UNMANAGED_REGISTRATIONS);
        UnloadReport report = loader.unload(g1, LONG);
        assertEquals(PluginState.LEAKED, report.outcome(), report::toString);
        assertEquals(PluginState.LEAKED, g1.state());
        List<String> suspects = report.leakSuspects();
        String thread = "thread \"" + WORKER + "1\"";
        assertSuspect(suspects, s -> s.startsWith(thread) && s.contains("context class loader"), "its context class loader");
        assertSuspect(suspects, s -> s.startsWith(thread) && s.contains("is a plugin class it.threadleak.Worker"), "its class");
        // (a thread still RUNNING plugin code no longer gets this far: with every entry guarded the barrier waits for
        // it, and in either scope the close audit refuses to close under it; EntryGuardIT covers both)
        assertEquals(0, report.audit().framesFound(), "the leaking thread runs no plugin code: " + report);
        assertTrue(report.toString().contains("leak suspects:") && report.toString().contains(thread), report::toString);

        String m = refused(loader, threadLeak);
        assertTrue(m.contains("plugin id 'threadleak'") && m.contains("generation 1") && m.contains("LEAKED")
                && m.contains(thread) && m.contains("IGNORE_LEAKED_GENERATIONS"), m);

        // the host may insist
        Plugin g2 = loader.load(threadLeak, LoadOption.IGNORE_LEAKED_GENERATIONS, LoadOption.UNMANAGED_REGISTRATIONS);
        assertEquals(2, g2.generation());
        assertEquals(PluginState.LIVE, g2.state());
        Leftovers.stopThreads(WORKER + "2");
        assertEquals(PluginState.COLLECTED, loader.unload(g2, LONG).outcome(), "generation 2's thread was stopped");
        assertTrue(refused(loader, threadLeak).contains("generation 1"), "generation 1 still leaks");

        // fix the leak: once generation 1 is collected, the id loads again without the option
        Leftovers.stopThreads(WORKER + "1");
        Leftovers.awaitLoadersCollected(loader);
        Plugin g3 = loader.load(threadLeak, LoadOption.UNMANAGED_REGISTRATIONS);
        assertEquals(3, g3.generation());
        Leftovers.stopThreads(WORKER + "3");
        assertEquals(PluginState.COLLECTED, loader.unload(g3, LONG).outcome());
    }

    @Test
    void aPluginObjectKeptInAHostRegistryLeaksIsNamedAndBlocksReloadingUntilForgotten() throws Exception {
        PluginLoader loader = loader();
        Plugin g1 = loader.load(registryLeak);
        UnloadReport report = loader.unload(g1, LONG);
        assertEquals(PluginState.LEAKED, report.outcome(), report::toString);
        String path = "host service " + HostBus.class.getName() + ".hotplug";
        assertSuspect(report.leakSuspects(), s -> s.startsWith(path) && s.contains("holds a plugin object of class it.regleak."),
                "the host registry path");

        String m = refused(loader, registryLeak);
        assertTrue(m.contains("plugin id 'regleak'") && m.contains("generation 1") && m.contains("LEAKED") && m.contains(path)
                && m.contains("IGNORE_LEAKED_GENERATIONS"), m);

        bus.forget(); // the fix
        Leftovers.awaitLoadersCollected(loader);
        Plugin g2 = loader.load(registryLeak);
        assertEquals(2, g2.generation());
        bus.forget();
        assertEquals(PluginState.COLLECTED, loader.unload(g2, LONG).outcome());
    }
}
