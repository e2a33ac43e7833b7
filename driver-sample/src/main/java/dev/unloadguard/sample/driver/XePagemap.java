package dev.unloadguard.sample.driver;

import dev.unloadguard.device.Device;
import dev.unloadguard.driver.ReleaseCallback;
import dev.unloadguard.sample.helper.ReleaseTailHook;

/**
 * A pagemap the driver hands to the helper: it holds a device reference, and its release
 * callback — called by the helper, from the helper's worker thread — drops that reference and
 * then keeps running plugin code: it returns its pages to the pool, and if it dropped the device's
 * last reference it writes a retirement record, a class loaded for the first time right there.
 * That tail is what a host must not cut off by closing the plugin's class loader; with the agent
 * this method runs inside the release epoch and the host's release barrier waits for it.
 */
final class XePagemap implements ReleaseCallback {

    private final Device device;
    private final String name;
    private final long[] pages;
    private final ReleaseTailHook hook;

    /** Takes its own reference to {@code card}, as its holder (named in reference-tracking reports). */
    XePagemap(Device card, String name, int pages, ReleaseTailHook hook) {
        this.device = card.acquire(this);
        this.name = name;
        this.pages = new long[pages];
        for (int i = 0; i < pages; i++) {
            this.pages[i] = 0x1000L * i;
        }
        this.hook = hook;
    }

    @Override
    public void release() {
        boolean last = device.release(this); // may run the device's release sequence: live devices may now be 0
        long checksum = returnPagesToPool(); // the tail: still plugin code
        if (hook != null) {
            hook.tailReached(name, last);
        }
        if (last) {
            DeviceRetirement record = new DeviceRetirement(device.pluginId(), name, checksum); // first use of this class
            record.file();
        }
        if (hook != null) {
            hook.tailFinished(name);
        }
    }

    private long returnPagesToPool() {
        long sum = 0;
        for (int i = 0; i < pages.length; i++) {
            sum = sum * 31 + pages[i];
            pages[i] = 0;
        }
        return sum;
    }

    @Override
    public String toString() {
        return "pagemap " + name;
    }
}
