package dev.unloadguard.epoch.internal;

import java.util.concurrent.locks.LockSupport;

/**
 * Plugin code for the audit's tests: {@link ThreadFramesTest} defines this class again in a named
 * class loader (it depends on JDK classes only), so its frames carry that loader's name.
 */
public final class AuditedPlugin implements Runnable {

    private final boolean spin;

    public AuditedPlugin(boolean spin) {
        this.spin = spin;
    }

    /** Parks (or, mounted, spins) inside this class until the thread is interrupted, then returns. */
    @Override
    public void run() {
        while (!Thread.currentThread().isInterrupted()) {
            if (spin) {
                Thread.onSpinWait();
            } else {
                LockSupport.park(this);
            }
        }
    }
}
