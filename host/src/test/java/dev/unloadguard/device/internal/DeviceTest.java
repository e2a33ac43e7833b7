package dev.unloadguard.device.internal;

import dev.unloadguard.device.Device;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.driver.Driver;
import dev.unloadguard.driver.DriverContext;
import dev.unloadguard.epoch.BarrierOutcome;
import dev.unloadguard.epoch.internal.ReleaseEpoch;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.function.Function;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;

/**
 * {@link Device}: reference counting ({@code kref} semantics), the release sequence (driver
 * callback, then managed actions in reverse order, inside the release epoch, failures recorded),
 * and reference tracking.
 */
class DeviceTest {

    /** The release epoch of the test plugin: every device made here enters it. */
    static final ReleaseEpoch EPOCH = new ReleaseEpoch("device test plugin");

    /** What the release sequence did, in order, with the release-epoch depth seen at each step. */
    private final List<String> log = new CopyOnWriteArrayList<>();

    private final class RecordingDriver implements Driver {
        RuntimeException releaseFailure;

        @Override
        public String id() {
            return "p";
        }

        @Override
        public void init(DriverContext context) {
        }

        @Override
        public void exit() {
        }

        @Override
        public void release(Device device) {
            log.add("driver release of " + device.name() + " at depth " + EPOCH.depth()
                    + " live " + device.references());
            if (releaseFailure != null) {
                throw releaseFailure;
            }
        }
    }

    private final RecordingDriver driver = new RecordingDriver();

    private PluginDevices devices(boolean tracking) {
        return new PluginDevices("p", 7, driver, tracking, EPOCH);
    }

    @Test
    void acquireTryAcquireAndReleaseCount() {
        PluginDevices devices = devices(false);
        Device d = devices.create("card0");
        assertEquals(1, d.references(), "created with the creator's reference");
        assertSame(d, d.acquire());
        assertTrue(d.tryAcquire());
        assertEquals(3, d.references());
        assertEquals(1, devices.liveCount());

        assertFalse(d.release());
        assertFalse(d.release());
        assertTrue(log.isEmpty(), "no release sequence while references remain");
        assertEquals(1, devices.liveCount());
        assertTrue(d.release(), "only the last release returns true");
        assertEquals(0, d.references());
        assertEquals(0, devices.liveCount());
        assertEquals(List.of("driver release of card0 at depth 1 live 0"), log, "the release sequence ran once");
        assertEquals(1, devices.createdCount());
        assertEquals(1, devices.releasedCount());
        assertEquals(0, EPOCH.depth(), "the sequence exited the epoch");
    }

    @Test
    void releaseBelowZeroThrowsAndLeavesTheCountUnchanged() {
        PluginDevices devices = devices(false);
        Device other = devices.create("card1");
        Device d = devices.create("card0");
        assertTrue(d.release());
        IllegalStateException e = assertThrows(IllegalStateException.class, d::release);
        assertTrue(e.getMessage().contains("device p/card0") && e.getMessage().contains("released more often than acquired"),
                e::getMessage);
        assertTrue(e.getMessage().contains("turn reference tracking on"), e::getMessage);
        assertEquals(0, d.references());
        assertEquals(1, devices.liveCount(), "the other device's count was not touched");
        assertEquals(1, devices.releasedCount(), "the release sequence did not run twice");
        assertEquals(1, log.size());
        assertTrue(other.release());
    }

    @Test
    void acquireAfterZeroThrowsAndTryAcquireFails() {
        Device d = devices(false).create("card0");
        assertTrue(d.release());
        IllegalStateException e = assertThrows(IllegalStateException.class, d::acquire);
        assertTrue(e.getMessage().contains("device p/card0") && e.getMessage().contains("already released")
                && e.getMessage().contains("tryAcquire"), e::getMessage);
        assertFalse(d.tryAcquire());
        assertFalse(d.tryAcquire(new Object()));
        assertEquals(0, d.references(), "never revived");
        IllegalStateException late = assertThrows(IllegalStateException.class, () -> d.addReleaseAction(x -> { }));
        assertTrue(late.getMessage().contains("already released"), late::getMessage);
    }

    @Test
    void releaseActionsRunInReverseOrderAfterTheDriverCallbackInsideTheEpoch() {
        PluginDevices devices = devices(false);
        Device d = devices.create("card0");
        for (int i = 1; i <= 3; i++) {
            int n = i;
            d.addReleaseAction(dev -> log.add("action " + n + " at depth " + EPOCH.depth()
                    + " live " + devices.liveCount()));
        }
        assertEquals(0, EPOCH.depth());
        assertTrue(d.release());
        assertEquals(List.of(
                "driver release of card0 at depth 1 live 0",
                "action 3 at depth 1 live 1",
                "action 2 at depth 1 live 1",
                "action 1 at depth 1 live 1"), log, "the device is counted out only after its actions, inside the epoch");
        assertEquals(0, devices.liveCount());
        assertEquals(0, EPOCH.depth());
    }

    @Test
    void aFailingActionOrDriverCallbackDoesNotStopTheOthersAndIsRecorded() {
        driver.releaseFailure = new IllegalStateException("driver boom");
        PluginDevices devices = devices(false);
        Device d = devices.create("card0");
        d.addReleaseAction(dev -> log.add("action 1"));
        d.addReleaseAction(dev -> {
            throw new java.io.IOException("action boom");
        });
        d.addReleaseAction(dev -> log.add("action 3"));

        assertTrue(d.release(), "failures do not escape the release");
        assertEquals(List.of("driver release of card0 at depth 1 live 0", "action 3", "action 1"), log);
        assertEquals(0, devices.liveCount(), "counted out despite the failures");
        assertEquals(0, EPOCH.depth(), "the epoch was exited despite the failures");
        assertEquals(BarrierOutcome.IMMEDIATE, EPOCH.barrier(Duration.ofSeconds(10)));

        List<PluginDevices.ReleaseFailure> failures = devices.releaseFailures();
        assertEquals(2, failures.size(), failures::toString);
        assertEquals("driver boom", failures.get(0).error().getMessage());
        assertTrue(failures.get(0).what().contains("driver release callback"), failures.get(0)::toString);
        assertTrue(failures.get(0).device().contains("p/card0"), failures.get(0)::toString);
        assertEquals("action boom", failures.get(1).error().getMessage());
        assertTrue(failures.get(1).toString().contains("managed release action"), failures.get(1)::toString);

        devices.forgetPlugin();
        assertEquals(List.of(), devices.releaseFailures(), "forgotten at unload: they must not pin the plugin");
    }

    @Test
    void anActionThatThrowsAnErrorIsRecordedToo() {
        PluginDevices devices = devices(false);
        Device d = devices.create("card0");
        d.addReleaseAction(dev -> log.add("action 1"));
        d.addReleaseAction(dev -> {
            throw new NoClassDefFoundError("Gone");
        });
        assertTrue(d.release());
        assertEquals(List.of("driver release of card0 at depth 1 live 0", "action 1"), log);
        assertEquals(1, devices.releaseFailures().size());
        assertEquals(0, devices.liveCount());
        assertEquals(0, EPOCH.depth());
    }

    @Test
    void afterForgetPluginTheDriverCallbackIsSkipped() {
        PluginDevices devices = devices(false);
        Device d = devices.create("card0");
        d.addReleaseAction(dev -> log.add("action"));
        devices.forgetPlugin();
        assertTrue(d.release());
        assertEquals(List.of("action"), log);
        assertEquals(0, devices.liveCount());
    }

    // ---- reference tracking ---------------------------------------------------------------

    @Test
    void withoutTrackingHoldersIsEmpty() {
        Device d = devices(false).create("card0");
        d.acquire(new Holder());
        assertEquals(List.of(), d.holders());
        assertFalse(devices(false).tracking());
    }

    /** A named holder class, so the reports can be checked for it. */
    private static final class Holder {
    }

    /**
     * Runs {@code op} below a JDK frame: the tracker drops the leading frames of the device
     * package (the core's own), and this test lives in that package too.
     */
    private static <T> T belowJdkFrame(Device d, Function<Device, T> op) {
        return Optional.of(d).map(op).orElseThrow();
    }

    private static Device acquireForHolder(Device d, Object holder) {
        return belowJdkFrame(d, x -> x.acquire(holder));
    }

    @Test
    void withTrackingHoldersNamesEachHolderAndWhereItAcquired() {
        PluginDevices devices = devices(true);
        assertTrue(devices.tracking());
        Device d = devices.create("card0");
        List<String> initial = d.holders();
        assertEquals(1, initial.size(), initial::toString);
        assertTrue(initial.get(0).startsWith("held without a named holder"), initial::toString);

        Holder holder = new Holder();
        acquireForHolder(d, holder);
        List<String> two = d.holders();
        assertEquals(2, two.size(), two::toString);
        String named = two.stream().filter(h -> h.startsWith("held by ")).findFirst().orElseThrow();
        assertTrue(named.contains(Holder.class.getName() + "@"), named);
        assertTrue(named.contains("DeviceTest.acquireForHolder("), "the acquisition stack: " + named);
        assertTrue(named.contains("on thread \"" + Thread.currentThread().getName() + "\""), named);
        assertFalse(named.contains("dev.unloadguard.device.Device."), "the device core's own frames are dropped: " + named);

        assertFalse(d.release(holder));
        assertEquals(1, d.holders().size());
        assertTrue(d.holders().get(0).startsWith("held without a named holder"), d.holders()::toString);
        assertTrue(d.release());
        assertEquals(List.of(), d.holders());
    }

    private static boolean lastRelease(Device d) {
        return belowJdkFrame(d, x -> x.release());
    }

    private static boolean secondRelease(Device d) {
        return belowJdkFrame(d, x -> x.release());
    }

    @Test
    void withTrackingADoubleReleaseNamesBothSitesAndALateAcquireTheLastRelease() {
        Device d = devices(true).create("card0");
        assertTrue(lastRelease(d));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> secondRelease(d));
        String m = e.getMessage();
        int last = m.indexOf("last reference released");
        int again = m.indexOf("released again");
        assertTrue(last > 0 && again > last, m);
        assertTrue(m.substring(last, again).contains("DeviceTest.lastRelease("), m);
        assertTrue(m.substring(again).contains("DeviceTest.secondRelease("), m);
        assertEquals(0, d.references());

        IllegalStateException acquire = assertThrows(IllegalStateException.class, d::acquire);
        assertTrue(acquire.getMessage().contains("its last reference was released")
                && acquire.getMessage().contains("DeviceTest.lastRelease("), acquire::getMessage);
    }

    @Test
    void aDoubleReleaseByANamedHolderNamesIt() {
        Device d = devices(false).create("card0");
        Holder h = new Holder();
        d.acquire(h);
        assertFalse(d.release(h));
        assertTrue(d.release());
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> d.release(h));
        assertTrue(e.getMessage().contains("released by " + Holder.class.getName() + "@"), e::getMessage);
    }

    @Test
    void toStringNamesPluginDeviceAndGeneration() {
        Device d = devices(false).create("card0");
        assertEquals("p", d.pluginId());
        assertTrue(d.toString().contains("device p/card0") && d.toString().contains("generation 7"), d::toString);
    }
}
