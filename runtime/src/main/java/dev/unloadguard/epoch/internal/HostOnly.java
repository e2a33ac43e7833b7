package dev.unloadguard.epoch.internal;

import java.util.Set;

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

    private static final StackWalker WALKER = StackWalker.getInstance(
            Set.of(StackWalker.Option.RETAIN_CLASS_REFERENCE, StackWalker.Option.SHOW_HIDDEN_FRAMES));

    private HostOnly() {
    }

    /**
     * @throws IllegalCallerException naming the plugin class on the stack and {@code what}
     */
    static void check(String what) {
        Class<?> plugin = WALKER.walk(frames -> frames
                .map(StackWalker.StackFrame::getDeclaringClass)
                .filter(c -> Epochs.isPluginLoader(c.getClassLoader()))
                .findFirst()
                .orElse(null));
        if (plugin != null) {
            throw new IllegalCallerException(what + " is for the host and the agent only, and plugin code is on this thread's "
                    + "stack: " + plugin.getName() + " (class loader " + plugin.getClassLoader() + "). Nothing was changed; "
                    + "plugins cannot change what the host relies on");
        }
    }
}
