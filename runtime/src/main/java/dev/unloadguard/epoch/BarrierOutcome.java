package dev.unloadguard.epoch;

/** How a timed release barrier ended. */
public enum BarrierOutcome {
    /** No reader that entered before the barrier was still inside: nothing to wait for. */
    IMMEDIATE,
    /** At least one such reader was inside; the barrier waited until all of them exited. */
    WAITED,
    /** The timeout elapsed while such a reader was still inside. */
    TIMED_OUT
}
