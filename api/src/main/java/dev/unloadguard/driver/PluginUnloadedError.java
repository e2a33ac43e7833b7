package dev.unloadguard.driver;

import java.time.Instant;

/**
 * Thrown to code that still runs in a plugin after its class loader was closed and asks it for a
 * class: a late access; and, with the agent guarding every entry (the default), at the call to
 * code that enters a plugin from outside once its unload started ({@link #entryRefused}). Instead of a bare {@link NoClassDefFoundError} naming only the class, it
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
        this(className + " cannot be loaded: plugin " + pluginId + " generation " + generation + " was unloaded at "
                + unloadedAt + " (class loader " + loaderName + " is closed). Code still running in an unloaded plugin is "
                + "a late access: run release paths as guarded release callbacks (ReleaseCallback, ReleaseAction, "
                + "@GuardedRelease) and stop the plugin's own threads in its driver's exit()", pluginId, generation, unloadedAt);
    }

    /**
     * The error an entry into plugin code gets once the plugin's unload started: a call from
     * outside the plugin (a host thread, another plugin, a thread the plugin starts now) into a
     * method of a plugin that is GOING or unloaded. Thrown at the call, before any of the
     * method's code runs; calls already inside the plugin run to their end.
     *
     * @param method the method entered, as the message names it
     * @param since when the plugin's unload started, or when it was unloaded if {@code unloaded}
     * @param unloaded whether the plugin's class loader is closed already
     */
    public static PluginUnloadedError entryRefused(String method, String pluginId, int generation, Instant since,
            boolean unloaded) {
        return new PluginUnloadedError(method + " refused: plugin " + pluginId + " generation " + generation
                + (unloaded ? " was unloaded at " + since : " is unloading (GOING since " + since + ")")
                + "; calls already inside it run to their end, new entries from outside are refused", pluginId, generation,
                since);
    }

    private PluginUnloadedError(String message, String pluginId, int generation, Instant at) {
        super(message);
        this.pluginId = pluginId;
        this.generation = generation;
        this.unloadedAt = at;
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

    /**
     * When the plugin was unloaded; for an entry refused while the plugin was still unloading
     * (GOING), when its unload started.
     */
    public Instant unloadedAt() {
        return unloadedAt;
    }
}
