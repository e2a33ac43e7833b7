package dev.unloadguard.epoch.internal;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.time.Instant;
import java.util.Iterator;
import java.util.Set;
import java.util.function.Function;
import java.util.stream.Stream;

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

    /**
     * The method a gated entry entered, for an enter that was not given its name (the epoch
     * class's {@code b()}): the first frame on the calling thread's stack below the guard's own
     * frames (this class's, the epoch's, {@code ReleaseGuard}'s and the epoch class's), that is
     * the woven method whose first instruction entered, named as the weaver names entries
     * ({@code GuardPlan.entryName}): {@code com.acme.Service.handle(java.lang.String,int[])},
     * {@code new com.acme.Service(int)}, {@code static initializer of com.acme.Service}. Called
     * only on a refusal or a probed crossing; no lambda or stream (nothing to link on first use).
     */
    static String enteredMethod() {
        return Walk.WALKER.walk(Walk.FIRST_BELOW_GUARD);
    }

    /**
     * The walker and the walk, made on first use. The walker retains class references: on JDK 22
     * and later {@code StackFrame.getDescriptor()} needs them ({@code UnsupportedOperationException:
     * No access to RETAIN_CLASS_REFERENCE} without), on 17 it does not; nothing is kept after the
     * walk. Under a security manager that denies that option the walker is a plain one and a frame
     * whose descriptor cannot be read is named without its parameter types.
     */
    private static final class Walk implements Function<Stream<StackWalker.StackFrame>, String> {
        static final StackWalker WALKER = walker();
        static final Walk FIRST_BELOW_GUARD = new Walk();
        /** The classes whose frames lie between the woven method and the walk. */
        static final Set<String> GUARD = Set.of(RefusedEntries.class.getName(), ReleaseEpoch.class.getName(),
                "dev.unloadguard.epoch.ReleaseGuard", PluginEpochClass.NAME);

        @Override
        public String apply(Stream<StackWalker.StackFrame> frames) {
            for (Iterator<StackWalker.StackFrame> i = frames.iterator(); i.hasNext(); ) {
                StackWalker.StackFrame f = i.next();
                if (!GUARD.contains(f.getClassName())) {
                    String descriptor;
                    try {
                        descriptor = f.getDescriptor();
                    } catch (UnsupportedOperationException e) {
                        return f.getClassName() + "." + f.getMethodName() + "(...)";
                    }
                    return EntryNames.of(f.getClassName(), f.getMethodName(), descriptor);
                }
            }
            return "an unknown method (no frame below the release guard)";
        }

        private static StackWalker walker() {
            try {
                return StackWalker.getInstance(StackWalker.Option.RETAIN_CLASS_REFERENCE);
            } catch (SecurityException e) {
                return StackWalker.getInstance();
            }
        }
    }

    /** The text of a refusal, as {@code PluginUnloadedError.entryRefused} words it. */
    static String message(String method, String pluginId, int generation, Instant since, boolean unloaded) {
        return method + " refused: plugin " + pluginId + " generation " + generation
                + (unloaded ? " was unloaded at " + since : " is unloading (GOING since " + since + ")")
                + "; calls already inside it run to their end, new entries from outside are refused";
    }
}
