package dev.unloadguard.leaks;

import java.util.List;
import java.util.Objects;

/**
 * A class loader found in a heap dump that should have been collected (an unloaded plugin
 * generation's, or one asked for by name), with the shortest chain of strong references from a
 * GC root that keeps it alive.
 *
 * <p>The {@link #path() path} has one element per step, from the root to the loader, for example:
 * <pre>
 * static field com.example.host.Registry.KEPT (class com.example.host.Registry (loader app))
 * java.util.ArrayList.elementData[3]
 * it.leaky.Listener (loader plugin:leaky.jar#4, plugin leaky generation 2, unloaded)
 * PluginClassLoader plugin:leaky.jar#4, plugin leaky generation 2, unloaded</pre>
 * An instance reached through a field reads {@code Class.field} (an array element {@code [i]}), an
 * instance whose class keeps the loader alive reads its class alone; each class not of the JDK
 * (the boot loader) names the loader that defined it. A root other than a class's static field is
 * the first element ({@code live thread "pool-1-thread-1"}, {@code a local variable of thread
 * "main"}, {@code a JNI global reference}).
 *
 * @param loaderName  the class loader's name ({@code ClassLoader.getName()}), or {@code null}
 * @param loaderClass the class loader's class name
 * @param pluginId    the plugin id of an unloadguard plugin loader, else {@code null}
 * @param generation  its generation, or 0
 * @param unloaded    whether it is an unloadguard plugin loader that was unloaded (closed)
 * @param root        the kind of GC root the path starts from ({@code "class"} for a class's
 *                    static field), or {@code null} if no root reaches it
 * @param path        the chain, root first, loader last; empty if no GC root reaches it (the
 *                    dump was not taken with live objects only, and the loader is garbage)
 */
public record LeakedLoader(String loaderName, String loaderClass, String pluginId, int generation, boolean unloaded,
                           String root, List<String> path) {

    public LeakedLoader {
        Objects.requireNonNull(loaderClass, "loaderClass");
        path = List.copyOf(path);
    }

    /** Whether a GC root reaches it (a strong path was found). */
    public boolean reachable() {
        return !path.isEmpty();
    }

    /** "plugin X generation N (loader NAME)", or the loader's name and class. */
    public String what() {
        String loader = "loader " + (loaderName == null ? "(unnamed)" : loaderName) + " (" + loaderClass + ")";
        return pluginId != null ? "plugin " + pluginId + " generation " + generation + ", " + loader : loader;
    }

    /** The path on one line, steps joined by " → ", or a sentence saying no root reaches it. */
    public String pathLine() {
        return reachable() ? String.join(" → ", path)
                : "no GC root reaches it: it is garbage the dump still holds (take the dump with live objects only)";
    }

    /** {@link #what()}, then each step of the path on its own line. */
    @Override
    public String toString() {
        if (!reachable()) {
            return what() + ": " + pathLine();
        }
        StringBuilder sb = new StringBuilder(what()).append(" is held by this path of strong references:");
        String indent = "\n    ";
        for (int i = 0; i < path.size(); i++) {
            sb.append(indent).append(i == 0 ? "" : "→ ").append(path.get(i));
        }
        return sb.toString();
    }
}
