package dev.unloadguard.it;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.it.registrations.Handed;
import dev.unloadguard.it.registrations.RegistrationPlugins;
import dev.unloadguard.it.support.Leftovers;
import dev.unloadguard.loader.LoadOption;
import dev.unloadguard.loader.Plugin;
import dev.unloadguard.loader.PluginLoader;
import dev.unloadguard.loader.PluginState;
import dev.unloadguard.loader.UndoneRegistration;
import dev.unloadguard.loader.UnloadReport;
import dev.unloadguard.loader.UnloadTimeoutException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.security.Security;
import java.sql.Driver;
import java.sql.DriverManager;
import java.time.Duration;
import java.util.List;
import java.util.Timer;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.logging.Handler;
import java.util.logging.Logger;
import javax.management.MBeanServer;
import javax.management.ObjectName;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Managed JDK registrations through the real agent: one purpose-built plugin per registry
 * ({@link RegistrationPlugins}) registers one thing in its init and forgets it in its exit. With
 * managed registrations (the default) the unload undoes it right after the exit hook, says so in
 * the report, and the generation is COLLECTED; loaded with {@link LoadOption#UNMANAGED_REGISTRATIONS}
 * the same plugin LEAKS (or its thread keeps the unload waiting until it times out): the safety
 * shown to fail without it. Each unmanaged case then undoes the registration by hand and waits for
 * the class loader to be collected, so the registration is shown to be the one thing that held it.
 */
class ManagedRegistrationsIT {

    private static final Duration LONG = Duration.ofSeconds(30);
    private static final Duration SHORT = Duration.ofSeconds(3);
    private static final Duration COLLECTION = Duration.ofMillis(1500);

    private final Handed handed = new Handed();
    private final CountDownLatch stubbornRelease = new CountDownLatch(1);
    private final ExecutorService hostWorker = Executors.newSingleThreadExecutor(r -> new Thread(r, "it-host-worker"));
    private final CountDownLatch hostThreadEnd = new CountDownLatch(1);
    private final Thread hostThread = new Thread(() -> {
        try {
            hostThreadEnd.await();
        } catch (InterruptedException ignored) {
            // ends
        }
    }, "it-host-thread");

    ManagedRegistrationsIT() throws Exception {
        hostWorker.submit(() -> { }).get(); // its thread is the host's: started here, not inherited from plugin code
    }

    /** A logger the host holds, as a host that configures logging does. */
    private static Logger heldLogger;

    private PluginLoader loader() {
        return PluginLoader.builder().service(Handed.class, handed).service(CountDownLatch.class, stubbornRelease)
                .service(ExecutorService.class, hostWorker).service(Thread.class, hostThread)
                .collectionTimeout(COLLECTION).awaitCollection(true)
                .leakExplainer(dev.unloadguard.leaks.HeapDumpLeakExplainer.create()) // names the holder of what leaks
                .build();
    }

    @AfterEach
    void cleanUp() throws InterruptedException {
        stubbornRelease.countDown();
        Leftovers.stopThreads(RegistrationPlugins.THREADS);
        hostWorker.shutdownNow();
        hostThreadEnd.countDown();
        handed.forget();
    }

    /** Waits until the thread named {@code name} is parked, inside the plugin's run(). */
    private static void awaitWaiting(String name) {
        await(name + " parked in its run()").atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(10))
                .until(() -> Thread.getAllStackTraces().keySet().stream().anyMatch(t -> t.getName().equals(name)
                        && (t.getState() == Thread.State.WAITING || t.getState() == Thread.State.TIMED_WAITING)));
    }

    /** Loads managed, unloads: COLLECTED, and an undo of {@code kind} in the report and its text. */
    private static UnloadReport managed(PluginLoader loader, Path jar, String kind) throws Exception {
        Plugin p = loader.load(jar);
        return assertUndone(loader.unload(p, LONG), kind);
    }

    /** COLLECTED, and an undo of {@code kind} in the report and its text. */
    private static UnloadReport assertUndone(UnloadReport r, String kind) {
        assertEquals(PluginState.COLLECTED, r.outcome(), r::toString);
        assertTrue(r.registrations().stream().anyMatch(u -> u.kind().equals(kind) && u.outcome() == UndoneRegistration.Outcome.UNDONE),
                () -> "expected an undone " + kind + ": " + r);
        assertEquals(List.of(), r.leftoverRegistrations(), r::toString);
        String text = r.toString();
        assertTrue(text.contains("registrations undone after exit") && text.contains(kind + ": "), text);
        assertTrue(r.summary().contains("registration(s) undone"), r.summary());
        return r;
    }

    /**
     * Loads unmanaged, unloads: LEAKED, nothing undone, and the report's leak path (from a heap
     * dump) runs through the registry: {@code holder} is one step of it.
     */
    private static UnloadReport unmanaged(PluginLoader loader, Path jar, String holder) throws Exception {
        Plugin p = loader.load(jar, LoadOption.UNMANAGED_REGISTRATIONS);
        UnloadReport r = loader.unload(p, LONG);
        assertEquals(PluginState.LEAKED, r.outcome(), r::toString);
        assertEquals(List.of(), r.registrations(), r::toString);
        String path = r.leakSuspects().stream().filter(s -> s.startsWith("leak path: ")).findFirst()
                .orElseThrow(() -> new AssertionError("no leak path in the report: " + r));
        System.out.println("[leak path of " + jar.getFileName() + "] " + path);
        assertTrue(path.contains(holder), () -> "the leak path must run through " + holder + ": " + path);
        return r;
    }

    @Test
    void aThreadThePluginStartedIsInterruptedAndJoined() throws Exception {
        Path jar = RegistrationPlugins.thread();
        PluginLoader loader = loader();
        Plugin g1 = loader.load(jar);
        awaitWaiting(RegistrationPlugins.THREADS + "thread-g1");
        UnloadReport r = assertUndone(loader.unload(g1, LONG), "thread");
        UndoneRegistration t = r.registrations().get(0);
        assertTrue(t.what().startsWith("thread \"" + RegistrationPlugins.THREADS + "thread-g1"), t::toString);
        assertTrue(t.registeredAt().startsWith("it.reg.reg_thread.RegDriver.init("), t::toString);
        assertEquals("interrupted and joined", t.note());

        // unmanaged: the thread runs plugin code, so the unload waits for it until it times out, and stays GOING
        Plugin g2 = loader.load(jar, LoadOption.UNMANAGED_REGISTRATIONS);
        awaitWaiting(RegistrationPlugins.THREADS + "thread-g2");
        assertThrows(UnloadTimeoutException.class, () -> loader.unload(g2, SHORT));
        assertEquals(PluginState.GOING, g2.state());
        Leftovers.stopThreads(RegistrationPlugins.THREADS + "thread-g2");
        assertEquals(PluginState.COLLECTED, loader.unload(g2, LONG).outcome());
    }

    @Test
    void aThreadThatWillNotStopIsALeftoverNamedWithTheStackThatStartedIt() throws Exception {
        PluginLoader loader = loader();
        Plugin p = loader.load(RegistrationPlugins.stubbornThread());
        awaitWaiting(RegistrationPlugins.THREADS + "stubborn-g1"); // inside its run(): an entry started later is refused
        UnloadTimeoutException e = assertThrows(UnloadTimeoutException.class, () -> loader.unload(p, Duration.ofSeconds(4)));
        String m = e.getMessage();
        assertTrue(m.contains("registrations the unload could not undo") && m.contains("thread: thread \""
                + RegistrationPlugins.THREADS + "stubborn-g1\"") && m.contains("LEFT OVER, interrupted, but still running"), m);
        assertTrue(m.contains("it.reg.reg_stubborn.RegDriver.init(RegDriver.java:"), "the stack that started it: " + m);
        assertEquals(PluginState.GOING, p.state());

        stubbornRelease.countDown(); // the thread ends: the retry finds nothing left
        UnloadReport retry = loader.unload(p, LONG);
        assertEquals(PluginState.COLLECTED, retry.outcome(), retry::toString);
        assertEquals(List.of(), retry.leftoverRegistrations(), retry::toString);
    }

    @Test
    void executorsItCreatedAreShutDown() throws Exception {
        Path jar = RegistrationPlugins.executor();
        PluginLoader loader = loader();
        UnloadReport r = managed(loader, jar, "executor");
        assertEquals(2, r.registrations().stream().filter(u -> u.kind().equals("executor")).count(), r::toString);

        unmanaged(loader, jar, "java.lang.Thread.contextClassLoader (thread \"pool-");
        handed.all(ExecutorService.class).forEach(ExecutorService::shutdownNow);
        handed.forget();
        Leftovers.awaitLoadersCollected(loader);
    }

    @Test
    void aTimerIsCancelled() throws Exception {
        Path jar = RegistrationPlugins.timer();
        PluginLoader loader = loader();
        managed(loader, jar, "timer");

        unmanaged(loader, jar, "live thread \"" + RegistrationPlugins.THREADS + "timer-g2\"");
        handed.all(Timer.class).forEach(Timer::cancel);
        handed.forget();
        Leftovers.awaitLoadersCollected(loader);
    }

    @Test
    void aShutdownHookIsRemoved() throws Exception {
        Path jar = RegistrationPlugins.shutdownHook();
        PluginLoader loader = loader();
        managed(loader, jar, "shutdown hook");
        // removed: adding the same hook again would fail if it were still registered
        unmanaged(loader, jar, "static field java.lang.ApplicationShutdownHooks.hooks");
        assertEquals(1, handed.all(Thread.class).size(), "the unmanaged generation's hook is still registered (so still reachable)");
        assertTrue(Runtime.getRuntime().removeShutdownHook(handed.all(Thread.class).get(0)));
        handed.forget();
        Leftovers.awaitLoadersCollected(loader);
    }

    @Test
    void aJdbcDriverIsDeregistered() throws Throwable {
        Path jar = RegistrationPlugins.jdbcDriver();
        PluginLoader loader = loader();
        managed(loader, jar, "JDBC driver");

        unmanaged(loader, jar, "static field java.sql.DriverManager.registeredDrivers");
        deregisterHandedDrivers();
        handed.forget();
        Leftovers.awaitLoadersCollected(loader);
    }

    /** In a method of its own: a local left in the test's frame would hold the plugin's driver. */
    private void deregisterHandedDrivers() throws Throwable {
        for (Driver d : handed.all(Driver.class)) { // DriverManager lets only a class that sees the driver remove it
            ((MethodHandles.Lookup) d.getClass().getField("LOOKUP").get(null))
                    .findStatic(DriverManager.class, "deregisterDriver", MethodType.methodType(void.class, Driver.class))
                    .invoke(d);
        }
    }

    /** In a method of its own: a local left in the test's frame would hold the plugin's handler. */
    private static void removeHandlers(Logger logger) {
        for (Handler h : logger.getHandlers()) {
            logger.removeHandler(h);
        }
    }

    @Test
    void anMBeanIsUnregistered() throws Exception {
        Path jar = RegistrationPlugins.mbean();
        PluginLoader loader = loader();
        MBeanServer server = ManagementFactory.getPlatformMBeanServer();
        ObjectName all = new ObjectName(RegistrationPlugins.MBEAN_DOMAIN + ":type=Probe,*");
        managed(loader, jar, "MBean");
        assertEquals(0, server.queryNames(all, null).size());

        unmanaged(loader, jar, "static field java.lang.management.ManagementFactory.platformMBeanServer");
        for (ObjectName n : server.queryNames(all, null)) {
            server.unregisterMBean(n);
        }
        Leftovers.awaitLoadersCollected(loader);
    }

    @Test
    void aThreadLocalValueOnTheUnloadingThreadIsRemoved() throws Exception {
        Path jar = RegistrationPlugins.threadLocal();
        PluginLoader loader = loader();
        managed(loader, jar, "ThreadLocal value");

        unmanaged(loader, jar, "java.lang.ThreadLocal$ThreadLocalMap$Entry.value"); // the value on this thread keeps its ThreadLocal's class alive
        @SuppressWarnings("rawtypes")
        List<ThreadLocal> locals = handed.all(ThreadLocal.class);
        assertEquals(1, locals.size());
        locals.get(0).remove(); // on the thread it was set on, as the undo does
        locals.clear();
        handed.forget();
        Leftovers.awaitLoadersCollected(loader);
    }

    @Test
    void aThreadLocalValueOnAnotherLiveThreadIsRemovedByThatThreadItself() throws Exception {
        Path jar = RegistrationPlugins.threadLocalOnWorker();
        PluginLoader loader = loader();
        Plugin g1 = loader.load(jar);
        UnloadReport r = loader.unload(g1, LONG);
        // not removed from here (that would race with the worker): a leftover, handed to the worker
        assertEquals(PluginState.LEAKED, r.outcome(), r::toString);
        UndoneRegistration left = r.leftoverRegistrations().get(0);
        assertEquals("ThreadLocal value", left.kind(), r::toString);
        assertTrue(left.note().contains("removed by that thread itself"), left::toString);
        assertTrue(left.stack().stream().anyMatch(f -> f.getClassName().startsWith("it.reg.reg_tl_worker.")), left::toString);

        // the next registration on that worker (the next generation's ThreadLocal.set) removes it there
        Plugin g2 = loader.load(jar, LoadOption.IGNORE_LEAKED_GENERATIONS);
        await("generation 1 collected once the worker removed its value").atMost(Duration.ofSeconds(15))
                .pollInterval(Duration.ofMillis(50)).until(() -> {
                    System.gc();
                    return loader.classLoadersNotCollected() == 1; // generation 2 only
                });
        hostWorker.submit(() -> { }).get();
        hostWorker.shutdown(); // its thread ends: generation 2's value goes with it
        assertTrue(hostWorker.awaitTermination(10, java.util.concurrent.TimeUnit.SECONDS));
        assertEquals(PluginState.COLLECTED, loader.unload(g2, LONG).outcome());
    }

    @Test
    void aLoggingHandlerIsRemoved() throws Exception {
        Path jar = RegistrationPlugins.logHandler();
        PluginLoader loader = loader();
        Logger logger = Logger.getLogger(RegistrationPlugins.LOGGER);
        heldLogger = logger; // the host holds the logger (the LogManager holds named loggers weakly)
        managed(loader, jar, "logging handler");
        assertEquals(0, logger.getHandlers().length);

        unmanaged(loader, jar, "static field " + ManagedRegistrationsIT.class.getName() + ".heldLogger");
        removeHandlers(logger);
        heldLogger = null;
        Leftovers.awaitLoadersCollected(loader);
    }

    @Test
    void aSecurityProviderIsRemoved() throws Exception {
        Path jar = RegistrationPlugins.securityProvider();
        PluginLoader loader = loader();
        managed(loader, jar, "security provider");
        assertNull(Security.getProvider("ItRegistrations1"));

        unmanaged(loader, jar, "static field sun.security.jca.Providers.providerList");
        assertTrue(Security.getProvider("ItRegistrations2") != null);
        Security.removeProvider("ItRegistrations2");
        Leftovers.awaitLoadersCollected(loader);
    }

    @Test
    void aContextClassLoaderLeftPointingAtThePluginIsReset() throws Exception {
        Path jar = RegistrationPlugins.contextClassLoader();
        ClassLoader before = ManagedRegistrationsIT.class.getClassLoader();
        hostThread.setContextClassLoader(before);
        hostThread.setDaemon(true);
        hostThread.start();
        PluginLoader loader = loader();
        managed(loader, jar, "context class loader");
        assertSame(before, hostThread.getContextClassLoader(), "reset to the value it had before the plugin set it");

        unmanaged(loader, jar, "java.lang.Thread.contextClassLoader (thread \"it-host-thread\")");
        hostThread.setContextClassLoader(before);
        Leftovers.awaitLoadersCollected(loader);
    }

    @Test
    void aSystemPropertyIsRestoredIfItStillHoldsThePluginsValue() throws Exception {
        Path jar = RegistrationPlugins.systemProperty();
        String key = RegistrationPlugins.PROPERTY;
        System.setProperty(key, "host-value");
        try {
            PluginLoader loader = loader();
            UnloadReport r = managed(loader, jar, "system property");
            assertEquals("host-value", System.getProperty(key), r::toString);

            // the host changed it after the plugin: left as it is
            Plugin g2 = loader.load(jar);
            assertEquals("plugin-2", System.getProperty(key));
            System.setProperty(key, "host-changed");
            UnloadReport r2 = loader.unload(g2, LONG);
            assertEquals("host-changed", System.getProperty(key));
            assertTrue(r2.registrations().stream().anyMatch(u -> u.outcome() == UndoneRegistration.Outcome.ALREADY_GONE
                    && u.note().startsWith("changed since")), r2::toString);

            // unmanaged: a property holds only strings, so nothing leaks, but the plugin's value stays
            Plugin g3 = loader.load(jar, LoadOption.UNMANAGED_REGISTRATIONS);
            assertEquals(PluginState.COLLECTED, loader.unload(g3, LONG).outcome());
            assertEquals("plugin-3", System.getProperty(key));
        } finally {
            System.clearProperty(key);
        }
    }
}
