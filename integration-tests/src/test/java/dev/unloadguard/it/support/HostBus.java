package dev.unloadguard.it.support;

import dev.unloadguard.device.Device;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Function;

/**
 * A host-side service for purpose-built test plugins: a plugin hands the host a way to create
 * devices later ("hotplug") and devices the host should hold, as a host-side subsystem would.
 */
public final class HostBus {

    private volatile Function<String, Device> hotplug;
    private final List<Device> held = new CopyOnWriteArrayList<>();

    public void hotplug(Function<String, Device> createDevice) {
        this.hotplug = createDevice;
    }

    /** The hotplug function the newest plugin generation registered. */
    public Function<String, Device> hotplugFunction() {
        return hotplug;
    }

    /** Asks the plugin to create a device now. */
    public Device createDevice(String name) {
        return hotplug.apply(name);
    }

    /** The host keeps a reference the plugin handed it. */
    public void hold(Device device) {
        held.add(device);
    }

    public List<Device> held() {
        return List.copyOf(held);
    }

    /**
     * Host code a plugin's thread may run: parks until the thread is interrupted. A thread running
     * it runs no plugin code (so neither the release barrier nor the close audit waits for it).
     */
    public Runnable parker() {
        return () -> {
            while (!Thread.currentThread().isInterrupted()) {
                java.util.concurrent.locks.LockSupport.park(this);
            }
        };
    }

    /** Drops the plugin's hotplug function, so the host keeps nothing of the plugin. */
    public void forget() {
        hotplug = null;
        held.clear();
    }
}
