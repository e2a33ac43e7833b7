package dev.unloadguard.weave.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.epoch.internal.Registrations;
import dev.unloadguard.epoch.internal.Registrations.Kind;
import dev.unloadguard.epoch.internal.Registrations.Outcome;
import dev.unloadguard.epoch.internal.Registrations.Undone;
import java.lang.management.ManagementFactory;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.security.Provider;
import java.security.Security;
import java.util.ArrayList;
import java.util.List;
import java.util.Timer;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.logging.Handler;
import java.util.logging.Logger;
import java.util.stream.Collectors;
import javax.management.MBeanServer;
import javax.management.ObjectName;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The call-site rewrites of managed registrations ({@link RegistrationSites}), one per registry:
 * which sites of the fixture {@code Registers} are rewritten, and, defined through the transformer
 * by a plugin loader (so the JVM verifies the rewritten code), that each call still does what it
 * did, is recorded for that loader, and is undone by {@link Registrations#undo}.
 */
class RegistrationSitesTest {

    private static final String REGISTERS = WeavingLoader.FIXTURES + "Registers";
    private static final long BOUND = TimeUnit.SECONDS.toNanos(5);

    private final GuardTransformer transformer = new GuardTransformer(null);
    private WeavingLoader loader;
    private Class<?> registers;

    @BeforeEach
    void managedLoader() throws Exception {
        loader = new WeavingLoader(transformer);
        Registrations.manage(loader, "registrations test");
        registers = loader.fixture("Registers");
    }

    @AfterEach
    void forget() {
        Registrations.forget(loader);
    }

    private Object call(String method, Object... args) throws Throwable {
        for (Method m : registers.getMethods()) {
            if (m.getName().equals(method) && m.getParameterCount() == args.length) {
                try {
                    return m.invoke(null, args);
                } catch (InvocationTargetException e) {
                    throw e.getCause();
                }
            }
        }
        throw new AssertionError("no method " + method);
    }

    private Object callOnWorker(String method, Object... args) throws Exception {
        try {
            return call(method, args);
        } catch (Exception | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    private List<Undone> undo() {
        return Registrations.undo(loader, System.nanoTime() + BOUND);
    }

    private static Undone only(List<Undone> undone, Kind kind) {
        List<Undone> of = undone.stream().filter(u -> u.kind() == kind).collect(Collectors.toList());
        assertEquals(1, of.size(), () -> kind + " in " + undone);
        return of.get(0);
    }

    @Test
    void everyRegistrationCallSiteOfTheFixtureIsRewrittenAndNothingElse() {
        byte[] original = WeavingLoader.bytes(REGISTERS);
        assertTrue(RegistrationSites.mayRegister(original));
        List<RegistrationSites.Site> sites = new ArrayList<>();
        byte[] rewritten = RegistrationSites.rewrite(original, sites);
        List<String> found = sites.stream().map(s -> s.method().substring(s.method().lastIndexOf('.') + 1, s.method().indexOf('('))
                .replaceAll("\\$\\d+$", "") + " -> " + s.how()).collect(Collectors.toList());
        assertEquals(List.of(
                "thread -> preceded by ManagedCalls.starting",
                "threadWithLocal -> preceded by ManagedCalls.starting",
                "subclassThread -> preceded by ManagedCalls.starting",
                "factoryPool -> followed by ManagedCalls.created",
                "constructedPool -> followed by ManagedCalls.created",
                "timer -> followed by ManagedCalls.created",
                "hook -> replaced by ManagedCalls.addShutdownHook",
                "jdbc -> replaced by ManagedCalls.registerDriver",
                "mbean -> replaced by ManagedCalls.registerMBean",
                "threadLocal -> replaced by ManagedCalls.threadLocalSet",
                "removeThreadLocal -> replaced by ManagedCalls.threadLocalRemove",
                "handler -> replaced by ManagedCalls.addHandler",
                "provider -> replaced by ManagedCalls.addProvider",
                "contextLoader -> replaced by ManagedCalls.setContextClassLoader",
                "property -> replaced by ManagedCalls.setProperty",
                "notAThread -> preceded by ManagedCalls.starting",
                "lambda$threadWithLocal -> replaced by ManagedCalls.threadLocalSet"), found, sites::toString);
        // rewritten once: the output is not rewritten again
        assertFalse(RegistrationSites.mayRegister(rewritten));
        // a subclass of a recorded pool type: its super(...) call is followed
        List<RegistrationSites.Site> own = new ArrayList<>();
        RegistrationSites.rewrite(WeavingLoader.bytes(REGISTERS + "$OwnPool"), own);
        assertEquals(1, own.size(), own::toString);
        assertEquals("super call followed by ManagedCalls.created", own.get(0).how());
        // a class without a registry in its constant pool is not parsed
        assertFalse(RegistrationSites.mayRegister(WeavingLoader.bytes(WeavingLoader.FIXTURES + "Plain")));
    }

    @Test
    void threadsAreRecordedWhereStartedAndInterruptedAndJoinedNewestFirst() throws Throwable {
        Thread t = (Thread) call("thread", new CountDownLatch(1));
        Thread s = (Thread) call("subclassThread");
        assertTrue(t.isAlive() && s.isAlive());
        assertEquals(2, Registrations.recorded(loader));
        List<Undone> undone = undo();
        assertEquals(List.of(Kind.THREAD, Kind.THREAD), undone.stream().map(Undone::kind).collect(Collectors.toList()));
        assertTrue(undone.get(0).what().contains("registers-sleeper"), "newest first: " + undone);
        assertTrue(undone.get(1).site().startsWith(REGISTERS + ".thread(Registers.java:"), undone.get(1)::site);
        assertFalse(t.isAlive() || s.isAlive());
        assertEquals(0, Registrations.recorded(loader));
    }

    @Test
    void aThreadLocalValueOnAThreadThePluginStartedGoesWithThatThreadAndIsNoLeftover() throws Throwable {
        CountDownLatch set = new CountDownLatch(1);
        Thread t = (Thread) call("threadWithLocal", new ThreadLocal<>(), set, new CountDownLatch(1));
        assertTrue(set.await(10, TimeUnit.SECONDS));
        List<Undone> undone = undo();
        assertEquals(List.of(Kind.THREAD), undone.stream().map(Undone::kind).collect(Collectors.toList()),
                "the thread is joined first, then its value needs nothing: " + undone);
        assertFalse(t.isAlive());
    }

    @Test
    void aStartThatIsNotAThreadsRecordsNothingAndAMethodReferenceEscapes() throws Throwable {
        assertEquals(1, call("notAThread"));
        assertEquals(0, Registrations.recorded(loader));
        Thread t = new Thread(() -> { });
        call("startByReference", t, (Consumer<Runnable>) Runnable::run);
        t.join();
        assertEquals(0, Registrations.recorded(loader), "Thread::start runs in the JDK's generated class: not recorded");
    }

    @Test
    void executorsMadeByFactoryConstructorOrSubclassAreShutDown() throws Throwable {
        ExecutorService a = (ExecutorService) call("factoryPool");
        ExecutorService b = (ExecutorService) call("constructedPool");
        ExecutorService c = (ExecutorService) call("subclassPool");
        List<Undone> undone = undo();
        assertEquals(3, undone.stream().filter(u -> u.kind() == Kind.EXECUTOR && u.outcome() == Outcome.UNDONE).count(),
                undone::toString);
        assertTrue(a.isTerminated() && b.isTerminated() && c.isTerminated());
    }

    @Test
    void aTimerIsCancelled() throws Throwable {
        Timer timer = (Timer) call("timer");
        assertEquals(Outcome.UNDONE, only(undo(), Kind.TIMER).outcome());
        assertThrows(IllegalStateException.class, () -> timer.schedule(new java.util.TimerTask() {
            @Override
            public void run() {
            }
        }, 1));
    }

    @Test
    void aShutdownHookIsRemoved() throws Throwable {
        Thread hook = (Thread) call("hook");
        assertEquals(Outcome.UNDONE, only(undo(), Kind.SHUTDOWN_HOOK).outcome());
        assertFalse(Runtime.getRuntime().removeShutdownHook(hook), "not registered any more");
    }

    @Test
    void aJdbcDriverIsDeregisteredAsThePluginsClass() throws Throwable {
        java.sql.Driver d = (java.sql.Driver) call("jdbc");
        assertEquals(true, call("isRegistered", d)); // DriverManager shows a driver only to classes that see it
        Undone u = only(undo(), Kind.JDBC_DRIVER);
        assertEquals(Outcome.UNDONE, u.outcome(), u::toString);
        assertEquals(false, call("isRegistered", d));
    }

    @Test
    void anMBeanIsUnregistered() throws Throwable {
        MBeanServer server = ManagementFactory.getPlatformMBeanServer();
        ObjectName name = (ObjectName) call("mbean", server, "dev.unloadguard.test:type=Registers");
        assertTrue(server.isRegistered(name));
        assertEquals(Outcome.UNDONE, only(undo(), Kind.MBEAN).outcome());
        assertFalse(server.isRegistered(name));
    }

    @Test
    void aThreadLocalValueOnTheUndoingThreadIsRemovedAndOneRemovedByThePluginIsForgotten() throws Throwable {
        ThreadLocal<Object> tl = new ThreadLocal<>();
        ThreadLocal<Object> removed = new ThreadLocal<>();
        call("threadLocal", tl, "value");
        call("threadLocal", tl, "again"); // recorded once per thread
        call("threadLocal", removed, "value");
        call("removeThreadLocal", removed);
        assertEquals(1, Registrations.recorded(loader));
        assertEquals(Outcome.UNDONE, only(undo(), Kind.THREAD_LOCAL).outcome());
        assertNull(tl.get());
    }

    @Test
    void aThreadLocalValueOnAnotherLiveThreadIsLeftOverAndRemovedByThatThreadOnItsNextPass() throws Throwable {
        ThreadLocal<Object> tl = new ThreadLocal<>();
        ExecutorService worker = java.util.concurrent.Executors.newSingleThreadExecutor();
        try {
            worker.submit(() -> {
                callOnWorker("threadLocal", tl, "value");
                return null;
            }).get();
            Undone u = only(undo(), Kind.THREAD_LOCAL);
            assertEquals(Outcome.LEFT_OVER, u.outcome(), u::toString);
            assertEquals("value", worker.submit(tl::get).get(), "not removed from another thread");
            assertFalse(u.stack().isEmpty());
            // the worker's next pass through a managed call removes it, on the worker
            Object after = worker.submit(() -> {
                callOnWorker("threadLocal", new ThreadLocal<>(), "other");
                return tl.get();
            }).get();
            assertNull(after);
        } finally {
            worker.shutdownNow();
        }
    }

    @Test
    void aLoggingHandlerIsRemoved() throws Throwable {
        Logger logger = Logger.getLogger("dev.unloadguard.test.registers");
        Handler h = (Handler) call("handler", logger);
        assertEquals(Outcome.UNDONE, only(undo(), Kind.LOG_HANDLER).outcome());
        assertFalse(List.of(logger.getHandlers()).contains(h));
    }

    @Test
    void aSecurityProviderIsRemovedOnlyIfItIsStillTheInstalledOne() throws Throwable {
        Provider p = (Provider) call("provider", "RegistersFixture");
        assertSame(p, Security.getProvider("RegistersFixture"));
        assertEquals(Outcome.UNDONE, only(undo(), Kind.SECURITY_PROVIDER).outcome());
        assertNull(Security.getProvider("RegistersFixture"));
    }

    @Test
    void aContextClassLoaderPointingAtThePluginIsResetToItsFormerValue() throws Throwable {
        CountDownLatch end = new CountDownLatch(1);
        Thread host = new Thread(() -> {
            try {
                end.await();
            } catch (InterruptedException e) {
                // ends
            }
        });
        ClassLoader before = getClass().getClassLoader();
        host.setContextClassLoader(before);
        host.start();
        try {
            call("contextLoader", host, loader);
            assertSame(loader, host.getContextClassLoader());
            Undone u = only(undo(), Kind.CONTEXT_CLASS_LOADER);
            assertEquals(Outcome.UNDONE, u.outcome(), u::toString);
            assertSame(before, host.getContextClassLoader());
        } finally {
            end.countDown();
        }
    }

    @Test
    void aSystemPropertyIsRestoredOnlyIfItStillHoldsThePluginsValue() throws Throwable {
        String key = "dev.unloadguard.test.registers";
        System.setProperty(key, "before");
        try {
            assertEquals("before", call("property", key, "plugin"));
            assertEquals(Outcome.UNDONE, only(undo(), Kind.SYSTEM_PROPERTY).outcome());
            assertEquals("before", System.getProperty(key));

            call("property", key, "plugin");
            System.setProperty(key, "host");
            assertEquals(Outcome.ALREADY_GONE, only(undo(), Kind.SYSTEM_PROPERTY).outcome());
            assertEquals("host", System.getProperty(key));
        } finally {
            System.clearProperty(key);
        }
    }

    @Test
    void anUnmanagedLoaderRecordsNothingButItsCallsStillWork() throws Throwable {
        Registrations.forget(loader);
        String key = "dev.unloadguard.test.unmanaged";
        try {
            assertNull(call("property", key, "v"));
            assertEquals("v", System.getProperty(key));
            assertEquals(0, Registrations.recorded(loader));
            assertEquals(List.of(), undo());
        } finally {
            System.clearProperty(key);
        }
    }
}
