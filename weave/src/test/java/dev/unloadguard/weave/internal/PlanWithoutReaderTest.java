package dev.unloadguard.weave.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.io.InputStream;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.ClassWriter;
import org.objectweb.asm.MethodVisitor;
import org.objectweb.asm.Opcodes;

/**
 * {@link GuardPlan#entriesWithoutReader}: the plan of a plain class in scope ENTRIES read from its
 * bytes is the plan ASM's reader gives, names that are not ASCII included; the classes it does not
 * take are left to the reader; a version ASM refuses is refused alike.
 */
class PlanWithoutReaderTest {

    private static byte[] bytes(Class<?> c) throws IOException {
        try (InputStream in = c.getResourceAsStream(c.getSimpleName() + ".class")) {
            return in.readAllBytes();
        }
    }

    private static GuardPlan withReader(byte[] b) {
        return GuardPlan.analyze(new ClassReader(b), GuardPlan.scanConstantPool(b), null, Map.of(), true, GuardPlan.Scope.ENTRIES);
    }

    @Test
    void aPlainClassIsPlannedFromItsBytesAsTheReaderPlansIt() throws IOException {
        for (Class<?> c : new Class<?>[] {Log.class, WovenSizes.class, Hierarchy.class, ConstructorPrologue.class}) {
            byte[] b = bytes(c);
            GuardPlan byBytes = GuardPlan.entriesWithoutReader(b, GuardPlan.scanConstantPool(b), Map.of(), GuardPlan.Scope.ENTRIES);
            assertNotNull(byBytes, c + " has no release path: planned from its bytes");
            assertEquals(withReader(b).toString(), byBytes.toString(), c.getName());
        }
    }

    @Test
    void namesThatAreNotAsciiAreDecodedAsTheReaderDecodesThem() {
        ClassWriter cw = new ClassWriter(ClassWriter.COMPUTE_MAXS);
        cw.visit(Opcodes.V17, Opcodes.ACC_PUBLIC, "a/Caf\u00e9\u4e2d", null, "java/lang/Object", null);
        for (String name : new String[] {"gr\u00fc\u00dfe", "\u4e2d\u6587", "nul\u0000l", "\u0414\u043e\u043c", "plain"}) {
            MethodVisitor mv = cw.visitMethod(Opcodes.ACC_PUBLIC | Opcodes.ACC_STATIC, name, "(La/\u00e9;)V", null, null);
            mv.visitCode();
            mv.visitInsn(Opcodes.RETURN);
            mv.visitMaxs(0, 0);
            mv.visitEnd();
        }
        cw.visitEnd();
        byte[] b = cw.toByteArray();
        GuardPlan byBytes = GuardPlan.entriesWithoutReader(b, GuardPlan.scanConstantPool(b), Map.of(), GuardPlan.Scope.ENTRIES);
        assertEquals(withReader(b).toString(), byBytes.toString());
        assertEquals("gr\u00fc\u00dfe", byBytes.targets().get(0).name());
        assertEquals("nul\u0000l", byBytes.targets().get(2).name());
    }

    @Test
    void classesWithReleasePathsPendingBodiesOrTheOtherScopeAreLeftToTheReader() throws IOException {
        byte[] plain = bytes(Log.class);
        int scanned = GuardPlan.scanConstantPool(plain);
        assertNull(GuardPlan.entriesWithoutReader(plain, scanned, Map.of(), GuardPlan.Scope.RELEASE_PATHS));
        assertNull(GuardPlan.entriesWithoutReader(plain, scanned, Map.of("x()V", GuardPlan.Reason.LAMBDA_BODY),
                GuardPlan.Scope.ENTRIES));
        byte[] release = bytes(GuardPlan.class); // names "release"
        assertNull(GuardPlan.entriesWithoutReader(release, GuardPlan.scanConstantPool(release), Map.of(), GuardPlan.Scope.ENTRIES));
    }

    @Test
    void aVersionAsmCannotReadIsRefusedAsAsmRefusesIt() throws IOException {
        byte[] b = bytes(Log.class);
        int next = GuardPlan.READABLE_MAJOR + 1;
        b[6] = (byte) (next >> 8);
        b[7] = (byte) next;
        IllegalArgumentException asm = assertThrows(IllegalArgumentException.class, () -> new ClassReader(b));
        IllegalArgumentException ours = assertThrows(IllegalArgumentException.class,
                () -> GuardPlan.entriesWithoutReader(b, GuardPlan.scanConstantPool(b), Map.of(), GuardPlan.Scope.ENTRIES));
        assertEquals(asm.getMessage(), ours.getMessage());
        b[7] = (byte) (next - 1);
        b[6] = (byte) ((next - 1) >> 8);
        new ClassReader(b); // the newest ASM reads: both read it
        assertNotNull(GuardPlan.entriesWithoutReader(b, GuardPlan.scanConstantPool(b), Map.of(), GuardPlan.Scope.ENTRIES));
    }
}
