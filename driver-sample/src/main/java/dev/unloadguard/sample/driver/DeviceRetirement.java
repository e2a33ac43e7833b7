package dev.unloadguard.sample.driver;

import java.util.concurrent.atomic.AtomicLong;

/**
 * Bookkeeping written by the pagemap that dropped a device's last reference. Loaded for the first
 * time in that release tail, after the plugin's live-device count may already be zero: without
 * the release barrier, a host closing the class loader at that moment makes this class
 * unloadable, and the tail fails with {@link NoClassDefFoundError}.
 */
final class DeviceRetirement {

    private static final AtomicLong FILED = new AtomicLong();

    private final String plugin;
    private final String pagemap;
    private final long checksum;

    DeviceRetirement(String plugin, String pagemap, long checksum) {
        this.plugin = plugin;
        this.pagemap = pagemap;
        this.checksum = checksum;
    }

    void file() {
        FILED.incrementAndGet();
        System.getLogger("dev.unloadguard.sample.driver").log(System.Logger.Level.DEBUG,
                () -> plugin + ": " + pagemap + " retired its device (page checksum " + Long.toHexString(checksum) + ")");
    }
}
