package dev.unloadguard.epoch.internal;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Collections;
import java.util.Deque;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.List;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.WeakHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Stream;

/**
 * The close audit's thread scan: which threads have a frame of a given class loader on their
 * stack right now. Independent of the release epoch (it trusts no weaving): it reads stacks.
 *
 * <p><b>Which threads.</b> Every platform thread: on JDK 17 and 18 with
 * {@link Thread#getAllStackTraces()} (one stop-the-world VM operation for all of them: another
 * thread's stack cannot be read there without one), from JDK 19 on one thread at a time
 * ({@link Registrations#platformThreads()}, then each thread's {@code getStackTrace()}: a handshake
 * with that thread alone, no global safepoint; see "One instant or one thread at a time").
 * On JDK 21+ also every virtual thread, mounted or not: the JDK tracks
 * them in {@code jdk.internal.vm.ThreadContainers}, a tree whose root holds the platform threads
 * and the virtual threads started directly with the {@code Thread} API, and whose children are the
 * containers of executors ({@code Executors.newVirtualThreadPerTaskExecutor()}) and structured
 * task scopes, nested to any depth. The scan walks the tree from {@code root()} through
 * {@code children()} and takes every container's {@code threads()}; a virtual thread's
 * {@code getStackTrace()} then works mounted (a handshake) or unmounted (its continuation). The
 * package is not exported: the agent opens it to this module ({@code Instrumentation.redefineModule},
 * no command-line flag); without the agent, or with {@code -Djdk.trackAllThreads=false} (the root
 * then only counts the virtual threads started with the {@code Thread} API), virtual threads are
 * not (all) visible and {@link Audit#virtualThreadsVisible()} says so. On JDK 17 there are none.
 * The walk (streams over every thread and container, most of an audit's cost on JDK 21+) is
 * skipped while no virtual thread was ever started in the JVM ({@link VirtualThreadsStarted}).
 * Compiled for 17: everything newer is reached by reflection, resolved on first use and again on
 * later scans until it succeeds (the agent may open the package after this class loaded).
 *
 * <p><b>Which frames.</b> A frame belongs to the loader iff
 * {@link StackTraceElement#getClassLoaderName()} equals the loader's name: a plugin loader's name
 * is unique in the JVM (an unnamed loader cannot be audited). One shape is not counted: a thread
 * whose only frame of the loader is a gated entry being refused (an {@code enterEntry*} method
 * directly above it, the entry's first instruction: {@code ReleaseGuard.enterEntrySectionCell} in
 * code the byte-level weaver wrote, {@code ReleaseEpoch.enterEntry} or the bridges' for the rest,
 * or the epoch class's gated enter {@code PluginEpoch.b} that the byte-level weaver calls in classes
 * of unloadguard's own plugin loaders; below it at most the frames of lambda proxies
 * that forwarded to it): the gate throws there and the thread runs no more code of the loader, it
 * only unwinds. Frames of the epoch class ({@code PluginEpochClass}) are the loader's but
 * unloadguard's code, always called by a woven method whose frame is right below: they are not
 * counted themselves. A host thread calling a GOING plugin in a loop spends
 * most of its time in that shape; counting it would fail every audit it races.
 *
 * <p><b>The grace.</b> A thread is legitimately seen inside for an instant (between a woven exit
 * and the method's return instruction, or while a refused entry links or unwinds). So one full scan
 * that finds frames is followed by re-scans of the threads it found, parked in between with a
 * doubling pause (1, 2, 4, ... ms) up to the grace; a thread seen clean once is dropped. The audit
 * fails only for threads seen inside in the full scan and in every re-scan up to the end of the
 * grace: a thread parked, blocked or running in plugin code. Nothing spins: the caller parks.
 *
 * <p><b>One instant or one thread at a time.</b> A global dump reads every stack at one instant; a
 * scan one thread at a time reads each at its own instant, so a plugin call handed from a thread
 * not yet scanned to one already scanned (a task queued by plugin code and started on a pool thread
 * that was clean when read) is seen by neither read. The audit does not lose anything it promises
 * by that, because of the grace: it fails only for a thread seen inside in the full scan <em>and</em>
 * in every re-scan up to the end of the grace, so what it catches is a thread that stays inside
 * from its first read to the end of the grace (parked, blocked or running in plugin code), and such
 * a thread is read while inside by either kind of scan. What the global dump sees and the scan one
 * by one does not is a frame that appears during the scan (after that thread was read); the global
 * dump sees it only if it appeared before its instant, and neither sees one that appears after it
 * (no scan can: the audit checks the threads inside before the close, the gate and the barrier
 * keep new ones out). So both keep the same promise, and one thread at a time costs on JDK 25
 * about 2 µs per thread and stops no other thread, where the dump costs 30-45 µs of CPU for a few
 * threads and a global safepoint (measured in docs/performance.md). Virtual threads were always
 * read one at a time.
 *
 * <p><b>A thread that has not run since its stack was read.</b> Reading a stack is most of what an
 * audit costs (about 0.3 µs per frame on JDK 25, and on JDK 17 a stop-the-world operation), and most
 * threads of a host are idle between two unloads: a pool waiting for work, the JDK's reference and
 * cleaner threads, unloadguard's own. A thread's frames change only while it runs, and while it runs
 * its CPU clock advances. So every full scan first reads the CPU clocks of all platform threads in
 * one call ({@code com.sun.management.ThreadMXBean.getThreadCpuTime(long[])}, ~0.3 µs per thread, no
 * safepoint and no handshake), and a thread whose clock reads exactly what it read just before that
 * thread's stack was last taken (by any audit, of any loader) has the same stack now: if that stack
 * had no frame of the loader, it has none now, and the thread is not read. Every other thread is read
 * as above, its clock value (taken before its stack: had it run in between, its clock would differ
 * next time) kept with the names of the loaders its frames belonged to. Names only, held weakly by
 * thread: a {@link StackTraceElement} of another thread's stack may hold its frame's class (JDK 17
 * does), and kept, it would keep an unloaded plugin's loader from being collected. The current thread
 * is always read, by walking its frames' classes in place ({@link StackWalker}: no frame formatted
 * unless one is the loader's). This
 * trusts no weaving either, only the clock, and only where the clock advances whenever a thread runs:
 * on Linux, where HotSpot reads a thread's clock with {@code clock_gettime} at nanosecond resolution
 * (checked once: the current thread's clock must advance within a millisecond of work). Elsewhere
 * (a tick-based clock, as on Windows, would stay put across short runs), or with thread CPU time
 * off, every stack is read; so is every thread of a class that overrides {@code getId()} (its id
 * could name another thread). On JDK 17 and 18 this is what spares the dump of all threads: with only
 * a thread or two to read, each is read by itself (a safepoint too, but a short one).
 *
 * <p>Used by one thread at a time per audit; the scans themselves are racy snapshots by nature
 * (threads start, end and move while the VM walks them), which is what the grace is for.
 */
public final class ThreadFrames {

    /** The first pause between re-scans; doubles up to the end of the grace. */
    private static final long FIRST_PAUSE_NANOS = TimeUnit.MILLISECONDS.toNanos(1);
    private static final String EPOCH = ReleaseEpoch.class.getName();
    /** Classes whose {@code enterEntry*} method a gated entry calls first (directly, or for old class files). */
    private static final Set<String> ENTRY_GATES = Set.of(EPOCH, Epochs.class.getName(), "dev.unloadguard.epoch.ReleaseGuard",
            "dev.unloadguard.boot.BootGuard");

    /**
     * Whether another platform thread's {@code getStackTrace()} is a handshake with that thread
     * alone (JDK 19+: {@code Thread.asyncGetStackTrace}); before, it is a stop-the-world dump of
     * its own, so one dump for all threads is cheaper.
     */
    private static final boolean STACKS_BY_HANDSHAKE = Runtime.version().feature() >= 19;

    /** JDK 17, 18: at most this many other threads' stacks are read one by one rather than by one dump of all. */
    private static final int MAX_SEPARATE_DUMPS = 2;

    /** {@code Thread::isVirtual} on JDK 21+, else {@code null}. */
    private static final MethodHandle IS_VIRTUAL = isVirtualHandle();
    private static final boolean VIRTUAL_THREADS_EXIST = IS_VIRTUAL != null;

    /** Walks the current thread's own stack with each frame's class (see {@link #selfInside}). */
    private static final StackWalker SELF = StackWalker.getInstance(StackWalker.Option.RETAIN_CLASS_REFERENCE);

    /** The stacks last read of each platform thread, with its CPU clock just before. */
    private static final Unchanged UNCHANGED = new Unchanged();

    /** The container API once it was reached; {@code null} until then (retried each scan). */
    private static volatile Containers containers;

    private ThreadFrames() {
    }

    /**
     * What an audit saw.
     *
     * @param platformThreads       platform threads scanned
     * @param platformStacksRead    of those, the stacks read in this audit; the others had not run
     *                              since an earlier read (see the class comment)
     * @param virtualThreads        virtual threads scanned
     * @param virtualThreadsVisible whether every virtual thread could be scanned (true on a JDK
     *                              without virtual threads)
     * @param visibility            which threads were visible, and if not all, why
     * @param framesFound           frames of the loader seen by the full scan (0: clean at once)
     * @param scans                 the full scan plus the re-scans
     * @param nanos                 how long the audit took
     * @param inside                threads still inside at the end of the grace, with their
     *                              stacks (empty: the audit passed)
     */
    public record Audit(int platformThreads, int platformStacksRead, int virtualThreads, boolean virtualThreadsVisible, String visibility,
                        int framesFound, int scans, long nanos, Map<Thread, StackTraceElement[]> inside) {

        public Audit {
            inside = Collections.unmodifiableMap(new LinkedHashMap<>(inside));
        }

        public boolean passed() {
            return inside.isEmpty();
        }
    }

    /**
     * Scans every visible thread for frames of the loader named {@code loaderName}, re-scanning
     * the ones found over {@code grace} (see the class comment).
     *
     * @throws IllegalArgumentException if {@code loaderName} is {@code null} or empty
     */
    public static Audit audit(String loaderName, Duration grace) {
        if (loaderName == null || loaderName.isEmpty()) {
            throw new IllegalArgumentException("a class loader without a name cannot be audited: its frames carry no name");
        }
        long start = System.nanoTime();
        long graceNanos = Math.max(0, grace.toNanos());
        Map<Thread, StackTraceElement[]> found = new LinkedHashMap<>();
        int frames = 0;
        int platform = 0;
        Thread[] threads = Registrations.platformThreads();
        long[] clocks = CpuClocks.read(threads); // before any stack is read (see the class comment)
        Thread self = Thread.currentThread();
        int[] toRead = new int[threads.length]; // indices into threads and clocks
        int read = 0;
        boolean selfToRead = false;
        for (int i = 0; i < threads.length; i++) {
            Thread t = threads[i];
            if (t != self && UNCHANGED.cleanIfNotRunSince(t, clocks[i], loaderName)) {
                platform++; // not run since a read that found no frame of the loader: none now
            } else {
                toRead[read++] = i;
                selfToRead |= t == self;
            }
        }
        // JDK 17, 18: each other thread's read is a VM operation at a safepoint of its own (~15-20 us);
        // a dump of all of them is one (~50-100 us): one by one while that is cheaper.
        Map<Thread, StackTraceElement[]> all = STACKS_BY_HANDSHAKE || read - (selfToRead ? 1 : 0) <= MAX_SEPARATE_DUMPS
                ? null : Thread.getAllStackTraces(); // one global safepoint (JDK 17, 18)
        for (int k = 0; k < read; k++) {
            Thread t = threads[toRead[k]];
            platform++;
            if (all == null && t == self) {
                frames += selfInside(found, loaderName);
                continue;
            }
            StackTraceElement[] stack = all == null ? t.getStackTrace() : all.remove(t); // ended: an empty stack
            if (stack == null) {
                stack = new StackTraceElement[0]; // ended since it was listed
            }
            UNCHANGED.keep(t, clocks[toRead[k]], stack);
            frames += keepIfInside(found, t, stack, loaderName);
        }
        if (all != null) {
            Set<Thread> listed = Collections.newSetFromMap(new IdentityHashMap<>());
            Collections.addAll(listed, threads);
            for (Map.Entry<Thread, StackTraceElement[]> e : all.entrySet()) {
                if (!listed.contains(e.getKey())) { // started since it was listed: counted too
                    platform++;
                    frames += keepIfInside(found, e.getKey(), e.getValue(), loaderName);
                }
            }
        }
        int virtual = 0;
        Containers c = VIRTUAL_THREADS_EXIST ? containers() : null;
        boolean visible;
        String visibility;
        if (!VIRTUAL_THREADS_EXIST) {
            visible = true;
            visibility = "all platform threads (no virtual threads on Java " + Runtime.version().feature() + ")";
        } else if (c == null) {
            visible = false;
            visibility = "platform threads only: virtual threads are not visible (jdk.internal.vm is not open to "
                    + "unloadguard: attach the unloadguard agent, or --add-opens java.base/jdk.internal.vm=ALL-UNNAMED)";
        } else if (!VirtualThreadsStarted.maybe()) {
            visible = true; // no virtual thread exists, so none is out of sight
            visibility = "all platform threads (no virtual thread was ever started in this JVM)";
        } else {
            Set<Thread> seen = Collections.newSetFromMap(new IdentityHashMap<>());
            boolean complete = true;
            try {
                for (Iterator<Thread> it = c.virtualThreads(); it.hasNext(); ) {
                    Thread t = it.next();
                    if (seen.add(t)) {
                        virtual++;
                        frames += keepIfInside(found, t, t.getStackTrace(), loaderName);
                    }
                }
            } catch (RuntimeException | LinkageError e) {
                complete = false; // a JDK whose containers changed shape: say so rather than fail the unload
            }
            visible = complete && c.trackAll;
            visibility = !complete ? "platform threads and some virtual threads: walking the JDK's thread containers failed"
                    : c.trackAll ? "all platform and virtual threads"
                    : "platform threads and the virtual threads of executors and scopes: virtual threads started "
                    + "with the Thread API are not visible (-Djdk.trackAllThreads=false)";
        }
        int scans = 1;
        long pause = FIRST_PAUSE_NANOS;
        while (!found.isEmpty()) {
            long left = graceNanos - (System.nanoTime() - start);
            if (left <= 0) {
                break;
            }
            LockSupport.parkNanos(Math.min(pause, left));
            pause *= 2;
            scans++;
            for (Iterator<Map.Entry<Thread, StackTraceElement[]>> it = found.entrySet().iterator(); it.hasNext(); ) {
                Map.Entry<Thread, StackTraceElement[]> e = it.next();
                StackTraceElement[] stack = e.getKey().getStackTrace();
                if (countInside(stack, loaderName) == 0) {
                    it.remove();
                } else {
                    e.setValue(stack);
                }
            }
        }
        return new Audit(platform, read, virtual, visible, visibility, frames, scans, System.nanoTime() - start, found);
    }

    /**
     * The current thread (the one auditing, running unloadguard's code) is walked in place, each
     * frame's class's loader compared by name, without formatting its frames; only if one is the
     * audited loader's (plugin code unloading its own plugin) is its stack taken and counted.
     */
    private static int selfInside(Map<Thread, StackTraceElement[]> found, String loaderName) {
        boolean any = SELF.walk(frames -> frames.anyMatch(f -> {
            ClassLoader l = f.getDeclaringClass().getClassLoader();
            return l != null && loaderName.equals(l.getName());
        }));
        return any ? keepIfInside(found, Thread.currentThread(), Thread.currentThread().getStackTrace(), loaderName) : 0;
    }

    private static int keepIfInside(Map<Thread, StackTraceElement[]> found, Thread t, StackTraceElement[] stack, String loaderName) {
        int n = countInside(stack, loaderName);
        if (n > 0) {
            found.put(t, stack);
        }
        return n;
    }

    /**
     * How many frames of the loader named {@code loaderName} {@code stack} holds, 0 if its only one
     * is a gated entry being refused (see the class comment).
     */
    public static int countInside(StackTraceElement[] stack, String loaderName) {
        int n = 0;
        int first = -1;
        boolean othersAreProxies = true;
        for (int i = 0; i < stack.length; i++) {
            if (loaderName.equals(stack[i].getClassLoaderName()) && !stack[i].getClassName().equals(PluginEpochClass.NAME)) {
                if (n++ == 0) {
                    first = i;
                } else if (!isLambdaProxy(stack[i])) {
                    othersAreProxies = false;
                }
            }
        }
        if (n > 0 && othersAreProxies && first > 0 && isEntryGate(stack[first - 1])) {
            return 0;
        }
        return n;
    }

    /**
     * A frame of a lambda's or method reference's proxy class (a hidden class the plugin's loader
     * defines; thread dumps show it on some JDKs): it only forwards to the body, which is the
     * entry.
     */
    private static boolean isLambdaProxy(StackTraceElement e) {
        String c = e.getClassName();
        return c.contains("$$Lambda") && c.indexOf('/') > 0;
    }

    private static boolean isEntryGate(StackTraceElement callee) {
        String c = callee.getClassName();
        return ENTRY_GATES.contains(c) ? callee.getMethodName().startsWith("enterEntry")
                : c.equals(PluginEpochClass.NAME) && callee.getMethodName().equals(PluginEpochClass.ENTER_ENTRY);
    }

    /**
     * Whether the scan can see virtual threads now (true on a JDK without them): the agent opened
     * {@code jdk.internal.vm} to unloadguard, or the command line did.
     */
    public static boolean virtualThreadsVisible() {
        if (!VIRTUAL_THREADS_EXIST) {
            return true;
        }
        Containers c = containers();
        return c != null && c.trackAll;
    }

    private static MethodHandle isVirtualHandle() {
        try {
            return MethodHandles.publicLookup().findVirtual(Thread.class, "isVirtual", MethodType.methodType(boolean.class));
        } catch (NoSuchMethodException | IllegalAccessException e) {
            return null; // JDK 17-20 (19 and 20 have it only with --enable-preview: then found)
        }
    }

    private static Containers containers() {
        Containers c = containers;
        if (c == null) {
            c = Containers.reach();
            containers = c;
        }
        return c;
    }

    /**
     * {@code jdk.internal.vm.ThreadContainers} by reflection: {@code root()},
     * {@code ThreadContainer.children()} and {@code threads()} (public methods of public classes,
     * callable once the package is open to this module). Same shape on JDK 21 through 25.
     */
    private static final class Containers {
        final Object root;
        final MethodHandle children;
        final MethodHandle threads;
        final boolean trackAll;

        private Containers(Object root, MethodHandle children, MethodHandle threads, boolean trackAll) {
            this.root = root;
            this.children = children;
            this.threads = threads;
            this.trackAll = trackAll;
        }

        /** The API, or {@code null} if this JVM does not let this module reach it. */
        static Containers reach() {
            if (!openToThisModule("jdk.internal.vm")) {
                return null;
            }
            try {
                Class<?> containers = Class.forName("jdk.internal.vm.ThreadContainers", true, null);
                Class<?> container = Class.forName("jdk.internal.vm.ThreadContainer", true, null);
                MethodHandles.Lookup lookup = MethodHandles.lookup();
                Object root = lookup.findStatic(containers, "root", MethodType.methodType(container)).invoke();
                boolean trackAll = (boolean) lookup.findStatic(containers, "trackAllThreads", MethodType.methodType(boolean.class)).invoke();
                MethodHandle children = lookup.findVirtual(container, "children", MethodType.methodType(Stream.class))
                        .asType(MethodType.methodType(Stream.class, Object.class));
                MethodHandle threads = lookup.findVirtual(container, "threads", MethodType.methodType(Stream.class))
                        .asType(MethodType.methodType(Stream.class, Object.class));
                return new Containers(root, children, threads, trackAll);
            } catch (Throwable t) {
                rethrowIfFatal(t);
                return null;
            }
        }

        /** Every virtual thread of every container, depth first from the root (a thread may repeat). */
        Iterator<Thread> virtualThreads() {
            Deque<Object> todo = new ArrayDeque<>();
            todo.push(root);
            Set<Object> visited = Collections.newSetFromMap(new IdentityHashMap<>());
            List<Thread> out = new ArrayList<>();
            while (!todo.isEmpty()) {
                Object container = todo.pop();
                if (!visited.add(container)) {
                    continue;
                }
                try (Stream<?> ts = (Stream<?>) threads.invokeExact(container)) {
                    ts.forEach(t -> {
                        Thread th = (Thread) t;
                        if (isVirtual(th)) {
                            out.add(th);
                        }
                    });
                } catch (RuntimeException | Error e) {
                    throw e;
                } catch (Throwable t) {
                    throw new IllegalStateException(t);
                }
                try (Stream<?> cs = (Stream<?>) children.invokeExact(container)) {
                    cs.forEach(todo::push);
                } catch (RuntimeException | Error e) {
                    throw e;
                } catch (Throwable t) {
                    throw new IllegalStateException(t);
                }
            }
            return out.iterator();
        }
    }

    /**
     * Of each platform thread's last read stack, the names of the class loaders its frames belong
     * to, with the CPU clock the thread read just before (see the class comment). Names only: a
     * {@link StackTraceElement} of another thread's stack can hold its frame's class (JDK 17 leaves
     * it there), and a kept class would keep an unloaded plugin's loader from being collected.
     * Weak by thread; a monitor, since audits of different plugins may run at once.
     */
    private static final class Unchanged {
        private static final String[] NONE = {};
        private final Map<Thread, Seen> seen = new WeakHashMap<>();

        private record Seen(long clock, String[] loaderNames) {
        }

        /**
         * Whether {@code t}'s clock still reads {@code clock} and its stack then had no frame of the
         * loader named {@code loaderName}: then it has none now.
         */
        synchronized boolean cleanIfNotRunSince(Thread t, long clock, String loaderName) {
            if (clock < 0) {
                return false; // no clock for it (ended, or CPU time off): read it
            }
            Seen s = seen.get(t);
            if (s == null || s.clock != clock) {
                return false;
            }
            for (String name : s.loaderNames) {
                if (name.equals(loaderName)) {
                    return false; // it had frames of the loader: read it again, for its stack and the grace
                }
            }
            return true;
        }

        /** Keeps the loader names of {@code stack}, read after {@code t}'s clock read {@code clock}. */
        synchronized void keep(Thread t, long clock, StackTraceElement[] stack) {
            if (clock < 0) {
                seen.remove(t);
                return;
            }
            String[] names = NONE;
            for (StackTraceElement e : stack) {
                String name = e.getClassLoaderName();
                if (name != null && !Arrays.asList(names).contains(name)) {
                    names = Arrays.copyOf(names, names.length + 1);
                    names[names.length - 1] = name;
                }
            }
            seen.put(t, new Seen(clock, names));
        }
    }

    /**
     * Platform threads' CPU clocks in one call, or -1 for each where a clock cannot tell whether the
     * thread ran (see the class comment): not Linux, no {@code com.sun.management.ThreadMXBean},
     * thread CPU time unsupported or off, or a clock that did not advance within a millisecond of
     * the current thread's work.
     */
    static final class CpuClocks {
        private static final com.sun.management.ThreadMXBean THREADS = reach();

        private CpuClocks() {
        }

        /** Whether clocks are read at all in this JVM. */
        static boolean available() {
            return THREADS != null;
        }

        static long[] read(Thread[] threads) {
            long[] ids = new long[threads.length];
            if (THREADS == null) {
                Arrays.fill(ids, -1);
                return ids;
            }
            boolean[] lies = new boolean[threads.length];
            for (int i = 0; i < threads.length; i++) {
                lies[i] = OVERRIDES_GET_ID.get(threads[i].getClass());
                ids[i] = lies[i] ? Thread.currentThread().getId() : threads[i].getId(); // a valid id; its clock is dropped below
            }
            long[] clocks;
            try {
                clocks = THREADS.getThreadCpuTime(ids); // -1 for a thread that ended, or with thread CPU time off
            } catch (UnsupportedOperationException | IllegalArgumentException e) {
                clocks = ids;
                Arrays.fill(clocks, -1);
            }
            for (int i = 0; i < threads.length; i++) {
                if (lies[i]) {
                    clocks[i] = -1;
                }
            }
            return clocks;
        }

        /**
         * Whether a thread class overrides {@code getId()} (not final before JDK 19): its id may name
         * another thread, whose clock would say nothing of this one's; such a thread is always read.
         */
        private static final ClassValue<Boolean> OVERRIDES_GET_ID = new ClassValue<>() {
            @Override
            protected Boolean computeValue(Class<?> c) {
                try {
                    return c.getMethod("getId").getDeclaringClass() != Thread.class;
                } catch (NoSuchMethodException e) {
                    return true;
                }
            }
        };

        private static com.sun.management.ThreadMXBean reach() {
            if (!System.getProperty("os.name", "").startsWith("Linux")) {
                return null;
            }
            try {
                if (!(ManagementFactory.getThreadMXBean() instanceof com.sun.management.ThreadMXBean mx)
                        || !mx.isThreadCpuTimeSupported() || !mx.isThreadCpuTimeEnabled()) {
                    return null;
                }
                long before = mx.getCurrentThreadCpuTime();
                long limit = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(50);
                long now = before;
                while (now == before && System.nanoTime() < limit) {
                    now = mx.getCurrentThreadCpuTime(); // each read is work of this thread's own (a system call)
                }
                long step = now - before;
                return step > 0 && step < TimeUnit.MILLISECONDS.toNanos(1) ? mx : null;
            } catch (RuntimeException | LinkageError e) {
                return null; // no java.management in this runtime image, or a JVM without the extension
            }
        }
    }

    /**
     * Whether a virtual thread may ever have been started in this JVM: the walk of the thread
     * containers (several streams over every thread and container, most of an audit's cost on
     * JDK 21+ when no thread ran) is skipped while it is certain none was. Every virtual thread is
     * an instance of a subclass of {@code java.lang.BaseVirtualThread}, so none can exist before
     * that class is initialized, and initialization is never undone: {@code
     * jdk.internal.misc.Unsafe.shouldBeInitialized} answers without initializing it. That needs
     * {@code jdk.internal.misc} open to this module (the agent opens it, as {@code jdk.internal.vm});
     * without it, or on any failure, the answer is "maybe" and the walk runs. Once "maybe", always.
     */
    static final class VirtualThreadsStarted {
        /** {@code Unsafe.shouldBeInitialized} bound to the instance, or {@code null} until reached (retried). */
        private static volatile MethodHandle notInitialized;
        /** Set once the answer was "maybe": it cannot go back (plain reads of a stale false only re-ask). */
        private static volatile boolean maybe;

        private VirtualThreadsStarted() {
        }

        static boolean maybe() {
            if (maybe) {
                return true;
            }
            MethodHandle m = notInitialized;
            if (m == null) {
                m = reach();
                if (m == null) {
                    return true; // cannot tell: walk
                }
                notInitialized = m;
            }
            try {
                if (!(boolean) m.invokeExact()) {
                    maybe = true;
                }
            } catch (Throwable t) {
                maybe = true; // cannot tell any more: walk from now on
            }
            return maybe;
        }

        private static MethodHandle reach() {
            if (!openToThisModule("jdk.internal.misc")) {
                return null;
            }
            try {
                Class<?> virtualThreads = Class.forName("java.lang.BaseVirtualThread", false, null);
                Class<?> unsafeClass = Class.forName("jdk.internal.misc.Unsafe", true, null);
                MethodHandles.Lookup lookup = MethodHandles.lookup();
                Object unsafe = lookup.findStatic(unsafeClass, "getUnsafe", MethodType.methodType(unsafeClass)).invoke();
                return lookup.findVirtual(unsafeClass, "shouldBeInitialized", MethodType.methodType(boolean.class, Class.class))
                        .bindTo(unsafe).bindTo(virtualThreads);
            } catch (Throwable t) {
                rethrowIfFatal(t);
                return null;
            }
        }
    }

    /** Whether {@code java.base} has {@code pkg} and opens it to this module (the agent opens it; or {@code --add-opens}). */
    private static boolean openToThisModule(String pkg) {
        Module base = Object.class.getModule();
        return base.getPackages().contains(pkg) && base.isOpen(pkg, ThreadFrames.class.getModule());
    }

    /** For the "cannot reach it" fallbacks: a JDK that changed shape is not an error, a VM error is. */
    private static void rethrowIfFatal(Throwable t) {
        if (t instanceof Error && !(t instanceof LinkageError)) {
            throw (Error) t;
        }
    }

    private static boolean isVirtual(Thread t) {
        try {
            return (boolean) IS_VIRTUAL.invokeExact(t);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }
}
