package dev.unloadguard.epoch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.epoch.internal.Epochs;
import dev.unloadguard.epoch.internal.ReleaseEpoch;
import java.io.IOException;
import java.io.InputStream;
import java.lang.invoke.MethodHandles;
import java.lang.reflect.InvocationTargetException;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The woven dynamic constant {@code epoch} ({@link ReleaseGuard#epochConstant}) and the static
 * enter/exit taking it: only a class's own lookup obtains it, it reaches that class's epoch only,
 * nothing else is accepted in its place, and ordinary reflection cannot reach the epoch through it.
 */
class EpochConstantTest {

    /** Plugin code: defined again by a registered plugin loader, in a package of its own there. */
    public static final class Own {
        private Own() {
        }

        public static MethodHandles.Lookup lookup() {
            return MethodHandles.lookup();
        }

        /** What plugin code might try: the holder's record accessor, by ordinary reflection. */
        public static Object reach(Object constant) throws ReflectiveOperationException {
            return constant.getClass().getMethod("epoch").invoke(constant);
        }
    }

    /** Defines {@link Own} again, child first; everything else comes from the parent. */
    private static final class PluginLoader extends ClassLoader {
        PluginLoader() {
            super("plugin-under-test", EpochConstantTest.class.getClassLoader());
        }

        @Override
        protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
            if (!name.equals(Own.class.getName())) {
                return super.loadClass(name, resolve);
            }
            synchronized (getClassLoadingLock(name)) {
                Class<?> c = findLoadedClass(name);
                if (c == null) {
                    try (InputStream in = getParent().getResourceAsStream(name.replace('.', '/') + ".class")) {
                        byte[] b = in.readAllBytes();
                        c = defineClass(name, b, 0, b.length);
                    } catch (IOException e) {
                        throw new ClassNotFoundException(name, e);
                    }
                }
                return c;
            }
        }
    }

    private ReleaseEpoch epoch;
    private Class<?> own;
    private MethodHandles.Lookup lookup;

    @BeforeEach
    void plugin() throws Exception {
        PluginLoader loader = new PluginLoader();
        epoch = Epochs.registerForeign(loader, "constant-test", true);
        own = loader.loadClass(Own.class.getName());
        lookup = (MethodHandles.Lookup) own.getMethod("lookup").invoke(null);
    }

    @Test
    void theClassOwnLookupGetsItsEpochAndEntersAndExitsIt() {
        Object constant = ReleaseGuard.epochConstant(lookup, "epoch", Object.class);
        int outer = ReleaseGuard.enterEntry(constant, "Own.run()");
        assertEquals(1, epoch.depth());
        int inner = ReleaseGuard.enter(constant);
        assertEquals(2, epoch.depth());
        ReleaseGuard.exit(constant, inner);
        ReleaseGuard.exit(constant, outer);
        assertEquals(0, epoch.depth());

        epoch.closeGate("acme", 1, null);
        Error refused = assertThrows(Error.class, () -> ReleaseGuard.enterEntry(constant, "Own.run()"));
        assertTrue(refused.getMessage().contains("Own.run()"), refused::getMessage);
        assertEquals(0, epoch.depth(), "a refused entry leaves no section open");
        assertEquals(1, epoch.refusedEntries());
    }

    @Test
    void onlyAFullPrivilegeLookupGetsTheConstantAndOnlyUnderItsOwnNameAndType() {
        IllegalArgumentException weak = assertThrows(IllegalArgumentException.class,
                () -> ReleaseGuard.epochConstant(lookup.dropLookupMode(MethodHandles.Lookup.PRIVATE), "epoch", Object.class));
        assertTrue(weak.getMessage().contains("full privilege"), weak::getMessage);
        assertThrows(IllegalArgumentException.class,
                () -> ReleaseGuard.epochConstant(MethodHandles.publicLookup().in(own), "epoch", Object.class));
        assertThrows(IllegalArgumentException.class, () -> ReleaseGuard.epochConstant(lookup, "other", Object.class));
        assertThrows(IllegalArgumentException.class, () -> ReleaseGuard.epochConstant(lookup, "epoch", ReleaseEpoch.class));
        assertThrows(IllegalStateException.class, () -> ReleaseGuard.epochConstant(MethodHandles.lookup(), "epoch", Object.class),
                "host code has no epoch");
    }

    @Test
    void nothingButTheConstantIsAcceptedAndNothingChanges() {
        for (Object notAConstant : new Object[] {null, "epoch", epoch, new Object()}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ReleaseGuard.enter(notAConstant));
            assertTrue(e.getMessage().startsWith("not a release epoch constant"), e::getMessage);
            assertThrows(IllegalArgumentException.class, () -> ReleaseGuard.enterEntry(notAConstant, "m"));
            assertThrows(IllegalArgumentException.class, () -> ReleaseGuard.exit(notAConstant, 2));
        }
        assertEquals(0, epoch.depth());
    }

    @Test
    void pluginCodeCannotReachTheEpochThroughTheConstantByOrdinaryReflection() throws Exception {
        Object constant = ReleaseGuard.epochConstant(lookup, "epoch", Object.class);
        InvocationTargetException e = assertThrows(InvocationTargetException.class,
                () -> own.getMethod("reach", Object.class).invoke(null, constant));
        assertInstanceOf(IllegalAccessException.class, e.getCause());
    }
}
