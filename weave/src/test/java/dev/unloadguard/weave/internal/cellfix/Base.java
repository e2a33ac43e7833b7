package dev.unloadguard.weave.internal.cellfix;

/** A superclass whose constructor takes arguments: the subclass's prologue loads them before super(...). */
public class Base {

    protected final long seed;
    protected final String label;

    public Base(long seed, String label) {
        this.seed = seed;
        this.label = label;
    }
}
