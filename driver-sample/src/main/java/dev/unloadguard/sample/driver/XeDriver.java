package dev.unloadguard.sample.driver;

import dev.unloadguard.device.Device;
import dev.unloadguard.driver.Driver;
import dev.unloadguard.driver.DriverContext;
import dev.unloadguard.sample.helper.PagemapCache;
import dev.unloadguard.sample.helper.ReleaseTailHook;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The xe-like sample driver. At init it creates devices (cards), registers managed release
 * actions on each (a lambda and a method reference), and hands the host's pagemap helper
 * pagemaps that each hold a device reference. At exit it drops its own references; the devices
 * then live until the helper drops the last pagemap, from the helper's worker thread.
 *
 * <p>Configuration (host config keys): {@code xe.devices} (default 2), {@code xe.pagemaps} per
 * device (default 2), {@code xe.pages} per pagemap (default 32768: the size of the tail's
 * bookkeeping).
 */
public final class XeDriver implements Driver {

    private final List<Device> devices = new ArrayList<>();
    private final List<XePagemap> ownPagemaps = new ArrayList<>();
    private final AtomicInteger doorbellsUnmapped = new AtomicInteger();
    private final AtomicInteger releasedByCallback = new AtomicInteger();

    @Override
    public String id() {
        return "xe";
    }

    @Override
    public void init(DriverContext context) {
        int deviceCount = intConfig(context, "xe.devices", 2);
        int pagemapsPerDevice = intConfig(context, "xe.pagemaps", 2);
        int pages = intConfig(context, "xe.pages", 32768);
        Optional<PagemapCache> cache = context.service(PagemapCache.class);
        ReleaseTailHook hook = context.service(ReleaseTailHook.class).orElse(null);
        for (int i = 0; i < deviceCount; i++) {
            Device card = context.createDevice("card" + i);
            devices.add(card);
            AtomicInteger gtIdle = new AtomicInteger();
            card.addReleaseAction(device -> gtIdle.incrementAndGet()); // managed action: a lambda
            card.addReleaseAction(this::unmapDoorbells);                // managed action: a method reference
            for (int j = 0; j < pagemapsPerDevice; j++) {
                XePagemap pagemap = new XePagemap(card, card.name() + "/pagemap" + j, pages, hook);
                if (cache.isPresent()) {
                    cache.get().hold(pagemap);
                } else {
                    ownPagemaps.add(pagemap);
                }
            }
        }
    }

    /** Drops the driver's own references: its pagemaps not given away, and each card's first reference. */
    @Override
    public void exit() {
        for (XePagemap pagemap : ownPagemaps) {
            pagemap.release();
        }
        ownPagemaps.clear();
        for (Device card : devices) {
            card.release();
        }
        devices.clear();
    }

    /** The driver's device release callback ({@code drm_driver.release}). */
    @Override
    public void release(Device device) {
        releasedByCallback.incrementAndGet();
    }

    private void unmapDoorbells(Device device) {
        doorbellsUnmapped.incrementAndGet();
    }

    private static int intConfig(DriverContext context, String key, int fallback) {
        String value = context.config(key).orElse(null);
        if (value == null) {
            return fallback;
        }
        try {
            int n = Integer.parseInt(value.trim());
            if (n < 0) {
                throw new NumberFormatException("negative");
            }
            return n;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("config " + key + "=" + value + " is not a non-negative integer", e);
        }
    }
}
