package dev.unloadguard.testkit;

import dev.unloadguard.device.Device;
import java.lang.ref.WeakReference;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/** A host service for the kit's test plugins: it holds device references and plugin objects. */
public final class Holder {

    private final List<Device> devices = new CopyOnWriteArrayList<>();
    private final List<Object> objects = new CopyOnWriteArrayList<>();
    private volatile WeakReference<Class<?>> driverClass = new WeakReference<>(null);

    /** The driver tells the host its class; the host keeps it weakly. */
    public void announce(Class<?> driver) {
        driverClass = new WeakReference<>(driver);
    }

    public WeakReference<Class<?>> driverClass() {
        return driverClass;
    }

    /** The host keeps a device reference the plugin handed it. */
    public void hold(Device device) {
        devices.add(device);
    }

    /** The host keeps a plugin object (a listener, a cache entry): a leak once the plugin is unloaded. */
    public void keep(Object pluginObject) {
        objects.add(pluginObject);
    }

    public void releaseDevices() {
        devices.forEach(Device::release);
        devices.clear();
    }

    public void forgetObjects() {
        objects.clear();
    }
}
