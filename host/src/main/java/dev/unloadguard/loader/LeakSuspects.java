package dev.unloadguard.loader;

import dev.unloadguard.epoch.internal.Throwables;
import java.lang.reflect.Array;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Finds, without a heap dump, what probably keeps an unloaded plugin's class loader alive:
 * live threads whose context class loader or class comes from the plugin, threads still running
 * plugin code, and plugin objects reachable from the host's own registries (the services the
 * host gave the {@link PluginLoader}, scanned a few fields deep), and throwables of plugin classes
 * that left plugin code and are still reachable (see {@link Throwables}). A suspect list, not a proof:
 * only a heap dump shows every path; the host's {@link LeakExplainer}, if it set one (kept in the
 * services under its own type), adds what it finds, typically that path.
 */
final class LeakSuspects {

    private static final int MAX_DEPTH = 4;
    private static final int MAX_ELEMENTS = 10_000;

    private LeakSuspects() {
    }

    static List<String> find(ClassLoader loader, String loaderName, Map<Class<?>, Object> services) {
        List<String> out = new ArrayList<>();
        for (Map.Entry<Thread, StackTraceElement[]> e : Thread.getAllStackTraces().entrySet()) {
            Thread t = e.getKey();
            String who = "thread \"" + t.getName() + "\"";
            if (t.getContextClassLoader() == loader) {
                out.add(who + " has the plugin's class loader as its context class loader (set it back, or stop the thread in exit())");
            }
            if (t.getClass().getClassLoader() == loader) {
                out.add(who + " is a plugin class " + t.getClass().getName() + " and still alive (stop it in the driver's exit())");
            }
            for (StackTraceElement frame : e.getValue()) {
                if (loaderName.equals(frame.getClassLoaderName())) {
                    out.add(who + " is running plugin code at " + frame);
                    break;
                }
            }
        }
        Set<Object> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        services.forEach((type, service) -> {
            if (type != LeakExplainer.class) {
                scan(service, "host service " + type.getName(), loader, out, MAX_DEPTH, seen);
            }
        });
        out.addAll(Throwables.stillReachable(loader));
        Object explainer = services.get(LeakExplainer.class);
        if (explainer != null) {
            out.addAll(explain((LeakExplainer) explainer, loader, loaderName));
        }
        return out;
    }

    /** What the host's {@link LeakExplainer} says; a failure of it is one line, never thrown. */
    static List<String> explain(LeakExplainer explainer, ClassLoader loader, String loaderName) {
        try {
            List<String> lines = explainer.explain(loader);
            return lines == null ? List.of() : List.copyOf(lines);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return List.of("leak explainer " + explainer.getClass().getName() + " was interrupted explaining " + loaderName);
        } catch (Exception | LinkageError | OutOfMemoryError e) {
            return List.of("leak explainer " + explainer.getClass().getName() + " could not explain " + loaderName + ": " + e);
        }
    }

    private static void scan(Object o, String path, ClassLoader loader, List<String> out, int depth, Set<Object> seen) {
        if (o == null || depth < 0 || o instanceof Class || o instanceof ClassLoader || !seen.add(o)) {
            return;
        }
        Class<?> c = o.getClass();
        if (c.getClassLoader() == loader) {
            out.add(path + " holds a plugin object of class " + c.getName());
            return;
        }
        try {
            if (o instanceof Map<?, ?>) {
                int i = 0;
                for (Map.Entry<?, ?> e : ((Map<?, ?>) o).entrySet()) {
                    if (i++ >= MAX_ELEMENTS) {
                        break;
                    }
                    scan(e.getKey(), path + " (a key)", loader, out, depth - 1, seen);
                    scan(e.getValue(), path + "[" + e.getKey() + "]", loader, out, depth - 1, seen);
                }
            } else if (o instanceof Iterable<?>) {
                int i = 0;
                for (Object e : (Iterable<?>) o) {
                    if (i >= MAX_ELEMENTS) {
                        break;
                    }
                    scan(e, path + "[" + i++ + "]", loader, out, depth - 1, seen);
                }
            } else if (c.isArray() && !c.getComponentType().isPrimitive()) {
                for (int i = 0, n = Math.min(Array.getLength(o), MAX_ELEMENTS); i < n; i++) {
                    scan(Array.get(o, i), path + "[" + i + "]", loader, out, depth - 1, seen);
                }
            } else if (!c.getName().startsWith("java.") && !c.getName().startsWith("jdk.")) {
                for (Class<?> k = c; k != null && k != Object.class; k = k.getSuperclass()) {
                    for (Field f : k.getDeclaredFields()) {
                        if (Modifier.isStatic(f.getModifiers()) || f.getType().isPrimitive() || !f.trySetAccessible()) {
                            continue;
                        }
                        scan(f.get(o), path + "." + f.getName(), loader, out, depth - 1, seen);
                    }
                }
            }
        } catch (RuntimeException | IllegalAccessException e) {
            // a registry changing under the scan, or a field we may not read: a suspect list, best effort
        }
    }
}
