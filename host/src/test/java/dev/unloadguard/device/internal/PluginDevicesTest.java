package dev.unloadguard.device.internal;

import dev.unloadguard.device.Device;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.driver.Driver;
import dev.unloadguard.driver.DriverContext;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/** {@link PluginDevices}: the live-device count, the GOING gate and the wait for zero. */
class PluginDevicesTest {

    private static final Driver DRIVER = new Driver() {
        @Override
        public String id() {
            return "xe";
        }

        @Override
        public void init(DriverContext context) {
        }

        @Override
        public void exit() {
        }
    };

    private final PluginDevices devices = new PluginDevices("xe", 3, DRIVER);

    @Test
    void countsLiveDevicesAndListsThemOldestFirst() {
        Device a = devices.create("card0");
        Device b = devices.create("card1");
        assertEquals(2, devices.liveCount());
        assertEquals(List.of(a, b), devices.liveDevices());
        assertTrue(a.release());
        assertEquals(List.of(b), devices.liveDevices());
        assertEquals(1, devices.liveCount());
        assertTrue(b.release());
        assertEquals(0, devices.liveCount());
        assertEquals(List.of(), devices.liveDevices());
        assertEquals(2, devices.createdCount());
        assertEquals(2, devices.releasedCount());
    }

    @Test
    void goingRefusesCreateNamingPluginAndDeviceWhileHoldersMayStillAcquireAndRelease() {
        Device held = devices.create("card0");
        assertFalse(devices.isGoing());
        devices.beginGoing();
        devices.beginGoing(); // idempotent
        assertTrue(devices.isGoing());
        assertEquals(1, devices.liveCount(), "GOING does not disturb the count");

        IllegalStateException e = assertThrows(IllegalStateException.class, () -> devices.create("card1"));
        assertTrue(e.getMessage().contains("plugin xe generation 3") && e.getMessage().contains("GOING")
                && e.getMessage().contains("'card1'"), e::getMessage);
        assertEquals(1, devices.liveCount(), "the refused device was not counted");
        assertEquals(1, devices.createdCount());

        assertTrue(held.tryAcquire());
        held.acquire();
        assertFalse(held.release());
        assertFalse(held.release());
        assertTrue(held.release());
        assertEquals(0, devices.liveCount());
        assertTrue(devices.isGoing());
    }

    @Test
    void aBlankDeviceNameIsRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> devices.create(" "));
        assertTrue(e.getMessage().contains("device name is blank"), e::getMessage);
        assertEquals(0, devices.liveCount());
    }

    @Test
    void awaitNoLiveDevicesReturnsTrueAtOnceWithoutDevices() throws InterruptedException {
        assertTrue(devices.awaitNoLiveDevices(System.nanoTime()));
    }

    @Test
    void awaitNoLiveDevicesReturnsFalseAtTheDeadline() throws InterruptedException {
        Device d = devices.create("card0");
        assertFalse(devices.awaitNoLiveDevices(System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(50)));
        assertFalse(devices.awaitNoLiveDevices(System.nanoTime() - 1), "a past deadline checks once");
        assertEquals(1, devices.liveCount());
        assertTrue(d.release());
    }

    @Test
    void awaitNoLiveDevicesWaitsUntilTheLastReleaseOnAnotherThread() throws Exception {
        Device a = devices.create("card0");
        Device b = devices.create("card1");
        AtomicBoolean started = new AtomicBoolean();
        CompletableFuture<Boolean> waiter = CompletableFuture.supplyAsync(() -> {
            started.set(true);
            try {
                return devices.awaitNoLiveDevices(System.nanoTime() + TimeUnit.SECONDS.toNanos(60));
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        await().atMost(Duration.ofSeconds(10)).untilTrue(started);
        await().during(Duration.ofMillis(200)).atMost(Duration.ofSeconds(5)).until(() -> !waiter.isDone());
        assertTrue(a.release());
        await().during(Duration.ofMillis(200)).atMost(Duration.ofSeconds(5)).until(() -> !waiter.isDone());
        assertTrue(b.release());
        assertTrue(await().atMost(Duration.ofSeconds(10)).until(() -> waiter.getNow(null), r -> r != null));
    }

    @Test
    void anInterruptedWaitThrowsAndNamesThePlugin() {
        Device d = devices.create("card0");
        Thread.currentThread().interrupt();
        InterruptedException e = assertThrows(InterruptedException.class,
                () -> devices.awaitNoLiveDevices(System.nanoTime() + TimeUnit.SECONDS.toNanos(60)));
        assertTrue(e.getMessage().contains("plugin xe generation 3"), e::getMessage);
        assertFalse(Thread.interrupted());
        assertTrue(d.release());
    }

    /**
     * Creators race with {@code beginGoing()}. Before each create a creator reads whether
     * {@code beginGoing()} has returned (a volatile flag the unloading thread sets right after
     * it): a create that started after that must be refused, since the GOING bit and the count
     * share one word and a create is a single CAS on it. Creators keep going until they were
     * refused after seeing the flag, so the test always reaches that point: with the GOING check
     * in {@code create} removed, it fails there. Every device created is counted, and nothing else.
     */
    @Test
    void racingCreatesAndGoingNeverCreateAfterGoingNorLoseOrInventADevice() throws Exception {
        int threads = 2;
        int maxAfterGoing = 100;                        // attempts after the flag, if creates are never refused
        AtomicBoolean goingReturned = new AtomicBoolean();
        List<Device> made = new java.util.concurrent.CopyOnWriteArrayList<>();
        List<String> createdAfterGoing = new java.util.concurrent.CopyOnWriteArrayList<>();
        java.util.concurrent.atomic.AtomicIntegerArray madeBy = new java.util.concurrent.atomic.AtomicIntegerArray(threads);
        java.util.concurrent.atomic.AtomicInteger refused = new java.util.concurrent.atomic.AtomicInteger();
        java.util.concurrent.atomic.AtomicInteger attempts = new java.util.concurrent.atomic.AtomicInteger();
        List<CompletableFuture<Void>> creators = new java.util.ArrayList<>();
        for (int t = 0; t < threads; t++) {
            int id = t;
            creators.add(CompletableFuture.runAsync(() -> {
                int afterGoing = 0;
                for (int i = 0; afterGoing < maxAfterGoing; i++) {
                    boolean after = goingReturned.get();    // before the create starts
                    attempts.incrementAndGet();
                    try {
                        made.add(devices.create("d" + id + "-" + i));
                        madeBy.incrementAndGet(id);
                        if (after) {
                            createdAfterGoing.add("d" + id + "-" + i);
                        }
                    } catch (IllegalStateException e) {
                        refused.incrementAndGet();
                        if (after) {
                            return;                     // refused after GOING: this creator is done
                        }
                    }
                    if (after) {
                        afterGoing++;
                    }
                }
            }, NEW_THREAD));
        }
        // Both creators are running before GOING; they race with it from here on.
        await().atMost(Duration.ofSeconds(10)).until(() -> madeBy.get(0) > 0 && madeBy.get(1) > 0);
        devices.beginGoing();
        goingReturned.set(true);
        CompletableFuture.allOf(creators.toArray(new CompletableFuture<?>[0])).get(30, TimeUnit.SECONDS);

        assertTrue(createdAfterGoing.isEmpty(), () -> createdAfterGoing.size() + " devices created after beginGoing() returned, "
                + "first " + createdAfterGoing.subList(0, Math.min(5, createdAfterGoing.size())));
        assertEquals(attempts.get(), made.size() + refused.get(), "every create either made a device or was refused");
        assertEquals(made.size(), devices.liveCount(), "every device created is counted, no other");
        assertEquals(made.size(), devices.createdCount());
        for (Device d : made) {
            assertTrue(d.release());
        }
        assertEquals(0, devices.liveCount());
        assertTrue(devices.isGoing(), "releasing every device leaves the plugin GOING");
        assertTrue(devices.awaitNoLiveDevices(System.nanoTime()));
        assertEquals(List.of(), devices.liveDevices());
    }

    /** Runs each task on a fresh daemon thread: the creators must run at the same time. */
    private static final java.util.concurrent.Executor NEW_THREAD = r -> {
        Thread t = new Thread(r, "device-creator");
        t.setDaemon(true);
        t.start();
    };
}
