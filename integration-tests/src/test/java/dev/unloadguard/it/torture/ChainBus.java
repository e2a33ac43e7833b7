package dev.unloadguard.it.torture;

import java.util.concurrent.atomic.AtomicLong;

/**
 * The host side of the torture test's dependency chain ({@link TortureChainScenario}): the
 * dependent plugin offers its {@link Service} here at init (the newest generation's is the
 * current one), and both plugins count what they ran. Host code, on the class path of the
 * scenario's JVM: the plugins see it through their loaders' parent.
 */
public final class ChainBus {

    /** What the dependent plugin (chain-b) offers the host: both calls run the dependency's (chain-a's) exported code. */
    public interface Service {
        /** Calls chain-a's {@code Greeting.greet} from chain-b's code. */
        String call(long seq, long parkNanos);

        /** A callback of chain-a's own code, made through chain-a's export, for the host to run later. */
        Runnable tail(long seq, long parkNanos);
    }

    private static final AtomicLong TAILS = new AtomicLong();
    private static final AtomicLong LATE_NOTES = new AtomicLong();
    private volatile Service current;

    /** Called by chain-b's init: its service becomes the current one. */
    public void offer(Service service) {
        current = service;
    }

    public Service current() {
        return current;
    }

    public void clear() {
        current = null;
    }

    /** A chain-a tail ran to its end. */
    public static void tailRan() {
        TAILS.incrementAndGet();
    }

    /** Plugin code that saw its driver exiting loaded its late class and ran to its end. */
    public static void lateNote() {
        LATE_NOTES.incrementAndGet();
    }

    static long tails() {
        return TAILS.get();
    }

    static long lateNotes() {
        return LATE_NOTES.get();
    }
}
