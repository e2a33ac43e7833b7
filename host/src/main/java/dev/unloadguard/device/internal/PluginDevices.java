package dev.unloadguard.device.internal;

import dev.unloadguard.device.Device;
import dev.unloadguard.driver.Driver;
import dev.unloadguard.epoch.internal.ReleaseEpoch;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * The devices of one plugin generation: the per-plugin live-device count (xe's device count),
 * the GOING gate ({@code MODULE_STATE_GOING}: creating devices fails once unload began), and the
 * wait for the count to reach zero.
 *
 * <h2>Algorithm</h2>
 * The count and the GOING flag share one {@code int} word ({@link #GOING} is the sign bit, the
 * rest counts live devices), so "refuse if GOING, else count one more" is a single CAS: a device
 * can never be created after {@link #beginGoing()} returned, and the unloader's wait for zero can
 * never miss a device created concurrently with it (races (i) create vs. GOING and (ii) create
 * vs. the zero check are both decided by the order of CASes on one variable).
 *
 * <p>The unloader waits in {@link #awaitNoLiveDevices}: it publishes itself in {@link #waiter}
 * (volatile write), then re-reads the word (volatile read), and parks. The last release decrements
 * the word (volatile CAS), then reads {@link #waiter} (volatile read) and unparks it. Volatile
 * accesses are sequentially consistent, so at least one side sees the other's write: either the
 * waiter sees zero before parking, or the releaser sees the waiter and unparks it (Dekker). Parks
 * are also bounded, so even a missed unpark costs at most one park slice.
 *
 * <p>Host only: the plugin loader makes one per generation, with the generation's release epoch,
 * which each device's release sequence enters. Plugin class loaders do not delegate this class.
 */
public final class PluginDevices {

    private static final System.Logger LOG = System.getLogger("dev.unloadguard.device");
    private static final int GOING = 0x8000_0000;
    private static final int COUNT = 0x7fff_ffff;
    private static final long MAX_PARK_NANOS = TimeUnit.MILLISECONDS.toNanos(5);
    private static final VarHandle WORD;

    static {
        try {
            WORD = MethodHandles.lookup().findVarHandle(PluginDevices.class, "word", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final String pluginId;
    private final int generation;
    /** Null once the plugin is unloaded: a device a host still holds must not pin the plugin. */
    private volatile Driver driver;
    /** GOING bit | live-device count; only changed by CAS through {@link #WORD}. */
    @SuppressWarnings("unused")
    private volatile int word;
    private volatile Thread waiter;
    private final Set<ManagedDevice> live = ConcurrentHashMap.newKeySet();
    private final ConcurrentLinkedQueue<ReleaseFailure> failures = new ConcurrentLinkedQueue<>();
    private final boolean tracking;
    private final ReleaseEpoch epoch;
    private long created;
    private long released;
    private long nextSerial;

    /**
     * @param driver the driver whose {@link Driver#release} callback runs for each device
     */
    public PluginDevices(String pluginId, int generation, Driver driver) {
        this(pluginId, generation, driver, false);
    }

    /** Devices with a release epoch of their own (tests): see the full constructor. */
    public PluginDevices(String pluginId, int generation, Driver driver, boolean trackReferences) {
        this(pluginId, generation, driver, trackReferences,
                new ReleaseEpoch("plugin " + pluginId + " generation " + generation));
    }

    /**
     * @param trackReferences record who acquires each device's references and where (costs a stack
     *                        walk per acquire and release; for diagnosing unloads that time out)
     * @param epoch the plugin generation's release epoch: each device's release sequence runs inside it
     */
    public PluginDevices(String pluginId, int generation, Driver driver, boolean trackReferences, ReleaseEpoch epoch) {
        this.pluginId = pluginId;
        this.generation = generation;
        this.driver = driver;
        this.tracking = trackReferences;
        this.epoch = java.util.Objects.requireNonNull(epoch, "epoch");
    }

    /** The plugin generation's release epoch, which the devices' release sequences enter. */
    public ReleaseEpoch epoch() {
        return epoch;
    }

    /** Whether reference tracking is on for this plugin's devices. */
    public boolean tracking() {
        return tracking;
    }

    /** A failure of a release callback or action; the release sequence went on regardless. */
    public record ReleaseFailure(String device, String what, Throwable error) {
        @Override
        public String toString() {
            return what + " of " + device + " threw " + error;
        }
    }

    public String pluginId() {
        return pluginId;
    }

    public int generation() {
        return generation;
    }

    /**
     * Creates a device with one reference.
     *
     * @throws IllegalStateException if the plugin is GOING
     */
    public ManagedDevice create(String name) {
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException("device name is blank: give each device a name, e.g. \"card0\"");
        }
        int w;
        do {
            w = (int) WORD.getVolatile(this);
            if ((w & GOING) != 0) {
                throw new IllegalStateException("plugin " + pluginId + " generation " + generation
                        + " is being unloaded (GOING): it cannot create device '" + name
                        + "'; create devices only while the plugin is LIVE");
            }
        } while (!WORD.compareAndSet(this, w, w + 1));
        ManagedDevice device;
        synchronized (this) {
            device = new ManagedDevice(this, name, ++nextSerial, tracking);
            created++;
        }
        live.add(device);
        return device;
    }

    /** Step 1 of unload: refuse new devices from now on. Idempotent. */
    public void beginGoing() {
        int w;
        do {
            w = (int) WORD.getVolatile(this);
        } while ((w & GOING) == 0 && !WORD.compareAndSet(this, w, w | GOING));
    }

    public boolean isGoing() {
        return ((int) WORD.getVolatile(this) & GOING) != 0;
    }

    /** The number of devices whose release sequence has not finished counting them out. */
    public int liveCount() {
        return (int) WORD.getVolatile(this) & COUNT;
    }

    /** Live devices with their reference counts, oldest first (a snapshot, for reports). */
    public List<ManagedDevice> liveDevices() {
        List<ManagedDevice> list = new ArrayList<>(live);
        list.sort(Comparator.comparingLong(ManagedDevice::serial));
        return list;
    }

    public synchronized long createdCount() {
        return created;
    }

    public synchronized long releasedCount() {
        return released;
    }

    public List<ReleaseFailure> releaseFailures() {
        return List.copyOf(failures);
    }

    /**
     * Waits until no device is live, or the deadline passes.
     *
     * @param deadlineNanos a {@link System#nanoTime()} deadline
     * @return whether the count reached zero
     */
    public boolean awaitNoLiveDevices(long deadlineNanos) throws InterruptedException {
        if (liveCount() == 0) {
            return true;
        }
        Thread me = Thread.currentThread();
        waiter = me; // volatile write; pairs with the read of waiter in deviceReleased
        try {
            while (liveCount() != 0) { // volatile read; pairs with the decrementing CAS
                long left = deadlineNanos - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                LockSupport.parkNanos(this, Math.min(left, MAX_PARK_NANOS));
                if (Thread.interrupted()) {
                    throw new InterruptedException("interrupted while waiting for the live devices of plugin "
                            + pluginId + " generation " + generation + " to be released");
                }
            }
            return true;
        } finally {
            waiter = null;
        }
    }

    /**
     * Forgets the driver and the recorded failures (their stack traces name plugin classes) once
     * the plugin's class loader is closed, so {@link ManagedDevice} objects that outlive their plugin (a
     * host that kept a released device) do not keep it reachable.
     */
    public void forgetPlugin() {
        driver = null;
        failures.clear();
    }

    void runDriverRelease(ManagedDevice device) {
        Driver driver = this.driver;
        if (driver == null) {
            return;
        }
        try {
            driver.release(device);
        } catch (Throwable t) {
            releaseFailed(device, "driver release callback " + driver.getClass().getName() + ".release", t);
        }
    }

    void releaseFailed(ManagedDevice device, String what, Throwable error) {
        ReleaseFailure failure = new ReleaseFailure(device.toString(), what, error);
        failures.add(failure);
        LOG.log(System.Logger.Level.WARNING, failure.toString(), error);
    }

    /** Counts a device out; called at the end of its release sequence, inside the release epoch. */
    void deviceReleased(ManagedDevice device) {
        live.remove(device);
        synchronized (this) {
            released++;
        }
        int w = (int) WORD.getAndAdd(this, -1); // volatile RMW; pairs with the waiter's re-read
        if ((w & COUNT) == 1) {
            Thread t = waiter; // volatile read after the RMW: see the class comment (Dekker)
            if (t != null) {
                LockSupport.unpark(t);
            }
        }
    }
}
