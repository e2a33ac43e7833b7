package dev.unloadguard.epoch.internal;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Set;

/**
 * Keeps throwables from pinning plugin class loaders. HotSpot records a throwable's stack in a
 * hidden {@code backtrace} that refers to the {@code Class} of every frame's method, so any
 * exception whose stack passes through plugin code keeps that plugin's class loader reachable for
 * as long as the exception is (the {@code StackTraceElement}s that {@code getStackTrace()} makes
 * hold strings only, but the backtrace stays). {@link #unpin} turns the stack into those strings
 * ({@code getStackTrace()}) and then drops the backtrace, for the throwable, its causes and its
 * suppressed throwables: the stack trace stays readable and printable, the plugin is free.
 *
 * <p>Dropping the backtrace needs {@code java.lang} opened to unloadguard's module, which the
 * agent does at install ({@code Instrumentation.redefineModule}); without it (no agent, or a JVM
 * that refuses) {@link #unpin} only materializes the stack and a throwable can still pin.
 * A throwable whose own class (or a cause's) a plugin defined pins its plugin whatever happens:
 * that one is named in leak reports instead.
 */
public final class Throwables {

    /** Causes and suppressed throwables followed, at most. */
    private static final int MAX_CHAIN = 64;
    private static volatile VarHandle backtrace;

    private Throwables() {
    }

    /**
     * Called by the agent once {@code java.lang} is open to this class: looks the field up.
     *
     * @return whether throwables can now be unpinned
     */
    public static boolean enable() {
        try {
            backtrace = MethodHandles.privateLookupIn(Throwable.class, MethodHandles.lookup())
                    .findVarHandle(Throwable.class, "backtrace", Object.class);
            return true;
        } catch (ReflectiveOperationException | RuntimeException e) {
            System.getLogger("dev.unloadguard.epoch").log(System.Logger.Level.DEBUG,
                    "cannot reach Throwable.backtrace; exceptions that leave plugin code may keep the plugin reachable", e);
            return false;
        }
    }

    /** Whether {@link #unpin} drops backtraces (not only materializes stacks). */
    public static boolean enabled() {
        return backtrace != null;
    }

    /**
     * Unpins {@code t}, its causes and suppressed throwables (see the class comment). Never
     * throws; returns {@code t}, so woven code can rethrow what it returns.
     */
    public static Throwable unpin(Throwable t) {
        if (t == null) {
            return null;
        }
        try {
            Set<Throwable> seen = Collections.newSetFromMap(new IdentityHashMap<>());
            unpin(t, seen);
        } catch (Throwable ignored) {
            // Best effort: an exception on its way out must never be replaced by ours.
        }
        return t;
    }

    private static void unpin(Throwable t, Set<Throwable> seen) {
        if (t == null || seen.size() >= MAX_CHAIN || !seen.add(t)) {
            return;
        }
        VarHandle bt = backtrace;
        // Throwable's own stack methods synchronize on the throwable: so do we, so no other thread
        // reads the backtrace between the two steps or refills the stack in the middle.
        synchronized (t) {
            if (bt == null || bt.get(t) != null) {
                t.getStackTrace();             // stackTrace := strings; from now on the backtrace is not read
                if (bt != null) {
                    bt.set(t, null);
                }
            }
        }
        unpin(t.getCause(), seen);
        for (Throwable s : t.getSuppressed()) {
            unpin(s, seen);
        }
    }
}
