package dev.unloadguard.driver;

import java.time.Instant;

/**
 * Thrown to code that still runs in a plugin after its class loader was closed and asks it for a
 * class: a late access. Instead of a bare {@link NoClassDefFoundError} naming only the class, it
 * names the plugin, its generation and when it was unloaded. It is a {@code NoClassDefFoundError},
 * so code that handles those keeps working; the host counts every one
 * ({@code PluginLoader.lateAccesses()}, {@code Plugin.lateAccesses()}).
 *
 * <p>Its stack trace is taken as strings ({@link StackWalker}), never as the JVM's backtrace: the
 * backtrace refers to the classes of the frames, plugin classes among them, so a host that keeps
 * this error (a helper recording its workers' failures) would keep the unloaded plugin's class
 * loader reachable for as long as it keeps the error.
 */
public final class PluginUnloadedError extends NoClassDefFoundError {

    private static final long serialVersionUID = 1L;

    private final String pluginId;
    private final int generation;
    private final transient Instant unloadedAt;

    /**
     * Made by the host's plugin class loader when a closed generation is asked for a class.
     *
     * @param className the class asked for
     * @param loaderName the name of the closed class loader
     */
    public PluginUnloadedError(String className, String pluginId, int generation, Instant unloadedAt, String loaderName) {
        super(className + " cannot be loaded: plugin " + pluginId + " generation " + generation + " was unloaded at "
                + unloadedAt + " (class loader " + loaderName + " is closed). Code still running in an unloaded plugin is "
                + "a late access: run release paths as guarded release callbacks (ReleaseCallback, ReleaseAction, "
                + "@GuardedRelease) and stop the plugin's own threads in its driver's exit()");
        this.pluginId = pluginId;
        this.generation = generation;
        this.unloadedAt = unloadedAt;
        setStackTrace(STACK.walk(frames -> frames
                .dropWhile(f -> f.getDeclaringClass() == PluginUnloadedError.class)
                .map(StackWalker.StackFrame::toStackTraceElement)
                .toArray(StackTraceElement[]::new)));
    }

    private static final StackWalker STACK = StackWalker.getInstance(StackWalker.Option.RETAIN_CLASS_REFERENCE);

    /** No JVM backtrace (it would pin the plugin's classes): the constructor sets the stack as strings. */
    @Override
    public synchronized Throwable fillInStackTrace() {
        return this;
    }

    public String pluginId() {
        return pluginId;
    }

    public int generation() {
        return generation;
    }

    public Instant unloadedAt() {
        return unloadedAt;
    }
}
