package dev.unloadguard.it.registrations;

import java.lang.ref.WeakReference;
import java.util.ArrayList;
import java.util.List;

/**
 * A host service through which a test plugin hands the test what it registered, held weakly:
 * it never keeps the plugin alive itself, so a LEAKED outcome is the registration's doing, and
 * the test can still undo the registration by hand afterwards (while the registry holds it).
 */
public final class Handed {

    private final List<WeakReference<Object>> objects = new ArrayList<>();

    public synchronized void give(Object o) {
        objects.add(new WeakReference<>(o));
    }

    /** The handed objects of {@code type} still reachable. */
    public synchronized <T> List<T> all(Class<T> type) {
        List<T> out = new ArrayList<>();
        for (WeakReference<Object> r : objects) {
            Object o = r.get();
            if (type.isInstance(o)) {
                out.add(type.cast(o));
            }
        }
        return out;
    }

    public synchronized void forget() {
        objects.clear();
    }
}
