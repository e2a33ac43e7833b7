package dev.unloadguard.testkit;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/** A host registry in a static field, for the kit's leaking test plugin. */
public final class StaticKeeper {

    public static final List<Object> KEPT = new CopyOnWriteArrayList<>();

    private StaticKeeper() {
    }
}
