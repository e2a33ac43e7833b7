package com.example.leaky;

/** Starts a thread that nothing ever stops. */
public final class Poller {

    public static void start() {
        new Thread(Poller::poll, "leaky-poller").start();
    }

    private static void poll() {
    }
}
