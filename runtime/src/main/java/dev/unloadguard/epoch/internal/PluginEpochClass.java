package dev.unloadguard.epoch.internal;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * The epoch class: one small class a plugin loader defines in itself, once per plugin generation,
 * that holds the generation's epoch constant in a static final field. Woven code of a class that
 * loader defines reads it with {@code getstatic dev/unloadguard/epoch/woven/PluginEpoch.epoch}
 * instead of resolving a dynamic constant of its own, so the bootstrap of the constant runs once
 * per plugin generation rather than once per woven class:
 *
 * <pre>{@code
 * package dev.unloadguard.epoch.woven;
 * public final class PluginEpoch {
 *     public static final Object epoch = ReleaseGuard.epochConstant(MethodHandles.lookup(), "epoch", Object.class);
 * }
 * }</pre>
 *
 * <p>The value is exactly what the dynamic constant of a woven class of that loader resolves to
 * (its lookup class is the epoch class, defined by the plugin loader, so
 * {@code ReleaseGuard.epochConstant} finds the loader's epoch), so every
 * {@code ReleaseGuard.enter*}/{@code exit*} method takes it unchanged. The JIT treats a static
 * final field of an initialized class as a constant, as it treats a resolved dynamic constant.
 *
 * <p><b>Initialization.</b> The static initializer calls into the runtime only (never plugin
 * code, never a lock the plugin holds): it cannot take part in a class-initialization deadlock,
 * and it runs as well inside another class's static initializer, on any thread, and after the
 * plugin began unloading (finding the loader's epoch does not look at the plugin's state).
 *
 * <p><b>Who defines it.</b> Only a loader that says so ({@link Definer}): when the JVM resolves
 * {@link #NAME} through it (its {@code loadClass}), it defines {@link #bytes()} under that name in
 * itself, and never takes the name from the plugin's jar or delegates it. The agent's weaver
 * emits the field read only for such loaders; every other plugin loader (registered foreign
 * loaders, test loaders) keeps the dynamic constant. The package {@code dev.unloadguard.epoch.woven}
 * is unloadguard's: its plugin loaders never delegate it and never transform the class.
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
        int epochConstant = pool.methodRef("dev/unloadguard/epoch/ReleaseGuard", "epochConstant",
                "(Ljava/lang/invoke/MethodHandles$Lookup;Ljava/lang/String;Ljava/lang/Class;)Ljava/lang/Object;");
        int epochString = pool.add(8, fieldName);                                  // CONSTANT_String "epoch"
        int field = pool.add(9, thisClass, pool.add(12, fieldName, fieldDescriptor)); // Fieldref PluginEpoch.epoch

        Bytes out = new Bytes();
        out.u4(0xCAFEBABE).u2(0).u2(61);
        out.u2(pool.count).bytes(pool.out);
        out.u2(0x0001 | 0x0010 | 0x0020);   // public final super
        out.u2(thisClass).u2(object).u2(0); // no interfaces
        out.u2(1);                           // one field: public static final Object epoch
        out.u2(0x0001 | 0x0008 | 0x0010).u2(fieldName).u2(fieldDescriptor).u2(0);
        out.u2(1);                           // one method: static <clinit>()V
        out.u2(0x0008).u2(clinit).u2(voidDescriptor).u2(1);
        byte[] insns = new Bytes()
                .u1(0xb8).u2(lookup)          // invokestatic MethodHandles.lookup()
                .u1(0x13).u2(epochString)     // ldc_w "epoch"
                .u1(0x13).u2(object)          // ldc_w java/lang/Object (the class)
                .u1(0xb8).u2(epochConstant)   // invokestatic ReleaseGuard.epochConstant
                .u1(0xb3).u2(field)           // putstatic epoch
                .u1(0xb1)                     // return
                .toArray();
        out.u2(code).u4(2 + 2 + 4 + insns.length + 2 + 2);
        out.u2(3).u2(0).u4(insns.length).bytes(insns); // max_stack 3, max_locals 0
        out.u2(0).u2(0);                     // no exception table, no code attributes
        out.u2(0);                           // no class attributes
        return out.toArray();
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
