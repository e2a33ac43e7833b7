package dev.unloadguard.epoch.internal;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.lang.ref.WeakReference;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.WeakHashMap;

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
 * {@link #unpin} remembers such throwables weakly (a few per plugin loader), and leak reports name
 * the ones still reachable ({@link #stillReachable}).
 */
public final class Throwables {

    /** Causes and suppressed throwables followed, at most. */
    private static final int MAX_CHAIN = 64;
    /** Plugin-class throwables remembered per plugin loader, at most this many each. */
    private static final int MAX_REMEMBERED = 16;
    private static volatile VarHandle backtrace;
    /**
     * Weak keys (the loaders) and weak references to the throwables: remembering never keeps a
     * throwable, and so never a plugin, alive.
     */
    private static final Map<ClassLoader, Deque<Escaped>> ESCAPED = new WeakHashMap<>();

    /** A throwable of a plugin class that left plugin code, and how to name it. */
    private record Escaped(WeakReference<Throwable> ref, String description) {
    }

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
        ClassLoader definer = t.getClass().getClassLoader();
        if (Epochs.isPluginLoader(definer)) {
            remember(definer, t);
        }
        unpin(t.getCause(), seen);
        for (Throwable s : t.getSuppressed()) {
            unpin(s, seen);
        }
    }

    private static void remember(ClassLoader loader, Throwable t) {
        StackTraceElement[] stack = t.getStackTrace();
        String description = "a Throwable of class " + t.getClass().getName()
                + (t.getMessage() == null ? "" : " (\"" + t.getMessage() + "\")")
                + (stack.length == 0 ? "" : ", thrown at " + stack[0])
                + ", left plugin code and is still reachable: its class is the plugin's, so whoever holds it (a host field or"
                + " collection, a logger, a future) holds the plugin; keep its toString() instead of the throwable";
        synchronized (ESCAPED) {
            Deque<Escaped> list = ESCAPED.computeIfAbsent(loader, l -> new ArrayDeque<>());
            list.removeIf(e -> e.ref().refersTo(null) || e.ref().refersTo(t));
            if (list.size() >= MAX_REMEMBERED) {
                list.removeFirst();
            }
            list.addLast(new Escaped(new WeakReference<>(t), description));
        }
    }

    /**
     * Descriptions of the throwables of {@code loader}'s classes that left plugin code and are
     * still reachable (call after a GC for a meaningful answer): leak suspects.
     */
    public static List<String> stillReachable(ClassLoader loader) {
        List<String> out = new ArrayList<>();
        synchronized (ESCAPED) {
            Deque<Escaped> list = ESCAPED.get(loader);
            if (list != null) {
                for (Escaped e : list) {
                    if (!e.ref().refersTo(null)) {
                        out.add(e.description());
                    }
                }
            }
        }
        return out;
    }
}
