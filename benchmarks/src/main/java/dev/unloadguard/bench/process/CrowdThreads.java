package dev.unloadguard.bench.process;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;

/**
 * Starts the threads of a benchmark's crowd: daemon platform threads with small stacks, or virtual
 * threads (JDK 21+, reached reflectively: the benchmarks compile for Java 17).
 */
public final class CrowdThreads {

    private CrowdThreads() {
    }

    /** Starts {@code body} on a new daemon platform thread named {@code name}, with a 256 KB stack. */
    public static Thread startPlatform(Runnable body, String name) {
        Thread t = new Thread(null, body, name, 256 * 1024);
        t.setDaemon(true);
        t.start();
        return t;
    }

    /**
     * Starts {@code body} on a new virtual thread.
     *
     * @param hint what to do instead on a JDK before 21, for the error message
     */
    public static Thread startVirtual(Runnable body, String hint) {
        try {
            Method ofVirtual = Thread.class.getMethod("ofVirtual");
            Method start = Class.forName("java.lang.Thread$Builder").getMethod("start", Runnable.class);
            return (Thread) start.invoke(ofVirtual.invoke(null), body);
        } catch (NoSuchMethodException | ClassNotFoundException | IllegalAccessException e) {
            throw new IllegalStateException("virtual threads need a JDK 21+ (this is " + Runtime.version() + "): " + hint, e);
        } catch (InvocationTargetException e) {
            throw new IllegalStateException("cannot start a virtual thread on " + Runtime.version(), e.getCause());
        }
    }
}
