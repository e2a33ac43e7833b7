package dev.unloadguard.bench.callback;

import dev.unloadguard.driver.ReleaseCallback;
import org.openjdk.jmh.annotations.CompilerControl;

/**
 * The release callback {@code GuardedCallbackBench} calls: a small body (one field update), so
 * what the guard adds is not hidden behind a large one. Loaded twice: as it is from the class
 * path, and woven by the agent's transformer in a plugin loader. Never inlined into the
 * benchmark loop: a release callback is a call, and inlined, the unguarded {@code released++}
 * would be folded across loop iterations and time nothing.
 */
public final class CountingCallback implements ReleaseCallback {

    private long released;

    @Override
    @CompilerControl(CompilerControl.Mode.DONT_INLINE)
    public void release() {
        released++;
    }

    public long released() {
        return released;
    }
}
