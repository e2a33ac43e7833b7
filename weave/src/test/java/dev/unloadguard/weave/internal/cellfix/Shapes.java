package dev.unloadguard.weave.internal.cellfix;

import java.util.List;

/**
 * Method shapes whose stack map frames the byte-level weaver must rewrite to declare the cell's
 * local: loops, switches, try/catch/finally, long and double locals that come and go (append and
 * chop frames), reference and array parameters (the initial frame), an uninitialized object on
 * the stack at a branch, constructors with a super(...) prologue and frames after it, a method
 * with no frame at all, nested calls. Every method records its depth once.
 */
public class Shapes extends Base {

    private final StringBuilder text;

    public Shapes(long seed, String label, int n) {
        super(seed, label);                              // the prologue: loads only
        Depths.record();
        int k = 0;
        for (int i = 0; i < n; i++) {                    // frames after super(...)
            k += i;
        }
        this.text = new StringBuilder(n > 2 ? "big" : "small"); // Uninitialized on the stack at a join
        this.text.append(k);
    }

    public String text() {
        Depths.record();
        return text.toString();
    }

    /** No branch: no StackMapTable in the original. */
    public static int straight(int a, long b) {
        Depths.record();
        return (int) (a + b);
    }

    /** Long and double locals declared in branches and loops: append, chop and same frames. */
    public static double mixed(long a, double b, int n) {
        Depths.record();
        double sum = 0;
        for (int i = 0; i < n; i++) {
            long l = a + i;
            if (l % 2 == 0) {
                double d = l * b;
                sum += d;
            } else {
                float f = l;
                sum -= f;
            }
        }
        long tail = a;
        while (tail > 0) {
            tail /= 3;
            sum += 1;
        }
        return sum;
    }

    public static String table(int k, String s) {
        Depths.record();
        String out;
        switch (k) {
            case 0: out = "zero"; break;
            case 1: out = s; break;
            case 2: long w = k * 7L; out = "w" + w; break;
            case 3: return "three";
            default: out = "many";
        }
        return out + k;
    }

    public static int lookup(int k) {
        Depths.record();
        switch (k) {
            case -1000: return 1;
            case 7: return 2;
            case 100000: return 3;
            default:
                int r = 0;
                for (int i = 0; i < 3; i++) {
                    r += i;
                }
                return r;
        }
    }

    /** Reference and array parameters, an instance method: the initial frame names their classes. */
    public int arrays(int[] xs, String[][] names, List<String> list, double scale) {
        Depths.record();
        int total = 0;
        for (int x : xs) {
            total += x;
        }
        for (String[] row : names) {
            for (String n : row) {
                total += n.length();
            }
        }
        for (String s : list) {
            total += s.length();
        }
        return (int) (total * scale) + (int) seed;
    }

    /** A try/catch/finally inside the body: its handlers keep precedence over the catch-all. */
    public static int caught(int[] counter, boolean fail) {
        Depths.record();
        try {
            if (fail) {
                throw new IllegalStateException("fail");
            }
            return 1;
        } catch (IllegalStateException e) {
            long x = counter.length;
            return 2 + (int) x - 1;
        } finally {
            counter[0]++;
        }
    }

    /** Throws out of the body (through the catch-all) after a loop. */
    public static int throwsOut(int n) {
        Depths.record();
        int i = 0;
        while (i < n) {
            i++;
        }
        if (n > 0) {
            throw new IllegalArgumentException("out of " + n);
        }
        return n;
    }

    /** Calls other woven methods: nested sections; and one that throws through a nested section. */
    public static int nested(int n) {
        Depths.record();
        int r = straight(n, 1L) + lookup(7);
        try {
            throwsOut(n);
        } catch (IllegalArgumentException e) {
            r += 100;
        }
        return r;
    }

    /** A loop whose header is the method's first instruction: a branch back to it must not enter again. */
    public static int countDown(int n) {
        while (n > 0) {
            n--;
        }
        Depths.record();
        return n;
    }

    /**
     * Locals in slots 1 to 4 after one parameter: they move up one past the cell (slot 1), so
     * {@code iload_3} becomes {@code iload 4}, one byte longer, inside a loop (branches across it).
     */
    public static int shortForms(int a) {
        Depths.record();
        int x = a + 1;
        int y = x * 2;
        int z = y - a;
        for (int i = 0; i < z; i++) {
            x += i;
        }
        return x + y + z;
    }

    /** Seven local slots: the cell is past {@code aload_3}'s reach ({@code aload 7}). */
    public synchronized long locked(long a, int b) {
        Depths.record();
        long c = a;
        for (int i = 0; i < b; i++) {
            c += i;
        }
        return c;
    }
}
