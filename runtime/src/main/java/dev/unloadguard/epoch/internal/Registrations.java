package dev.unloadguard.epoch.internal;

import java.lang.invoke.MethodHandle;
import java.lang.ref.WeakReference;
import java.lang.management.ManagementFactory;
import java.security.Provider;
import java.security.Security;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.Timer;
import java.util.WeakHashMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.logging.Handler;
import java.util.logging.Logger;
import javax.management.MBeanServer;
import javax.management.ObjectName;

/**
 * Managed JDK registrations, the JVM twin of the kernel's devres: what plugin code registers with
 * JVM-wide registries (threads it starts, executors and timers it creates, shutdown hooks, JDBC
 * drivers, MBeans, {@code ThreadLocal} values, {@code java.util.logging} handlers, security
 * providers, context class loaders, system properties) is recorded per plugin generation where it
 * happens, with the call site and the stack, and undone by the host at unload, in reverse order,
 * right after the driver's exit hook ({@link #undo}).
 *
 * <h2>Recording</h2>
 * The agent rewrites the call sites in plugin classes to {@code dev.unloadguard.epoch.ManagedCalls},
 * which makes the call and then {@link #record}s it for the generation whose class made the call
 * (the caller's class is a constant of the woven site; its defining loader is the generation). A
 * generation is managed only once the host called {@link #manage} for its loader (before any of
 * its classes runs); for any other loader the call is made and nothing is recorded. The registry
 * of a generation is one list in registration order, under its own monitor: registrations are
 * rare (thread starts, {@code ThreadLocal.set} is the frequent one and is recorded once per
 * thread and {@code ThreadLocal}). Threads are held weakly (a finished thread must not be kept by
 * the record), and the records of finished threads and terminated pools are pruned every 64
 * registrations; everything else is held strongly, as the JDK registry or a live worker holds it
 * anyway until it is undone (a timer's thread runs its queued tasks even once the {@code Timer} is
 * unreachable; {@code Executors.newSingleThreadExecutor()} returns a wrapper only the plugin holds,
 * whose pool lives on in its worker).
 *
 * <h2>Undo, and its races</h2>
 * {@link #undo} takes the generation's list, newest first, and undoes each entry ({@code ThreadLocal}
 * values after the rest, so that a value on a thread the plugin started is gone with its thread,
 * joined before); the host calls
 * it after the exit hook, so what the driver undid itself is found undone (and said so). Threads
 * are interrupted and joined, executors {@code shutdownNow()} and awaited, both against one
 * deadline for the whole undo; a thread or pool still running at the deadline is a leftover, kept
 * in the registry (a retried unload tries again) and reported with the stack that registered it.
 * The races, spelled out:
 * <ol>
 * <li>A registration made while {@link #undo} runs (a plugin thread that registers something
 *     until it is interrupted) lands in the list after the snapshot was taken: it is undone by a
 *     retry, or dropped with the registry when the loader closes ({@link #forget}), and a thread
 *     it started is then found by the close audit or the leak check.
 * <li>{@code ThreadLocal}: a thread's value map belongs to that thread; removing an entry from
 *     another thread races with that thread's own {@code get}/{@code set} (the map is not
 *     thread-safe), so the undo never does. Values set on the thread running the undo are removed
 *     at once; values on threads that have ended need nothing; values on other live threads are
 *     handed to that thread: they are removed <em>by</em> it the next time it passes through
 *     {@code ManagedCalls} (any managed registration or {@code ThreadLocal.set/remove} of any
 *     plugin on that thread, such as the next generation's), and until then they are reported as
 *     leftovers. The same thread removes them, so nothing races.
 * <li>Context class loaders: a thread's context class loader is a plain field; the reset writes
 *     it from the undoing thread. A thread that reads it at that instant sees either loader; one
 *     that sets it concurrently wins. Only threads whose context loader is the generation's loader
 *     at the scan are reset (to the value recorded before the plugin set it, else the loader's
 *     parent). Every live platform thread is looked at, listed without stacks; virtual threads are not
 *     listed by the JDK and are not reset.
 * <li>System properties: restored only if the property still holds the plugin's value (another
 *     writer after the plugin wins); check and restore are two calls, so a write between them is
 *     overwritten.
 * </ol>
 */
public final class Registrations {

    /** What was registered. */
    public enum Kind {
        THREAD("thread"), EXECUTOR("executor"), TIMER("timer"), SHUTDOWN_HOOK("shutdown hook"), JDBC_DRIVER("JDBC driver"),
        MBEAN("MBean"), THREAD_LOCAL("ThreadLocal value"), LOG_HANDLER("logging handler"),
        SECURITY_PROVIDER("security provider"), CONTEXT_CLASS_LOADER("context class loader"),
        SYSTEM_PROPERTY("system property");

        private final String label;

        Kind(String label) {
            this.label = label;
        }

        /** How reports name it. */
        public String label() {
            return label;
        }
    }

    /** How an undo ended. */
    public enum Outcome {
        /** Undone now. */
        UNDONE,
        /** Nothing was left to undo (the plugin undid it itself, the thread had ended, ...). */
        ALREADY_GONE,
        /** Could not be undone within the bound, or not safely: it may keep the generation alive. */
        LEFT_OVER
    }

    /**
     * One undo, for the unload report.
     *
     * @param kind what was registered
     * @param what the registered thing ({@code thread "poller"}, {@code property a.b=c})
     * @param site the plugin frame that registered it ({@code a.b.C.m(C.java:12)}), or
     *     {@code "(set by plugin code)"} or {@code "(found at unload)"} for a context class loader
     * @param outcome how the undo ended
     * @param note what was done, or why it could not be
     * @param stack the stack that registered it (plugin frames first), empty if not recorded
     */
    public record Undone(Kind kind, String what, String site, Outcome outcome, String note, List<StackTraceElement> stack) {
        public Undone {
            stack = List.copyOf(stack);
        }
    }

    /** The registries of the managed generations, by loader; an entry lives from {@link #manage} to {@link #forget}. */
    private static final Map<ClassLoader, Registry> MANAGED = new ConcurrentHashMap<>();
    /** Set once a generation was managed: until then (no host uses it) a woven call skips the lookup. */
    private static volatile boolean anyManaged;
    /**
     * {@code ThreadLocal}s to remove on their own thread (race ii): thread to the thread locals;
     * weak keys, read and written under its own monitor. {@link #pendingRemovals} says whether
     * it may be non-empty (set before an entry is added, cleared under the monitor when it empties).
     */
    private static final Map<Thread, List<WeakReference<ThreadLocal<?>>>> DEFERRED = new WeakHashMap<>();
    private static volatile boolean pendingRemovals;
    private static final String OWN_PREFIX = "dev.unloadguard.epoch.";
    /** Frames kept of the stack that set a {@code ThreadLocal} value (see {@link Entry}). */
    private static final int THREAD_LOCAL_FRAMES = 12;
    private static final StackWalker STACKS = StackWalker.getInstance();

    private Registrations() {
    }

    /**
     * Manages the registrations of the classes {@code loader} defines from now on. Called by the
     * host before any class of the generation runs.
     *
     * @param name names the generation in reports
     * @throws IllegalCallerException if plugin code calls it
     */
    public static void manage(ClassLoader loader, String name) {
        Objects.requireNonNull(loader, "loader");
        HostOnly.check("managing a plugin's JDK registrations");
        anyManaged = true;
        MANAGED.putIfAbsent(loader, new Registry(name));
    }

    /** Whether {@code loader}'s registrations are managed (and not forgotten yet). */
    public static boolean isManaged(ClassLoader loader) {
        return anyManaged && loader != null && MANAGED.containsKey(loader);
    }

    /**
     * Drops the registry of {@code loader} (when its class loader closes): nothing of it is kept,
     * later calls of its code register nothing.
     *
     * @throws IllegalCallerException if plugin code calls it
     */
    public static void forget(ClassLoader loader) {
        if (loader != null && anyManaged) {
            HostOnly.check("forgetting a plugin's JDK registrations");
            MANAGED.remove(loader);
        }
    }

    /** How many registrations {@code loader}'s generation has recorded and not undone (diagnostics, tests). */
    public static int recorded(ClassLoader loader) {
        Registry r = loader == null ? null : MANAGED.get(loader);
        return r == null ? 0 : r.size();
    }

    /** The registry the class {@code caller}'s registrations go to, or {@code null}. Also runs deferred removals. */
    static Registry of(Class<?> caller) {
        if (pendingRemovals) {
            removeDeferred();
        }
        if (!anyManaged || caller == null) {
            return null;
        }
        ClassLoader loader = caller.getClassLoader();
        return loader == null ? null : MANAGED.get(loader);
    }

    /**
     * Undoes every registration of {@code loader}'s generation, newest first (see the class
     * comment), joining threads and awaiting executors until {@code deadlineNanos} (a
     * {@link System#nanoTime} value). Leftovers stay recorded. Nothing to undo without a registry.
     * An undo that has nothing to do (no record, no thread with the loader as its context class
     * loader: the usual unload of a plugin that registered nothing) returns at once, without the
     * caller check: it changes nothing, whoever calls it.
     *
     * @throws IllegalCallerException if plugin code calls it (and there is something to undo)
     */
    public static List<Undone> undo(ClassLoader loader, long deadlineNanos) {
        if (loader == null || !anyManaged) {
            return List.of();
        }
        Registry registry = MANAGED.get(loader);
        if (registry == null || registry.size() == 0 && !anyContextLoader(loader)) {
            return List.of();
        }
        HostOnly.check("undoing a plugin's JDK registrations");
        List<Entry> entries = registry.takeAll();
        List<Undone> done = new ArrayList<>();
        List<Entry> left = new ArrayList<>();
        // ThreadLocal values last: one on a thread the plugin started is gone once that thread is joined, and
        // must not be reported as a value left on a live thread.
        List<Entry> ordered = new ArrayList<>(entries.size());
        for (int i = entries.size() - 1; i >= 0; i--) {
            if (entries.get(i).kind != Kind.THREAD_LOCAL) {
                ordered.add(entries.get(i));
            }
        }
        for (int i = entries.size() - 1; i >= 0; i--) {
            if (entries.get(i).kind == Kind.THREAD_LOCAL) {
                ordered.add(entries.get(i));
            }
        }
        for (Entry e : ordered) {
            Undone u;
            try {
                u = e.undo(deadlineNanos);
            } catch (RuntimeException | LinkageError ex) {
                u = e.undone(Outcome.LEFT_OVER, "undoing it failed: " + ex);
            }
            if (u == null) {
                continue; // a record that turned out to need nothing and says nothing (a pruned weak one)
            }
            done.add(u);
            if (u.outcome() == Outcome.LEFT_OVER && e.kind != Kind.THREAD_LOCAL) {
                left.add(e);
            }
        }
        done.addAll(resetContextLoaders(loader, registry));
        registry.putBack(left);
        return List.copyOf(done);
    }

    // ---- recording, from ManagedCalls ----------------------------------------------------------

    /** Records {@code target} (a thread, executor or timer) for {@code caller}'s generation. */
    public static void recordCreated(Object target, Class<?> caller) {
        Registry r = of(caller);
        if (r == null || target == null) {
            return;
        }
        if (target instanceof Thread) {
            Thread t = (Thread) target;
            r.add(new Entry(Kind.THREAD, "thread \"" + t.getName() + "\"", new WeakReference<>(t), null, null));
        } else if (target instanceof ExecutorService) {
            // Strongly: Executors.newSingleThreadExecutor() returns a wrapper nothing but the plugin holds, while
            // the pool it wraps lives on in its worker; pruned once terminated (see Registry.add).
            r.add(new Entry(Kind.EXECUTOR, "executor " + target.getClass().getName() + "@"
                    + Integer.toHexString(System.identityHashCode(target)), null, target, null));
        } else if (target instanceof Timer) {
            // Strongly: a timer's thread runs its queued tasks whether or not the Timer is still reachable.
            r.add(new Entry(Kind.TIMER, "timer " + Integer.toHexString(System.identityHashCode(target)), null, target, null));
        }
    }

    /** Records a registration of {@code kind} ({@code target} and {@code extra} are what its undo needs) for {@code caller}'s generation. */
    public static void record(Kind kind, String what, Object target, Object extra, Class<?> caller) {
        Registry r = of(caller);
        if (r != null) {
            r.add(new Entry(kind, what, null, target, extra));
        }
    }

    /** Records that {@code tl} holds a value on the current thread (once per thread and thread local). */
    public static void recordThreadLocal(ThreadLocal<?> tl, Class<?> caller) {
        Registry r = of(caller);
        if (r != null) {
            r.threadLocalSet(tl, Thread.currentThread());
        }
    }

    /** The plugin removed {@code tl}'s value on the current thread itself: its record is dropped. */
    public static void forgetThreadLocal(ThreadLocal<?> tl, Class<?> caller) {
        Registry r = of(caller);
        if (r != null) {
            r.threadLocalRemoved(tl, Thread.currentThread());
        }
    }

    /** Records the plugin's {@code setContextClassLoader(cl)} on {@code thread}, which had {@code previous}. */
    public static void recordContextLoader(Thread thread, ClassLoader previous, Class<?> caller) {
        Registry r = of(caller);
        if (r != null) {
            r.contextLoaderSet(thread, previous);
        }
    }

    // ---- the registry ----------------------------------------------------------------------------

    /**
     * One generation's records; every method holds its monitor, but for the lock-free check of
     * {@link #threadLocalSet} that the value is recorded already (the frequent case: a plugin that
     * sets a {@code ThreadLocal} per request sets it again and again on the same threads).
     */
    static final class Registry {
        final String name;
        private List<Entry> entries = new ArrayList<>();
        private int sinceCompaction;
        /** Threads on which a plugin {@code ThreadLocal} holds a value: weak keys. */
        private final Map<Thread, Map<ThreadLocal<?>, Entry>> threadLocals = new WeakHashMap<>();
        /**
         * The same pairs, for the lock-free check: by thread id (JDK 17 never reuses one, and an
         * id does not keep its thread alive) to the {@code ThreadLocal}s recorded on it. Written
         * under the monitor, together with {@link #threadLocals}; read without it. A reader that
         * misses a pair written concurrently takes the monitor and finds it there: the check only
         * skips the lock, it never decides alone that a pair is new. Pruned with the entries.
         */
        private final Map<Long, Set<ThreadLocal<?>>> recordedThreadLocals = new ConcurrentHashMap<>();
        /** The context class loader a thread had before the plugin first set it. */
        private final Map<Thread, WeakReference<ClassLoader>> previousContextLoaders = new WeakHashMap<>();

        Registry(String name) {
            this.name = name;
        }

        synchronized void add(Entry e) {
            entries.add(e);
            if (++sinceCompaction >= 64 && entries.size() >= 64) {
                sinceCompaction = 0;
                entries.removeIf(this::prune); // finished threads, terminated pools, values of finished threads
            }
        }

        /** Whether {@code e} vanished (then forgotten everywhere): called under the monitor. */
        private boolean prune(Entry e) {
            if (!e.vanished()) {
                return false;
            }
            if (e.kind == Kind.THREAD_LOCAL) {
                recordedThreadLocals.remove(e.threadId);    // every value of a finished thread goes
            }
            return true;
        }

        synchronized int size() {
            return entries.size();
        }

        void threadLocalSet(ThreadLocal<?> tl, Thread thread) {
            Set<ThreadLocal<?>> recorded = recordedThreadLocals.get(thread.getId());
            if (recorded != null && recorded.contains(tl)) {
                return;                                     // recorded already: no lock, no record
            }
            synchronized (this) {
                Map<ThreadLocal<?>, Entry> onThread = threadLocals.computeIfAbsent(thread, t -> new WeakHashMap<>());
                if (!onThread.containsKey(tl)) {
                    Entry e = new Entry(Kind.THREAD_LOCAL, "value of " + tl.getClass().getName() + "@"
                            + Integer.toHexString(System.identityHashCode(tl)) + " on thread \"" + thread.getName() + "\"",
                            new WeakReference<>(thread), new WeakReference<>(tl), null, thread.getId());
                    onThread.put(tl, e);
                    recordedThreadLocals.computeIfAbsent(thread.getId(), id -> ConcurrentHashMap.newKeySet()).add(tl);
                    add(e);
                }
            }
        }

        synchronized void threadLocalRemoved(ThreadLocal<?> tl, Thread thread) {
            Map<ThreadLocal<?>, Entry> onThread = threadLocals.get(thread);
            Entry e = onThread == null ? null : onThread.remove(tl);
            if (e != null) {
                entries.remove(e);
                Set<ThreadLocal<?>> recorded = recordedThreadLocals.get(thread.getId());
                if (recorded != null) {
                    recorded.remove(tl);
                }
            }
        }

        synchronized void contextLoaderSet(Thread thread, ClassLoader previous) {
            if (!previousContextLoaders.containsKey(thread)) {
                previousContextLoaders.put(thread, new WeakReference<>(previous));
            }
        }

        synchronized ClassLoader previousContextLoader(Thread thread) {
            WeakReference<ClassLoader> p = previousContextLoaders.get(thread);
            return p == null ? null : p.get();
        }

        synchronized List<Entry> takeAll() {
            List<Entry> all = entries;
            entries = new ArrayList<>();
            threadLocals.clear();
            recordedThreadLocals.clear();
            return all;
        }

        synchronized void putBack(List<Entry> left) {
            List<Entry> newer = entries;
            entries = new ArrayList<>(left.size() + newer.size());
            for (int i = left.size() - 1; i >= 0; i--) {
                entries.add(left.get(i)); // back in registration order, before what came meanwhile
            }
            entries.addAll(newer);
        }
    }

    /** One registration: its kind, what it names, the object(s) to undo it with, where it was made. */
    static final class Entry {
        final Kind kind;
        final String what;
        /** Threads, executors, timers, and the thread of a ThreadLocal value: held weakly. */
        final WeakReference<?> weak;
        /** What the undo needs, held strongly (the JDK registry holds it anyway). */
        final Object target;
        final Object extra;
        final StackTraceElement[] stack;
        /** For a {@code ThreadLocal} value: its thread's id; else 0. */
        final long threadId;

        Entry(Kind kind, String what, WeakReference<?> weak, Object target, Object extra) {
            this(kind, what, weak, target, extra, 0L);
        }

        /**
         * A {@code ThreadLocal} value's entry ({@code threadId} not 0) keeps the top
         * {@link #THREAD_LOCAL_FRAMES} frames of its stack only: it is made once per thread and
         * {@code ThreadLocal}, so a host that runs each request on a new thread (virtual threads)
         * makes one per request.
         */
        Entry(Kind kind, String what, WeakReference<?> weak, Object target, Object extra, long threadId) {
            this.kind = kind;
            this.what = what;
            this.weak = weak;
            this.target = target;
            this.extra = extra;
            this.threadId = threadId;
            this.stack = threadId == 0L ? callerStack() : callerStack(THREAD_LOCAL_FRAMES);
        }

        boolean vanished() {
            if (kind == Kind.THREAD || kind == Kind.THREAD_LOCAL) {
                Thread t = (Thread) weak.get();             // a ThreadLocal value's weak is its thread
                return t == null || t.getState() == Thread.State.TERMINATED;
            }
            return kind == Kind.EXECUTOR && ((ExecutorService) target).isTerminated();
        }

        /** The registering frame as {@code a.b.C.m(C.java:12)}, without the loader and module prefix. */
        String site() {
            if (stack.length == 0) {
                return "(unknown)";
            }
            StackTraceElement f = stack[0];
            String where = f.isNativeMethod() ? "Native Method" : f.getFileName() == null ? "Unknown Source"
                    : f.getLineNumber() >= 0 ? f.getFileName() + ":" + f.getLineNumber() : f.getFileName();
            return f.getClassName() + "." + f.getMethodName() + "(" + where + ")";
        }

        Undone undone(Outcome outcome, String note) {
            return new Undone(kind, what, site(), outcome, note, outcome == Outcome.LEFT_OVER ? List.of(stack) : List.of());
        }

        Undone undo(long deadline) {
            switch (kind) {
                case THREAD:
                    return undoThread(deadline);
                case EXECUTOR:
                    return undoExecutor(deadline);
                case TIMER:
                    ((Timer) target).cancel();
                    return undone(Outcome.UNDONE, "cancelled");
                case SHUTDOWN_HOOK:
                    return Runtime.getRuntime().removeShutdownHook((Thread) target)
                            ? undone(Outcome.UNDONE, "removed (Runtime.removeShutdownHook)")
                            : undone(Outcome.ALREADY_GONE, "not registered any more");
                case JDBC_DRIVER:
                    return undoDriver();
                case MBEAN:
                    return undoMBean();
                case THREAD_LOCAL:
                    return undoThreadLocal();
                case LOG_HANDLER:
                    ((Logger) target).removeHandler((Handler) extra);
                    return undone(Outcome.UNDONE, "removed from logger \"" + ((Logger) target).getName() + "\"");
                case SECURITY_PROVIDER: {
                    Provider p = (Provider) target;
                    if (Security.getProvider(p.getName()) != p) {
                        return undone(Outcome.ALREADY_GONE, "not installed any more");
                    }
                    Security.removeProvider(p.getName());
                    return undone(Outcome.UNDONE, "removed (Security.removeProvider)");
                }
                case SYSTEM_PROPERTY:
                    return undoProperty();
                default:
                    return undone(Outcome.LEFT_OVER, "no undo for " + kind);
            }
        }

        private Undone undoThread(long deadline) {
            Thread t = (Thread) weak.get();
            if (t == null || !t.isAlive()) {
                return t == null || t.getState() == Thread.State.TERMINATED ? null : undone(Outcome.ALREADY_GONE, "never started");
            }
            if (t == Thread.currentThread()) {
                return undone(Outcome.LEFT_OVER, "it is the thread running the unload");
            }
            t.interrupt();
            try {
                t.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return t.isAlive()
                    ? undone(Outcome.LEFT_OVER, "interrupted, but still running at the bound (state " + t.getState() + ")")
                    : undone(Outcome.UNDONE, "interrupted and joined");
        }

        private Undone undoExecutor(long deadline) {
            ExecutorService es = (ExecutorService) target;
            if (es.isTerminated()) {
                return undone(Outcome.ALREADY_GONE, "already terminated");
            }
            int dropped = es.shutdownNow().size();
            boolean terminated;
            try {
                terminated = es.awaitTermination(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                terminated = es.isTerminated();
            }
            String tasks = dropped == 0 ? "" : ", " + dropped + " queued task(s) dropped";
            return terminated ? undone(Outcome.UNDONE, "shut down (shutdownNow) and terminated" + tasks)
                    : undone(Outcome.LEFT_OVER, "shut down (shutdownNow), but a task still ran at the bound" + tasks);
        }

        private Undone undoDriver() {
            try {
                // Bound to the plugin's class (ManagedCalls): DriverManager lets only a caller that sees the driver remove it.
                ((MethodHandle) extra).invoke((java.sql.Driver) target);
                return undone(Outcome.UNDONE, "deregistered (DriverManager.deregisterDriver)");
            } catch (RuntimeException | Error e) {
                throw e;
            } catch (Throwable t) {
                return undone(Outcome.LEFT_OVER, "deregistering failed: " + t);
            }
        }

        private Undone undoMBean() {
            MBeanServer server = (MBeanServer) target;
            ObjectName name = (ObjectName) extra;
            if (!server.isRegistered(name)) {
                return undone(Outcome.ALREADY_GONE, "not registered any more");
            }
            try {
                server.unregisterMBean(name);
                return undone(Outcome.UNDONE, "unregistered" + (server == ManagementFactory.getPlatformMBeanServer()
                        ? " from the platform MBean server" : ""));
            } catch (javax.management.JMException e) {
                return undone(Outcome.LEFT_OVER, "unregistering failed: " + e);
            }
        }

        private Undone undoThreadLocal() {
            Thread thread = (Thread) weak.get();
            ThreadLocal<?> tl = (ThreadLocal<?>) ((WeakReference<?>) target).get();
            if (thread == null || tl == null || !thread.isAlive()) {
                return null; // the thread ended, or the ThreadLocal was collected: its value goes with it
            }
            if (thread == Thread.currentThread()) {
                tl.remove();
                return undone(Outcome.UNDONE, "removed (on this thread)");
            }
            defer(thread, tl);
            return undone(Outcome.LEFT_OVER, "thread \"" + thread.getName() + "\" is alive; the value is removed by that thread "
                    + "itself the next time it registers anything through unloadguard (removing it from another thread "
                    + "would race with it)");
        }

        private Undone undoProperty() {
            String key = (String) target;
            String[] values = (String[]) extra; // previous, set
            String now = System.getProperty(key);
            if (!Objects.equals(now, values[1])) {
                return undone(Outcome.ALREADY_GONE, "changed since (now " + (now == null ? "unset" : "\"" + now + "\"")
                        + "); left as it is");
            }
            if (values[0] == null) {
                System.clearProperty(key);
                return undone(Outcome.UNDONE, "cleared (it was unset before)");
            }
            System.setProperty(key, values[0]);
            return undone(Outcome.UNDONE, "restored to \"" + values[0] + "\"");
        }
    }

    /**
     * Resets every listed thread whose context class loader is {@code loader} (race iii), whether
     * plugin code set it (its former value is recorded) or not (a thread that inherited it, or host
     * code that set it: "found at unload"). So every live platform thread is looked at, at every
     * undo: they are listed without their stacks ({@link #platformThreads}).
     */
    private static List<Undone> resetContextLoaders(ClassLoader loader, Registry registry) {
        List<Undone> done = new ArrayList<>();
        for (Thread t : platformThreads()) {
            if (t.getContextClassLoader() != loader) {
                continue;
            }
            ClassLoader previous = registry.previousContextLoader(t);
            ClassLoader to = previous != null && previous != loader ? previous : loader.getParent();
            t.setContextClassLoader(to);
            done.add(new Undone(Kind.CONTEXT_CLASS_LOADER, "thread \"" + t.getName() + "\"",
                    previous != null ? "(set by plugin code)" : "(found at unload)", Outcome.UNDONE,
                    "reset to " + (to == null ? "the bootstrap loader" : to.toString()), List.of()));
        }
        return done;
    }

    /** Whether a live platform thread has {@code loader} as its context class loader. */
    private static boolean anyContextLoader(ClassLoader loader) {
        for (Thread t : platformThreads()) {
            if (t.getContextClassLoader() == loader) {
                return true;
            }
        }
        return false;
    }

    /**
     * Every live platform thread, listed without its stack: {@link ThreadGroup#enumerate(Thread[], boolean)}
     * from the root group. {@link Thread#getAllStackTraces()} would list the same threads but stop
     * them all to dump their stacks (a VM operation at a safepoint); the enumeration takes the
     * groups' monitors on JDK 17 and, from JDK 19 on, reads the VM's thread list (no safepoint).
     * Virtual threads are in neither list. A thread started during the enumeration may be missed,
     * as with a stack dump; the array is grown until it has room to spare, so none is cut off.
     */
    static Thread[] platformThreads() {
        ThreadGroup root = Thread.currentThread().getThreadGroup();
        for (ThreadGroup up = root == null ? null : root.getParent(); up != null; up = up.getParent()) {
            root = up;
        }
        if (root == null) { // the current thread has ended: cannot happen for a caller, but say something useful
            return Thread.getAllStackTraces().keySet().toArray(new Thread[0]);
        }
        Thread[] threads = new Thread[root.activeCount() + 8];
        int n;
        while ((n = root.enumerate(threads, true)) == threads.length) {
            threads = new Thread[threads.length * 2];
        }
        return java.util.Arrays.copyOf(threads, n);
    }

    private static void defer(Thread thread, ThreadLocal<?> tl) {
        synchronized (DEFERRED) {
            pendingRemovals = true; // before the entry: a thread that reads false cannot have one (pairs with the read in of())
            DEFERRED.computeIfAbsent(thread, t -> new ArrayList<>()).add(new WeakReference<>(tl));
        }
    }

    /** Removes, on the current thread, the values an undo handed to it. */
    private static void removeDeferred() {
        List<WeakReference<ThreadLocal<?>>> mine;
        synchronized (DEFERRED) {
            mine = DEFERRED.remove(Thread.currentThread());
            if (DEFERRED.isEmpty()) {
                pendingRemovals = false;
            }
        }
        if (mine != null) {
            for (WeakReference<ThreadLocal<?>> ref : mine) {
                ThreadLocal<?> tl = ref.get();
                if (tl != null) {
                    tl.remove();
                }
            }
        }
    }

    /** The current stack from the first frame outside unloadguard's runtime: the plugin's call site first. */
    private static StackTraceElement[] callerStack(int frames) {
        return STACKS.walk(st -> st.dropWhile(f -> f.getClassName().startsWith(OWN_PREFIX)).limit(frames)
                .map(StackWalker.StackFrame::toStackTraceElement).toArray(StackTraceElement[]::new));
    }

    private static StackTraceElement[] callerStack() {
        StackTraceElement[] all = new Throwable().getStackTrace();
        int first = 0;
        while (first < all.length && all[first].getClassName().startsWith(OWN_PREFIX)) {
            first++;
        }
        return java.util.Arrays.copyOfRange(all, first, all.length);
    }
}
