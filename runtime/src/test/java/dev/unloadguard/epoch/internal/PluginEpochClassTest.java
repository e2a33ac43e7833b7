package dev.unloadguard.epoch.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.epoch.ReleaseGuard;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The epoch class's hand-written class file ({@link PluginEpochClass#bytes()}): a loader defines
 * it, the JVM verifies and initializes it, and its field holds exactly what
 * {@link ReleaseGuard#epochConstant} gives the loader's classes, which every
 * {@code ReleaseGuard.enter*}/{@code exit*} takes.
 */
class PluginEpochClassTest {

    /** A plugin loader that defines the epoch class on request, as the host's does. */
    private static final class Defining extends ClassLoader implements PluginEpochClass.Definer {
        private final ReleaseEpoch epoch = new ReleaseEpoch("epoch-class-test", true);

        Defining() {
            super("epoch-class-test", PluginEpochClassTest.class.getClassLoader());
        }

        @Override
        public ReleaseEpoch releaseEpoch() {
            return epoch;
        }

        @Override
        protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
            if (!name.equals(PluginEpochClass.NAME)) {
                return super.loadClass(name, resolve);
            }
            synchronized (getClassLoadingLock(name)) {
                Class<?> c = findLoadedClass(name);
                if (c == null) {
                    byte[] b = PluginEpochClass.bytes();
                    c = defineClass(name, b, 0, b.length);
                }
                return c;
            }
        }
    }

    private static Object epochField(Class<?> epochClass) throws ReflectiveOperationException {
        return epochClass.getField(PluginEpochClass.FIELD).get(null);
    }

    @Test
    void itIsAPublicFinalClassWithOnePublicStaticFinalFieldAndFourStaticMethods() throws Exception {
        Class<?> c = Class.forName(PluginEpochClass.NAME, false, new Defining());
        assertEquals(PluginEpochClass.NAME, c.getName());
        assertEquals(Modifier.PUBLIC | Modifier.FINAL, c.getModifiers());
        assertSame(Object.class, c.getSuperclass());
        assertEquals(0, c.getInterfaces().length);
        Field[] fields = c.getDeclaredFields();
        assertEquals(1, fields.length);
        assertEquals(PluginEpochClass.FIELD, fields[0].getName());
        assertSame(Object.class, fields[0].getType());
        assertEquals(Modifier.PUBLIC | Modifier.STATIC | Modifier.FINAL, fields[0].getModifiers());
        Map<String, String> methods = new TreeMap<>();
        for (Method m : c.getDeclaredMethods()) {
            assertEquals(Modifier.PUBLIC | Modifier.STATIC, m.getModifiers(), m.toString());
            methods.put(m.getName(), MethodType.methodType(m.getReturnType(), m.getParameterTypes()).toMethodDescriptorString());
        }
        assertEquals(Map.of(PluginEpochClass.ENTER, PluginEpochClass.ENTER_DESCRIPTOR,
                PluginEpochClass.ENTER_ENTRY, PluginEpochClass.ENTER_DESCRIPTOR,
                PluginEpochClass.EXIT, PluginEpochClass.EXIT_DESCRIPTOR,
                PluginEpochClass.EXIT_THROWING, PluginEpochClass.EXIT_THROWING_DESCRIPTOR), methods);
        assertEquals(0, c.getDeclaredConstructors().length, "no instance can be made");
    }

    @Test
    void itsFieldIsTheLoadersEpochConstantWhichEnterAndExitTake() throws Exception {
        Defining loader = new Defining();
        Class<?> c = Class.forName(PluginEpochClass.NAME, true, loader);
        Object constant = epochField(c);
        assertInstanceOf(ReleaseGuard.epochConstantClass(), constant, "what ReleaseGuard.epochConstant returns");
        assertEquals(0, loader.epoch.depth());
        int token = ReleaseGuard.enterEntry(constant, "PluginEpochClassTest.run()");
        assertEquals(1, loader.epoch.depth(), "the loader's own epoch");
        ReleaseGuard.exit(constant, token);
        Object cell = ReleaseGuard.enterSectionCell(constant);
        assertEquals(1, loader.epoch.depth());
        assertSame(cell, ReleaseGuard.enterEntrySectionCell(constant, "PluginEpochClassTest.run()"), "the thread's one cell");
        assertEquals(2, loader.epoch.depth());
        ReleaseGuard.exitSectionCell(cell);
        RuntimeException thrown = new RuntimeException("thrown");
        assertSame(thrown, ReleaseGuard.exitSectionThrowingCell(thrown, cell));
        assertEquals(0, loader.epoch.depth());
        assertSame(constant, epochField(c), "set once");

        Defining other = new Defining();
        Class<?> otherClass = Class.forName(PluginEpochClass.NAME, true, other);
        assertNotSame(c, otherClass, "one epoch class per loader");
        int t = ReleaseGuard.enter(epochField(otherClass));
        assertEquals(1, other.epoch.depth());
        assertEquals(0, loader.epoch.depth(), "another loader's epoch class holds its own epoch");
        ReleaseGuard.exit(epochField(otherClass), t);
    }

    /** The epoch class's four methods, as the byte-level weaver calls them. */
    private static final class Calls {
        final MethodHandle a;
        final MethodHandle b;
        final MethodHandle c;
        final MethodHandle d;

        Calls(Class<?> epochClass) throws ReflectiveOperationException {
            MethodHandles.Lookup l = MethodHandles.publicLookup();
            MethodType enter = MethodType.methodType(Object.class);
            a = l.findStatic(epochClass, PluginEpochClass.ENTER, enter);
            b = l.findStatic(epochClass, PluginEpochClass.ENTER_ENTRY, enter);
            c = l.findStatic(epochClass, PluginEpochClass.EXIT, MethodType.methodType(void.class, Object.class));
            d = l.findStatic(epochClass, PluginEpochClass.EXIT_THROWING, MethodType.methodType(void.class, Throwable.class));
        }
    }

    @Test
    void itsMethodsEnterAndExitTheLoadersEpochWithTheThreadsCell() throws Throwable {
        Defining loader = new Defining();
        Calls calls = new Calls(Class.forName(PluginEpochClass.NAME, true, loader));
        Object cell = (Object) calls.b.invokeExact();
        assertEquals(1, loader.epoch.depth(), "b: the loader's own epoch, a gated entry");
        assertSame(cell, (Object) calls.a.invokeExact(), "a: the thread's one cell, nested");
        assertEquals(2, loader.epoch.depth());
        calls.c.invokeExact(cell);
        assertEquals(1, loader.epoch.depth(), "c exits the innermost section");
        calls.d.invokeExact((Throwable) new RuntimeException("thrown"));
        assertEquals(0, loader.epoch.depth(), "d exits the thread's innermost section without being given the cell");
        IllegalStateException none = assertThrows(IllegalStateException.class, () -> {
            calls.d.invokeExact((Throwable) new RuntimeException());
        });
        assertTrue(none.getMessage().contains("without an open section"), none.getMessage());
        assertEquals(0, loader.epoch.depth(), "nothing changed");

        Defining other = new Defining();
        Calls otherCalls = new Calls(Class.forName(PluginEpochClass.NAME, true, other));
        Object otherCell = (Object) otherCalls.a.invokeExact();
        assertEquals(1, other.epoch.depth());
        assertEquals(0, loader.epoch.depth(), "another loader's epoch class enters its own epoch");
        assertThrows(IllegalStateException.class, () -> {
            calls.d.invokeExact((Throwable) new RuntimeException());
        },
                "d of the first loader's epoch class: no section open there");
        otherCalls.c.invokeExact(otherCell);
        assertEquals(0, other.epoch.depth());
    }

    /** A stand-in for a woven gated entry: its first instruction calls the epoch class's {@code b}. */
    private static Object wovenEntry(MethodHandle b, String[][] names, long size) throws Throwable {
        return (Object) b.invokeExact();
    }

    @Test
    void aRefusedGatedEntryIsNamedFromTheStackAsTheWeaverNamesIt() throws Throwable {
        Defining loader = new Defining();
        Calls calls = new Calls(Class.forName(PluginEpochClass.NAME, true, loader));
        List<String> heard = new ArrayList<>();
        loader.epoch.onRefusedEntry(heard::add);
        loader.epoch.closeGate("acme", 4, null);
        Error refused = assertThrows(Error.class, () -> wovenEntry(calls.b, null, 0));
        String method = PluginEpochClassTest.class.getName() + ".wovenEntry(java.lang.invoke.MethodHandle,java.lang.String[][],long)";
        assertTrue(refused.getMessage().startsWith(method + " refused: plugin acme generation 4 is unloading"), refused.getMessage());
        assertEquals(List.of(method), heard, "the listener (counts, JFR) hears the same name");
        assertEquals(1, loader.epoch.refusedEntries());
        assertEquals(0, loader.epoch.depth(), "no section left open");
        assertSame(calls.a.type(), calls.b.type());
        Object cell = (Object) calls.a.invokeExact();
        assertEquals(1, loader.epoch.depth(), "a (ungated) is never refused");
        calls.c.invokeExact(cell);
    }

    @Test
    void readableNamesFollowTheWeaversFormat() {
        assertEquals("a.B.m()", EntryNames.of("a.B", "m", "()V"));
        assertEquals("a.B$C.m(int,long[],java.lang.String[][],boolean)",
                EntryNames.of("a.B$C", "m", "(I[J[[Ljava/lang/String;Z)Ljava/lang/Object;"));
        assertEquals("new a.B(double,a.b.C)", EntryNames.of("a.B", "<init>", "(DLa/b/C;)V"));
        assertEquals("static initializer of a.B", EntryNames.of("a.B", "<clinit>", "()V"));
    }

    @Test
    void threadsInitializingItAtOnceAllSeeTheOneValue() throws Exception {
        Defining loader = new Defining();
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            CountDownLatch start = new CountDownLatch(1);
            List<Future<Object>> seen = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                seen.add(pool.submit(() -> {
                    start.await();
                    return epochField(Class.forName(PluginEpochClass.NAME, true, loader));
                }));
            }
            start.countDown();
            Object first = seen.get(0).get(30, TimeUnit.SECONDS);
            for (Future<Object> f : seen) {
                assertSame(first, f.get(30, TimeUnit.SECONDS));
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void aLoaderThatIsNoPluginLoaderCannotInitializeIt() throws Exception {
        ClassLoader notAPlugin = new ClassLoader("not-a-plugin", PluginEpochClassTest.class.getClassLoader()) {
            @Override
            protected Class<?> findClass(String name) throws ClassNotFoundException {
                if (!name.equals(PluginEpochClass.NAME)) {
                    throw new ClassNotFoundException(name);
                }
                byte[] b = PluginEpochClass.bytes();
                return defineClass(name, b, 0, b.length);
            }
        };
        ExceptionInInitializerError e = assertThrows(ExceptionInInitializerError.class,
                () -> Class.forName(PluginEpochClass.NAME, true, notAPlugin));
        assertTrue(e.getCause().getMessage().contains("is not plugin code"), e.getCause().getMessage());
        assertFalse(PluginEpochClass.definedBy(notAPlugin));
        assertTrue(PluginEpochClass.definedBy(new Defining()));
    }

    @Test
    void bytesAreAFreshCopyEachTime() {
        byte[] a = PluginEpochClass.bytes();
        a[0] = 0;
        assertEquals((byte) 0xCA, PluginEpochClass.bytes()[0]);
    }
}
