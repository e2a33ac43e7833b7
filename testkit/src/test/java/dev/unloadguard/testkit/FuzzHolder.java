package dev.unloadguard.testkit;

/** A host service for {@code UnloadFuzzerTest}'s plugin: it offers the host a task, withdrawn at exit. */
public final class FuzzHolder {

    private volatile Runnable task;

    public void offer(Runnable t) {
        task = t;
    }

    public void withdraw() {
        task = null;
    }

    public Runnable task() {
        Runnable t = task;
        if (t == null) {
            throw new IllegalStateException("no task offered");
        }
        return t;
    }
}
