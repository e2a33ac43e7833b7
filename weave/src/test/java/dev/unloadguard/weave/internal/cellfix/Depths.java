package dev.unloadguard.weave.internal.cellfix;

import dev.unloadguard.epoch.internal.ReleaseEpoch;
import java.util.ArrayList;
import java.util.List;

/**
 * Where the fixtures record the calling thread's depth in the test's epoch. Loaded by the test's
 * own class loader (the weaving loader delegates it), so it is never woven.
 */
public final class Depths {

    private static volatile ReleaseEpoch epoch;
    private static final List<Integer> recorded = new ArrayList<>();

    private Depths() {
    }

    public static void watch(ReleaseEpoch e) {
        epoch = e;
        drain();
    }

    /** Records the calling thread's depth in the watched epoch. */
    public static synchronized void record() {
        recorded.add(epoch.depth());
    }

    /** The depths recorded since the last drain, in order. */
    public static synchronized List<Integer> drain() {
        List<Integer> out = new ArrayList<>(recorded);
        recorded.clear();
        return out;
    }
}
