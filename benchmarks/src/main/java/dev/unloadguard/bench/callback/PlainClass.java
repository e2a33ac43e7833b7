package dev.unloadguard.bench.callback;

import java.util.ArrayList;
import java.util.List;

/**
 * A plugin class with nothing to guard, as most plugin classes are: what the transformer must
 * dismiss without parsing it.
 */
public final class PlainClass {

    private final List<String> names = new ArrayList<>();
    private int hits;

    public void add(String name) {
        names.add(name);
        hits++;
    }

    public int size() {
        return names.size();
    }

    public int hits() {
        return hits;
    }

    @Override
    public String toString() {
        return "PlainClass" + names;
    }
}
