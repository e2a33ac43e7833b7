package dev.unloadguard.device.internal;

import dev.unloadguard.device.Device;
import dev.unloadguard.device.ReleaseAction;
import dev.unloadguard.epoch.internal.ReleaseEpoch;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.ArrayList;
import java.util.List;

/**
 * The host's {@link Device}: the reference count, the managed release actions and the release
 * sequence, counted in and out of its plugin's {@link PluginDevices}.
 *
 * <h2>Memory ordering</h2>
 * The count is one {@code int} with volatile read-modify-writes. Acquiring is a CAS loop, not
 * {@code getAndIncrement}, so a count that reached zero is never revived. Releasing is one
 * {@code getAndAdd(-1)}: a release that finds no reference to drop undoes its step and throws, so
 * the count is below zero only for that moment, and only after misuse. The update that takes the
 * count to zero happens-before the release sequence (same thread), and every earlier {@link #release} update
 * happens-before it (they are totally ordered on the same variable), so the release sequence sees
 * everything every holder did before releasing its reference.
 */
public final class ManagedDevice implements Device {

    private static final VarHandle REFS;

    static {
        try {
            REFS = MethodHandles.lookup().findVarHandle(ManagedDevice.class, "refs", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final PluginDevices owner;
    private final String name;
    private final long serial;
    /** Reference count; accessed only through {@link #REFS} with volatile CAS. */
    @SuppressWarnings("unused")
    private volatile int refs = 1;
    /** Managed release actions, guarded by {@code this}; null once the release sequence took them. */
    private List<ReleaseAction> actions = new ArrayList<>();
    /** Null unless the host turned reference tracking on: then one field read is all it costs. */
    private final ReferenceTracker tracker;

    ManagedDevice(PluginDevices owner, String name, long serial, boolean tracking) {
        this.owner = owner;
        this.name = name;
        this.serial = serial;
        this.tracker = tracking ? new ReferenceTracker() : null;
        if (tracker != null) {
            tracker.acquired(null); // the creator's reference
        }
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String pluginId() {
        return owner.pluginId();
    }

    @Override
    public int references() {
        return (int) REFS.getVolatile(this);
    }

    @Override
    public Device acquire() {
        return acquire(null);
    }

    @Override
    public Device acquire(Object holder) {
        if (!tryAcquire(holder)) {
            String last = tracker == null ? null : tracker.lastReleaseSite();
            throw new IllegalStateException(this + " was already released (reference count 0): "
                    + "acquire() needs a reference held by the caller; use tryAcquire() if the device may be gone"
                    + (last == null ? "" : "\n    its last reference was released " + last));
        }
        return this;
    }

    @Override
    public boolean tryAcquire() {
        return tryAcquire(null);
    }

    @Override
    public boolean tryAcquire(Object holder) {
        int c;
        do {
            c = (int) REFS.getVolatile(this);
            if (c <= 0) {
                return false;
            }
        } while (!REFS.compareAndSet(this, c, c + 1));
        if (tracker != null) {
            tracker.acquired(holder);
        }
        return true;
    }

    @Override
    public boolean release() {
        return release(null);
    }

    @Override
    public boolean release(Object holder) {
        // One atomic add, no retry loop (contended releases do not spin). A misuse takes the count
        // to -1 for a moment and puts it back: meanwhile tryAcquire sees <= 0 and fails, as it
        // should for a released device, and a second misuse also undoes its own step.
        int c = (int) REFS.getAndAdd(this, -1);
        if (c <= 0) {
            REFS.getAndAdd(this, 1);
            throw new IllegalStateException(this + " released more often than acquired: the reference count is already 0"
                    + (holder == null ? "" : " (released by " + ReferenceTracker.identity(holder) + ")")
                    + describeDoubleRelease());
        }
        if (tracker != null) {
            tracker.released(holder, c == 1);
        }
        if (c == 1) {
            releaseSequence();
            return true;
        }
        return false;
    }

    @Override
    public void addReleaseAction(ReleaseAction action) {
        if (action == null) {
            throw new NullPointerException("action");
        }
        synchronized (this) {
            if (actions == null) {
                throw new IllegalStateException(this + " is already released: register release actions while holding a reference");
            }
            actions.add(action);
        }
    }

    /**
     * The release sequence, once per device: enters its plugin's release epoch, runs the driver's
     * callback and the managed actions (each failure is recorded and the rest still run), counts
     * the device out of its plugin, and exits the epoch. The count falls inside the epoch, so a
     * host that sees the live count at zero and then passes the release barrier knows this
     * sequence has returned.
     */
    private void releaseSequence() {
        ReleaseEpoch epoch = owner.epoch();
        int token = epoch.enter();
        try {
            owner.runDriverRelease(this);
            List<ReleaseAction> toRun;
            synchronized (this) {
                toRun = actions;
                actions = null;
            }
            for (int i = toRun.size() - 1; i >= 0; i--) {
                ReleaseAction action = toRun.get(i);
                try {
                    action.release(this);
                } catch (Throwable t) {
                    owner.releaseFailed(this, "managed release action " + action, t);
                }
            }
        } finally {
            owner.deviceReleased(this);
            epoch.exit(token);
        }
    }

    private String describeDoubleRelease() {
        if (tracker == null) {
            return "; turn reference tracking on (PluginLoader.Builder.trackReferences) to see both release sites";
        }
        String last = tracker.lastReleaseSite();
        return "\n    last reference released " + (last == null ? "(unknown)" : last)
                + "\n    released again " + ReferenceTracker.Site.here().describe("        ");
    }

    @Override
    public List<String> holders() {
        return tracker == null ? List.of() : tracker.holders();
    }

    long serial() {
        return serial;
    }

    @Override
    public String toString() {
        return "device " + owner.pluginId() + "/" + name + " (#" + serial + ", generation " + owner.generation() + ")";
    }
}
