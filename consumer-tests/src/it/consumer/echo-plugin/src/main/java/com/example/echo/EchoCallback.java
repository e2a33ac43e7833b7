package com.example.echo;

import dev.unloadguard.device.Device;
import dev.unloadguard.driver.ReleaseCallback;

/** Guarded by the agent: it runs inside the plugin's release epoch, so the unload waits for its tail. */
final class EchoCallback implements ReleaseCallback {

    private final Device device;
    private boolean released;

    EchoCallback(Device device) {
        this.device = device;
    }

    @Override
    public void release() {
        device.release();                      // maybe the device's last reference...
        released = new EchoTail().finish();    // ...and still plugin code after it
    }

    boolean released() {
        return released;
    }
}
