package dev.unloadguard.weave.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.epoch.internal.EpochHolder;
import dev.unloadguard.epoch.internal.PluginEpochClass;
import dev.unloadguard.epoch.internal.ReleaseEpoch;
import dev.unloadguard.weave.internal.cellfix.Depths;
import dev.unloadguard.weave.internal.cellfix.Shapes;
import dev.unloadguard.weave.internal.cellfix.Sub;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.ClassWriter;
import org.objectweb.asm.Label;
import org.objectweb.asm.MethodVisitor;
import org.objectweb.asm.Opcodes;
import org.objectweb.asm.Type;
import org.objectweb.asm.tree.AbstractInsnNode;
import org.objectweb.asm.tree.ClassNode;
import org.objectweb.asm.tree.IincInsnNode;
import org.objectweb.asm.tree.MethodInsnNode;
import org.objectweb.asm.tree.MethodNode;
import org.objectweb.asm.tree.VarInsnNode;

/**
 * The byte-level weaver keeps the cell its enter returned in a new local (index: right after the
 * arguments; the body's locals move up one) and rewrites every stack map frame at or after the
 * enter to declare it, as compressed as the original's (chop, append and same frames stay). The
 * JVM's verifier is the oracle: the woven classes are defined by a plugin loader (classes of a
 * non-boot loader are verified) and every method runs, as one balanced section (depth 1 inside,
 * nested calls 2, back to 0 after, exceptions included), computing what the unwoven method
 * computes.
 */
class EntryWeaverCellTest {

    private static final String FIXTURES = "dev.unloadguard.weave.internal.cellfix.";

    private final List<CellLoader> loaders = new ArrayList<>();

    @AfterEach
    void everySectionExited() {
        for (CellLoader l : loaders) {
            assertEquals(0, l.epoch.depth(), "every section was exited");
        }
    }

    /** Defines the fixtures woven byte by byte (never by ASM: it fails if the byte-level weaver declines). */
    private static final class CellLoader extends ClassLoader implements EpochHolder {
        final ReleaseEpoch epoch = new ReleaseEpoch("cell-test", true);
        final boolean epochField;
        final Map<String, byte[]> generated = new HashMap<>();
        final Map<String, byte[]> woven = new HashMap<>();

        CellLoader(boolean epochField) {
            super("cell-test", EntryWeaverCellTest.class.getClassLoader());
            this.epochField = epochField;
        }

        @Override
        public ReleaseEpoch releaseEpoch() {
            return epoch;
        }

        @Override
        protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
            boolean epochClass = epochField && name.equals(PluginEpochClass.NAME);
            if (!epochClass && (!name.startsWith(FIXTURES) || name.equals(Depths.class.getName()))) {
                return super.loadClass(name, resolve);
            }
            synchronized (getClassLoadingLock(name)) {
                Class<?> c = findLoadedClass(name);
                if (c == null) {
                    byte[] b = epochClass ? PluginEpochClass.bytes() : wovenBytes(name);
                    c = defineClass(name, b, 0, b.length);
                }
                return c;
            }
        }

        private byte[] wovenBytes(String name) {
            byte[] original = generated.containsKey(name) ? generated.get(name) : bytes(name);
            byte[] out = weave(original, epochField);
            assertNotNull(out, name + " is woven byte by byte");
            woven.put(name, out);
            return out;
        }
    }

    private CellLoader loader(boolean epochField) {
        CellLoader l = new CellLoader(epochField);
        loaders.add(l);
        Depths.watch(l.epoch);
        return l;
    }

    static byte[] bytes(String binaryName) {
        String resource = binaryName.replace('.', '/') + ".class";
        try (InputStream in = EntryWeaverCellTest.class.getClassLoader().getResourceAsStream(resource)) {
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static byte[] weave(byte[] original, boolean epochField) {
        ClassReader reader = new ClassReader(original);
        GuardPlan plan = GuardPlan.analyze(reader, GuardPlan.scanConstantPool(original), EntryWeaverCellTest.class.getClassLoader(),
                Map.of(), true, GuardPlan.Scope.ENTRIES);
        return EntryWeaver.weave(original, plan, epochField);
    }

    private static Object invoke(Class<?> c, Object target, String name, Class<?>[] types, Object... args) throws Throwable {
        Method m = c.getMethod(name, types);
        try {
            return m.invoke(target, args);
        } catch (InvocationTargetException e) {
            throw e.getCause();
        }
    }

    @ParameterizedTest(name = "epoch read from the epoch class: {0}")
    @ValueSource(booleans = {false, true})
    void everyShapeVerifiesRunsAsOneSectionAndComputesWhatTheUnwovenMethodComputes(boolean epochField) throws Throwable {
        CellLoader l = loader(epochField);
        Class<?> woven = Class.forName(FIXTURES + "Shapes", true, l);
        Object[][] calls = {
            {"straight", new Class<?>[] {int.class, long.class}, new Object[] {5, 7L}},
            {"mixed", new Class<?>[] {long.class, double.class, int.class}, new Object[] {10L, 1.5, 9}},
            {"table", new Class<?>[] {int.class, String.class}, new Object[] {0, "s"}},
            {"table", new Class<?>[] {int.class, String.class}, new Object[] {1, "s"}},
            {"table", new Class<?>[] {int.class, String.class}, new Object[] {2, "s"}},
            {"table", new Class<?>[] {int.class, String.class}, new Object[] {3, "s"}},
            {"table", new Class<?>[] {int.class, String.class}, new Object[] {9, "s"}},
            {"lookup", new Class<?>[] {int.class}, new Object[] {100000}},
            {"lookup", new Class<?>[] {int.class}, new Object[] {5}},
            {"caught", new Class<?>[] {int[].class, boolean.class}, new Object[] {new int[1], true}},
            {"caught", new Class<?>[] {int[].class, boolean.class}, new Object[] {new int[1], false}},
            {"throwsOut", new Class<?>[] {int.class}, new Object[] {-3}},
            {"countDown", new Class<?>[] {int.class}, new Object[] {6}},
            {"shortForms", new Class<?>[] {int.class}, new Object[] {5}},
        };
        for (Object[] c : calls) {
            Object expected = invoke(Shapes.class, null, (String) c[0], (Class<?>[]) c[1], (Object[]) c[2]);
            Depths.drain();
            Object actual = invoke(woven, null, (String) c[0], (Class<?>[]) c[1], (Object[]) c[2]);
            assertEquals(expected, actual, c[0] + " computes the same");
            assertEquals(List.of(1), Depths.drain(), c[0] + " ran inside one outermost section");
            assertEquals(0, l.epoch.depth(), c[0] + " exited its section");
        }

        Shapes plain = new Shapes(3L, "x", 4);
        Depths.drain();
        Object shapes = woven.getConstructor(long.class, String.class, int.class).newInstance(3L, "x", 4);
        assertEquals(List.of(1), Depths.drain(), "the constructor's body runs inside its section, after super(...)");
        assertEquals(plain.text(), invoke(woven, shapes, "text", new Class<?>[0]));
        assertEquals(plain.locked(5L, 4), invoke(woven, shapes, "locked", new Class<?>[] {long.class, int.class}, 5L, 4));
        Class<?>[] arrayTypes = {int[].class, String[][].class, List.class, double.class};
        Object[] arrayArgs = {new int[] {1, 2, 3}, new String[][] {{"ab"}, {"c", "def"}}, List.of("xy"), 2.0};
        assertEquals(plain.arrays((int[]) arrayArgs[0], (String[][]) arrayArgs[1], List.of("xy"), 2.0),
                invoke(woven, shapes, "arrays", arrayTypes, arrayArgs));
        Depths.drain();

        assertEquals(Shapes.nested(-1), invoke(woven, null, "nested", new Class<?>[] {int.class}, -1));
        Depths.drain();
        int expected = Shapes.nested(2);
        Depths.drain();
        assertEquals(expected, invoke(woven, null, "nested", new Class<?>[] {int.class}, 2));
        assertEquals(List.of(1, 2, 2, 2), Depths.drain(), "nested calls are nested sections, the one that threw included");
        assertEquals(0, l.epoch.depth());
    }

    @Test
    void exceptionsLeaveTheSectionThroughTheHandler() throws Throwable {
        CellLoader l = loader(false);
        Class<?> woven = Class.forName(FIXTURES + "Shapes", true, l);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> invoke(woven, null, "throwsOut", new Class<?>[] {int.class}, 4));
        assertEquals("out of 4", e.getMessage());
        assertEquals(List.of(1), Depths.drain());
        assertEquals(0, l.epoch.depth(), "the handler exited the section the exception left");
        int[] counter = new int[1];
        assertEquals(2, invoke(woven, null, "caught", new Class<?>[] {int[].class, boolean.class}, counter, true));
        assertEquals(1, counter[0], "finally ran once");
    }

    @Test
    void constructorsWithAPrologueAndThisCallsVerifyAndRunTheirBodyInside() throws Throwable {
        CellLoader l = loader(false);
        Class<?> woven = Class.forName(FIXTURES + "Sub", true, l);
        Object sub = woven.getConstructor(int.class).newInstance(-6);
        assertEquals(List.of(1, 1), Depths.drain(), "this(...) runs the other constructor's section before this one's opens");
        assertEquals(new Sub(-6).size(), invoke(woven, sub, "size", new Class<?>[0]));
        Depths.drain();
    }

    @Test
    void theCellLivesInANewLocalStoredAfterTheEnterAndLoadedByEveryExit() {
        byte[] original = bytes(FIXTURES + "Shapes");
        byte[] woven = weave(original, false);
        assertNotNull(woven);
        ClassNode before = new ClassNode();
        new ClassReader(original).accept(before, 0);
        ClassNode after = new ClassNode();
        new ClassReader(woven).accept(after, 0);
        int checked = 0;
        for (int i = 0; i < after.methods.size(); i++) {
            MethodNode m = after.methods.get(i);
            MethodNode unwoven = before.methods.get(i);
            int cell = (Type.getArgumentsAndReturnSizes(m.desc) >> 2) - ((m.access & Opcodes.ACC_STATIC) != 0 ? 1 : 0);
            assertEquals(unwoven.maxLocals + 1, m.maxLocals, m.name + ": one more local");
            List<Integer> expected = new ArrayList<>();
            for (AbstractInsnNode insn : unwoven.instructions) {
                if (insn instanceof VarInsnNode v) {
                    expected.add(v.var < cell ? v.var : v.var + 1);
                } else if (insn instanceof IincInsnNode v) {
                    expected.add(v.var < cell ? v.var : v.var + 1);
                }
            }
            List<Integer> actual = new ArrayList<>();
            for (AbstractInsnNode insn : m.instructions) {
                if (insn instanceof VarInsnNode v && v.var != cell) {
                    actual.add(v.var);
                } else if (insn instanceof IincInsnNode v) {
                    actual.add(v.var);
                }
            }
            assertEquals(expected, actual, m.name + ": the cell's local is after the arguments, the body's locals one up");
            int stores = 0;
            int exits = 0;
            for (AbstractInsnNode insn : m.instructions) {
                if (insn instanceof MethodInsnNode call && call.owner.equals(Weaver.RELEASE_GUARD)) {
                    if (call.name.startsWith("enter")) {
                        assertEquals("Ljava/lang/Object;", call.desc.substring(call.desc.indexOf(')') + 1), call.name);
                        VarInsnNode store = (VarInsnNode) call.getNext();
                        assertEquals(Opcodes.ASTORE, store.getOpcode());
                        assertEquals(cell, store.var, m.name + ": the enter's cell is stored in the new local");
                        stores++;
                    } else {
                        VarInsnNode load = (VarInsnNode) call.getPrevious();
                        assertEquals(Opcodes.ALOAD, load.getOpcode());
                        assertEquals(cell, load.var, m.name + ": " + call.name + " gets the cell back");
                        exits++;
                    }
                }
            }
            assertEquals(1, stores, m.name);
            assertTrue(exits >= 2, m.name + ": an exit before a return and one in the handler");
            checked++;
        }
        assertTrue(checked >= 12, "checked " + checked);
    }

    /** A class with a method of 301 local slots and a loop: locals 255 and up need {@code wide} once moved up past the cell. */
    private static byte[] wideClass(String internalName) {
        ClassWriter cw = new ClassWriter(ClassWriter.COMPUTE_FRAMES | ClassWriter.COMPUTE_MAXS);
        cw.visit(Opcodes.V17, Opcodes.ACC_PUBLIC | Opcodes.ACC_SUPER, internalName, null, "java/lang/Object", null);
        MethodVisitor mv = cw.visitMethod(Opcodes.ACC_PUBLIC | Opcodes.ACC_STATIC, "wide", "(I)I", null, null);
        mv.visitCode();
        for (int i = 1; i <= 300; i++) {
            mv.visitIntInsn(Opcodes.SIPUSH, i);
            mv.visitVarInsn(Opcodes.ISTORE, i);
        }
        Label loop = new Label();
        Label end = new Label();
        mv.visitLabel(loop);
        mv.visitVarInsn(Opcodes.ILOAD, 0);
        mv.visitJumpInsn(Opcodes.IFLE, end);
        mv.visitIincInsn(0, -1);
        mv.visitJumpInsn(Opcodes.GOTO, loop);
        mv.visitLabel(end);
        mv.visitMethodInsn(Opcodes.INVOKESTATIC, Depths.class.getName().replace('.', '/'), "record", "()V", false);
        mv.visitVarInsn(Opcodes.ILOAD, 0);
        mv.visitVarInsn(Opcodes.ILOAD, 300);
        mv.visitInsn(Opcodes.IADD);
        mv.visitInsn(Opcodes.IRETURN);
        mv.visitMaxs(0, 0);
        mv.visitEnd();
        cw.visitEnd();
        return cw.toByteArray();
    }

    @Test
    void localsMovedPast255UseWideLoadsAndStores() throws Throwable {
        CellLoader l = loader(false);
        String name = FIXTURES + "GenWide";
        l.generated.put(name, wideClass(name.replace('.', '/')));
        Class<?> woven = Class.forName(name, true, l);
        assertEquals(300, invoke(woven, null, "wide", new Class<?>[] {int.class}, 5));
        assertEquals(List.of(1), Depths.drain());
        ClassNode node = new ClassNode();
        new ClassReader(l.woven.get(name)).accept(node, 0);
        MethodNode wide = node.methods.stream().filter(m -> m.name.equals("wide")).findFirst().orElseThrow();
        assertEquals(302, wide.maxLocals);
        List<Integer> stores = new ArrayList<>();
        for (AbstractInsnNode insn : wide.instructions) {
            if (insn.getOpcode() == Opcodes.ISTORE) {
                stores.add(((VarInsnNode) insn).var);
            }
        }
        assertEquals(300, stores.size());
        assertEquals(2, stores.get(0), "local 1 moved up past the cell (local 1)");
        assertEquals(256, stores.get(254), "local 255 became 256: a wide istore");
        assertEquals(301, stores.get(299));
    }

    @Test
    void aMethodWithNoRoomForTheCellIsLeftToAsm() {
        ClassWriter cw = new ClassWriter(0);
        cw.visit(Opcodes.V17, Opcodes.ACC_PUBLIC | Opcodes.ACC_SUPER, "dev/unloadguard/weave/internal/cellfix/GenFull", null,
                "java/lang/Object", null);
        MethodVisitor mv = cw.visitMethod(Opcodes.ACC_PUBLIC | Opcodes.ACC_STATIC, "full", "()I", null, null);
        mv.visitCode();
        mv.visitInsn(Opcodes.ICONST_0);
        mv.visitInsn(Opcodes.IRETURN);
        mv.visitMaxs(1, 0xFFFF);
        mv.visitEnd();
        cw.visitEnd();
        assertNull(weave(cw.toByteArray(), false), "max_locals 65535: no local left for the cell");
    }

    /** Every {@code Utf8} string of {@code classfile}'s constant pool, and the names of its {@code Class} constants, in pool order. */
    private static List<String> poolStrings(byte[] classfile, boolean classes) {
        ClassReader reader = new ClassReader(classfile);
        char[] buffer = new char[reader.getMaxStringLength()];
        List<String> out = new ArrayList<>();
        for (int i = 1; i < reader.getItemCount(); i++) {
            int at = reader.getItem(i);
            if (at == 0) {
                continue;
            }
            int tag = classfile[at - 1];
            if (!classes && tag == 1) {
                int len = ((classfile[at] & 0xFF) << 8) | (classfile[at + 1] & 0xFF);
                out.add(new String(classfile, at + 2, len, java.nio.charset.StandardCharsets.UTF_8));
            } else if (classes && tag == 7) {
                out.add(reader.readUTF8(at, buffer));
            }
        }
        return out;
    }

    @ParameterizedTest(name = "epoch read from the epoch class: {0}")
    @ValueSource(booleans = {false, true})
    void theWeaverReusesTheClassesOwnConstantsAndAddsEachOfItsOwnOnce(boolean epochField) throws Throwable {
        String name = FIXTURES + "Reuse";
        byte[] original = bytes(name);
        List<String> own = poolStrings(original, false);
        for (String s : List.of("java/lang/Object", "Ljava/lang/Object;", "java/lang/Throwable", "StackMapTable",
                "RuntimeVisibleAnnotations")) {
            assertTrue(own.contains(s), "the fixture's pool holds " + s);
        }
        byte[] woven = weave(original, epochField);
        assertNotNull(woven);
        for (boolean classes : new boolean[] {false, true}) {
            List<String> strings = poolStrings(woven, classes);
            assertEquals(strings.size(), new java.util.HashSet<>(strings).size(),
                    (classes ? "Class" : "Utf8") + " constants each once: " + strings);
        }
        assertEquals(own, poolStrings(woven, false).subList(0, own.size()), "the class's own constants come first, unchanged");

        CellLoader l = loader(epochField);
        Class<?> c = Class.forName(name, true, l);
        Object reuse = c.getConstructor(Object.class).newInstance("a");
        Class<?>[] types = {Object.class, boolean.class};
        assertEquals("a", invoke(c, reuse, "swap", types, "b", false));
        assertEquals("fail", invoke(c, reuse, "swap", types, "c", true));
        assertEquals("b", invoke(c, reuse, "swap", types, "d", false));
        assertEquals(List.of(1, 1, 1, 1), Depths.drain(), "verified, and every call one section");
        assertTrue(c.getMethod("swap", types).isAnnotationPresent(Deprecated.class), "the method's own annotation is kept");
    }

    /** The methods {@code classfile}'s code calls, as {@code owner.name descriptor}, each once, in order. */
    private static List<String> calls(byte[] classfile) {
        ClassNode node = new ClassNode();
        new ClassReader(classfile).accept(node, 0);
        List<String> out = new ArrayList<>();
        for (MethodNode m : node.methods) {
            for (AbstractInsnNode i : m.instructions) {
                if (i instanceof MethodInsnNode) {
                    MethodInsnNode call = (MethodInsnNode) i;
                    String s = call.owner + "." + call.name + call.desc;
                    if (!out.contains(s)) {
                        out.add(s);
                    }
                }
            }
        }
        return out;
    }

    private static final String EPOCH_CLASS = PluginEpochClass.INTERNAL_NAME + ".";

    @Test
    void onlyTheGuardCallsTheWovenCodeMakesAreAdded() {
        byte[] gated = weave(bytes(FIXTURES + "Reuse"), true);
        List<String> gatedOnly = poolStrings(gated, false);
        List<String> gatedCalls = calls(gated);
        assertTrue(gatedCalls.contains(EPOCH_CLASS + "b()Ljava/lang/Object;"), "the gated entries' enter: " + gatedCalls);
        assertTrue(gatedCalls.contains(EPOCH_CLASS + "c(Ljava/lang/Object;)V"), "the exit: " + gatedCalls);
        assertTrue(gatedCalls.contains(EPOCH_CLASS + "d(Ljava/lang/Throwable;)V"), "the handler's exit: " + gatedCalls);
        assertTrue(!gatedCalls.contains(EPOCH_CLASS + "a()Ljava/lang/Object;"), "no ungated section, no ungated enter: " + gatedCalls);
        assertTrue(!gatedOnly.contains("BootstrapMethods"), "the epoch is in the epoch class: no bootstrap method");
        for (String s : List.of(Weaver.RELEASE_GUARD, "epoch", "enterEntrySectionCell", "exitSectionCell", "exitSectionThrowingCell")) {
            assertTrue(!gatedOnly.contains(s), "the epoch class's calls name no ReleaseGuard and no field: " + s + " in " + gatedOnly);
        }
        assertTrue(gatedOnly.stream().noneMatch(s -> s.contains("Reuse.swap(")), "no string naming the entered method: " + gatedOnly);

        byte[] foreign = weave(bytes(FIXTURES + "Reuse"), false);
        List<String> foreignCalls = calls(foreign);
        assertTrue(foreignCalls.contains(Weaver.RELEASE_GUARD + ".enterEntrySectionCell(Ljava/lang/Object;Ljava/lang/String;)Ljava/lang/Object;"),
                "a foreign loader's class keeps ReleaseGuard's calls with the dynamic constant: " + foreignCalls);
        assertTrue(foreignCalls.stream().noneMatch(s -> s.startsWith(EPOCH_CLASS)), "and no epoch class: " + foreignCalls);
        assertTrue(poolStrings(foreign, false).stream().anyMatch(s -> s.contains("Reuse.swap(")), "and the entry's name");

        ClassWriter cw = new ClassWriter(0);
        cw.visit(Opcodes.V17, Opcodes.ACC_PUBLIC | Opcodes.ACC_SUPER, "dev/unloadguard/weave/internal/cellfix/GenClose", null,
                "java/lang/Object", new String[] {"java/lang/AutoCloseable"});
        MethodVisitor mv = cw.visitMethod(Opcodes.ACC_PUBLIC, "close", "()V", null, null);
        mv.visitCode();
        mv.visitInsn(Opcodes.RETURN);
        mv.visitMaxs(0, 1);
        mv.visitEnd();
        cw.visitEnd();
        List<String> ungatedCalls = calls(weave(cw.toByteArray(), true));
        assertTrue(ungatedCalls.contains(EPOCH_CLASS + "a()Ljava/lang/Object;"), "a clean-up method's enter: " + ungatedCalls);
        assertTrue(!ungatedCalls.contains(EPOCH_CLASS + "b()Ljava/lang/Object;"), "no gated entry, no gated enter: " + ungatedCalls);
    }

    /**
     * The kinds of the frames of each method's {@code StackMapTable}, by method name and
     * descriptor: 0 same, 1 same_locals_1_stack_item, 2 chop, 3 append, 4 full.
     */
    private static Map<String, List<Integer>> frameKinds(byte[] classfile) {
        ClassReader reader = new ClassReader(classfile);
        char[] buffer = new char[reader.getMaxStringLength()];
        Map<String, List<Integer>> kinds = new HashMap<>();
        int at = reader.header + 6;
        at += 2 + 2 * reader.readUnsignedShort(at);
        for (int members = 0; members < 2; members++) {
            int count = reader.readUnsignedShort(at);
            at += 2;
            for (int i = 0; i < count; i++) {
                String key = reader.readUTF8(at + 2, buffer) + reader.readUTF8(at + 4, buffer);
                int attributes = reader.readUnsignedShort(at + 6);
                at += 8;
                for (int k = 0; k < attributes; k++) {
                    int len = reader.readInt(at + 2);
                    if (members == 1 && reader.readUTF8(at, buffer).equals("Code")) {
                        int codeLength = reader.readInt(at + 10);
                        int a = at + 14 + codeLength;
                        a += 2 + 8 * reader.readUnsignedShort(a);
                        int codeAttributes = reader.readUnsignedShort(a);
                        a += 2;
                        List<Integer> list = new ArrayList<>();
                        for (int c = 0; c < codeAttributes; c++) {
                            if (reader.readUTF8(a, buffer).equals("StackMapTable")) {
                                int entries = reader.readUnsignedShort(a + 6);
                                int q = a + 8;
                                for (int e = 0; e < entries; e++) {
                                    int type = classfile[q] & 0xFF;
                                    if (type < 64) {
                                        list.add(0);
                                        q += 1;
                                    } else if (type < 128) {
                                        list.add(1);
                                        q = skipType(classfile, q + 1);
                                    } else if (type == 247) {
                                        list.add(1);
                                        q = skipType(classfile, q + 3);
                                    } else if (type < 251) {
                                        list.add(2);
                                        q += 3;
                                    } else if (type == 251) {
                                        list.add(0);
                                        q += 3;
                                    } else if (type < 255) {
                                        list.add(3);
                                        q += 3;
                                        for (int t = 0; t < type - 251; t++) {
                                            q = skipType(classfile, q);
                                        }
                                    } else {
                                        list.add(4);
                                        int n = reader.readUnsignedShort(q + 3);
                                        q += 5;
                                        for (int t = 0; t < n; t++) {
                                            q = skipType(classfile, q);
                                        }
                                        n = reader.readUnsignedShort(q);
                                        q += 2;
                                        for (int t = 0; t < n; t++) {
                                            q = skipType(classfile, q);
                                        }
                                    }
                                }
                            }
                            a += 6 + reader.readInt(a + 2);
                        }
                        kinds.put(key, list);
                    }
                    at += 6 + len;
                }
            }
        }
        return kinds;
    }

    private static int skipType(byte[] classfile, int q) {
        int tag = classfile[q];
        return tag == 7 || tag == 8 ? q + 3 : q + 1;
    }

    @Test
    void framesStayCompressedAsInTheOriginalButTheFirstInTheSectionAndTheHandlers() {
        byte[] original = bytes(FIXTURES + "Shapes");
        Map<String, List<Integer>> before = frameKinds(original);
        Map<String, List<Integer>> after = frameKinds(weave(original, true));
        int compressed = 0;
        for (Map.Entry<String, List<Integer>> e : before.entrySet()) {
            List<Integer> was = e.getValue();
            List<Integer> is = after.get(e.getKey());
            assertEquals(was.size() + 1, is.size(), e.getKey() + ": one frame more, the handler's");
            assertEquals(4, is.get(is.size() - 1), e.getKey() + ": the handler's frame is full");
            for (int i = 1; i < was.size(); i++) {
                boolean same = is.get(i).equals(was.get(i));
                assertTrue(same || (was.get(i) == 4 && is.get(i) < 4),
                        e.getKey() + ": frame " + i + " keeps its kind (or is smaller): " + was + " -> " + is);
                if (was.get(i) == 2 || was.get(i) == 3) {
                    compressed++;
                }
            }
        }
        assertTrue(compressed >= 4, "the fixtures have chop and append frames after the first: " + compressed);
        List<Integer> mixed = after.get("mixed(JDI)D");
        assertTrue(mixed.contains(2) && mixed.contains(3), "loops with long and double locals keep chop and append: " + mixed);
    }

    @Test
    void aLongOrDoubleAcrossTheCellsIndexIsLeftToAsm() {
        ClassWriter cw = new ClassWriter(0);
        cw.visit(Opcodes.V17, Opcodes.ACC_PUBLIC | Opcodes.ACC_SUPER, "dev/unloadguard/weave/internal/cellfix/GenAcross", null,
                "java/lang/Object", null);
        MethodVisitor mv = cw.visitMethod(Opcodes.ACC_PUBLIC | Opcodes.ACC_STATIC, "across", "(I)J", null, null);
        mv.visitCode();
        mv.visitInsn(Opcodes.LCONST_1);
        mv.visitVarInsn(Opcodes.LSTORE, 0);              // slots 0 and 1: the parameter's and the cell's
        mv.visitVarInsn(Opcodes.LLOAD, 0);
        mv.visitInsn(Opcodes.LRETURN);
        mv.visitMaxs(2, 2);
        mv.visitEnd();
        cw.visitEnd();
        assertNull(weave(cw.toByteArray(), false), "a long stored over the last argument slot and the next");
    }
}
