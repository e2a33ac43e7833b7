package dev.unloadguard.bench.callback;

import dev.unloadguard.driver.ReleaseCallback;
import java.util.concurrent.CountDownLatch;

/**
 * A release callback that stays inside: it counts {@code inside} down and then waits until
 * {@code gate} opens. Woven in a plugin loader, the thread that runs it holds a read section of
 * that plugin's release epoch open meanwhile ({@code IsolationBench}).
 */
public final class ParkingCallback implements ReleaseCallback {

    private final CountDownLatch inside;
    private final CountDownLatch gate;

    public ParkingCallback(CountDownLatch inside, CountDownLatch gate) {
        this.inside = inside;
        this.gate = gate;
    }

    @Override
    public void release() {
        inside.countDown();
        boolean interrupted = false;
        for (;;) {
            try {
                gate.await();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }
}
