package dev.unloadguard.bench.callback;

import java.util.function.LongUnaryOperator;
import org.openjdk.jmh.annotations.CompilerControl;

/**
 * The plugin service {@code EntryBench} calls through a host (JDK) interface: an entry edge. Loaded
 * twice: as it is from the class path, and woven by the agent's transformer in a plugin loader
 * whose epoch guards every entry (every method becomes a section; {@link #applyAsLong} is an entry
 * from the host, {@link #step} a nested plugin-to-plugin call). Not inlined into the benchmark
 * loop: a host calling a plugin service is a call.
 */
public final class EntryService implements LongUnaryOperator {

    /** Nested calls made by one {@link #nested} call. */
    public static final int NESTED_CALLS = 16;

    private long state;

    /** One small entry: one field update. */
    @Override
    @CompilerControl(CompilerControl.Mode.DONT_INLINE)
    public long applyAsLong(long x) {
        state += x;
        return state;
    }

    /** One entry that makes {@link #NESTED_CALLS} plugin-to-plugin calls (each a nested section once woven). */
    @CompilerControl(CompilerControl.Mode.DONT_INLINE)
    public long nested(long x) {
        long s = x;
        for (int i = 0; i < NESTED_CALLS; i++) {
            s = step(s);
        }
        state += s;
        return state;
    }

    /** A plugin-internal method: inlined into {@link #nested} by the JIT, guard and all. */
    private long step(long s) {
        return s * 31L + 7L;
    }
}
