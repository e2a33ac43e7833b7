package dev.unloadguard.weave.internal.cellfix;

/**
 * A class whose own constant pool already holds what the byte-level weaver needs: the
 * {@code Utf8} and {@code Class} of {@code java/lang/Object} and {@code java/lang/Throwable},
 * {@code Ljava/lang/Object;}, and the attribute names {@code StackMapTable} and
 * {@code RuntimeVisibleAnnotations}; its methods are all gated entries (no clean-up method).
 */
public class Reuse {

    private Object last;

    public Reuse(Object first) {
        Depths.record();
        this.last = first;
    }

    /** A branch (frames), a catch of Throwable (its Class constant) and an Object parameter. */
    @Deprecated
    public Object swap(Object next, boolean fail) {
        Depths.record();
        Object old = last;
        try {
            if (fail) {
                throw new IllegalStateException("fail");
            }
            last = next;
        } catch (Throwable t) {
            return t.getMessage();
        }
        return old;
    }
}
