package dev.unloadguard.epoch.internal;

import java.util.EnumSet;
import java.util.Iterator;
import java.util.Set;
import java.util.stream.Stream;

/**
 * The check behind what only the agent or the host may do (record that the agent is installed,
 * register plugin loaders): the calling thread's stack must hold no frame of a class defined by a
 * plugin loader. Hidden frames are included, so a lambda of plugin code handed to a JDK thread
 * counts as plugin code too; reflection frames do not hide the plugin frame that called
 * {@code Method.invoke}.
 *
 * <p>This keeps plugin mistakes and shortcuts from changing what the host relies on; it is not a
 * sandbox. unloadguard's plugin loaders do not even delegate the internal packages, so their
 * plugins fail to link such calls; this check covers plugins of foreign hosts, whose loaders see
 * everything their parent sees.
 */
final class HostOnly {

    /**
     * Classes only, hidden frames included. From JDK 22 on also without the frames' method
     * information ({@code DROP_METHOD_INFO}): the check reads the declaring class alone, and the
     * walk then resolves no method name, descriptor or line per frame (it runs at every load and
     * unload of a plugin).
     */
    private static final StackWalker WALKER = StackWalker.getInstance(options());

    private HostOnly() {
    }

    static Set<StackWalker.Option> options() {
        Set<StackWalker.Option> options = EnumSet.of(StackWalker.Option.RETAIN_CLASS_REFERENCE, StackWalker.Option.SHOW_HIDDEN_FRAMES);
        for (StackWalker.Option o : StackWalker.Option.values()) {
            if (o.name().equals("DROP_METHOD_INFO")) { // JDK 22+; by name, as this is Java 17 bytecode
                options.add(o);
            }
        }
        return options;
    }

    /**
     * @throws IllegalCallerException naming the plugin class on the stack and {@code what}
     */
    static void check(String what) {
        Class<?> plugin = WALKER.walk(HostOnly::firstPluginClass);
        if (plugin != null) {
            throw new IllegalCallerException(what + " is for the host and the agent only, and plugin code is on this thread's "
                    + "stack: " + plugin.getName() + " (class loader " + plugin.getClassLoader() + "). Nothing was changed; "
                    + "plugins cannot change what the host relies on");
        }
    }

    /** The class of the topmost frame defined by a plugin loader, or {@code null}: every frame is looked at. */
    private static Class<?> firstPluginClass(Stream<StackWalker.StackFrame> frames) {
        for (Iterator<StackWalker.StackFrame> it = frames.iterator(); it.hasNext(); ) {
            Class<?> c = it.next().getDeclaringClass();
            if (Epochs.isPluginLoader(c.getClassLoader())) {
                return c;
            }
        }
        return null;
    }
}
