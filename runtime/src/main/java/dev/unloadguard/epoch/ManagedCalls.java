package dev.unloadguard.epoch;

import dev.unloadguard.epoch.internal.Registrations;
import dev.unloadguard.epoch.internal.Registrations.Kind;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.security.Provider;
import java.security.Security;
import java.sql.Driver;
import java.sql.DriverAction;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.util.logging.Handler;
import java.util.logging.Logger;
import javax.management.InstanceAlreadyExistsException;
import javax.management.MBeanRegistrationException;
import javax.management.MBeanServer;
import javax.management.NotCompliantMBeanException;
import javax.management.ObjectInstance;
import javax.management.ObjectName;

/**
 * What the agent's rewritten call sites in plugin classes call instead of (or beside) a JDK
 * registry: each method makes the original call, with the original arguments, exceptions and
 * result, and records it for the plugin generation of {@code caller} (the class holding the call
 * site, a constant of the rewritten site), which the host undoes at unload (managed
 * registrations, see {@code docs/design.md}). For a class whose generation is not managed (the
 * host turned it off, or a host other than unloadguard's {@code PluginLoader}) only the original
 * call is made. Not meant to be called by hand: a plugin that does so registers as it would
 * have anyway.
 *
 * <p>Rewrites ({@code C} the calling class, pushed with {@code ldc C}):
 * <pre>{@code
 * t.start()                                -> dup; ldc C; starting(Object, Class); t.start()   (any receiver: checks instanceof Thread)
 * Executors.newX(..), builder.start(r),    -> the call; dup; ldc C; created(Object, Class)     (executors, threads)
 *   Thread.startVirtualThread(r)
 * new Timer/ThreadPoolExecutor/            -> after the constructor: dup (or aload 0 after super(..)); ldc C; created
 *   ScheduledThreadPoolExecutor/ForkJoinPool(..)
 * Runtime.addShutdownHook(t)               -> addShutdownHook(runtime, t, C)   (and removeShutdownHook)
 * DriverManager.registerDriver(d[, a])     -> registerDriver(d[, a], MethodHandles.lookup())
 * server.registerMBean(o, n)               -> registerMBean(server, o, n, C)
 * tl.set(v), tl.remove()                   -> threadLocalSet(tl, v, C), threadLocalRemove(tl, C)
 * logger.addHandler(h)                     -> addHandler(logger, h, C)
 * Security.addProvider(p), insertProviderAt(p, i) -> addProvider(p, C), insertProviderAt(p, i, C)
 * thread.setContextClassLoader(cl)         -> setContextClassLoader(thread, cl, C)
 * System.setProperty(k, v)                 -> setProperty(k, v, C)
 * }</pre>
 */
public final class ManagedCalls {

    private ManagedCalls() {
    }

    /** Before {@code receiver.start()}: records it if it is a thread. */
    public static void starting(Object receiver, Class<?> caller) {
        if (receiver instanceof Thread) {
            Registrations.recordCreated(receiver, caller);
        }
    }

    /** After a call that made a thread, an executor or a timer: records it. */
    public static void created(Object made, Class<?> caller) {
        Registrations.recordCreated(made, caller);
    }

    /** {@code runtime.addShutdownHook(hook)}, recorded: removed at unload. */
    public static void addShutdownHook(Runtime runtime, Thread hook, Class<?> caller) {
        runtime.addShutdownHook(hook);
        Registrations.record(Kind.SHUTDOWN_HOOK, "shutdown hook thread \"" + hook.getName() + "\"", hook, null, caller);
    }

    /** {@code runtime.removeShutdownHook(hook)}: the undo then finds it gone. */
    public static boolean removeShutdownHook(Runtime runtime, Thread hook, Class<?> caller) {
        return runtime.removeShutdownHook(hook); // the undo then finds it gone
    }

    /** {@code DriverManager.registerDriver(driver)}, recorded: deregistered at unload, as the plugin's class. */
    public static void registerDriver(Driver driver, MethodHandles.Lookup caller) throws SQLException {
        DriverManager.registerDriver(driver);
        recordDriver(driver, caller);
    }

    /** {@code DriverManager.registerDriver(driver, action)}, recorded: deregistered at unload, as the plugin's class. */
    public static void registerDriver(Driver driver, DriverAction action, MethodHandles.Lookup caller) throws SQLException {
        DriverManager.registerDriver(driver, action);
        recordDriver(driver, caller);
    }

    /**
     * DriverManager lets only a caller whose class loader sees the driver's class deregister it: the
     * undo calls {@code deregisterDriver} through a handle looked up in the plugin's class.
     */
    private static void recordDriver(Driver driver, MethodHandles.Lookup caller) {
        if (driver == null || caller == null || !Registrations.isManaged(caller.lookupClass().getClassLoader())) {
            return;
        }
        MethodHandle deregister;
        try {
            deregister = caller.findStatic(DriverManager.class, "deregisterDriver", MethodType.methodType(void.class, Driver.class));
        } catch (ReflectiveOperationException e) {
            return; // cannot happen: a public method of a public class
        }
        Registrations.record(Kind.JDBC_DRIVER, "JDBC driver " + driver.getClass().getName(), driver, deregister,
                caller.lookupClass());
    }

    /** {@code server.registerMBean(mbean, name)}, recorded: unregistered at unload. */
    public static ObjectInstance registerMBean(MBeanServer server, Object mbean, ObjectName name, Class<?> caller)
            throws InstanceAlreadyExistsException, MBeanRegistrationException, NotCompliantMBeanException {
        ObjectInstance registered = server.registerMBean(mbean, name);
        Registrations.record(Kind.MBEAN, "MBean " + registered.getObjectName(), server, registered.getObjectName(), caller);
        return registered;
    }

    /** {@code tl.set(value)}, recorded once per thread: removed at unload (see the limits for other threads). */
    public static <T> void threadLocalSet(ThreadLocal<T> tl, T value, Class<?> caller) {
        tl.set(value);
        Registrations.recordThreadLocal(tl, caller);
    }

    /** {@code tl.remove()}: the record of this thread's value is dropped. */
    public static void threadLocalRemove(ThreadLocal<?> tl, Class<?> caller) {
        tl.remove();
        Registrations.forgetThreadLocal(tl, caller);
    }

    /** {@code logger.addHandler(handler)}, recorded: removed at unload. */
    public static void addHandler(Logger logger, Handler handler, Class<?> caller) {
        logger.addHandler(handler);
        Registrations.record(Kind.LOG_HANDLER, "handler " + handler.getClass().getName() + " on logger \"" + logger.getName() + "\"",
                logger, handler, caller);
    }

    /** {@code Security.addProvider(provider)}, recorded if installed: removed at unload. */
    public static int addProvider(Provider provider, Class<?> caller) {
        int at = Security.addProvider(provider);
        if (at != -1) {
            Registrations.record(Kind.SECURITY_PROVIDER, "security provider " + provider.getName(), provider, null, caller);
        }
        return at;
    }

    /** {@code Security.insertProviderAt(provider, position)}, recorded if installed: removed at unload. */
    public static int insertProviderAt(Provider provider, int position, Class<?> caller) {
        int at = Security.insertProviderAt(provider, position);
        if (at != -1) {
            Registrations.record(Kind.SECURITY_PROVIDER, "security provider " + provider.getName(), provider, null, caller);
        }
        return at;
    }

    /** {@code thread.setContextClassLoader(loader)}, with the former loader recorded: reset at unload. */
    public static void setContextClassLoader(Thread thread, ClassLoader loader, Class<?> caller) {
        ClassLoader previous = thread.getContextClassLoader();
        thread.setContextClassLoader(loader);
        Registrations.recordContextLoader(thread, previous, caller);
    }

    /** {@code System.setProperty(key, value)}, recorded: restored at unload if it still holds {@code value}. */
    public static String setProperty(String key, String value, Class<?> caller) {
        String previous = System.setProperty(key, value);
        Registrations.record(Kind.SYSTEM_PROPERTY, "system property " + key + "=" + value, key, new String[] {previous, value}, caller);
        return previous;
    }
}
