package dev.unloadguard.weave.internal;

import dev.unloadguard.epoch.internal.PluginEpochClass;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The byte-level weaver for guard scope ENTRIES: every concrete method of a plain plugin class
 * becomes a balanced section of its plugin's epoch, written straight into the class file without
 * parsing it into ASM events. In scope ENTRIES every plugin class is woven while the application
 * starts, and ASM's event pipeline (a visitor call per instruction, a frame expanded per branch
 * target, a constant pool hashed anew) cost about ten times the class's own loading, most of it
 * in compiling ASM itself; this weaver copies the code and patches offsets.
 *
 * <h2>What it writes</h2>
 * For each planned method (a gated entry, or an ungated section: a clean-up method, a release path),
 * in a class whose loader defines the epoch class ({@code PluginEpochClass.definedBy}: unloadguard's
 * own plugin loaders, the common case):
 * <pre>
 *   [P:] invokestatic PluginEpoch.b()Object (an ungated section: a()Object); astore CELL
 *   ... the method's code; before every return: aload CELL; invokestatic PluginEpoch.c(Object)void ...
 *   handler: dup; invokestatic PluginEpoch.d(Throwable)void; athrow
 * </pre>
 * {@code PluginEpoch} ({@code dev/unloadguard/epoch/woven/PluginEpoch}) is the plugin generation's
 * epoch class, which the loader defines in itself; its four static methods pass its static final
 * epoch constant on to {@code ReleaseGuard}'s balanced forms ({@code PluginEpochClass} shows its
 * source). So the class gains one {@code Class} constant and up to four one-letter methods with
 * three short descriptors; no {@code ReleaseGuard}, no field reference, no dynamic constant, and
 * no string per method: a refused gated entry is named from the stack when it is refused. The
 * constant's bootstrap runs once per plugin generation, in the epoch class's static initializer,
 * not once per woven class. The handler does not load the cell ({@code d} finds the thread's cell
 * itself: throwing is rare), so its frame declares no local.
 *
 * <p>In a class of any other plugin loader (registered foreign loaders):
 * <pre>
 *   [P:] ldc_w EPOCH; (ldc_w "entry name";) invokestatic ReleaseGuard.enterEntrySectionCell / enterSectionCell; astore CELL
 *   ... the method's code; before every return: aload CELL; invokestatic ReleaseGuard.exitSectionCell ...
 *   handler: aload CELL; invokestatic ReleaseGuard.exitSectionThrowingCell; athrow
 * </pre>
 * {@code EPOCH} is the same dynamic constant the ASM weaver uses ({@link Weaver#epochConstant}),
 * with its bootstrap method appended to the class's {@code BootstrapMethods}.
 * Both give the same value, the one {@code ReleaseGuard.epochConstant} returns for the class's
 * loader. {@code P} is the start of the code, or for a constructor the instruction after its
 * {@code super(...)}/{@code this(...)} call. The method gains {@code @Guarded}. The handler is the last entry of
 * the exception table (the method's own handlers keep precedence) and covers the code from
 * the end of the enter sequence to the end, except the exit sequences themselves: an exit that
 * threw must not exit again. Unlike the ASM weaver's, these sections keep no token: the exit
 * closes the thread's innermost section, which for a body balanced this way is always its own.
 *
 * <h2>The cell's local</h2>
 * The enter returns the calling thread's cell of the epoch ({@code ReleaseEpoch.enterCell}), and
 * every exit of the body takes it back, so a section finds the cell once, not twice (a nested
 * plugin-to-plugin call then costs the depth check and the exit's owner check). It lives in one new
 * local, {@code CELL}, right after the arguments: its index is the slots of {@code this} and the
 * parameters (at most 255, so {@code aload_n} or {@code aload n}), and every local the body
 * declares moves up by one ({@code max_locals} grows by one; an {@code xload_3}/{@code xstore_3}
 * of a moved local becomes {@code xload 4}, an index that passes 255 takes {@code wide}, both one
 * or two bytes longer, which the offsets below absorb; the {@code LocalVariableTable}'s indexes
 * move with them; a method whose {@code max_locals} is already 65535 is left to ASM, and so is
 * one that stores a {@code long} or {@code double} over its last argument slot and the slot
 * after it, which would now straddle the cell).
 *
 * <p>Why there and not at the old {@code max_locals}: the JVM's type checker needs every stack map
 * frame the code reaches after the store to declare the cell, since the handler's frame does and
 * every instruction the handler covers must match it. A cell at the end of the locals sits after
 * every local the body declares, so no frame that adds or drops a local ({@code append},
 * {@code chop}) could be written relative to the one before it, and each became a
 * {@code full_frame} listing every local (woven frames were about three times the original's).
 * Below the body's locals the cell is part of the common prefix: without inferring frames, the
 * frames are decompressed in order from the implicit initial frame (the descriptor's parameters,
 * and {@code this}, {@code UninitializedThis} in a constructor), following {@code same},
 * {@code same_locals_1_stack_item}, {@code chop}, {@code append} and {@code full_frame}
 * ({@code long} and {@code double} take two slots; {@code Uninitialized} offsets are remapped);
 * the cell's entry is inserted at its index ({@code Object(java/lang/Object)} at or after
 * {@code P}, {@code Top} before it, a constructor's prologue, if locals follow), and each frame is
 * compressed again against the one written before it, as javac and ASM do. So the original's
 * compressed frames stay compressed; the first frame in the section (the implicit frame before it
 * has no cell: an {@code append} of the cell, or a full frame) and the original's full frames are
 * written in full. A reference parameter's {@code Class} constant is added only when a full frame
 * names it. The handler's frame: stack the {@code Throwable}; locals none when it calls the epoch
 * class's {@code d}, else {@code Top} up to {@code CELL}, then the cell. A method with no {@code StackMapTable} gets one holding the handler's frame
 * only, as before: its code has no other branch target.
 *
 * <h2>The constant pool</h2>
 * New constants are appended after the class's own, and only those the woven code uses: the
 * gated entries' enter only if the class has a gated entry, the ungated sections' enter only if it
 * has one of those, the plain exit only if a body returns, an attribute's name only if that
 * attribute is added. The strings the weaver needs that classes often
 * already hold ({@code java/lang/Object}, {@code Ljava/lang/Object;}, {@code java/lang/Throwable},
 * the guard calls' names and descriptors, the attribute names, …, see {@code REUSED}) are looked
 * for among the class's own {@code Utf8} and {@code Class} constants, in the pass that checks the
 * pool's tags, and reused. In scope ENTRIES the constants are most of what weaving adds to a small
 * class (about four fifths for a class of two short methods).
 *
 * <h2>Offsets</h2>
 * Inserted bytes shift the code after them. Each original instruction start {@code o} has a new
 * position; a branch, an exception range, a frame, a line number or a local variable's range that
 * named {@code o} names, instead, where control must arrive: for a return, the exit sequence
 * before it (so a branch to a return still exits); for {@code P}, the original instruction after
 * the enter sequence (so a loop back to the first instruction does not enter again). Switch
 * padding is recomputed at the new position. Relative offsets are recomputed from both ends.
 *
 * <h2>What it leaves to ASM</h2>
 * It returns {@code null} (the caller weaves with ASM) for any class it does not handle exactly:
 * class files older than Java 11 (no dynamic constants), a plan that adds methods or rewrites
 * call sites, a constructor whose {@code super(...)} call is not preceded only by loads of
 * {@code this}, locals and constants (any other shape needs the data-flow analysis of
 * {@link ConstructorPrologue}), {@code jsr}/{@code ret}, type annotations on code or any other
 * code attribute it does not know, a 16-bit branch that would overflow, a constant pool or a
 * method that would pass the class file's limits (code length, {@code max_locals} with no room
 * for the cell), a {@code long} or {@code double} stored over the last argument slot and the one
 * after it (or a frame with one there: it would straddle the cell), a constant-pool tag or a stack
 * map frame type it does not know.
 *
 * <h2>Cost: what the JIT compiles</h2>
 * While an application starts, every plugin class passes through here, so the JIT compiles this
 * code (C2 too, past a few thousand classes), and on a cold start that compilation cost more than
 * the weaving. So the hot code is small and its branches do not depend on which classes come
 * first: instruction lengths, locals and two-slot stores come from per-opcode tables; each
 * instruction is decoded once ({@link #scan} records its length, the other passes step by it);
 * the constant pool is indexed in one pass ({@code readPool}: offsets, and which {@link #REUSED}
 * string each {@code Utf8} is), and names are then compared by index; the targets are matched in
 * declaration order; the constants of the woven calls are added before the code is written, not
 * in its loop. A plain class is woven without an ASM {@code ClassReader}
 * ({@link GuardPlan#entriesWithoutReader}). Figures: docs/performance.md, "A cold start".
 */
final class EntryWeaver {

    private static final String GUARD = Weaver.RELEASE_GUARD;

    /** Thrown to hand the class to ASM; preallocated, no stack trace. */
    private static final class Unsupported extends RuntimeException {
        private static final long serialVersionUID = 1L;

        Unsupported() {
            super(null, null, false, false);
        }
    }

    private static final Unsupported UNSUPPORTED = new Unsupported();

    private final byte[] b;
    private final GuardPlan plan;
    /** Per constant-pool index: the offset of the entry's bytes after its tag (0 for the slot after a long or double). */
    private int[] items;
    /** Per constant-pool index of a {@code Utf8}: 1 + its index in {@link #REUSED}, or 0 (see {@link #named}). */
    private byte[] kind;
    /** Offset of the class's access flags: past the constant pool. */
    private int header;
    /**
     * New constant-pool entries, appended after the old ones. Each buffer is sized so that it
     * seldom grows: {@link Out#room}'s profile is shared by every write, and a growth seen at one
     * of them puts the copy into the compiled code of all.
     */
    private final Out pool = new Out(512);
    private int poolCount;
    private int bootstrapIndex;
    // Constant-pool indexes of what the woven code uses.
    /** The dynamic constant the calls to {@code ReleaseGuard} pass (0 when the calls go to the epoch class). */
    private int epoch;
    /** Whether the woven code calls the epoch class's methods (its loader defines the epoch class), else {@code ReleaseGuard}'s with {@link #epoch}. */
    private final boolean callsEpochClass;
    // The constants below are 0 until first used (see "The constant pool"): a class gets only what
    // its woven code needs, and an entry it already has (a Utf8 or Class in REUSED) is reused.
    private int guardClass;
    private int enterSection;
    private int enterEntrySection;
    private int exitSection;
    private int exitSectionThrowing;
    /** Class entries this weaver added for the types of parameters (initial frames), by name. */
    private Map<String, Integer> addedClasses;

    private EntryWeaver(byte[] b, GuardPlan plan, boolean callsEpochClass) {
        this.b = b;
        this.plan = plan;
        this.callsEpochClass = callsEpochClass;
    }

    /**
     * {@code classfile} with every planned method a balanced section, or {@code null} to weave it
     * with ASM instead (see "What it leaves to ASM").
     *
     * @param plan a plan of whole method bodies ({@link GuardPlan#weavesBodiesOnly()}); the
     *     weaver reads the class file itself (an index of its constant pool), no ASM reader
     */
    static byte[] weave(byte[] classfile, GuardPlan plan) {
        return weave(classfile, plan, false);
    }

    /**
     * {@link #weave(byte[], GuardPlan)}: sections that call the loader's epoch class
     * ({@code PluginEpoch.a/b/c/d}) if {@code callsEpochClass}, else {@code ReleaseGuard} with the
     * class's own dynamic constant.
     *
     * @param callsEpochClass whether the class's loader defines the epoch class
     *                   ({@code PluginEpochClass.definedBy})
     */
    static byte[] weave(byte[] classfile, GuardPlan plan, boolean callsEpochClass) {
        if (!plan.weavesBodiesOnly() || (((classfile[6] & 0xFF) << 8) | (classfile[7] & 0xFF)) < 55) {
            return null;
        }
        try {
            return new EntryWeaver(classfile, plan, callsEpochClass).run();
        } catch (Unsupported | ArrayIndexOutOfBoundsException e) {
            return null; // a shape left to ASM, or a class file ASM will report on
        }
    }

    private byte[] run() {
        readPool();
        int methodsAt = methodTable();
        int classAttributesAt = skipMembers(methodsAt);
        bootstrapIndex = bootstrapCount(classAttributesAt);
        addConstants();

        List<GuardPlan.Target> targets = plan.targets();
        for (int i = 0; i < targets.size(); i++) {
            if (!targets.get(i).owner().equals(plan.className())) {
                throw UNSUPPORTED;
            }
        }
        Out methods = new Out(b.length + 64 * targets.size());
        int count = u2(methodsAt);
        methods.u2(count);
        int at = methodsAt + 2;
        for (int i = 0; i < count; i++) {
            at = method(at, targets, methods);
        }
        if (nextTarget != targets.size() || poolCount > 0xFFFF) {
            throw UNSUPPORTED; // a target not found in declaration order: not a plan of this class file
        }

        Out out = new Out(b.length + pool.length + methods.length + 64);
        out.bytes(b, 0, 8);
        out.u2(poolCount);
        out.bytes(b, 10, header - 10);
        out.bytes(pool.data, 0, pool.length);
        out.bytes(b, header, methodsAt - header);
        out.bytes(methods.data, 0, methods.length);
        classAttributes(classAttributesAt, out);
        return out.toArray();
    }

    /**
     * One pass over the constant pool: each entry's offset ({@link #items}, the index the rest
     * reads the pool by), the strings of {@link #REUSED} among its {@code Utf8} and {@code Class}
     * entries, and where the pool ends ({@link #header}).
     */
    private void readPool() {
        int count = u2(8);
        items = new int[count];
        kind = new byte[count];
        int at = 10;
        for (int i = 1; i < count; i++) {
            int tag = b[at];
            int size = tag >= 0 && tag < GuardPlan.ENTRY_SIZE.length ? GuardPlan.ENTRY_SIZE[tag] : 0;
            if (size == 0) {
                throw UNSUPPORTED;
            }
            items[i] = at + 1;
            if (tag == 1) {
                size += u2(at + 1);
                existingUtf8(i, at + 1);
            } else if (tag == 7) {
                existingClass(i, u2(at + 1));
            } else if (size == 9) {
                i++;
            }
            at += size;
        }
        poolCount = count;
        header = at;
    }

    /** Offset of {@code methods_count}: past the interfaces and the fields. */
    private int methodTable() {
        int at = header + 6;
        at += 2 + 2 * u2(at);                            // interfaces
        int fields = u2(at);
        at += 2;
        for (int i = 0; i < fields; i++) {
            at = skipAttributes(at + 6);
        }
        return at;
    }

    // ---- constant pool -----------------------------------------------------------------------

    /**
     * The strings the woven code may need as {@code Utf8} constants, looked for in the class's own
     * pool before any is added: {@code java/lang/Object}, its descriptor and the attribute names
     * are in most classes already. Index {@code k} of this array is index {@code k} of
     * {@link #reusedUtf8} and {@link #reusedClass}.
     */
    private static final String[] REUSED = {
        "java/lang/Object", "Ljava/lang/Object;", "java/lang/Throwable", "StackMapTable",
        "RuntimeVisibleAnnotations", "BootstrapMethods", "epoch", GUARD, PluginEpochClass.INTERNAL_NAME,
        GuardPlan.GUARDED_DESC,
        "enterSectionCell", "(Ljava/lang/Object;)Ljava/lang/Object;",
        "enterEntrySectionCell", "(Ljava/lang/Object;Ljava/lang/String;)Ljava/lang/Object;",
        "exitSectionCell", "(Ljava/lang/Object;)V",
        "exitSectionThrowingCell", "(Ljava/lang/Throwable;Ljava/lang/Object;)Ljava/lang/Throwable;",
        "epochConstant", "(Ljava/lang/invoke/MethodHandles$Lookup;Ljava/lang/String;Ljava/lang/Class;)Ljava/lang/Object;",
        PluginEpochClass.ENTER, PluginEpochClass.ENTER_ENTRY, PluginEpochClass.ENTER_DESCRIPTOR,
        PluginEpochClass.EXIT, PluginEpochClass.EXIT_THROWING, PluginEpochClass.EXIT_THROWING_DESCRIPTOR,
        // Only read, never added: the names the weaver compares attribute and method names with.
        "Code", "LineNumberTable", "LocalVariableTable", "LocalVariableTypeTable", "<init>",
    };
    private static final int OBJECT = 0;
    private static final int OBJECT_DESC = 1;
    private static final int THROWABLE = 2;
    private static final int STACK_MAP_TABLE = 3;
    private static final int ANNOTATIONS = 4;
    private static final int BOOTSTRAP_METHODS = 5;
    private static final int EPOCH_NAME = 6;
    private static final int GUARD_NAME = 7;
    private static final int EPOCH_CLASS_NAME = 8;
    private static final int GUARDED = 9;
    /** {@code REUSED[ENTER]} is the name of ReleaseGuard's method, {@code REUSED[ENTER + 1]} its descriptor; the same for the others. */
    private static final int ENTER = 10;
    private static final int ENTER_ENTRY = 12;
    private static final int EXIT = 14;
    private static final int EXIT_THROWING = 16;
    private static final int EPOCH_CONSTANT = 18;
    // The epoch class's methods' names and descriptors (each string once: a string twice in
    // REUSED would be matched to the class's own constant only the first time).
    private static final int EPOCH_ENTER = 20;
    private static final int EPOCH_ENTER_ENTRY = 21;
    private static final int EPOCH_ENTER_DESC = 22;
    private static final int EPOCH_EXIT = 23;
    private static final int EPOCH_EXIT_THROWING = 24;
    private static final int EPOCH_EXIT_THROWING_DESC = 25;
    /** The epoch class's exit's descriptor, {@code (Ljava/lang/Object;)V}: ReleaseGuard's exit's. */
    private static final int EPOCH_EXIT_DESC = EXIT + 1;
    private static final int CODE = 26;
    private static final int LINE_NUMBERS = 27;
    private static final int LOCAL_VARIABLES = 28;
    private static final int LOCAL_VARIABLE_TYPES = 29;
    private static final int INIT = 30;
    /** Per {@link #REUSED} string: its whole {@code Utf8} entry (tag, length, bytes; all ASCII). */
    private static final byte[][] REUSED_ENTRIES = new byte[REUSED.length][];

    static {
        for (int k = 0; k < REUSED.length; k++) {
            String s = REUSED[k];
            byte[] entry = new byte[3 + s.length()];
            entry[0] = 1;
            entry[1] = (byte) (s.length() >> 8);
            entry[2] = (byte) s.length();
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                if (c < 1 || c > 0x7F) {
                    throw new ExceptionInInitializerError("not ASCII: " + s);
                }
                entry[3 + i] = (byte) c;
            }
            REUSED_ENTRIES[k] = entry;
        }
    }

    /** Per string length: the indexes in {@link #REUSED} of the strings of that length. */
    private static final byte[][] REUSED_BY_LENGTH;

    static {
        int longest = 0;
        for (String s : REUSED) {
            longest = Math.max(longest, s.length());
        }
        REUSED_BY_LENGTH = new byte[longest + 1][0];
        for (int k = 0; k < REUSED.length; k++) {
            byte[] ks = REUSED_BY_LENGTH[REUSED[k].length()];
            ks = Arrays.copyOf(ks, ks.length + 1);
            ks[ks.length - 1] = (byte) k;
            REUSED_BY_LENGTH[REUSED[k].length()] = ks;
        }
    }
    /** Per {@link #REUSED} string: its {@code Utf8} index in the pool (the class's or one added), or 0. */
    private final int[] reusedUtf8 = new int[REUSED.length];
    /** Per {@link #REUSED} string: the index of a {@code Class} constant naming it, or 0. */
    private final int[] reusedClass = new int[REUSED.length];
    /**
     * The class's {@code Class} constants whose name comes later in the pool (javac writes each
     * {@code Class} before its name): pairs of name index and class index.
     */
    private int[] pendingClasses;
    private int pendingClassCount;

    /**
     * A {@code Utf8} constant of the class at pool index {@code index} (its bytes at {@code at}):
     * its {@link #kind}, and the first of each {@link #REUSED} string remembered.
     */
    private void existingUtf8(int index, int at) {
        int len = u2(at);
        if (len >= REUSED_BY_LENGTH.length) {
            return;
        }
        byte[] ks = REUSED_BY_LENGTH[len];
        for (int j = 0; j < ks.length; j++) {
            int k = ks[j];
            if (sameAscii(at + 2, REUSED[k])) {
                kind[index] = (byte) (k + 1);
                if (reusedUtf8[k] == 0) {
                    reusedUtf8[k] = index;
                    for (int i = 0; i < pendingClassCount; i += 2) {
                        if (pendingClasses[i] == index && reusedClass[k] == 0) {
                            reusedClass[k] = pendingClasses[i + 1];
                        }
                    }
                }
                return;
            }
        }
    }

    /** A {@code Class} constant of the class at pool index {@code index}, naming the {@code Utf8} at {@code name}. */
    private void existingClass(int index, int name) {
        int k = name < index ? kind[name] - 1 : -1;
        if (k >= 0 && reusedUtf8[k] == name) {       // the first Utf8 of that string (the one reused)
            if (reusedClass[k] == 0) {
                reusedClass[k] = index;
            }
            return;
        }
        if (name > index) { // its name comes later in the pool: matched when that Utf8 is seen
            if (pendingClasses == null) {
                pendingClasses = new int[8];
            } else if (pendingClassCount == pendingClasses.length) {
                pendingClasses = Arrays.copyOf(pendingClasses, pendingClassCount * 2);
            }
            pendingClasses[pendingClassCount++] = name;
            pendingClasses[pendingClassCount++] = index;
        }
    }

    /** Whether the {@code len} bytes at {@code at} are the ASCII string {@code s} (of that length). */
    private boolean sameAscii(int at, String s) {
        for (int i = 0; i < s.length(); i++) {
            if (b[at + i] != s.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    /** The {@code Utf8} constant {@code REUSED[k]}: the class's own, or added once. */
    private int reusedUtf8(int k) {
        if (reusedUtf8[k] == 0) {
            byte[] entry = REUSED_ENTRIES[k];            // the Utf8 entry, written once for all classes
            pool.bytes(entry, 0, entry.length);
            reusedUtf8[k] = poolCount++;
        }
        return reusedUtf8[k];
    }

    /** The {@code Class} constant naming {@code REUSED[k]}: the class's own, or added once. */
    private int reusedClass(int k) {
        if (reusedClass[k] == 0) {
            int name = reusedUtf8(k);
            pool.u1(7).u2(name);
            reusedClass[k] = poolCount++;
        }
        return reusedClass[k];
    }

    /**
     * The epoch constant, always used by the calls to {@code ReleaseGuard}; none when the calls go
     * to the epoch class, which holds it. The other constants are added when first used.
     */
    private void addConstants() {
        if (!callsEpochClass) { // Dynamic epoch:Object, bootstrapped by ReleaseGuard.epochConstant
            int nat = nameAndType(reusedUtf8(EPOCH_NAME), reusedUtf8(OBJECT_DESC));
            int ref = guardMethod(EPOCH_CONSTANT);
            pool.u1(15).u1(6).u2(ref);                      // REF_invokeStatic
            bootstrapHandle = poolCount++;
            pool.u1(17).u2(bootstrapIndex).u2(nat);
            epoch = poolCount++;
            if (!hasBootstrapMethods) {
                reusedUtf8(BOOTSTRAP_METHODS);              // now: the pool is written before the class's attributes
            }
        }
    }

    /** A {@code Methodref} to ReleaseGuard's method named {@code REUSED[k]}, of descriptor {@code REUSED[k + 1]}. */
    private int guardMethod(int k) {
        int owner = guardClass();
        int nat = nameAndType(reusedUtf8(k), reusedUtf8(k + 1));
        pool.u1(10).u2(owner).u2(nat);
        return poolCount++;
    }

    /** A {@code Methodref} to the epoch class's method named {@code REUSED[name]}, of descriptor {@code REUSED[descriptor]}. */
    private int epochClassMethod(int name, int descriptor) {
        int owner = reusedClass(EPOCH_CLASS_NAME);
        int nat = nameAndType(reusedUtf8(name), reusedUtf8(descriptor));
        pool.u1(10).u2(owner).u2(nat);
        return poolCount++;
    }

    private int guardClass() {
        if (guardClass == 0) {
            guardClass = reusedClass(GUARD_NAME);
        }
        return guardClass;
    }

    private int enterSection() {
        if (enterSection == 0) {
            enterSection = callsEpochClass ? epochClassMethod(EPOCH_ENTER, EPOCH_ENTER_DESC) : guardMethod(ENTER);
        }
        return enterSection;
    }

    private int enterEntrySection() {
        if (enterEntrySection == 0) {
            enterEntrySection = callsEpochClass ? epochClassMethod(EPOCH_ENTER_ENTRY, EPOCH_ENTER_DESC) : guardMethod(ENTER_ENTRY);
        }
        return enterEntrySection;
    }

    private int exitSection() {
        if (exitSection == 0) {
            exitSection = callsEpochClass ? epochClassMethod(EPOCH_EXIT, EPOCH_EXIT_DESC) : guardMethod(EXIT);
        }
        return exitSection;
    }

    private int exitSectionThrowing() {
        if (exitSectionThrowing == 0) {
            exitSectionThrowing = callsEpochClass ? epochClassMethod(EPOCH_EXIT_THROWING, EPOCH_EXIT_THROWING_DESC) : guardMethod(EXIT_THROWING);
        }
        return exitSectionThrowing;
    }

    private int bootstrapHandle;
    /** Whether the class has a {@code BootstrapMethods} attribute. */
    private boolean hasBootstrapMethods;

    private int utf8(String s) {
        int start = pool.length;
        pool.u1(1).u2(0);
        int len = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c >= 1 && c <= 0x7F) {
                pool.u1(c);
                len += 1;
            } else if (c <= 0x7FF) {
                pool.u1(0xC0 | (c >> 6)).u1(0x80 | (c & 0x3F));
                len += 2;
            } else {
                pool.u1(0xE0 | (c >> 12)).u1(0x80 | ((c >> 6) & 0x3F)).u1(0x80 | (c & 0x3F));
                len += 3;
            }
        }
        if (len > 0xFFFF) {
            throw UNSUPPORTED;
        }
        pool.data[start + 1] = (byte) (len >> 8);
        pool.data[start + 2] = (byte) len;
        return poolCount++;
    }

    private int classEntry(String internalName) {
        int name = utf8(internalName);
        pool.u1(7).u2(name);
        return poolCount++;
    }

    private int nameAndType(int name, int descriptor) {
        pool.u1(12).u2(name).u2(descriptor);
        return poolCount++;
    }

    private int string(String s) {
        int u = utf8(s);
        pool.u1(8).u2(u);
        return poolCount++;
    }

    // ---- class structure ---------------------------------------------------------------------

    private int u2(int at) {
        return ((b[at] & 0xFF) << 8) | (b[at + 1] & 0xFF);
    }

    private int s2(int at) {
        return (short) u2(at);
    }

    private int s4(int at) {
        return ((b[at] & 0xFF) << 24) | ((b[at + 1] & 0xFF) << 16) | ((b[at + 2] & 0xFF) << 8) | (b[at + 3] & 0xFF);
    }

    /**
     * Whether the constant-pool index at {@code at} names the {@code Utf8} {@code REUSED[k]}: a
     * look-up in {@link #kind}, filled by the one pass over the pool (no comparison of bytes).
     */
    private boolean named(int at, int k) {
        return kind[u2(at)] == k + 1;
    }

    /** Whether the constant-pool index at {@code at} names the {@code Utf8} {@code s}. */
    private boolean utf8Equals(int at, String s) {
        int item = items[u2(at)];
        int len = u2(item);
        if (len < s.length()) {
            return false;                                // each char takes one byte or more
        }
        if (len == s.length()) {
            for (int i = 0; i < len; i++) {
                byte c = b[item + 2 + i];
                if (c <= 0) {
                    return s.equals(decode(item)); // not ASCII
                }
                if (c != s.charAt(i)) {
                    return false;
                }
            }
            return true;
        }
        return s.equals(decode(item));
    }

    /** The modified UTF-8 constant whose entry's bytes start at {@code item} (after its tag). */
    private String decode(int item) {
        return GuardPlan.utf8(b, item - 1);
    }

    /** From {@code methods_count}: the offset of the class's attributes count. */
    private int skipMembers(int methodsAt) {
        int count = u2(methodsAt);
        int at = methodsAt + 2;
        for (int i = 0; i < count; i++) {
            at = skipAttributes(at + 6);
        }
        return at;
    }

    /** From an attributes count: past the attributes. */
    private int skipAttributes(int at) {
        int count = u2(at);
        at += 2;
        for (int i = 0; i < count; i++) {
            at += 6 + s4(at + 2);
        }
        return at;
    }

    private int bootstrapCount(int attributesAt) {
        int count = u2(attributesAt);
        int at = attributesAt + 2;
        for (int i = 0; i < count; i++) {
            if (named(at, BOOTSTRAP_METHODS)) {
                hasBootstrapMethods = true;
                return u2(at + 6);
            }
            at += 6 + s4(at + 2);
        }
        return 0;
    }

    /**
     * The class's attributes with our bootstrap method appended to {@code BootstrapMethods} (or a
     * new one); unchanged when the calls go to the epoch class (it holds the constant).
     */
    private void classAttributes(int attributesAt, Out out) {
        if (callsEpochClass) {
            out.bytes(b, attributesAt, skipAttributes(attributesAt) - attributesAt);
            return;
        }
        int count = u2(attributesAt);
        int at = attributesAt + 2;
        boolean found = false;
        int countAt = out.length;
        out.u2(count);
        for (int i = 0; i < count; i++) {
            int len = s4(at + 2);
            if (!found && named(at, BOOTSTRAP_METHODS)) {
                found = true;
                copyWithEntry(at, len, bootstrapHandle, 0, out); // our bootstrap method, no arguments
            } else {
                out.bytes(b, at, 6 + len);
            }
            at += 6 + len;
        }
        if (!found) {
            out.set2(countAt, count + 1);
            out.u2(reusedUtf8(BOOTSTRAP_METHODS)).u4(6).u2(1).u2(bootstrapHandle).u2(0);
        }
    }

    /**
     * Copies the attribute at {@code at} (of length {@code len}; its body a u2 count, then its
     * entries) with one more entry at the end, made of the two u2 {@code first} and {@code second}.
     */
    private void copyWithEntry(int at, int len, int first, int second, Out out) {
        out.bytes(b, at, 2).u4(len + 4).u2(u2(at + 6) + 1);
        out.bytes(b, at + 8, len - 2);
        out.u2(first).u2(second);
    }

    // ---- methods -----------------------------------------------------------------------------

    /** The index in {@link GuardPlan#targets()} of the next target: they come in declaration order. */
    private int nextTarget;

    /** Copies or weaves the method at {@code at}; returns the offset past it. */
    private int method(int at, List<GuardPlan.Target> targets, Out out) {
        int end = skipAttributes(at + 6);
        GuardPlan.Target target = nextTarget < targets.size() ? targets.get(nextTarget) : null;
        if (target == null || !utf8Equals(at + 2, target.name()) || !utf8Equals(at + 4, target.descriptor())) {
            out.bytes(b, at, end - at);
            return end;
        }
        nextTarget++;
        boolean constructor = named(at + 2, INIT);
        boolean gated = target.reason().gated();
        int entryName = gated && !callsEpochClass ? string(target.entryName()) : 0; // the epoch class's b() finds it on the stack
        out.bytes(b, at, 6);
        int count = u2(at + 6);
        int countAt = out.length;
        out.u2(count);
        boolean code = false;
        boolean annotated = false;
        int a = at + 8;
        for (int i = 0; i < count; i++) {
            int len = s4(a + 2);
            if (!code && named(a, CODE)) {
                code = true;
                code(a, constructor, gated, entryName, u2(at), target.descriptor(), out);
            } else if (!annotated && named(a, ANNOTATIONS)) {
                annotated = true;
                copyWithEntry(a, len, reusedUtf8(GUARDED), 0, out);       // @Guarded, no elements
            } else {
                out.bytes(b, a, 6 + len);
            }
            a += 6 + len;
        }
        if (!code) {
            throw UNSUPPORTED; // planned but no code: not a method this weaver understands
        }
        if (!annotated) {
            out.set2(countAt, count + 1);
            out.u2(reusedUtf8(ANNOTATIONS)).u4(6).u2(1).u2(reusedUtf8(GUARDED)).u2(0);
        }
        return end;
    }

    // EPOCH: ldc_w of the dynamic constant, three bytes; CELL: the cell's local, 1, 2 or 4 bytes
    // to load or store (aload_n / aload n / wide aload n).
    private static final int ENTER_LENGTH = 6;       // EPOCH; invokestatic; then astore CELL
    private static final int ENTER_ENTRY_LENGTH = 9; // EPOCH; ldc_w name; invokestatic; then astore CELL
    private static final int EPOCH_CLASS_ENTER_LENGTH = 3; // invokestatic PluginEpoch.a/b; then astore CELL
    private static final int EXIT_LENGTH = 3;        // aload CELL before it; invokestatic (ReleaseGuard's or PluginEpoch.c)
    private static final int HANDLER_LENGTH = 4;     // aload CELL before it; invokestatic; athrow
    private static final int EPOCH_CLASS_HANDLER_LENGTH = 5; // dup; invokestatic PluginEpoch.d; athrow

    /** The local that keeps the cell in the method being woven: its old {@code max_locals}. */
    private int cell;
    /** Bytes of an {@code aload}/{@code astore} of {@link #cell}. */
    private int cellAccess;
    /** Bytes of an exit sequence in the method being woven. */
    private int exitLength;

    // The code of the method being woven (fields, so each pass is a small method of its own: the
    // JIT compiles small methods sooner and cheaper, which matters while an application starts).
    private int code;
    private int length;
    /**
     * Per old offset: the instruction's length at an instruction start (0 at {@code length}), -1
     * inside one. Decoded once, by {@link #scan}; the other passes step by it.
     */
    private int[] starts = new int[0];
    private boolean[] isReturn = new boolean[0];
    /** Per old offset: where control arriving there goes (see "Offsets"); {@code length} included. */
    private int[] target = new int[0];
    /** Per old offset: where its instruction is written. */
    private int[] place = new int[0];
    private int sectionStart;
    /** The return instructions of the method being woven (each gets an exit). */
    private int returns;

    /**
     * Weaves the {@code Code} attribute at {@code at} into {@code out}.
     *
     * @param access the method's access flags, and {@code descriptor} its descriptor: its initial frame
     */
    private void code(int at, boolean constructor, boolean gated, int entryName, int access, String descriptor, Out out) {
        int maxStack = u2(at + 6);
        int maxLocals = u2(at + 8);
        if (maxLocals >= 0xFFFF) {
            throw UNSUPPORTED; // no room for the cell's local
        }
        this.access = access;
        this.descriptor = descriptor;
        this.constructor = constructor;
        cell = argumentSlots();
        if (cell > maxLocals) {
            throw UNSUPPORTED; // the verifier would refuse the original
        }
        cellAccess = cell <= 3 ? 1 : cell <= 0xFF ? 2 : 4;
        exitLength = EXIT_LENGTH + cellAccess;
        length = s4(at + 10);
        code = at + 14;
        int tableAt = code + length;
        if (starts.length <= length) {
            int n = Math.max(length + 1, starts.length * 2);
            starts = new int[n];
            isReturn = new boolean[n];
            target = new int[n];
            place = new int[n];
        }
        int p = scan(constructor);
        int enterLength = (callsEpochClass ? EPOCH_CLASS_ENTER_LENGTH : gated ? ENTER_ENTRY_LENGTH : ENTER_LENGTH) + cellAccess;
        int handler = layout(p, enterLength);
        int newLength = handler + (callsEpochClass ? EPOCH_CLASS_HANDLER_LENGTH : HANDLER_LENGTH + cellAccess);
        if (newLength > 0xFFFF) {
            throw UNSUPPORTED;
        }
        // The constants the woven code calls, in the order the code uses them (enter, exit, the
        // handler's exit): added to the pool here, once per method, not inside emit's loop.
        int enter = gated ? enterEntrySection() : enterSection();
        int exit = returns > 0 ? exitSection() : 0;
        int exitThrowing = exitSectionThrowing();
        Out c = new Out(newLength);
        emit(p, gated, entryName, enter, exit, exitThrowing, c);

        int handlers = u2(tableAt);
        Out table = new Out(8 * (handlers + returns) + 32);
        int rows = exceptionTable(tableAt, handlers, p, handler, table);

        int attributesAt = tableAt + 2 + 8 * handlers;
        Out attributes = new Out(2 * (at + 6 + s4(at + 2) - attributesAt) + 64);
        int count = codeAttributes(attributesAt, p, handler, attributes);

        int attributeLength = 2 + 2 + 4 + newLength + 2 + 8 * rows + 2 + attributes.length;
        out.bytes(b, at, 2).u4(attributeLength);
        out.u2(Math.max(maxStack + 1, 2)).u2(maxLocals + 1).u4(newLength);
        out.bytes(c.data, 0, c.length);
        out.u2(rows).bytes(table.data, 0, table.length);
        out.u2(count).bytes(attributes.data, 0, attributes.length);
    }

    /** Pass 1: instruction starts and returns; returns the section's start {@code P}. */
    private int scan(boolean constructor) {
        Arrays.fill(starts, 0, length + 1, -1);
        Arrays.fill(isReturn, 0, length + 1, false);
        returns = 0;
        int p = constructor ? -1 : 0;
        int expect = constructor ? 0 : -1; // constructor prologue: 0 wants aload_0, 1 loads until the call, -1 done
        for (int o = 0; o < length; ) {
            int op = b[code + o] & 0xFF;
            if (expect >= 0) {
                if (expect == 0) {
                    if (op != 0x2a) { // aload_0
                        throw UNSUPPORTED;
                    }
                    expect = 1;
                } else if (op == 0xb7) { // invokespecial: must be <init>
                    if (!initCall(u2(code + o + 1))) {
                        throw UNSUPPORTED;
                    }
                    p = o + 3;
                    expect = -1;
                } else if (!isSimpleLoad(op)) {
                    throw UNSUPPORTED;
                }
            }
            boolean isReturn = op >= 0xac && op <= 0xb1;
            this.isReturn[o] = isReturn;
            if (isReturn) {
                returns++;
            }
            int n = LENGTH[op];
            if (n <= 0) {
                n = specialLength(o, op);
            }
            starts[o] = n;
            if (LOCAL[op] >= 0 && localIndex(o) == cell - 1 && twoSlots(o)) {
                throw UNSUPPORTED; // a long or double in the last argument slot and the one after: across the cell
            }
            o += n;
        }
        if (p < 0 || p >= length) {
            throw UNSUPPORTED;
        }
        starts[length] = 0;
        return p;
    }

    /** Whether the method reference {@code index} names an {@code <init>}. */
    private boolean initCall(int index) {
        int ref = items[index];
        int nat = items[u2(ref + 2)];
        return named(nat, INIT);
    }

    /** Pass 2: new positions; returns where the handler goes (the end of the woven body). */
    private int layout(int p, int enterLength) {
        int pos = 0;
        for (int o = 0; o < length; ) {
            if (o == p) {
                pos += enterLength;
                sectionStart = pos;
            }
            target[o] = pos;
            if (isReturn[o]) {
                pos += exitLength;
            }
            place[o] = pos;
            int op = b[code + o] & 0xFF;
            int n = starts[o];
            pos += op == 0xaa || op == 0xab ? n - pad(o) + pad(pos) : LOCAL[op] >= 0 ? shiftedLength(o, n) : n;
            o += n;
        }
        target[length] = pos;
        return pos;
    }

    /**
     * Pass 3: the woven code. {@code enter}, {@code exit} and {@code exitThrowing} are the
     * constants of the calls (the enter of this method's kind, the exit, the handler's exit).
     */
    private void emit(int p, boolean gated, int entryName, int enter, int exit, int exitThrowing, Out c) {
        for (int o = 0; o < length; ) {
            if (o == p) {
                if (callsEpochClass) {
                    c.u1(0xb8).u2(enter);                  // PluginEpoch.b() / a()
                } else if (gated) {
                    c.u1(0x13).u2(epoch).u1(0x13).u2(entryName).u1(0xb8).u2(enter);
                } else {
                    c.u1(0x13).u2(epoch).u1(0xb8).u2(enter);
                }
                cellAccess(0x4b, 0x3a, c);                 // astore CELL
            }
            if (isReturn[o]) {
                cellAccess(0x2a, 0x19, c);                 // aload CELL
                c.u1(0xb8).u2(exit);
            }
            int n = starts[o];
            copyInsn(o, n, c);
            o += n;
        }
        if (callsEpochClass) {
            c.u1(0x59).u1(0xb8).u2(exitThrowing).u1(0xbf); // dup; PluginEpoch.d(thrown); athrow
        } else {
            cellAccess(0x2a, 0x19, c);
            c.u1(0xb8).u2(exitThrowing).u1(0xbf);
        }
    }

    /** {@code aload}/{@code astore} of the cell's local: {@code short0} + n, {@code op} n, or {@code wide op} n. */
    private void cellAccess(int short0, int op, Out c) {
        if (cellAccess == 1) {
            c.u1(short0 + cell);
        } else if (cellAccess == 2) {
            c.u1(op).u1(cell);
        } else {
            c.u1(0xc4).u1(op).u2(cell);
        }
    }

    /** The method's own handlers, remapped, then the catch-all ranges; returns the row count. */
    private int exceptionTable(int tableAt, int handlers, int p, int handler, Out table) {
        int rows = handlers;
        for (int i = 0; i < handlers; i++) {
            int e = tableAt + 2 + 8 * i;
            table.u2(map(u2(e))).u2(map(u2(e + 2))).u2(map(u2(e + 4))).u2(u2(e + 6));
        }
        int from = sectionStart;
        for (int o = p; o < length; o += starts[o]) {
            if (isReturn[o]) {
                if (target[o] > from) {
                    table.u2(from).u2(target[o]).u2(handler).u2(0);
                    rows++;
                }
                from = place[o] + 1;
            }
        }
        if (handler > from) {
            table.u2(from).u2(handler).u2(handler).u2(0);
            rows++;
        }
        return rows;
    }

    /** The code's attributes with offsets remapped and the handler's frame added; returns their count. */
    private int codeAttributes(int attributesAt, int p, int handler, Out attributes) {
        int count = u2(attributesAt);
        int a = attributesAt + 2;
        boolean frames = false;
        for (int i = 0; i < count; i++) {
            int len = s4(a + 2);
            if (named(a, STACK_MAP_TABLE)) {
                frames = true;
                stackMapTable(a, p, handler, attributes);
            } else if (named(a, LINE_NUMBERS)) {
                attributes.bytes(b, a, 8);
                int n = u2(a + 6);
                for (int k = 0; k < n; k++) {
                    int e = a + 8 + 4 * k;
                    attributes.u2(map(u2(e))).u2(u2(e + 2));
                }
            } else if (named(a, LOCAL_VARIABLES) || named(a, LOCAL_VARIABLE_TYPES)) {
                attributes.bytes(b, a, 8);
                int n = u2(a + 6);
                for (int k = 0; k < n; k++) {
                    int e = a + 8 + 10 * k;
                    int start = map(u2(e));
                    int stop = map(u2(e) + u2(e + 2));
                    int index = u2(e + 8);
                    attributes.u2(start).u2(stop - start).bytes(b, e + 4, 4).u2(index >= cell ? index + 1 : index);
                }
            } else {
                throw UNSUPPORTED; // type annotations and unknown attributes hold offsets we cannot fix
            }
            a += 6 + len;
        }
        if (!frames) {
            count++;
            attributes.u2(reusedUtf8(STACK_MAP_TABLE)).u4(2 + handlerFrameLength()).u2(1);
            handlerFrame(attributes, handler);
        }
        return count;
    }

    /** {@code aload_0}, then any of these before the {@code super(...)} call: loads of locals and constants. */
    private static boolean isSimpleLoad(int op) {
        return (op >= 0x01 && op <= 0x14) || (op >= 0x15 && op <= 0x2d);
    }

    /** The new offset an old one names ({@code length} included); an offset inside an instruction is refused. */
    private int map(int old) {
        if (old < 0 || old > length || starts[old] < 0) {
            throw UNSUPPORTED;
        }
        return target[old];
    }

    /** Switch padding at {@code pos}: bytes after the opcode up to a multiple of 4. */
    private static int pad(int pos) {
        return (4 - ((pos + 1) & 3)) & 3;
    }

    // Per-opcode tables: the weaver's hot loops index them instead of branching on the opcode, so
    // their compiled code is small and the same whatever opcodes a class's methods happen to use
    // (a switch the JIT compiled for the opcodes seen so far is compiled again at the first other).

    /**
     * Per opcode: the instruction's length; 0 for {@code wide}, {@code tableswitch} and
     * {@code lookupswitch} ({@link #specialLength}), -1 for the refused ones ({@code jsr},
     * {@code ret}, {@code jsr_w} and the opcodes the JVMS does not define in a class file).
     */
    private static final byte[] LENGTH = new byte[256];
    /**
     * Per opcode: the local it loads, stores or increments: 0 to 3 for {@code xload_n} and
     * {@code xstore_n}, 4 for an index in the byte after the opcode, 5 for {@code wide} (two bytes
     * after the inner opcode); -1 for the other opcodes.
     */
    private static final byte[] LOCAL = new byte[256];
    /** Per opcode: whether it loads or stores a {@code long} or {@code double} (two slots). */
    private static final boolean[] TWO_SLOTS = new boolean[256];

    static {
        for (int op = 0; op < 256; op++) {
            LENGTH[op] = (byte) (op <= 0xbf || op == 0xc2 || op == 0xc3 ? 1 : -1);
            LOCAL[op] = -1;
        }
        for (int op : new int[] {0x10, 0x12, 0x15, 0x16, 0x17, 0x18, 0x19, 0x36, 0x37, 0x38, 0x39, 0x3a, 0xbc}) {
            LENGTH[op] = 2;
        }
        for (int op : new int[] {0x11, 0x13, 0x14, 0x84, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xbb, 0xbd, 0xc0, 0xc1,
                0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f, 0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xc6, 0xc7}) {
            LENGTH[op] = 3;
        }
        LENGTH[0xc5] = 4;
        LENGTH[0xb9] = LENGTH[0xba] = LENGTH[0xc8] = 5;
        LENGTH[0xc4] = LENGTH[0xaa] = LENGTH[0xab] = 0;
        LENGTH[0xa8] = LENGTH[0xa9] = LENGTH[0xc9] = -1;                    // jsr, ret, jsr_w
        for (int op = 0x15; op <= 0x19; op++) {
            LOCAL[op] = 4;                                                  // xload n
            LOCAL[op + 0x21] = 4;                                           // xstore n
        }
        LOCAL[0x84] = 4;                                                    // iinc
        for (int op = 0x1a; op <= 0x2d; op++) {
            LOCAL[op] = (byte) ((op - 0x1a) & 3);                           // xload_n
            LOCAL[op + 0x21] = (byte) ((op - 0x1a) & 3);                    // xstore_n
        }
        LOCAL[0xc4] = 5;                                                    // wide
        TWO_SLOTS[0x16] = TWO_SLOTS[0x18] = TWO_SLOTS[0x37] = TWO_SLOTS[0x39] = true; // lload, dload, lstore, dstore
        for (int n = 0; n < 4; n++) {
            TWO_SLOTS[0x1e + n] = TWO_SLOTS[0x26 + n] = TWO_SLOTS[0x3f + n] = TWO_SLOTS[0x47 + n] = true;
        }
    }

    /** Length of a {@code wide}, {@code tableswitch} or {@code lookupswitch} at {@code o} ({@code wide ret} refused); the refused opcodes. */
    private int specialLength(int o, int op) {
        switch (op) {
            case 0xc4: { // wide
                int inner = b[code + o + 1] & 0xFF;
                if (inner == 0xa9) {
                    throw UNSUPPORTED; // wide ret
                }
                return inner == 0x84 ? 6 : 4;
            }
            case 0xaa: { // tableswitch
                int q = code + o + 1 + pad(o);
                int low = s4(q + 4);
                int high = s4(q + 8);
                return 1 + pad(o) + 12 + 4 * (high - low + 1);
            }
            case 0xab: { // lookupswitch
                int q = code + o + 1 + pad(o);
                return 1 + pad(o) + 8 + 8 * s4(q + 4);
            }
            default:
                throw UNSUPPORTED; // jsr, ret, jsr_w, unknown
        }
    }

    /** Copies one instruction to {@code c} at {@code newPos}, branch offsets and switch padding fixed. */
    private void copyInsn(int o, int n, Out c) {
        int newPos = place[o];
        int op = b[code + o] & 0xFF;
        if ((op >= 0x99 && op <= 0xa7) || op == 0xc6 || op == 0xc7) {
            int to = map(o + s2(code + o + 1)) - newPos;
            if (to != (short) to) {
                throw UNSUPPORTED; // would need goto_w: ASM knows how
            }
            c.u1(op).u2(to);
        } else if (op == 0xc8) { // goto_w
            c.u1(op).u4(map(o + s4(code + o + 1)) - newPos);
        } else if (op == 0xaa || op == 0xab) {
            int q = code + o + 1 + pad(o);
            c.u1(op);
            for (int i = pad(newPos); i > 0; i--) {
                c.u1(0);
            }
            c.u4(map(o + s4(q)) - newPos);
            if (op == 0xaa) {
                int low = s4(q + 4);
                int high = s4(q + 8);
                c.u4(low).u4(high);
                for (int i = 0; i <= high - low; i++) {
                    c.u4(map(o + s4(q + 12 + 4 * i)) - newPos);
                }
            } else {
                int pairs = s4(q + 4);
                c.u4(pairs);
                for (int i = 0; i < pairs; i++) {
                    c.u4(s4(q + 8 + 8 * i));
                    c.u4(map(o + s4(q + 12 + 8 * i)) - newPos);
                }
            }
        } else if (localIndex(o) >= cell) {
            shifted(o, c);
        } else {
            c.bytes(b, code + o, n);
        }
    }

    // ---- locals: every local at or past the cell's index moves up by one -----------------------

    /** {@code this} and the parameters' slots: the cell's index. */
    private int argumentSlots() {
        int slots = (access & 0x0008) == 0 ? 1 : 0;
        String d = descriptor;
        for (int i = 1; d.charAt(i) != ')'; i++) {
            char c = d.charAt(i);
            while (d.charAt(i) == '[') {
                i++;
            }
            if (d.charAt(i) == 'L') {
                i = d.indexOf(';', i);
            }
            slots += c == 'J' || c == 'D' ? 2 : 1;       // an array is one slot, whatever its element
        }
        return slots;
    }

    /** The local index the instruction at {@code o} loads, stores or increments, or -1. */
    private int localIndex(int o) {
        int k = LOCAL[b[code + o] & 0xFF];
        return k < 4 ? k : k == 4 ? b[code + o + 1] & 0xFF : u2(code + o + 2);
    }

    /** Whether the load or store at {@code o} is of a {@code long} or {@code double} (two slots). */
    private boolean twoSlots(int o) {
        int op = b[code + o] & 0xFF;
        if (op == 0xc4) {
            op = b[code + o + 1] & 0xFF;
        }
        return TWO_SLOTS[op];
    }

    /** The length of the instruction at {@code o} (of {@code n} bytes) once its local index is shifted. */
    private int shiftedLength(int o, int n) {
        int index = localIndex(o);
        if (index < cell) {
            return n;
        }
        int op = b[code + o] & 0xFF;
        if (op == 0xc4) {
            return n;                                    // wide stays wide (the index is at most 65534)
        } else if (op == 0x84) {
            return index == 0xFF ? 6 : 3;                // iinc; wide iinc past 255
        } else if (op <= 0x19 || (op >= 0x36 && op <= 0x3a)) {
            return index == 0xFF ? 4 : 2;                // xload n / xstore n; wide past 255
        }
        return index == 3 ? 2 : 1;                       // xload_k / xstore_k; xload 4 past 3
    }

    /** Writes the instruction at {@code o}, whose local is at or past the cell, with that local one up. */
    private void shifted(int o, Out c) {
        int op = b[code + o] & 0xFF;
        int index = localIndex(o) + 1;
        if (op == 0xc4) {
            int inner = b[code + o + 1] & 0xFF;
            c.u1(op).u1(inner).u2(index);
            if (inner == 0x84) {
                c.bytes(b, code + o + 4, 2);
            }
            return;
        }
        if (op == 0x84) {
            if (index <= 0xFF) {
                c.u1(op).u1(index).u1(b[code + o + 2]);
            } else {
                c.u1(0xc4).u1(op).u2(index).u2(b[code + o + 2]); // the constant sign-extended to 16 bits
            }
            return;
        }
        int longForm;                                    // xload n or xstore n of the instruction's type
        if (op >= 0x1a && op <= 0x2d) {
            longForm = 0x15 + ((op - 0x1a) >> 2);
        } else if (op >= 0x3b && op <= 0x4e) {
            longForm = 0x36 + ((op - 0x3b) >> 2);
        } else {
            longForm = op;
        }
        if (longForm != op && index <= 3) {
            c.u1(op + 1);                                // xload_k: xload_(k+1)
        } else if (index <= 0xFF) {
            c.u1(longForm).u1(index);
        } else {
            c.u1(0xc4).u1(longForm).u2(index);
        }
    }

    // The frame being decoded: its locals as verification types (tag << 16 | constant-pool index
    // or, for Uninitialized, the new offset; PARAMETER << 16 | i for the i-th reference parameter
    // of the implicit initial frame, whose Class constant is added only if a frame is written with
    // it), one entry per type (a long or double is one entry of two slots, as in the class file).
    private int[] frameLocals = new int[16];
    private int frameLocalCount;
    /** The locals of the frame as it is written: {@link #frameLocals} with the cell's entry inserted. */
    private int[] newLocals = new int[16];
    private int newLocalCount;
    /** The locals of the frame written last (the implicit initial frame before the first). */
    private int[] writtenLocals = new int[16];
    private int writtenLocalCount;
    /** The internal names of the reference parameters, for {@link #PARAMETER} entries. */
    private String[] parameterTypes = new String[8];
    private int access;
    private String descriptor;
    private boolean constructor;

    /** The tag of a reference parameter's type in {@link #frameLocals}: not a class-file tag. */
    private static final int PARAMETER = 0x7F;
    /** The cell's verification type in {@link #newLocals}: written as {@code Object}. */
    private static final int CELL = 0x7E << 16;

    /**
     * Rewrites a {@code StackMapTable} with new offsets and the cell's local, and appends the
     * handler's frame. The frames are decompressed in order from the implicit initial frame (the
     * descriptor's); each frame's locals get the cell's entry inserted at the cell's index (the
     * slots after it moved up by one): {@code Object} in a frame at or after {@code p} (where the
     * section starts: every such frame's code runs after the enter stored the cell), {@code Top}
     * before it (a constructor's prologue) if locals follow; a frame whose locals end before the
     * cell's index and is in the section is padded with {@code Top} up to it. Each frame is then
     * compressed again against the frame written before it, as javac and ASM do: {@code same},
     * {@code same_locals_1_stack_item}, {@code chop} or {@code append} of up to three locals, else
     * {@code full_frame}. Since the cell sits below every local the body declares, the original's
     * compressed frames stay compressed; only the first frame in the section (the implicit frame
     * before it has no cell) and the original's full frames need more.
     */
    private void stackMapTable(int at, int p, int handler, Out out) {
        int entries = u2(at + 6);
        Out frames = new Out(s4(at + 2) + 16 + 8 * entries);
        initialLocals();
        writtenLocalCount = 0;
        for (int k = 0; k < frameLocalCount; k++) {
            writtenLocals = put(writtenLocals, writtenLocalCount++, frameLocals[k]);
        }
        int q = at + 8;
        int oldOffset = -1;
        int newOffset = -1;
        for (int i = 0; i < entries; i++) {
            int type = b[q] & 0xFF;
            int delta;
            int body; // offset of what follows the delta
            if (type < 64) {
                delta = type;
                body = q + 1;
            } else if (type < 128) {
                delta = type - 64;
                body = q + 1;
            } else if (type >= 247) {
                delta = u2(q + 1);
                body = q + 3;
            } else {
                throw UNSUPPORTED;
            }
            oldOffset = i == 0 ? delta : oldOffset + delta + 1;
            int mapped = map(oldOffset);
            int newDelta = i == 0 ? mapped : mapped - newOffset - 1;
            newOffset = mapped;
            int stackAt = body;
            int stackCount = 0;
            if (type >= 64 && (type < 128 || type == 247)) {
                stackCount = 1;
            } else if (type >= 248 && type <= 250) {     // chop
                frameLocalCount -= 251 - type;
                if (frameLocalCount < 0) {
                    throw UNSUPPORTED;
                }
            } else if (type >= 252 && type <= 254) {     // append
                stackAt = readLocals(body, type - 251);
            } else if (type == 255) {                    // full
                frameLocalCount = 0;
                int r = readLocals(body + 2, u2(body));
                stackCount = u2(r);
                stackAt = r + 2;
            }
            withCell(oldOffset >= p);
            q = writeFrame(newDelta, stackAt, stackCount, frames);
        }
        int handlerDelta = entries == 0 ? handler : handler - newOffset - 1;
        out.bytes(b, at, 2).u4(2 + frames.length + handlerFrameLength()).u2(entries + 1);
        out.bytes(frames.data, 0, frames.length);
        handlerFrame(out, handlerDelta);
    }

    private static int[] put(int[] array, int index, int value) {
        if (index == array.length) {
            array = Arrays.copyOf(array, index * 2);
        }
        array[index] = value;
        return array;
    }

    /** {@link #newLocals}: {@link #frameLocals} with the cell's entry at the cell's index. */
    private void withCell(boolean inSection) {
        newLocalCount = 0;
        int slots = 0;
        int k = 0;
        for (; k < frameLocalCount && slots < cell; k++) {
            int t = frameLocals[k];
            newLocals = put(newLocals, newLocalCount++, t);
            int tag = t >>> 16;
            slots += tag == 3 || tag == 4 ? 2 : 1;
        }
        if (slots > cell) {
            throw UNSUPPORTED;                           // a long or double across the cell's index
        }
        if (inSection) {
            for (; slots < cell; slots++) {
                newLocals = put(newLocals, newLocalCount++, 0); // Top
            }
            newLocals = put(newLocals, newLocalCount++, CELL);
        } else if (k < frameLocalCount) {
            newLocals = put(newLocals, newLocalCount++, 0); // Top where the cell will be
        }
        for (; k < frameLocalCount; k++) {
            newLocals = put(newLocals, newLocalCount++, frameLocals[k]);
        }
    }

    /**
     * Writes the frame of {@link #newLocals} and the {@code stackCount} types at {@code stackAt},
     * compressed against {@link #writtenLocals}; returns the offset past those types.
     */
    private int writeFrame(int delta, int stackAt, int stackCount, Out frames) {
        int common = 0;
        int shorter = Math.min(newLocalCount, writtenLocalCount);
        while (common < shorter && newLocals[common] == writtenLocals[common]) {
            common++;
        }
        int q;
        if (stackCount <= 1 && common == newLocalCount && common == writtenLocalCount) {
            if (stackCount == 0) {
                if (delta < 64) {
                    frames.u1(delta);                    // same_frame
                } else {
                    frames.u1(251).u2(delta);            // same_frame_extended
                }
            } else if (delta < 64) {
                frames.u1(64 + delta);                   // same_locals_1_stack_item_frame
            } else {
                frames.u1(247).u2(delta);                // same_locals_1_stack_item_frame_extended
            }
            q = types(stackAt, stackCount, frames);
        } else if (stackCount == 0 && common == newLocalCount && writtenLocalCount - common <= 3) {
            frames.u1(251 - (writtenLocalCount - common)).u2(delta); // chop_frame
            q = stackAt;
        } else if (stackCount == 0 && common == writtenLocalCount && newLocalCount - common <= 3) {
            frames.u1(251 + (newLocalCount - common)).u2(delta);     // append_frame
            writeTypes(newLocals, common, newLocalCount, frames);
            q = stackAt;
        } else {
            frames.u1(255).u2(delta).u2(newLocalCount);             // full_frame
            writeTypes(newLocals, 0, newLocalCount, frames);
            frames.u2(stackCount);
            q = types(stackAt, stackCount, frames);
        }
        int[] swap = writtenLocals;
        writtenLocals = newLocals;
        writtenLocalCount = newLocalCount;
        newLocals = swap;
        return q;
    }

    /** Writes the verification types {@code types[from..to)}. */
    private void writeTypes(int[] types, int from, int to, Out out) {
        for (int i = from; i < to; i++) {
            int t = types[i];
            int tag = t >>> 16;
            if (t == CELL) {
                out.u1(7).u2(reusedClass(OBJECT));
            } else if (tag == PARAMETER) {
                out.u1(7).u2(typeClass(parameterTypes[t & 0xFFFF]));
            } else {
                out.u1(tag);
                if (tag == 7 || tag == 8) {
                    out.u2(t & 0xFFFF);
                }
            }
        }
    }

    /** The implicit initial frame's locals: {@code this} (uninitialized in a constructor), then the parameters. */
    private void initialLocals() {
        frameLocalCount = 0;
        if ((access & 0x0008) == 0) { // not ACC_STATIC
            addLocal(constructor ? 6 << 16 : 7 << 16 | u2(header + 2));
        }
        String d = descriptor;
        int i = 1;
        int references = 0;
        while (d.charAt(i) != ')') {
            char c = d.charAt(i);
            int start = i;
            while (d.charAt(i) == '[') {
                i++;
            }
            if (d.charAt(i) == 'L') {
                i = d.indexOf(';', i);
            }
            i++;
            if (c == 'L' || c == '[') {
                if (references == parameterTypes.length) {
                    parameterTypes = Arrays.copyOf(parameterTypes, references * 2);
                }
                parameterTypes[references] = c == 'L' ? d.substring(start + 1, i - 1) : d.substring(start, i);
                addLocal(PARAMETER << 16 | references++);
            } else {
                addLocal((c == 'J' ? 4 : c == 'D' ? 3 : c == 'F' ? 2 : 1) << 16);
            }
        }
    }

    /** A {@code Class} constant for {@code internalName}, added once per class. */
    private int typeClass(String internalName) {
        if (addedClasses == null) {
            addedClasses = new HashMap<>();
        }
        Integer index = addedClasses.get(internalName);
        if (index == null) {
            index = internalName.equals(REUSED[OBJECT]) ? reusedClass(OBJECT) : classEntry(internalName);
            addedClasses.put(internalName, index);
        }
        return index;
    }

    private void addLocal(int type) {
        frameLocals = put(frameLocals, frameLocalCount++, type);
    }

    /** Appends {@code n} verification types from {@code q} to the frame's locals; returns the offset past them. */
    private int readLocals(int q, int n) {
        for (int i = 0; i < n; i++) {
            int tag = b[q] & 0xFF;
            if (tag == 7) {
                addLocal(7 << 16 | u2(q + 1));
                q += 3;
            } else if (tag == 8) {
                addLocal(8 << 16 | map(u2(q + 1)));
                q += 3;
            } else if (tag <= 6) {
                addLocal(tag << 16);
                q += 1;
            } else {
                throw UNSUPPORTED;
            }
        }
        return q;
    }

    /** Bytes of the handler's frame: see {@link #handlerFrame}. */
    private int handlerFrameLength() {
        return callsEpochClass ? 10 : 13 + cell;
    }

    /**
     * The handler's frame: locals {@code Top} up to the cell, then the cell; the throwable on the
     * stack. A handler that calls the epoch class's {@code d} does not load the cell: no locals.
     */
    private void handlerFrame(Out out, int delta) {
        if (callsEpochClass) {
            out.u1(255).u2(delta).u2(0).u2(1).u1(7).u2(reusedClass(THROWABLE));
            return;
        }
        out.u1(255).u2(delta).u2(cell + 1);
        for (int i = 0; i < cell; i++) {
            out.u1(0);
        }
        out.u1(7).u2(reusedClass(OBJECT)).u2(1).u1(7).u2(reusedClass(THROWABLE));
    }

    /** Copies {@code n} verification types from {@code q}, remapping {@code Uninitialized} offsets; returns the offset past them. */
    private int types(int q, int n, Out out) {
        for (int i = 0; i < n; i++) {
            int tag = b[q] & 0xFF;
            if (tag == 7) {
                out.bytes(b, q, 3);
                q += 3;
            } else if (tag == 8) {
                out.u1(8).u2(map(u2(q + 1)));
                q += 3;
            } else if (tag <= 6) {
                out.u1(tag);
                q += 1;
            } else {
                throw UNSUPPORTED;
            }
        }
        return q;
    }

    /** A growable byte buffer. */
    private static final class Out {
        byte[] data;
        int length;

        Out(int capacity) {
            data = new byte[Math.max(capacity, 16)];
        }

        private void room(int n) {
            if (length + n > data.length) {
                data = Arrays.copyOf(data, Math.max(data.length * 2, length + n));
            }
        }

        Out u1(int v) {
            room(1);
            data[length++] = (byte) v;
            return this;
        }

        Out u2(int v) {
            room(2);
            data[length++] = (byte) (v >> 8);
            data[length++] = (byte) v;
            return this;
        }

        Out u4(int v) {
            room(4);
            data[length++] = (byte) (v >> 24);
            data[length++] = (byte) (v >> 16);
            data[length++] = (byte) (v >> 8);
            data[length++] = (byte) v;
            return this;
        }

        Out bytes(byte[] from, int offset, int n) {
            room(n);
            System.arraycopy(from, offset, data, length, n);
            length += n;
            return this;
        }

        void set2(int at, int v) {
            data[at] = (byte) (v >> 8);
            data[at + 1] = (byte) v;
        }

        byte[] toArray() {
            return Arrays.copyOf(data, length);
        }
    }
}
