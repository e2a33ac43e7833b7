package dev.unloadguard.it.holes;

import dev.unloadguard.device.Device;
import dev.unloadguard.device.ReleaseAction;
import dev.unloadguard.driver.ReleaseCallback;
import dev.unloadguard.it.support.KeepingRecorder;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The host side of the hole reproducers ({@code GuardHolesIT}): a service purpose-built plugins
 * look up with {@code DriverContext.service(HoleBus.class)}. Plugin code records what it saw
 * (plain strings, so nothing recorded pins a plugin), asks {@link #probe} whether it runs inside
 * the release epoch, stops at named gates the test opens, hands the host named objects (release
 * callbacks, runnables), and calls host code ({@link #call}, {@link #run}) the way a host service
 * or helper library would. {@link #forget()} drops everything plugin-provided.
 */
public final class HoleBus extends KeepingRecorder<HoleBus> {

    private final Map<String, Runnable> hostActions = new ConcurrentHashMap<>();

    /** Records {@code label + " inside=" + EpochProbe.insideEpoch(pluginClass)}. */
    public void probe(String label, Class<?> pluginClass) {
        record(label + " inside=" + EpochProbe.insideEpoch(pluginClass));
    }

    /** Host code a test installs for plugins to call through {@link #run(String)}. */
    public void hostAction(String name, Runnable action) {
        hostActions.put(name, action);
    }

    /**
     * Called by plugin code: runs the host action of that name, or else the {@link Runnable} kept
     * under that name (plugin code of another plugin, called from host code), on this thread.
     */
    public void run(String name) {
        Runnable action = hostActions.get(name);
        if (action == null) {
            action = kept(name, Runnable.class);
        }
        action.run();
    }

    /** Called by plugin code: the host calls a release callback at once, on this thread, as a helper would. */
    public void call(ReleaseCallback callback) {
        callback.release();
    }

    /** Called by plugin code: the host runs a release action at once, on this thread, as a helper would. */
    public void callAction(ReleaseAction action, Device device) {
        try {
            action.release(device);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException("release action threw " + e, e);
        }
    }

    /** Drops everything plugin-provided and every host action, so the host keeps nothing of any plugin. */
    @Override
    public void forget() {
        super.forget();
        hostActions.clear();
    }
}
