package dev.unloadguard.weave.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.agent.Probe;
import dev.unloadguard.agent.fixture.entries.Bytecode;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.tree.AbstractInsnNode;
import org.objectweb.asm.tree.ClassNode;
import org.objectweb.asm.tree.MethodInsnNode;
import org.objectweb.asm.tree.MethodNode;

/**
 * The byte-level weaver ({@link EntryWeaver}): which classes it takes, and that what it writes
 * verifies, runs every method as one section whatever the method's shape, and computes what the
 * unwoven method computes. The woven classes are defined by a plugin loader of guard scope
 * ENTRIES, through the transformer (the JVM verifies them); the unwoven ones come from the test
 * class path.
 */
class EntryWeaverTest {

    private static final String ENTRIES = WeavingLoader.FIXTURES + "entries.";

    private WeavingLoader loader;

    @BeforeEach
    void freshLoader() {
        loader = WeavingLoader.entries(new GuardTransformer(null));
        Probe.drain();
    }

    @AfterEach
    void outsideAgain() {
        assertEquals(0, loader.releaseEpoch().depth(), "every section was exited");
    }

    private static byte[] weave(String binaryName) {
        byte[] original = WeavingLoader.bytes(binaryName);
        ClassReader reader = new ClassReader(original);
        GuardPlan plan = GuardPlan.analyze(reader, GuardPlan.scanConstantPool(original), EntryWeaverTest.class.getClassLoader(),
                Map.of(), true, GuardPlan.Scope.ENTRIES);
        return EntryWeaver.weave(original, plan);
    }

    /** The guard methods each method of {@code classfile} calls, by method name. */
    private static List<String> guardCalls(byte[] classfile, String method) {
        ClassNode node = new ClassNode();
        new ClassReader(classfile).accept(node, 0);
        List<String> calls = new ArrayList<>();
        for (MethodNode m : node.methods) {
            if (m.name.equals(method)) {
                for (AbstractInsnNode insn : m.instructions) {
                    if (insn instanceof MethodInsnNode call && call.owner.equals(Weaver.RELEASE_GUARD)) {
                        calls.add(call.name);
                    }
                }
            }
        }
        return calls;
    }

    @Test
    void plainClassesAreWovenByteByByteAndConstructorsThatComputeBeforeSuperAreLeftToAsm() {
        for (String simple : List.of("Bytecode", "Service", "Color", "Point", "Defaults", "UsesDefaults", "ShapesBase")) {
            assertNotNull(weave(ENTRIES + simple), simple + " is woven byte by byte");
        }
        assertNotNull(weave(WeavingLoader.FIXTURES + "Plain"));
        // Shapes makes objects and branches before super(...): only ConstructorPrologue's analysis finds the call.
        assertNull(weave(ENTRIES + "Shapes"));
    }

    @Test
    void wovenMethodsEnterOnceExitBeforeEveryReturnAndInTheHandler() {
        byte[] woven = weave(ENTRIES + "Bytecode");
        assertEquals(List.of("enterEntrySectionCell", "exitSectionCell", "exitSectionCell", "exitSectionCell", "exitSectionThrowingCell"),
                guardCalls(woven, "earlyReturns"));
        assertEquals(List.of("enterEntrySectionCell", "exitSectionCell", "exitSectionThrowingCell"), guardCalls(woven, "countDown"));
        assertEquals("enterEntrySectionCell", guardCalls(woven, "<init>").get(0));
    }

    @Test
    void everyShapeRunsAsOneSectionAndComputesWhatTheUnwovenMethodComputes() throws Throwable {
        Class<?> woven = loader.fixture("entries.Bytecode");
        assertTrue(loader.transformed.contains(ENTRIES + "Bytecode"));
        assertEquals(List.of("enterEntrySectionCell", "exitSectionCell", "exitSectionThrowingCell"),
                guardCalls(loader.defined.get(ENTRIES + "Bytecode"), "straight"), "the transformer took the byte-level path");
        Object[][] calls = {
            {"straight", new Class<?>[] {int.class}, new Object[] {5}},
            {"countDown", new Class<?>[] {int.class}, new Object[] {7}},
            {"table", new Class<?>[] {int.class}, new Object[] {2}},
            {"table", new Class<?>[] {int.class}, new Object[] {9}},
            {"table1", new Class<?>[] {byte.class, int.class}, new Object[] {(byte) 4, 11}},
            {"table1", new Class<?>[] {byte.class, int.class}, new Object[] {(byte) 4, 99}},
            {"lookup", new Class<?>[] {int.class}, new Object[] {100000}},
            {"lookup", new Class<?>[] {int.class}, new Object[] {-1000}},
            {"lookupString", new Class<?>[] {String.class}, new Object[] {"beta"}},
            {"earlyReturns", new Class<?>[] {int.class}, new Object[] {-5}},
            {"earlyReturns", new Class<?>[] {int.class}, new Object[] {0}},
            {"earlyReturns", new Class<?>[] {int.class}, new Object[] {500}},
            {"earlyReturns", new Class<?>[] {int.class}, new Object[] {42}},
            {"half", new Class<?>[] {double.class}, new Object[] {3.0}},
            {"wide", new Class<?>[] {long.class}, new Object[] {11L}},
        };
        for (Object[] c : calls) {
            Object expected = invoke(Bytecode.class, null, (String) c[0], (Class<?>[]) c[1], (Object[]) c[2]);
            Probe.drain();
            Object actual = invoke(woven, null, (String) c[0], (Class<?>[]) c[1], (Object[]) c[2]);
            assertEquals(expected, actual, c[0] + " computes the same");
            assertEquals(List.of(1), Probe.drain(), c[0] + " ran inside one outermost section");
            assertEquals(0, loader.releaseEpoch().depth(), c[0] + " exited its section");
        }
        Object instance = woven.getConstructor(long.class, int.class).newInstance(3L, 4);
        assertEquals(List.of(1), Probe.drain(), "the constructor's body runs inside its section");
        assertEquals(12L + 5L, invoke(woven, instance, "longValue", new Class<?>[] {long.class}, 5L));
        assertEquals(8, invoke(woven, instance, "locked", new Class<?>[] {int.class}, 7));
        Probe.drain();
    }

    @Test
    void exceptionsLeaveTheSectionAndFinallyStillRunsOnce() throws Throwable {
        Class<?> woven = loader.fixture("entries.Bytecode");
        int[] counter = new int[1];
        assertEquals(2, invoke(woven, null, "finallyCounts", new Class<?>[] {int[].class, boolean.class}, counter, true));
        assertEquals(1, invoke(woven, null, "finallyCounts", new Class<?>[] {int[].class, boolean.class}, counter, false));
        assertEquals(2, counter[0], "finally ran once per call");
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> invoke(woven, null, "throwsOut", new Class<?>[] {int.class}, 3));
        assertEquals("out of 3", e.getMessage());
        assertEquals(0, loader.releaseEpoch().depth(), "the handler exited the section the exception left");
        assertEquals(-2, invoke(woven, null, "throwsOut", new Class<?>[] {int.class}, -2));
        assertEquals(List.of(1, 1, 1, 1), Probe.drain());
    }

    private static Object invoke(Class<?> c, Object target, String name, Class<?>[] types, Object... args) throws Throwable {
        Method m = c.getMethod(name, types);
        try {
            return m.invoke(target, args);
        } catch (InvocationTargetException e) {
            throw e.getCause();
        }
    }
}
