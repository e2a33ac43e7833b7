package dev.unloadguard.epoch.internal;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.net.URL;
import java.net.URLClassLoader;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The close audit's scan: it finds a thread parked (or running) in a class of a named loader, on
 * a platform thread and, on JDK 21+, on virtual threads mounted or not; its grace lets a thread
 * that leaves in time pass; a gated entry being refused is not counted.
 */
class ThreadFramesTest {

    private static final AtomicLong SEQ = new AtomicLong();
    private static final Duration GRACE = Duration.ofMillis(50);

    private final String loaderName = "audit-test#" + SEQ.incrementAndGet();
    private final URLClassLoader loader = new URLClassLoader(loaderName, new URL[] {testClasses()}, ClassLoader.getPlatformClassLoader());
    private Thread thread;

    @AfterEach
    void stop() throws Exception {
        if (thread != null) {
            thread.interrupt();
            thread.join(10_000);
        }
        loader.close();
    }

    @Test
    void findsAPlatformThreadParkedInAClassOfTheLoaderWithItsStack() throws Exception {
        thread = new Thread(plugin(false), "parked-in-plugin");
        thread.start();
        awaitInside(thread);

        ThreadFrames.Audit audit = ThreadFrames.audit(loaderName, GRACE);

        assertFalse(audit.passed());
        assertEquals(1, audit.inside().size(), () -> "only the parked thread: " + audit.inside().keySet());
        StackTraceElement[] stack = audit.inside().get(thread);
        assertTrue(Arrays.stream(stack).anyMatch(e -> loaderName.equals(e.getClassLoaderName())
                && e.getClassName().equals(AuditedPlugin.class.getName()) && e.getMethodName().equals("run")), Arrays.toString(stack));
        assertTrue(audit.framesFound() >= 1);
        assertTrue(audit.scans() > 1, "re-scanned over the grace before failing");
        assertTrue(audit.nanos() >= GRACE.toNanos(), "a thread that stays inside is waited for the whole grace");
        assertTrue(audit.platformThreads() >= 2, "the test's thread and the parked one at least");

        thread.interrupt();
        thread.join(10_000);
        ThreadFrames.Audit after = ThreadFrames.audit(loaderName, GRACE);
        assertTrue(after.passed());
        assertEquals(0, after.framesFound());
        assertEquals(1, after.scans(), "nothing found: one scan, no grace");
    }

    @Test
    void aThreadThatLeavesDuringTheGracePasses() throws Exception {
        thread = new Thread(plugin(false), "leaves-during-grace");
        thread.start();
        awaitInside(thread);
        Thread auditor = Thread.currentThread();
        // Releases the plugin thread once the audit parks between re-scans: its first scan saw it.
        Thread releaser = new Thread(() -> {
            await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(1)).until(() ->
                    Arrays.stream(auditor.getStackTrace()).anyMatch(e -> e.getClassName().equals(ThreadFrames.class.getName())
                            && e.getMethodName().equals("audit"))
                    && Arrays.stream(auditor.getStackTrace()).anyMatch(e -> e.getMethodName().equals("parkNanos")));
            thread.interrupt();
        }, "releaser");
        releaser.start();

        ThreadFrames.Audit audit = ThreadFrames.audit(loaderName, Duration.ofSeconds(20));
        releaser.join(10_000);

        assertTrue(audit.passed(), () -> "left during the grace: " + audit);
        assertTrue(audit.framesFound() >= 1, "the first scan saw it");
        assertTrue(audit.scans() >= 2);
        assertTrue(audit.nanos() < Duration.ofSeconds(20).toNanos(), "the audit ends when the thread left, not at the grace's end");
    }

    @Test
    void aGatedEntryBeingRefusedIsNotInsideButAnyOtherFrameIs() {
        StackTraceElement refusing = new StackTraceElement(null, null, null, ReleaseEpoch.class.getName(), "enterEntry", "ReleaseEpoch.java", 1);
        StackTraceElement plugin = new StackTraceElement(loaderName, null, null, "com.acme.Service", "handle", "Service.java", 10);
        StackTraceElement pluginCaller = new StackTraceElement(loaderName, null, null, "com.acme.Worker", "run", "Worker.java", 20);
        StackTraceElement host = new StackTraceElement("app", null, null, "host.Caller", "call", "Caller.java", 5);
        StackTraceElement exit = new StackTraceElement(null, null, null, ReleaseEpoch.class.getName(), "exit", "ReleaseEpoch.java", 2);

        assertEquals(0, ThreadFrames.countInside(new StackTraceElement[] {refusing, plugin, host}, loaderName),
                "refused at the entry: it only unwinds");
        assertEquals(1, ThreadFrames.countInside(new StackTraceElement[] {plugin, host}, loaderName), "top frame in the plugin");
        assertEquals(1, ThreadFrames.countInside(new StackTraceElement[] {exit, plugin, host}, loaderName), "leaving: still inside");
        assertEquals(2, ThreadFrames.countInside(new StackTraceElement[] {refusing, plugin, host, pluginCaller}, loaderName),
                "a refused entry from a thread already running other plugin code is inside");
        assertEquals(0, ThreadFrames.countInside(new StackTraceElement[] {host}, loaderName));
        StackTraceElement wovenRefusal = new StackTraceElement(null, null, null, "dev.unloadguard.epoch.ReleaseGuard",
                "enterEntrySectionCell", "ReleaseGuard.java", 3);      // what the byte-level weaver writes
        assertEquals(0, ThreadFrames.countInside(new StackTraceElement[] {wovenRefusal, plugin, host}, loaderName),
                "refused at the entry the byte-level weaver writes: it only unwinds");
        StackTraceElement epochClassGate = new StackTraceElement(loaderName, null, null, PluginEpochClass.NAME, "b", null, -1);
        StackTraceElement guardAbove = new StackTraceElement(null, null, null, "dev.unloadguard.epoch.ReleaseGuard",
                "enterEntrySectionCell", "ReleaseGuard.java", 3);
        assertEquals(0, ThreadFrames.countInside(new StackTraceElement[] {refusing, guardAbove, epochClassGate, plugin, host}, loaderName),
                "refused at the epoch class's gated enter (a frame of the loader, unloadguard's code): it only unwinds");
        StackTraceElement epochClassExit = new StackTraceElement(loaderName, null, null, PluginEpochClass.NAME, "c", null, -1);
        assertEquals(1, ThreadFrames.countInside(new StackTraceElement[] {exit, epochClassExit, plugin, host}, loaderName),
                "leaving through the epoch class's exit: the woven method is inside, the epoch class's frame is not counted");
        assertEquals(2, ThreadFrames.countInside(new StackTraceElement[] {refusing, guardAbove, epochClassGate, plugin, host, pluginCaller},
                loaderName), "refused through the epoch class on a thread already running other plugin code: inside");
        StackTraceElement proxy = new StackTraceElement(loaderName, null, null, "com.acme.Service$$Lambda/0x0000000801001234", "run", null, -1);
        assertEquals(0, ThreadFrames.countInside(new StackTraceElement[] {refusing, plugin, proxy, host}, loaderName),
                "a lambda body refused at its entry, called through its proxy: it only unwinds");
        assertEquals(2, ThreadFrames.countInside(new StackTraceElement[] {exit, plugin, proxy, host}, loaderName),
                "a lambda body running: inside");
    }

    @Test
    void findsVirtualThreadsUnmountedMountedAndInExecutors() throws Exception {
        assumeTrue(Runtime.version().feature() >= 21, "virtual threads need JDK 21+");
        assumeTrue(ThreadFrames.virtualThreadsVisible(), "run with --add-opens java.base/jdk.internal.vm=ALL-UNNAMED (the runtime's surefire does)");
        thread = (Thread) Thread.class.getMethod("startVirtualThread", Runnable.class).invoke(null, plugin(false));
        awaitInside(thread);
        Thread mounted = (Thread) Thread.class.getMethod("startVirtualThread", Runnable.class).invoke(null, plugin(true));
        ExecutorService executor = (ExecutorService) java.util.concurrent.Executors.class.getMethod("newVirtualThreadPerTaskExecutor").invoke(null);
        Future<?> inExecutor = executor.submit(plugin(false));
        try {
            awaitInside(mounted);
            await().atMost(Duration.ofSeconds(10)).until(() -> {
                ThreadFrames.Audit a = ThreadFrames.audit(loaderName, Duration.ZERO);
                return a.inside().size() == 3;
            });
            ThreadFrames.Audit audit = ThreadFrames.audit(loaderName, GRACE);
            assertTrue(audit.virtualThreadsVisible(), audit.visibility());
            assertTrue(audit.inside().containsKey(thread), "unmounted, started with the Thread API (root container)");
            assertTrue(audit.inside().containsKey(mounted), "mounted, spinning in plugin code");
            assertEquals(3, audit.inside().size(), () -> "the executor's thread too (a child container): " + audit.inside().keySet());
            assertTrue(audit.virtualThreads() >= 3);
        } finally {
            mounted.interrupt();
            mounted.join(10_000);
            inExecutor.cancel(true);
            executor.shutdown();
        }
    }

    /**
     * The safety of reusing a stack: a thread read clean by one audit that then runs into plugin
     * code and parks there is found by the next, because its CPU clock moved. (Reusing a kept
     * stack without the clock check fails this test.)
     */
    @Test
    void aThreadReadCleanThatThenEntersThePluginIsFoundByTheNextAudit() throws Exception {
        java.util.concurrent.CountDownLatch go = new java.util.concurrent.CountDownLatch(1);
        Runnable plugin = plugin(false);
        thread = new Thread(() -> {
            try {
                go.await(); // host code: parked, clean
            } catch (InterruptedException e) {
                return;
            }
            plugin.run();
        }, "clean-then-inside");
        thread.start();
        await().atMost(Duration.ofSeconds(10)).until(() -> thread.getState() == Thread.State.WAITING);
        ThreadFrames.Audit clean = ThreadFrames.audit(loaderName, Duration.ZERO);
        assertTrue(clean.passed(), () -> "parked in host code: " + clean);
        ThreadFrames.Audit again = ThreadFrames.audit(loaderName, Duration.ZERO);
        assertTrue(again.passed());

        go.countDown();
        awaitInside(thread);
        ThreadFrames.Audit audit = ThreadFrames.audit(loaderName, GRACE);

        assertFalse(audit.passed(), () -> "ran into the plugin since it was last read: " + audit);
        assertTrue(audit.inside().containsKey(thread), () -> "the thread that entered: " + audit.inside().keySet());
    }

    /**
     * A thread whose class overrides {@code getId()} to name an idle thread is still found when it
     * runs into the plugin: its id is not trusted for its clock. (Trusting it fails this test.)
     */
    @Test
    void aThreadWhoseIdNamesAnIdleThreadIsStillReadWhenItRuns() throws Exception {
        assumeTrue(ThreadFrames.CpuClocks.available(), "a thread CPU clock that advances whenever a thread runs (Linux HotSpot)");
        java.util.concurrent.CountDownLatch never = new java.util.concurrent.CountDownLatch(1);
        Thread idle = new Thread(() -> {
            try {
                never.await();
            } catch (InterruptedException e) {
                // ends
            }
        }, "idle-named-by-a-lie");
        idle.start();
        java.util.concurrent.CountDownLatch go = new java.util.concurrent.CountDownLatch(1);
        Runnable plugin = plugin(false);
        thread = new Thread(() -> {
            try {
                go.await();
            } catch (InterruptedException e) {
                return;
            }
            plugin.run();
        }, "lies-about-its-id") {
            @Override
            @SuppressWarnings("deprecation")
            public long getId() {
                return idle.getId();
            }
        };
        thread.start();
        try {
            await().atMost(Duration.ofSeconds(10)).until(() -> thread.getState() == Thread.State.WAITING
                    && idle.getState() == Thread.State.WAITING);
            assertTrue(ThreadFrames.audit(loaderName, Duration.ZERO).passed());
            assertTrue(ThreadFrames.audit(loaderName, Duration.ZERO).passed());
            go.countDown();
            awaitInside(thread);
            ThreadFrames.Audit audit = ThreadFrames.audit(loaderName, GRACE);
            assertTrue(audit.inside().containsKey(thread), () -> "ran into the plugin, whatever its id says: " + audit);
        } finally {
            never.countDown();
            idle.join(10_000);
        }
    }

    /**
     * What the clock saves: threads that have not run since an earlier audit read their stacks
     * are not read again (where the JVM's thread CPU clock can tell, as on Linux).
     */
    @Test
    void threadsThatHaveNotRunSinceTheLastReadAreNotReadAgain() throws Exception {
        assumeTrue(ThreadFrames.CpuClocks.available(), "a thread CPU clock that advances whenever a thread runs (Linux HotSpot)");
        java.util.concurrent.CountDownLatch never = new java.util.concurrent.CountDownLatch(1);
        Thread[] idle = new Thread[3];
        for (int i = 0; i < idle.length; i++) {
            idle[i] = new Thread(() -> {
                try {
                    never.await();
                } catch (InterruptedException e) {
                    // ends
                }
            }, "idle-" + i);
            idle[i].start();
        }
        try {
            for (Thread t : idle) {
                await().atMost(Duration.ofSeconds(10)).until(() -> t.getState() == Thread.State.WAITING);
            }
            ThreadFrames.audit(loaderName, Duration.ZERO); // reads them (or an earlier audit did)
            await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
                ThreadFrames.Audit a = ThreadFrames.audit(loaderName, Duration.ZERO);
                assertTrue(a.passed());
                assertTrue(a.platformStacksRead() <= a.platformThreads() - idle.length,
                        () -> "the idle threads' stacks were kept, not read again: " + a);
                assertTrue(a.platformStacksRead() >= 1, "the auditing thread itself is always read");
            });
        } finally {
            never.countDown();
            for (Thread t : idle) {
                t.join(10_000);
            }
        }
    }

    /**
     * What the audit keeps of a thread it read is no reference to a class: a thread read while
     * inside a plugin (by an audit of another loader), then gone on to host code without being read
     * again, must not keep that plugin's loader from being collected. (Keeping the stack itself
     * fails this test on JDK 17, whose stack elements of other threads hold their frames' classes.)
     */
    @Test
    void whatTheAuditKeepsOfAThreadKeepsNoPluginLoaderAlive() throws Exception {
        java.util.concurrent.CountDownLatch leave = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch never = new java.util.concurrent.CountDownLatch(1);
        java.lang.ref.WeakReference<ClassLoader> gone = insideAPluginThenOut(leave, never);
        try {
            await().atMost(Duration.ofSeconds(30)).until(() -> {
                System.gc();
                return gone.get() == null;
            });
        } finally {
            never.countDown();
            thread.join(10_000);
        }
    }

    /** Starts {@link #thread} inside a plugin of a loader of its own, audits it there, then lets it out to host code. */
    private java.lang.ref.WeakReference<ClassLoader> insideAPluginThenOut(java.util.concurrent.CountDownLatch leave,
                                                                           java.util.concurrent.CountDownLatch never) throws Exception {
        String name = "audit-test-collected#" + SEQ.incrementAndGet();
        URLClassLoader other = new URLClassLoader(name, new URL[] {testClasses()}, ClassLoader.getPlatformClassLoader());
        Class<?> c = other.loadClass(PluginCallsBack.class.getName());
        @SuppressWarnings("unchecked")
        java.util.concurrent.atomic.AtomicReference<java.util.function.Consumer<Runnable>> plugin = new java.util.concurrent.atomic.AtomicReference<>(
                (java.util.function.Consumer<Runnable>) c.getConstructor().newInstance());
        thread = new Thread(() -> {
            plugin.getAndSet(null).accept(() -> { // the thread's task keeps no reference to the plugin once out
                try {
                    leave.await(); // parked inside the plugin's frame
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            try {
                never.await(); // host code from now on
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "inside-then-out");
        thread.start();
        await().atMost(Duration.ofSeconds(10)).until(() -> Arrays.stream(thread.getStackTrace()).anyMatch(e -> name.equals(e.getClassLoaderName())));
        assertTrue(ThreadFrames.audit(loaderName, Duration.ZERO).passed(), "another loader's audit reads it, inside the plugin");
        leave.countDown();
        await().atMost(Duration.ofSeconds(10)).until(() -> Arrays.stream(thread.getStackTrace()).noneMatch(e -> name.equals(e.getClassLoaderName()))
                && thread.getState() == Thread.State.WAITING);
        other.close();
        return new java.lang.ref.WeakReference<>(other);
    }

    /**
     * Plugin code that unloads its own plugin: the auditing thread is inside, and is reported with
     * its stack. (The auditing thread is walked in place rather than read; a walk that missed the
     * loader's frames fails this test.)
     */
    @Test
    @SuppressWarnings("unchecked")
    void theAuditingThreadInsidePluginCodeIsFound() throws Exception {
        Class<?> c = loader.loadClass(PluginCallsBack.class.getName());
        assertEquals(loaderName, c.getClassLoader().getName());
        java.util.function.Consumer<Runnable> plugin = (java.util.function.Consumer<Runnable>) c.getConstructor().newInstance();
        ThreadFrames.Audit[] fromInside = new ThreadFrames.Audit[1];
        plugin.accept(() -> fromInside[0] = ThreadFrames.audit(loaderName, Duration.ZERO));

        assertFalse(fromInside[0].passed(), () -> "audited from a frame of the plugin: " + fromInside[0]);
        StackTraceElement[] stack = fromInside[0].inside().get(Thread.currentThread());
        assertTrue(stack != null && Arrays.stream(stack).anyMatch(e -> loaderName.equals(e.getClassLoaderName())
                && e.getClassName().equals(PluginCallsBack.class.getName())), () -> "its own stack: " + fromInside[0].inside());
        assertTrue(ThreadFrames.audit(loaderName, Duration.ZERO).passed(), "back in host code: clean");
    }

    /**
     * A JVM that never started a virtual thread skips the walk of the thread containers, and the
     * first virtual thread it starts is walked to and found inside the plugin. In a JVM of its own:
     * this one's other tests start virtual threads. (Skipping the walk for good fails this test.)
     */
    @Test
    void theContainerWalkIsSkippedUntilTheFirstVirtualThreadAndThenFindsIt() throws Exception {
        assumeTrue(Runtime.version().feature() >= 21, "virtual threads need JDK 21+");
        Process p = new ProcessBuilder(ProcessHandle.current().info().command().orElseThrow(),
                "--add-opens", "java.base/jdk.internal.vm=ALL-UNNAMED", "--add-opens", "java.base/jdk.internal.misc=ALL-UNNAMED",
                "-cp", System.getProperty("java.class.path"), VirtualThreadsLater.class.getName())
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, java.util.concurrent.TimeUnit.SECONDS), out);
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.contains("before: all platform threads (no virtual thread was ever started in this JVM); inside 0"), out);
        assertTrue(out.contains("after: all platform and virtual threads; inside 1; virtual inside 1"), out);
    }

    @Test
    void aLoaderWithoutANameCannotBeAudited() {
        IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> ThreadFrames.audit(null, GRACE));
        assertTrue(e.getMessage().contains("without a name"), e.getMessage());
    }

    private Runnable plugin(boolean spin) throws Exception {
        Class<?> c = loader.loadClass(AuditedPlugin.class.getName());
        assertEquals(loaderName, c.getClassLoader().getName(), "defined by the named loader, not the test's");
        return (Runnable) c.getConstructor(boolean.class).newInstance(spin);
    }

    private void awaitInside(Thread t) {
        await().atMost(Duration.ofSeconds(10)).until(() -> Arrays.stream(t.getStackTrace())
                .anyMatch(e -> loaderName.equals(e.getClassLoaderName())));
    }

    private static URL testClasses() {
        return ThreadFramesTest.class.getProtectionDomain().getCodeSource().getLocation();
    }
}
