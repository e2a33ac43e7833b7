package dev.unloadguard.check;

/**
 * What a plugin does that can outlive its unload, with the fix a plugin author applies. A
 * {@linkplain #isWarning() warning} is listed but does not make the check fail: the pattern is
 * harmless when used as intended (a context class loader restored in {@code finally}).
 */
public enum HazardKind {
    /** {@code Thread.start()} (also on a plugin subclass of {@code Thread}), thread builders. */
    THREAD(false, "stop it in Driver.exit() (interrupt and join it): a running thread keeps executing plugin code "
            + "and pins the plugin's class loader"),
    /** {@code Executors.new*}, construction of a {@code ThreadPoolExecutor} or {@code ForkJoinPool}. */
    EXECUTOR(false, "shut it down in Driver.exit() (shutdownNow(), then awaitTermination()): its threads keep "
            + "the plugin's class loader alive"),
    /** Construction of a {@code java.util.Timer}. */
    TIMER(false, "cancel() the timer in Driver.exit(): its thread keeps running and pins the plugin's class loader"),
    /** {@code Runtime.addShutdownHook}. */
    SHUTDOWN_HOOK(false, "remove it in Driver.exit() with Runtime.getRuntime().removeShutdownHook(...): the JVM keeps "
            + "the hook (a plugin thread) until it exits"),
    /** A field whose type is {@code ThreadLocal} or a subclass. */
    THREAD_LOCAL(false, "call remove() in a finally block wherever it is set: a host thread that ran plugin code keeps "
            + "the value, and through it the plugin's class loader, alive"),
    /** {@code DriverManager.registerDriver}. */
    JDBC_DRIVER(false, "deregister it in Driver.exit() with DriverManager.deregisterDriver(...): DriverManager is a "
            + "JDK-wide registry that keeps the driver and its class loader"),
    /** {@code Logger.addHandler}, {@code LogManager.addLogger/addConfigurationListener}. */
    LOGGING_HANDLER(false, "remove it in Driver.exit() (Logger.removeHandler(...) and close() the handler, or "
            + "LogManager.removeConfigurationListener(...)): java.util.logging is JDK-wide and keeps it"),
    /** {@code System.loadLibrary/load}, {@code Runtime.loadLibrary/load}. */
    NATIVE_LIBRARY(false, "load the native library from the host, not the plugin: it stays bound to the plugin's class "
            + "loader until that loader is collected, and the next generation cannot load it meanwhile"),
    /**
     * A store into a static field, static collection or process-wide registry of a class that is
     * not in the jar (host or JDK).
     */
    STATIC_CACHE(false, "undo it in Driver.exit() (remove the entry, clear the field, unregister): host and JDK "
            + "classes outlive the plugin and keep what it stored there, and its class loader, alive"),
    /** {@code Thread.setContextClassLoader}: fine when restored in {@code finally}. */
    CONTEXT_CLASS_LOADER(true, "restore the previous context class loader in a finally block: a host thread left "
            + "with the plugin's loader as context loader pins it"),
    /**
     * A {@code META-INF/services/java.sql.Driver} entry: {@code DriverManager} registers such
     * drivers when it scans its context class loader.
     */
    JDBC_DRIVER_SERVICE(true, "if the plugin uses JDBC, deregister its drivers in Driver.exit() with "
            + "DriverManager.deregisterDriver(...)");

    private final boolean warning;
    private final String hint;

    HazardKind(boolean warning, String hint) {
        this.warning = warning;
        this.hint = hint;
    }

    /** Whether this kind is only a warning (listed, but the check does not fail on it). */
    public boolean isWarning() {
        return warning;
    }

    /** One line: how a plugin author fixes it. */
    public String hint() {
        return hint;
    }
}
