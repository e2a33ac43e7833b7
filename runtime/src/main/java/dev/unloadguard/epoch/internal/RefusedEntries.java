package dev.unloadguard.epoch.internal;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.time.Instant;

/**
 * Makes the error a refused entry throws: the api's {@code PluginUnloadedError}, found
 * reflectively because the runtime has no dependencies (the agent jar carries the runtime, the
 * host's class path the api). A gate is only ever closed by the host, which depends on the api,
 * so the api is there whenever an entry is refused; if it cannot be reached from the runtime's
 * loader all the same, a {@link NoClassDefFoundError} with the same message is thrown instead
 * ({@code PluginUnloadedError} is one).
 */
final class RefusedEntries {

    private static final String ERROR_CLASS = "dev.unloadguard.driver.PluginUnloadedError";

    private RefusedEntries() {
    }

    /** Looked up on first use: most JVMs never refuse an entry. */
    private static final class Factory {
        static final MethodHandle ENTRY_REFUSED = find();

        private static MethodHandle find() {
            try {
                Class<?> c = Class.forName(ERROR_CLASS, true, RefusedEntries.class.getClassLoader());
                return MethodHandles.publicLookup().findStatic(c, "entryRefused", MethodType.methodType(c,
                        String.class, String.class, int.class, Instant.class, boolean.class));
            } catch (ReflectiveOperationException | LinkageError e) {
                return null;
            }
        }
    }

    static Error error(String method, String pluginId, int generation, Instant since, boolean unloaded) {
        MethodHandle factory = Factory.ENTRY_REFUSED;
        if (factory != null) {
            try {
                return (Error) factory.invoke(method, pluginId, generation, since, unloaded);
            } catch (Throwable e) {
                // fall through: the plain error below says the same
            }
        }
        return new NoClassDefFoundError(message(method, pluginId, generation, since, unloaded));
    }

    /** The text of a refusal, as {@code PluginUnloadedError.entryRefused} words it. */
    static String message(String method, String pluginId, int generation, Instant since, boolean unloaded) {
        return method + " refused: plugin " + pluginId + " generation " + generation
                + (unloaded ? " was unloaded at " + since : " is unloading (GOING since " + since + ")")
                + "; calls already inside it run to their end, new entries from outside are refused";
    }
}
