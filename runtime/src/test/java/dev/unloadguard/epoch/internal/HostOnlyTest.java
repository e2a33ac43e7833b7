package dev.unloadguard.epoch.internal;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URL;
import java.net.URLClassLoader;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The host-only check finds a plugin frame anywhere on the stack: right below the check, deep
 * below many host frames (past the walker's first batch), and below reflection; with no plugin
 * frame it passes.
 */
class HostOnlyTest {

    /** A plugin loader: defines {@link PluginCallsBack} again from the test classes. */
    static final class PluginLoader extends URLClassLoader implements EpochHolder {
        private final ReleaseEpoch epoch = new ReleaseEpoch("host-only-test", true);

        PluginLoader() {
            super("plugin:host-only-test", new URL[] {HostOnlyTest.class.getProtectionDomain().getCodeSource().getLocation()},
                    ClassLoader.getPlatformClassLoader());
        }

        @Override
        public ReleaseEpoch releaseEpoch() {
            return epoch;
        }
    }

    private final PluginLoader loader = new PluginLoader();

    @AfterEach
    void close() throws Exception {
        loader.close();
    }

    @SuppressWarnings("unchecked")
    private Consumer<Runnable> plugin() throws Exception {
        Class<?> c = Class.forName(PluginCallsBack.class.getName(), true, loader);
        assertEquals(loader, c.getClassLoader(), "defined by the plugin loader, not the test's");
        return (Consumer<Runnable>) c.getConstructor().newInstance();
    }

    @Test
    void hostCodeAlonePasses() {
        assertDoesNotThrow(() -> HostOnly.check("testing"));
    }

    @Test
    void aPluginFrameRightBelowIsFound() throws Exception {
        IllegalCallerException e = assertThrows(IllegalCallerException.class, () -> plugin().accept(() -> HostOnly.check("testing")));
        assertTrue(e.getMessage().startsWith("testing is for the host and the agent only"), e.getMessage());
        assertTrue(e.getMessage().contains(PluginCallsBack.class.getName()), e.getMessage());
    }

    @Test
    void aPluginFrameDeepBelowHostFramesIsFound() throws Exception {
        Consumer<Runnable> plugin = plugin();
        assertThrows(IllegalCallerException.class, () -> plugin.accept(() -> deep(200)));
    }

    @Test
    void aPluginFrameBelowReflectionIsFound() throws Exception {
        Consumer<Runnable> plugin = plugin();
        java.lang.reflect.Method check = HostOnly.class.getDeclaredMethod("check", String.class);
        AtomicReference<Throwable> thrown = new AtomicReference<>();
        plugin.accept(() -> {
            try {
                check.invoke(null, "testing");
            } catch (ReflectiveOperationException e) {
                thrown.set(e.getCause());
            }
        });
        assertTrue(thrown.get() instanceof IllegalCallerException, String.valueOf(thrown.get()));
    }

    private static void deep(int n) {
        if (n == 0) {
            HostOnly.check("testing");
        } else {
            deep(n - 1);
        }
    }
}
