package dev.unloadguard.weave.internal.cellfix;

/** A constructor that calls this(...), and one whose arguments to super(...) are constants and locals. */
public class Sub extends Base {

    private final int size;

    public Sub(int size) {
        this(size, 3L);
        Depths.record();
    }

    public Sub(int size, long seed) {
        super(seed, "sub");
        Depths.record();
        int s = size;
        if (s < 0) {
            s = -s;
        }
        this.size = s;
    }

    public int size() {
        Depths.record();
        return size;
    }
}
