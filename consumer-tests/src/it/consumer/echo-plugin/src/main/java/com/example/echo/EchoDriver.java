package com.example.echo;

import dev.unloadguard.device.Device;
import dev.unloadguard.driver.Driver;
import dev.unloadguard.driver.DriverContext;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Creates one device, hands the host a release callback holding a reference to it (the host runs
 * it later, on its own thread), and runs a heartbeat thread that {@link #exit()} stops.
 */
public final class EchoDriver implements Driver {

    private final AtomicInteger releaseActionsRun = new AtomicInteger();
    private Device device;
    private Thread heartbeat;

    @Override
    public String id() {
        return "echo";
    }

    @Override
    public void init(DriverContext context) {
        device = context.createDevice("echo0");
        device.addReleaseAction(d -> releaseActionsRun.incrementAndGet());
        Executor host = context.service(Executor.class)
                .orElseThrow(() -> new IllegalStateException("the host offers no Executor service"));
        EchoCallback callback = new EchoCallback(device.acquire());
        host.execute(callback::release);
        heartbeat = new Thread(EchoDriver::beat, "echo-heartbeat");
        heartbeat.start();
    }

    @Override
    public void exit() {
        heartbeat.interrupt();
        try {
            heartbeat.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        device.release();
    }

    private static void beat() {
        try {
            new CountDownLatch(1).await();
        } catch (InterruptedException e) {
            // exit() stops the heartbeat
        }
    }
}
