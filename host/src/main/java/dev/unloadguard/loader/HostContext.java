package dev.unloadguard.loader;

import dev.unloadguard.device.Device;
import dev.unloadguard.device.internal.PluginDevices;
import dev.unloadguard.driver.DriverContext;
import java.util.Map;
import java.util.Optional;

/** What a driver sees of its host at init: its id and generation, devices, services, configuration. */
final class HostContext implements DriverContext {

    private final Plugin plugin;
    private final Map<Class<?>, Object> services;
    private final Map<String, String> config;

    HostContext(Plugin plugin, Map<Class<?>, Object> services, Map<String, String> config) {
        this.plugin = plugin;
        this.services = services;
        this.config = config;
    }

    @Override
    public String pluginId() {
        return plugin.id();
    }

    @Override
    public int generation() {
        return plugin.generation();
    }

    @Override
    public Device createDevice(String name) {
        PluginDevices devices = plugin.devices();
        if (devices == null) {
            throw new IllegalStateException(plugin + " is unloaded: it cannot create device '" + name + "'");
        }
        return devices.create(name);
    }

    @Override
    public <T> Optional<T> service(Class<T> type) {
        return Optional.ofNullable(type.cast(services.get(type)));
    }

    @Override
    public Optional<String> config(String key) {
        return Optional.ofNullable(config.get(key));
    }
}
