package dev.unloadguard.epoch.internal;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * The drain check ({@code srcu_readers_active_idx_check}) with a whole read section placed,
 * deterministically, between its two sums: the window the unlocks-first order is about.
 */
class ReleaseEpochDrainCheckTest extends TwoReaders {

    @Test
    void aSectionBetweenTheSumsNeverHidesAReaderThatIsInside() {
        int token = a.enter();
        int idx = token & 1;                            // a token is depth << 1 | index
        b.exit(b.enter());                              // b has a cell, in the check's snapshot
        // b enters and exits on a's index between the sums. Summing locks first would count
        // b's exit but not its enter, cancel a's open section and report the index drained.
        assertFalse(epoch.drained(idx, () -> b.exit(b.enter())), "reported drained while reader-a is inside");
        assertFalse(epoch.drained(idx, null));
        assertTrue(epoch.drained(idx ^ 1, null), "the other index has no section");
        a.exit(token);
        // Unlocks first is conservative: a section between the sums only makes the lock sum
        // larger, so the check fails and a later one succeeds.
        assertFalse(epoch.drained(idx, () -> b.exit(b.enter())));
        assertTrue(epoch.drained(idx, null));
        assertTrue(epoch.drained(idx ^ 1, null));
    }

    @Test
    void aSectionLeftOpenBetweenTheSumsIsNotMissed() {
        int first = a.enter();
        int idx = first & 1;
        a.exit(first);
        b.exit(b.enter());
        int[] token = new int[1];
        assertFalse(epoch.drained(idx, () -> token[0] = b.enter()), "b's section, entered before the lock sum, counts");
        b.exit(token[0]);
        assertTrue(epoch.drained(idx, null));
    }
}
