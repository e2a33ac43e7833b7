package dev.unloadguard.epoch.internal;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * The epoch class: one small class a plugin loader defines in itself, once per plugin generation,
 * that holds the generation's epoch constant in a static final field and offers woven code four
 * short static methods bound to it. Woven code of a class that loader defines calls those methods
 * instead of {@code ReleaseGuard}'s with the constant, so the bootstrap of the constant runs once
 * per plugin generation rather than once per woven class, and a woven class's constant pool names
 * only this class and its four short methods:
 *
 * <pre>{@code
 * package dev.unloadguard.epoch.woven;
 * public final class PluginEpoch {
 *     public static final Object epoch = ReleaseGuard.epochConstant(MethodHandles.lookup(), "epoch", Object.class);
 *     public static Object a() { return ReleaseGuard.enterSectionCell(epoch); }       // an ungated section's enter
 *     public static Object b() { return ReleaseGuard.enterEntrySectionCell(epoch); }  // a gated entry's enter
 *     public static void c(Object cell) { ReleaseGuard.exitSectionCell(cell); }       // the exit before a return
 *     public static void d(Throwable t) { ReleaseGuard.exitSectionThrowing(epoch, t); } // the catch-all handler's exit
 * }
 * }</pre>
 *
 * <p>The byte-level weaver writes, for a class of such a loader ({@link #definedBy}):
 * {@code invokestatic b()Object} (or {@code a}) and {@code astore CELL} at the entry,
 * {@code aload CELL; invokestatic c(Object)void} before every return, and the handler
 * {@code dup; invokestatic d(Throwable)void; athrow}. So the class gains one {@code Class}
 * constant, up to four one-letter names with three short descriptors ({@code ()Ljava/lang/Object;}
 * shared by both enters), and no string per method: the gated entry names the entered method only
 * when the gate refuses it (or a crossing probe counts it), from the stack at that point
 * ({@code RefusedEntries.enteredMethod}: the first frame below this class's {@code b}).
 * The handler finds the thread's cell itself (a throwing exit is rare; the cell's local is for
 * the exits before returns), so it needs neither the cell nor a frame declaring it.
 *
 * <p>The field's value is exactly what the dynamic constant of a woven class of that loader
 * resolves to (its lookup class is the epoch class, defined by the plugin loader, so
 * {@code ReleaseGuard.epochConstant} finds the loader's epoch), so every
 * {@code ReleaseGuard.enter*}/{@code exit*} method takes it unchanged (the ASM weaver's token
 * sections read it with {@code getstatic}). The JIT treats a static final field of an initialized
 * class as a constant, as it treats a resolved dynamic constant, and inlines the four methods
 * (a few bytes each) into the woven method: the same compiled code as a direct call with the constant.
 *
 * <p><b>Initialization.</b> The static initializer calls into the runtime only (never plugin
 * code, never a lock the plugin holds): it cannot take part in a class-initialization deadlock,
 * and it runs as well inside another class's static initializer, on any thread, and after the
 * plugin began unloading (finding the loader's epoch does not look at the plugin's state).
 *
 * <p><b>Who defines it.</b> Only a loader that says so ({@link Definer}): when the JVM resolves
 * {@link #NAME} through it (its {@code loadClass}), it defines {@link #bytes()} under that name in
 * itself, and never takes the name from the plugin's jar or delegates it. The agent's weaver
 * emits the calls only for such loaders; every other plugin loader (registered foreign
 * loaders, test loaders) keeps the dynamic constant. The package {@code dev.unloadguard.epoch.woven}
 * is unloadguard's: its plugin loaders never delegate it and never transform the class. Its frames
 * are of the plugin's loader but are unloadguard's code, always right above a woven method's frame;
 * the close audit ({@code ThreadFrames}) treats a thread in {@code b} refusing as a refused entry.
 *
 * <p>The class file is written here by hand (the runtime has no bytecode library): Java 17
 * (version 61), straight-line code, so it needs no stack map.
 */
public final class PluginEpochClass {

    /** The binary name of the epoch class. */
    public static final String NAME = "dev.unloadguard.epoch.woven.PluginEpoch";
    /** The internal name of the epoch class, as class files spell it. */
    public static final String INTERNAL_NAME = "dev/unloadguard/epoch/woven/PluginEpoch";
    /** The name of its static field. */
    public static final String FIELD = "epoch";
    /** The descriptor of its static field. */
    public static final String FIELD_DESCRIPTOR = "Ljava/lang/Object;";
    /** The ungated section's enter, {@code static Object a()}: the calling thread's cell. */
    public static final String ENTER = "a";
    /** The gated entry's enter, {@code static Object b()}: the calling thread's cell. */
    public static final String ENTER_ENTRY = "b";
    /** The descriptor of both enters. */
    public static final String ENTER_DESCRIPTOR = "()Ljava/lang/Object;";
    /** The exit before a return, {@code static void c(Object cell)}. */
    public static final String EXIT = "c";
    /** The descriptor of {@link #EXIT}. */
    public static final String EXIT_DESCRIPTOR = "(Ljava/lang/Object;)V";
    /** The catch-all handler's exit, {@code static void d(Throwable thrown)}: the caller rethrows what it passed. */
    public static final String EXIT_THROWING = "d";
    /** The descriptor of {@link #EXIT_THROWING}. */
    public static final String EXIT_THROWING_DESCRIPTOR = "(Ljava/lang/Throwable;)V";

    /**
     * A plugin loader ({@link EpochHolder}) that defines the epoch class itself: its
     * {@code loadClass(NAME)} defines {@link #bytes()} in the loader (once; the JVM remembers the
     * class for the loader afterwards), whatever its delegation and its class path say, and never
     * throws for it (not even after the loader is closed). The agent weaves a field read of the
     * epoch class into the classes such a loader defines.
     */
    public interface Definer extends EpochHolder {
    }

    private static final byte[] BYTES = build();

    private PluginEpochClass() {
    }

    /** The class file of the epoch class (a fresh copy). */
    public static byte[] bytes() {
        return BYTES.clone();
    }

    /** Whether woven code of classes {@code loader} defines reads its epoch from the epoch class. */
    public static boolean definedBy(ClassLoader loader) {
        return loader instanceof Definer;
    }

    /** The class file; see the class comment for its source. */
    private static byte[] build() {
        Pool pool = new Pool();
        int thisClass = pool.classEntry(INTERNAL_NAME);
        int object = pool.classEntry("java/lang/Object");
        int fieldName = pool.utf8(FIELD);
        int fieldDescriptor = pool.utf8(FIELD_DESCRIPTOR);
        int clinit = pool.utf8("<clinit>");
        int voidDescriptor = pool.utf8("()V");
        int code = pool.utf8("Code");
        int lookup = pool.methodRef("java/lang/invoke/MethodHandles", "lookup", "()Ljava/lang/invoke/MethodHandles$Lookup;");
        String guard = "dev/unloadguard/epoch/ReleaseGuard";
        int epochConstant = pool.methodRef(guard, "epochConstant",
                "(Ljava/lang/invoke/MethodHandles$Lookup;Ljava/lang/String;Ljava/lang/Class;)Ljava/lang/Object;");
        int epochString = pool.add(8, fieldName);                                  // CONSTANT_String "epoch"
        int field = pool.add(9, thisClass, pool.add(12, fieldName, fieldDescriptor)); // Fieldref PluginEpoch.epoch
        int enterSection = pool.methodRef(guard, "enterSectionCell", "(Ljava/lang/Object;)Ljava/lang/Object;");
        int enterEntrySection = pool.methodRef(guard, "enterEntrySectionCell", "(Ljava/lang/Object;)Ljava/lang/Object;");
        int exitSection = pool.methodRef(guard, "exitSectionCell", "(Ljava/lang/Object;)V");
        int exitThrowing = pool.methodRef(guard, "exitSectionThrowing", "(Ljava/lang/Object;Ljava/lang/Throwable;)V");
        int enterName = pool.utf8(ENTER);
        int enterEntryName = pool.utf8(ENTER_ENTRY);
        int enterDescriptor = pool.utf8(ENTER_DESCRIPTOR);
        int exitName = pool.utf8(EXIT);
        int exitDescriptor = pool.utf8(EXIT_DESCRIPTOR);
        int exitThrowingName = pool.utf8(EXIT_THROWING);
        int exitThrowingDescriptor = pool.utf8(EXIT_THROWING_DESCRIPTOR);

        Bytes out = new Bytes();
        out.u4(0xCAFEBABE).u2(0).u2(61);
        out.u2(pool.count).bytes(pool.out);
        out.u2(0x0001 | 0x0010 | 0x0020);   // public final super
        out.u2(thisClass).u2(object).u2(0); // no interfaces
        out.u2(1);                           // one field: public static final Object epoch
        out.u2(0x0001 | 0x0008 | 0x0010).u2(fieldName).u2(fieldDescriptor).u2(0);
        out.u2(5);                           // five methods: <clinit>, a, b, c, d
        method(out, 0x0008, clinit, voidDescriptor, code, 3, 0, new Bytes()
                .u1(0xb8).u2(lookup)          // invokestatic MethodHandles.lookup()
                .u1(0x13).u2(epochString)     // ldc_w "epoch"
                .u1(0x13).u2(object)          // ldc_w java/lang/Object (the class)
                .u1(0xb8).u2(epochConstant)   // invokestatic ReleaseGuard.epochConstant
                .u1(0xb3).u2(field)           // putstatic epoch
                .u1(0xb1));                   // return
        method(out, 0x0009, enterName, enterDescriptor, code, 1, 0, new Bytes()
                .u1(0xb2).u2(field)           // getstatic epoch
                .u1(0xb8).u2(enterSection)    // invokestatic ReleaseGuard.enterSectionCell(Object)
                .u1(0xb0));                   // areturn
        method(out, 0x0009, enterEntryName, enterDescriptor, code, 1, 0, new Bytes()
                .u1(0xb2).u2(field)           // getstatic epoch
                .u1(0xb8).u2(enterEntrySection) // invokestatic ReleaseGuard.enterEntrySectionCell(Object)
                .u1(0xb0));                   // areturn
        method(out, 0x0009, exitName, exitDescriptor, code, 1, 1, new Bytes()
                .u1(0x2a)                     // aload_0: the cell
                .u1(0xb8).u2(exitSection)     // invokestatic ReleaseGuard.exitSectionCell(Object)
                .u1(0xb1));                   // return
        method(out, 0x0009, exitThrowingName, exitThrowingDescriptor, code, 2, 1, new Bytes()
                .u1(0xb2).u2(field)           // getstatic epoch
                .u1(0x2a)                     // aload_0: the throwable
                .u1(0xb8).u2(exitThrowing)    // invokestatic ReleaseGuard.exitSectionThrowing(Object, Throwable)
                .u1(0xb1));                   // return
        out.u2(0);                           // no class attributes
        return out.toArray();
    }

    /** Writes a method with one {@code Code} attribute of straight-line code (no handlers, no attributes). */
    private static void method(Bytes out, int access, int name, int descriptor, int code, int maxStack, int maxLocals, Bytes instructions) {
        byte[] insns = instructions.toArray();
        out.u2(access).u2(name).u2(descriptor).u2(1);
        out.u2(code).u4(2 + 2 + 4 + insns.length + 2 + 2);
        out.u2(maxStack).u2(maxLocals).u4(insns.length).bytes(insns);
        out.u2(0).u2(0);                     // no exception table, no code attributes
    }

    /** A constant pool being written: entries in order, {@link #count} the next index. */
    private static final class Pool {
        final Bytes out = new Bytes();
        int count = 1;

        int utf8(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8); // every name here is ASCII: modified UTF-8 is the same
            out.u1(1).u2(b.length).bytes(b);
            return count++;
        }

        int add(int tag, int... indexes) {
            out.u1(tag);
            for (int i : indexes) {
                out.u2(i);
            }
            return count++;
        }

        int classEntry(String internalName) {
            return add(7, utf8(internalName));
        }

        int methodRef(String owner, String name, String descriptor) {
            int c = classEntry(owner);
            return add(10, c, add(12, utf8(name), utf8(descriptor)));
        }
    }

    /** A big-endian byte sink. */
    private static final class Bytes {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream(512);

        Bytes u1(int v) {
            out.write(v);
            return this;
        }

        Bytes u2(int v) {
            out.write(v >>> 8);
            out.write(v);
            return this;
        }

        Bytes u4(int v) {
            return u2(v >>> 16).u2(v);
        }

        Bytes bytes(Bytes b) {
            return bytes(b.toArray());
        }

        Bytes bytes(byte[] b) {
            out.write(b, 0, b.length);
            return this;
        }

        byte[] toArray() {
            return out.toByteArray();
        }
    }
}
