package dev.unloadguard.bench;

import dev.unloadguard.weave.internal.GuardTransformer;
import dev.unloadguard.bench.callback.CountingCallback;
import dev.unloadguard.bench.callback.PlainClass;
import java.lang.instrument.ClassFileTransformer;
import java.lang.instrument.IllegalClassFormatException;
import java.lang.instrument.Instrumentation;
import java.lang.reflect.Constructor;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Target 5, per class: what the agent's transformer costs a class it must ignore (defined by a
 * non-plugin loader: one loader check), a plugin class with nothing to guard (a constant-pool
 * scan, no parse), and a plugin class it guards (parse and weave), each as one
 * {@code transform} call on the class bytes.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class TransformerBench {

    private ClassFileTransformer transformer;
    private ClassLoader hostLoader;
    private ClassLoader pluginLoader;
    private byte[] plain;
    private byte[] callback;
    private final String plainName = PlainClass.class.getName().replace('.', '/');
    private final String callbackName = CountingCallback.class.getName().replace('.', '/');

    @Setup(Level.Trial)
    public void setup() throws ReflectiveOperationException, IllegalClassFormatException {
        // The agent's own transformer, without an Instrumentation (it never retransforms here).
        Constructor<GuardTransformer> c = GuardTransformer.class.getDeclaredConstructor(Instrumentation.class);
        c.setAccessible(true);
        transformer = c.newInstance((Instrumentation) null);
        hostLoader = TransformerBench.class.getClassLoader();
        pluginLoader = new GuardingLoader();
        plain = GuardingLoader.classBytes(PlainClass.class.getName());
        callback = GuardingLoader.classBytes(CountingCallback.class.getName());
        if (transformer.transform(pluginLoader, plainName, null, null, plain) != null
                || transformer.transform(pluginLoader, callbackName, null, null, callback) == null
                || transformer.transform(hostLoader, callbackName, null, null, callback) != null) {
            throw new IllegalStateException("the transformer does not do what this benchmark assumes");
        }
    }

    /** A host (non-plugin) class: returned unchanged after the loader check. */
    @Benchmark
    public byte[] hostClass() throws IllegalClassFormatException {
        return transformer.transform(hostLoader, callbackName, null, null, callback);
    }

    /** A plugin class with nothing to guard: rejected by the constant-pool scan. */
    @Benchmark
    public byte[] pluginClassNothingToGuard() throws IllegalClassFormatException {
        return transformer.transform(pluginLoader, plainName, null, null, plain);
    }

    /** A plugin release callback: parsed and woven. */
    @Benchmark
    public byte[] pluginClassGuarded() throws IllegalClassFormatException {
        return transformer.transform(pluginLoader, callbackName, null, null, callback);
    }
}
