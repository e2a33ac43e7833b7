package dev.unloadguard.loader;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.driver.PluginUnloadedError;
import dev.unloadguard.epoch.internal.ReleaseEpoch;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The host's half of "guard every way into a plugin", in the unit-test JVM (no agent, so nothing
 * is woven: the tests enter the plugin's epoch the way woven code does, with
 * {@link ReleaseEpoch#enterEntry}): the guard scope chosen per loader and per plugin, the GOING
 * gate (the unloader exempt while it unloads, refusals counted and reported), the barrier timeout
 * naming a thread inside with its stack, and the close audit failing retryably on a plugin thread
 * parked in plugin code.
 */
class GateAndAuditTest {

    private static final String WORKER = "gate-plugin-worker";

    @TempDir
    static Path shared;

    @TempDir
    Path dir;

    private static Path plugin;
    private PluginLoader loader;

    /** Its exit hook runs the host's {@code Runnable} service, if any; config {@code worker} starts a thread parked in plugin code. */
    @BeforeAll
    static void buildPlugin() throws IOException {
        plugin = PluginLoaderTest.compileJar(shared, "gate", "gate.GateDriver", """
                package gate;
                import dev.unloadguard.device.Device;
                import dev.unloadguard.driver.*;
                import java.util.concurrent.locks.LockSupport;
                public final class GateDriver implements Driver {
                    private Device card;
                    private Runnable onExit;
                    public String id() { return "gate"; }
                    public void init(DriverContext ctx) {
                        card = ctx.createDevice("card0");
                        onExit = ctx.service(Runnable.class).orElse(null);
                        ctx.config("worker").ifPresent(name -> {
                            Thread t = new Thread(GateDriver::park, name);
                            t.setDaemon(true);
                            t.start();
                        });
                    }
                    static void park() {
                        while (!Thread.currentThread().isInterrupted()) {
                            LockSupport.park();
                        }
                    }
                    public void exit() {
                        if (onExit != null) {
                            onExit.run();
                        }
                        card.release();
                        card = null;
                    }
                }
                """);
    }

    @AfterEach
    void stopWorkerAndLoader() throws Exception {
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.getName().equals(WORKER)) {
                t.interrupt();
                t.join(10_000);
            }
        }
        if (loader != null) {
            loader.close();
        }
    }

    private PluginLoader.Builder builder() {
        return PluginLoader.builder().copyDirectory(dir.resolve("copies")).allowUnguardedUnload(true).collectionTimeout(Duration.ZERO);
    }

    @Test
    void theGuardScopeIsEntriesByDefaultAndReleasePathsByLoaderOrByPlugin() throws Exception {
        loader = builder().build();
        assertEquals(GuardScope.ENTRIES, loader.guardScope());
        Plugin entries = loader.load(plugin);
        assertEquals(GuardScope.ENTRIES, entries.guardScope());
        assertTrue(entries.epoch().guardsEntries(), "the loader made the epoch for every entry");
        assertEquals(GuardScope.ENTRIES, loader.unload(entries, Duration.ofSeconds(5)).guardScope());

        Plugin narrow = loader.load(plugin, LoadOption.GUARD_RELEASE_PATHS_ONLY);
        assertEquals(GuardScope.RELEASE_PATHS, narrow.guardScope());
        assertFalse(narrow.epoch().guardsEntries());
        UnloadReport report = loader.unload(narrow, Duration.ofSeconds(5));
        assertEquals(GuardScope.RELEASE_PATHS, report.guardScope());
        assertTrue(report.summary().contains("; RELEASE_PATHS; "), report::summary);

        PluginLoader narrowLoader = builder().guardScope(GuardScope.RELEASE_PATHS).build();
        try {
            Plugin p = narrowLoader.load(plugin);
            assertEquals(GuardScope.RELEASE_PATHS, p.guardScope());
            assertEquals(GuardScope.RELEASE_PATHS, narrowLoader.unload(p, Duration.ofSeconds(5)).guardScope());
        } finally {
            narrowLoader.close();
        }
    }

    @Test
    void goingRefusesNewEntriesFromOtherThreadsButNotTheUnloaderAndCountsThem() throws Exception {
        AtomicReference<Plugin> self = new AtomicReference<>();
        CompletableFuture<String> unloaderEntered = new CompletableFuture<>();
        CompletableFuture<Throwable> otherRefused = new CompletableFuture<>();
        Runnable onExit = () -> {
            ReleaseEpoch epoch = self.get().epoch();
            try {
                int token = epoch.enterEntry("gate.GateDriver.poke()"); // the unloader calls into the plugin: exempt
                epoch.exit(token);
                unloaderEntered.complete(Thread.currentThread().getName());
            } catch (Throwable t) {
                unloaderEntered.completeExceptionally(t);
            }
            Thread other = new Thread(() -> {
                try {
                    epoch.exit(epoch.enterEntry("gate.GateDriver.poke()"));
                    otherRefused.complete(null);
                } catch (Throwable t) {
                    otherRefused.complete(t);
                }
            }, "late-caller");
            other.start();
            try {
                other.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        };
        loader = builder().service(Runnable.class, onExit).config("worker", WORKER).build();
        Plugin p = loader.load(plugin);
        self.set(p);
        awaitParkedInPlugin(p);

        // The worker keeps the close audit failing: the plugin stays GOING, its gate closed.
        CloseAuditException audit = assertThrows(CloseAuditException.class, () -> loader.unload(p, Duration.ofSeconds(5)));
        assertEquals(Thread.currentThread().getName(), unloaderEntered.get(5, TimeUnit.SECONDS), "the unloader may call in");
        Throwable refused = otherRefused.get(5, TimeUnit.SECONDS);
        assertTrue(refused instanceof PluginUnloadedError, () -> "another thread is refused at the call: " + refused);
        assertTrue(refused.getMessage().contains("gate.GateDriver.poke()") && refused.getMessage().contains("plugin gate generation 1")
                && refused.getMessage().contains("is unloading"), refused::getMessage);
        assertEquals(PluginState.GOING, p.state(), audit::getMessage);

        // The failed unload dropped its thread's exemption: this thread is refused now too.
        PluginUnloadedError mine = assertThrows(PluginUnloadedError.class, () -> p.epoch().enterEntry("gate.GateDriver.poke()"));
        assertTrue(mine.getMessage().contains("is unloading"), mine::getMessage);
        // Release paths and clean-up entries are never refused, only waited for.
        p.epoch().exit(p.epoch().enter());

        assertEquals(2, p.refusedEntries());
        assertEquals(2, loader.refusedEntries());
        assertEquals(2L, ManagementFactory.getPlatformMBeanServer().getAttribute(loader.mbeanName("gate"), "RefusedEntries"));
        assertEquals("ENTRIES", ManagementFactory.getPlatformMBeanServer().getAttribute(loader.mbeanName("gate"), "GuardScope"));

        stopWorker();
        UnloadReport report = loader.unload(p, Duration.ofSeconds(5));
        assertEquals(2, report.refusedEntries());
        assertTrue(report.summary().contains("; 2 entries refused"), report::summary);
        PluginUnloadedError after = assertThrows(PluginUnloadedError.class, () -> p.epoch().enterEntry("gate.GateDriver.poke()"));
        assertTrue(after.getMessage().contains("was unloaded at"), after::getMessage);
        assertEquals(3, loader.refusedEntries());
    }

    @Test
    void aRefusedEntryIsAJfrEventNamingPluginGenerationMethodAndTheCallersThread() throws Exception {
        loader = builder().config("worker", WORKER).build();
        Plugin p = loader.load(plugin);
        awaitParkedInPlugin(p);
        assertThrows(CloseAuditException.class, () -> loader.unload(p, Duration.ofSeconds(5)));
        Path file = dir.resolve("refused.jfr");
        try (Recording recording = new Recording()) {
            recording.enable("dev.unloadguard.EntryRefused");
            recording.start();
            Thread caller = new Thread(() -> assertThrows(PluginUnloadedError.class,
                    () -> p.epoch().enterEntry("new gate.GateDriver()")), "jfr-caller");
            caller.start();
            caller.join();
            recording.stop();
            recording.dump(file);
        }
        List<RecordedEvent> events = RecordingFile.readAllEvents(file).stream()
                .filter(e -> e.getEventType().getName().equals("dev.unloadguard.EntryRefused")).collect(Collectors.toList());
        assertEquals(1, events.size(), events::toString);
        RecordedEvent e = events.get(0);
        assertEquals("gate", e.getString("pluginId"));
        assertEquals(1, e.getInt("generation"));
        assertEquals("new gate.GateDriver()", e.getString("method"));
        assertEquals("jfr-caller", e.getThread().getJavaName());
        stopWorker();
        loader.unload(p, Duration.ofSeconds(5));
    }

    @Test
    void aBarrierTimeoutNamesTheThreadStillInsideWithItsStack() throws Exception {
        loader = builder().build();
        Plugin p = loader.load(plugin);
        CountDownLatch inside = new CountDownLatch(1);
        CountDownLatch leave = new CountDownLatch(1);
        // A plugin thread its exit hook does not stop: its run() is an entry, open until it returns.
        Thread pluginThread = new Thread(() -> {
            int token = p.epoch().enterEntry("gate.Worker.run()");
            try {
                inside.countDown();
                leave.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                p.epoch().exit(token);
            }
        }, "plugin-thread-not-stopped");
        pluginThread.start();
        assertTrue(inside.await(10, TimeUnit.SECONDS));
        try {
            UnloadTimeoutException e = assertThrows(UnloadTimeoutException.class, () -> loader.unload(p, Duration.ofMillis(300)));
            assertEquals(UnloadStep.BARRIER, e.step());
            assertFalse(e instanceof CloseAuditException);
            String m = e.getMessage();
            assertTrue(m.contains("or other plugin code (a call into the plugin, a plugin thread)"), m);
            assertTrue(m.contains("\"plugin-thread-not-stopped\" (WAITING)\n        at "), m);
            assertTrue(m.contains("GateAndAuditTest.lambda$aBarrierTimeoutNamesTheThreadStillInsideWithItsStack$"), "its stack: " + m);
            assertEquals(List.of("plugin-thread-not-stopped"), e.threadsInsideEpoch());
            assertEquals(PluginState.GOING, p.state());
        } finally {
            leave.countDown();
            pluginThread.join(10_000);
        }
        assertEquals(PluginState.UNLOADED, loader.unload(p, Duration.ofSeconds(5)).outcome(), "the retry finds it gone");
    }

    @Test
    void theCloseAuditFailsRetryablyOnAPluginThreadParkedInPluginCode() throws Exception {
        loader = builder().guardScope(GuardScope.RELEASE_PATHS).config("worker", WORKER).build();
        Plugin p = loader.load(plugin);
        awaitParkedInPlugin(p);

        CloseAuditException e = assertThrows(CloseAuditException.class, () -> loader.unload(p, Duration.ofSeconds(5)));
        String m = e.getMessage();
        assertEquals(UnloadStep.AUDIT, e.step());
        assertSame(p, e.plugin());
        assertEquals(List.of(WORKER), e.threads());
        assertTrue(m.contains("failed its close audit (step 5, audit): 1 thread still runs code of its class loader "
                + p.classLoaderName()), m);
        assertTrue(m.contains("    \"" + WORKER + "\" (WAITING)\n"), m);
        assertTrue(m.contains("at " + p.classLoaderName() + "//gate.GateDriver.park("), "the plugin frame with its loader: " + m);
        assertTrue(m.contains("only release paths are guarded (RELEASE_PATHS)"), m);
        assertTrue(e.audit().framesFound() >= 1);
        assertTrue(e.audit().scans() > 1, "re-scanned over the grace first");
        assertTrue(e.audit().time().compareTo(UnloadSequence.AUDIT_GRACE) >= 0, "a thread that stays is waited for the whole grace");
        assertTrue(e.audit().platformThreads() >= 2);

        // Nothing was closed: the plugin is GOING and intact, its class loader open.
        assertEquals(PluginState.GOING, p.state());
        assertNotNull(p.classLoader());
        assertNotNull(p.classLoader().loadClass("gate.GateDriver"));
        assertEquals(List.of(p), loader.plugins());

        stopWorker();
        UnloadReport report = loader.unload(p, Duration.ofSeconds(5));
        assertEquals(PluginState.UNLOADED, report.outcome());
        assertTrue(report.audit().ran());
        assertEquals(0, report.audit().framesFound(), "the worker is gone");
        assertEquals(1, report.audit().scans());
        assertTrue(report.audit().platformThreads() >= 1);
        assertEquals(report.audit().time().toNanos() > 0, true);
        assertTrue(report.time(UnloadStep.AUDIT).compareTo(report.audit().time()) >= 0, "the step's time covers the audit");
    }

    @Test
    void withTheAuditTurnedOffTheLoaderClosesUnderRunningPluginCodeAndTheReportSaysSo() throws Exception {
        loader = builder().closeAudit(false).config("worker", WORKER).build();
        Plugin p = loader.load(plugin);
        awaitParkedInPlugin(p);
        UnloadReport report = loader.unload(p, Duration.ofSeconds(5));
        assertEquals(PluginState.UNLOADED, report.outcome(), "closed although the worker is still in plugin code");
        assertFalse(report.audit().ran());
        assertEquals("not run: turned off (PluginLoader.Builder.closeAudit(false))", report.audit().summary());
        assertTrue(report.summary().contains("audit not run: turned off"), report::summary);
    }

    private static void awaitParkedInPlugin(Plugin p) {
        await().atMost(Duration.ofSeconds(10)).until(() -> Thread.getAllStackTraces().entrySet().stream()
                .anyMatch(t -> t.getKey().getName().equals(WORKER) && Arrays.stream(t.getValue())
                        .anyMatch(f -> p.classLoaderName().equals(f.getClassLoaderName()))
                        && t.getKey().getState() == Thread.State.WAITING));
    }

    private static void stopWorker() throws InterruptedException {
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.getName().equals(WORKER)) {
                t.interrupt();
                t.join(10_000);
                assertFalse(t.isAlive());
            }
        }
    }
}
