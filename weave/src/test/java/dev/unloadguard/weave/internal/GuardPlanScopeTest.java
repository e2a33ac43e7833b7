package dev.unloadguard.weave.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.ClassWriter;
import org.objectweb.asm.MethodVisitor;
import org.objectweb.asm.Opcodes;
import org.objectweb.asm.tree.ClassNode;
import org.objectweb.asm.tree.MethodNode;

/** Scope ENTRIES in the planner, on class files built method by method; readable names; the weaver's helpers. */
class GuardPlanScopeTest {

    /** Class {@code a/C} with the given methods: name, descriptor, access; concrete ones return a default value. */
    private static byte[] classWith(int classAccess, String[]... methods) {
        ClassWriter cw = new ClassWriter(ClassWriter.COMPUTE_MAXS);
        cw.visit(Opcodes.V17, classAccess, "a/C", null, "java/lang/Object", null);
        for (String[] m : methods) {
            int access = Integer.parseInt(m[2]);
            MethodVisitor mv = cw.visitMethod(access, m[0], m[1], null, null);
            if (m.length > 3) {
                mv.visitAnnotation(m[3], true).visitEnd();
            }
            if ((access & (Opcodes.ACC_ABSTRACT | Opcodes.ACC_NATIVE)) == 0) {
                mv.visitCode();
                org.objectweb.asm.Type returned = org.objectweb.asm.Type.getReturnType(m[1]);
                switch (returned.getSort()) {
                    case org.objectweb.asm.Type.VOID:
                        mv.visitInsn(Opcodes.RETURN);
                        break;
                    case org.objectweb.asm.Type.OBJECT:
                    case org.objectweb.asm.Type.ARRAY:
                        mv.visitInsn(Opcodes.ACONST_NULL);
                        mv.visitInsn(Opcodes.ARETURN);
                        break;
                    case org.objectweb.asm.Type.LONG:
                        mv.visitInsn(Opcodes.LCONST_0);
                        mv.visitInsn(Opcodes.LRETURN);
                        break;
                    default:
                        mv.visitInsn(Opcodes.ICONST_0);
                        mv.visitInsn(Opcodes.IRETURN);
                }
                mv.visitMaxs(0, 0);
            }
            mv.visitEnd();
        }
        cw.visitEnd();
        return cw.toByteArray();
    }

    private static String[] m(String name, String descriptor, int access) {
        return new String[] {name, descriptor, String.valueOf(access)};
    }

    private static Map<String, GuardPlan.Reason> reasons(byte[] classfile, GuardPlan.Scope scope) {
        Map<String, GuardPlan.Reason> r = new TreeMap<>();
        GuardPlan.of(classfile, null, scope).targets().forEach(t -> r.put(t.name() + t.descriptor(), t.reason()));
        return r;
    }

    private static final int PUBLIC = Opcodes.ACC_PUBLIC;
    private static final int STATIC = Opcodes.ACC_PUBLIC | Opcodes.ACC_STATIC;

    @Test
    void cleanupIsTheExactSignaturesOnInstanceMethodsEverythingElseIsAnEntry() {
        byte[] c = classWith(PUBLIC,
                m("hashCode", "()I", PUBLIC), m("equals", "(Ljava/lang/Object;)Z", PUBLIC), m("toString", "()Ljava/lang/String;", PUBLIC),
                m("compareTo", "(La/C;)I", PUBLIC), m("compareTo", "(Ljava/lang/Object;)I", PUBLIC | Opcodes.ACC_BRIDGE | Opcodes.ACC_SYNTHETIC),
                m("close", "()V", PUBLIC), m("finalize", "()V", Opcodes.ACC_PROTECTED),
                // Same names, other shapes: entries.
                m("hashCode", "(I)I", PUBLIC), m("equals", "(La/C;)Z", PUBLIC), m("toString", "(I)Ljava/lang/String;", PUBLIC),
                m("compareTo", "(La/C;La/C;)I", PUBLIC), m("compareTo", "(La/C;)J", PUBLIC), m("close", "(Z)V", PUBLIC),
                m("close", "()I", STATIC),
                m("<init>", "()V", PUBLIC), m("<clinit>", "()V", Opcodes.ACC_STATIC),
                m("secret", "()V", Opcodes.ACC_PRIVATE | Opcodes.ACC_SYNTHETIC), m("lambda$run$0", "()V", Opcodes.ACC_PRIVATE | Opcodes.ACC_STATIC),
                // Not sections: no code, or woven already.
                m("native0", "()V", PUBLIC | Opcodes.ACC_NATIVE),
                new String[] {"woven", "()V", String.valueOf(PUBLIC), GuardPlan.GUARDED_DESC});
        Map<String, GuardPlan.Reason> r = reasons(c, GuardPlan.Scope.ENTRIES);
        Map<String, GuardPlan.Reason> expected = new TreeMap<>();
        for (String cleanup : List.of("hashCode()I", "equals(Ljava/lang/Object;)Z", "toString()Ljava/lang/String;", "compareTo(La/C;)I",
                "compareTo(Ljava/lang/Object;)I", "close()V", "finalize()V")) {
            expected.put(cleanup, GuardPlan.Reason.CLEANUP);
        }
        for (String entry : List.of("hashCode(I)I", "equals(La/C;)Z", "toString(I)Ljava/lang/String;", "compareTo(La/C;La/C;)I",
                "compareTo(La/C;)J", "close(Z)V", "close()I", "<init>()V", "<clinit>()V", "secret()V", "lambda$run$0()V")) {
            expected.put(entry, GuardPlan.Reason.ENTRY);
        }
        assertEquals(expected, r);
        assertEquals(Map.of(), reasons(c, GuardPlan.Scope.RELEASE_PATHS), "nothing of it is a release path");
        assertTrue(GuardPlan.of(c, null).isEmpty(), "the two-argument form plans release paths only");

        byte[] statics = classWith(PUBLIC, m("hashCode", "()I", STATIC), m("toString", "()Ljava/lang/String;", STATIC),
                m("close", "()V", STATIC), m("finalize", "()V", STATIC));
        assertEquals(Map.of("hashCode()I", GuardPlan.Reason.ENTRY, "toString()Ljava/lang/String;", GuardPlan.Reason.ENTRY,
                "close()V", GuardPlan.Reason.ENTRY, "finalize()V", GuardPlan.Reason.ENTRY), reasons(statics, GuardPlan.Scope.ENTRIES),
                "static methods of those names are never what a host's clean-up calls");
    }

    @Test
    void interfacesOfferTheirConcreteMethodsOnly() {
        int iface = Opcodes.ACC_PUBLIC | Opcodes.ACC_INTERFACE | Opcodes.ACC_ABSTRACT;
        byte[] c = classWith(iface, m("name", "()Ljava/lang/String;", PUBLIC | Opcodes.ACC_ABSTRACT), m("greet", "()Ljava/lang/String;", PUBLIC),
                m("shout", "()Ljava/lang/String;", STATIC), m("decorate", "()V", Opcodes.ACC_PRIVATE), m("<clinit>", "()V", Opcodes.ACC_STATIC));
        assertEquals(Map.of("greet()Ljava/lang/String;", GuardPlan.Reason.ENTRY, "shout()Ljava/lang/String;", GuardPlan.Reason.ENTRY,
                "decorate()V", GuardPlan.Reason.ENTRY, "<clinit>()V", GuardPlan.Reason.ENTRY), reasons(c, GuardPlan.Scope.ENTRIES));
        byte[] pure = classWith(iface, m("name", "()Ljava/lang/String;", PUBLIC | Opcodes.ACC_ABSTRACT));
        assertTrue(GuardPlan.of(pure, null, GuardPlan.Scope.ENTRIES).isEmpty(), "nothing concrete, nothing to weave");
    }

    @Test
    void entryNamesReadAsJava() {
        assertEquals("com.acme.Service.handle(java.lang.String)", GuardPlan.entryName("com/acme/Service", "handle", "(Ljava/lang/String;)I"));
        assertEquals("new com.acme.Service(int)", GuardPlan.entryName("com/acme/Service", "<init>", "(I)V"));
        assertEquals("new com.acme.Service()", GuardPlan.entryName("com/acme/Service", "<init>", "()V"));
        assertEquals("static initializer of com.acme.Service", GuardPlan.entryName("com/acme/Service", "<clinit>", "()V"));
        assertEquals("com.acme.Outer$Inner.run(int[][],long,java.util.List[],boolean)",
                GuardPlan.entryName("com/acme/Outer$Inner", "run", "([[IJ[Ljava/util/List;Z)V"));
        GuardPlan.Target t = new GuardPlan.Target("a/C", "<init>", "(J)V", GuardPlan.Reason.ENTRY);
        assertEquals("new a.C(long)", t.entryName());
    }

    @Test
    void codeMaximaAreReadFromTheMethodTableAsTheReaderReportsThem() throws IOException {
        for (Class<?> c : List.of(GuardPlan.class, Weaver.class, ConstructorPrologue.class, GuardPlanScopeTest.class)) {
            byte[] bytes;
            try (InputStream in = c.getResourceAsStream(c.getSimpleName() + ".class")) {
                bytes = in.readAllBytes();
            }
            ClassReader reader = new ClassReader(bytes);
            ClassNode node = new ClassNode();
            reader.accept(node, 0);
            Map<String, int[]> maxs = Weaver.codeMaxs(reader);
            int withCode = 0;
            for (MethodNode m : node.methods) {
                if (m.instructions.size() > 0) {
                    withCode++;
                    assertArrayEquals(new int[] {m.maxStack, m.maxLocals}, maxs.get(m.name + m.desc), c + "." + m.name + m.desc);
                }
            }
            assertEquals(withCode, maxs.size(), c::toString);
        }
    }

    @Test
    void theTokenGoesAfterEveryLocalCountingWideOnesTwice() {
        Object[] locals = {"a/C", Opcodes.LONG, Opcodes.INTEGER};
        assertArrayEquals(new Object[] {"a/C", Opcodes.LONG, Opcodes.INTEGER, Opcodes.TOP, Opcodes.INTEGER},
                Weaver.withToken(locals, 3, 5), "slots 0, 1-2, 3; 4 padded; the token in 5");
        assertArrayEquals(new Object[] {"a/C", Opcodes.INTEGER}, Weaver.withToken(new Object[] {"a/C", "x"}, 1, 1));
        assertArrayEquals(new Object[] {Opcodes.TOP, Opcodes.TOP, Opcodes.INTEGER}, Weaver.withToken(new Object[0], 0, 2));
    }
}
