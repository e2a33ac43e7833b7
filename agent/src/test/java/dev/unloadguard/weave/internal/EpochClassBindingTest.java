package dev.unloadguard.weave.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.agent.Probe;
import dev.unloadguard.driver.PluginUnloadedError;
import dev.unloadguard.epoch.ReleaseGuard;
import dev.unloadguard.epoch.internal.PluginEpochClass;
import java.lang.reflect.InvocationTargetException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.ConstantDynamic;
import org.objectweb.asm.Opcodes;
import org.objectweb.asm.tree.AbstractInsnNode;
import org.objectweb.asm.tree.ClassNode;
import org.objectweb.asm.tree.FieldInsnNode;
import org.objectweb.asm.tree.LdcInsnNode;
import org.objectweb.asm.tree.MethodInsnNode;
import org.objectweb.asm.tree.MethodNode;

/**
 * The epoch binding through the epoch class ({@link PluginEpochClass}): for a loader that defines
 * it, woven code reads {@code PluginEpoch.epoch} with {@code getstatic} instead of resolving a
 * dynamic constant per class, in the byte-level weaver and the ASM weaver; every other loader and
 * class files older than Java 11 keep their binding. The woven classes are defined and run by a
 * plugin loader that defines the epoch class as the host's does ({@link WeavingLoader.EpochClassDefining}).
 */
class EpochClassBindingTest {

    private static final String ENTRIES = WeavingLoader.FIXTURES + "entries.";

    @BeforeEach
    void drain() {
        Probe.drain();
    }

    /**
     * How each guard call of {@code classfile}'s methods that takes the epoch gets it: "field",
     * "condy" or "none", in code order, and "epoch class" for a call of the epoch class's enters
     * ({@code PluginEpoch.a()}/{@code b()}, which read the field themselves). The byte-level
     * weaver's exits take the cell its enter returned, not the epoch ({@code exitSectionCell},
     * {@code exitSectionThrowingCell}, {@code PluginEpoch.c}, {@code d}): not counted.
     */
    private static List<String> epochLoads(byte[] classfile) {
        ClassNode node = new ClassNode();
        new ClassReader(classfile).accept(node, 0);
        List<String> loads = new ArrayList<>();
        for (MethodNode m : node.methods) {
            String last = "none";
            for (AbstractInsnNode insn : m.instructions) {
                if (insn instanceof FieldInsnNode f && f.getOpcode() == Opcodes.GETSTATIC && f.owner.equals(PluginEpochClass.INTERNAL_NAME)) {
                    assertEquals(PluginEpochClass.FIELD, f.name);
                    assertEquals(PluginEpochClass.FIELD_DESCRIPTOR, f.desc);
                    last = "field";
                } else if (insn instanceof LdcInsnNode l && l.cst instanceof ConstantDynamic) {
                    last = "condy";
                } else if (insn instanceof MethodInsnNode call && call.owner.equals(PluginEpochClass.INTERNAL_NAME)) {
                    if (call.name.equals(PluginEpochClass.ENTER) || call.name.equals(PluginEpochClass.ENTER_ENTRY)) {
                        loads.add("epoch class");
                    }
                } else if (insn instanceof MethodInsnNode call && call.owner.equals(Weaver.RELEASE_GUARD)
                        && call.desc.contains("Ljava/lang/Object;") && !call.name.equals("unpin")
                        && !(call.name.startsWith("exit") && call.name.endsWith("Cell"))) {
                    loads.add(last);
                    last = "none";
                }
            }
        }
        return loads;
    }

    /**
     * Whether the constant pool of {@code classfile} holds a {@code CONSTANT_Dynamic}, and the
     * number of entries of its {@code BootstrapMethods} attribute (0 without one).
     */
    private static int[] dynamicConstantsAndBootstrapMethods(byte[] classfile) {
        ClassReader reader = new ClassReader(classfile);
        int dynamic = 0;
        for (int i = 1; i < reader.getItemCount(); i++) {
            int at = reader.getItem(i);
            dynamic += at != 0 && classfile[at - 1] == 17 ? 1 : 0;
        }
        char[] buf = new char[reader.getMaxStringLength()];
        int at = GuardPlan.methodTable(reader);
        int methods = reader.readUnsignedShort(at);
        at += 2;
        for (int m = 0; m < methods; m++) {
            int attributes = reader.readUnsignedShort(at + 6);
            at += 8;
            for (int a = 0; a < attributes; a++) {
                at += 6 + reader.readInt(at + 2);
            }
        }
        int attributes = reader.readUnsignedShort(at);
        at += 2;
        for (int a = 0; a < attributes; a++) {
            if (reader.readUTF8(at, buf).equals("BootstrapMethods")) {
                return new int[] {dynamic, reader.readUnsignedShort(at + 6)};
            }
            at += 6 + reader.readInt(at + 2);
        }
        return new int[] {dynamic, 0};
    }

    private static byte[] weaveBytes(String binaryName, boolean epochField) {
        byte[] original = WeavingLoader.bytes(binaryName);
        ClassReader reader = new ClassReader(original);
        GuardPlan plan = GuardPlan.analyze(reader, GuardPlan.scanConstantPool(original), EpochClassBindingTest.class.getClassLoader(),
                Map.of(), true, GuardPlan.Scope.ENTRIES);
        return EntryWeaver.weave(original, plan, epochField);
    }

    @Test
    void theByteLevelWeaverCallsTheEpochClassInsteadOfAddingADynamicConstant() {
        byte[] field = weaveBytes(ENTRIES + "Bytecode", true);
        byte[] condy = weaveBytes(ENTRIES + "Bytecode", false);
        assertNotNull(field);
        List<String> loads = epochLoads(field);
        assertTrue(loads.size() >= 14, loads::toString); // one enter per woven method
        assertTrue(loads.stream().allMatch("epoch class"::equals), loads::toString);
        assertTrue(epochLoads(condy).stream().allMatch("condy"::equals));
        int[] original = dynamicConstantsAndBootstrapMethods(WeavingLoader.bytes(ENTRIES + "Bytecode"));
        assertArrayEquals(original, dynamicConstantsAndBootstrapMethods(field), "no CONSTANT_Dynamic, no bootstrap method added");
        assertArrayEquals(new int[] {original[0] + 1, original[1] + 1}, dynamicConstantsAndBootstrapMethods(condy));

        // The same sections: the epoch class's calls take neither the constant nor the entry's name
        // (two ldc_w fewer for a gated entry, one for an ungated section; the handler's dup stands
        // for the cell's load), and every method keeps its handlers.
        ClassNode f = new ClassNode();
        new ClassReader(field).accept(f, ClassReader.SKIP_FRAMES);
        ClassNode c = new ClassNode();
        new ClassReader(condy).accept(c, ClassReader.SKIP_FRAMES);
        for (int i = 0; i < f.methods.size(); i++) {
            MethodNode cm = c.methods.get(i);
            int guardLoads = 0;
            for (AbstractInsnNode insn : cm.instructions) {
                if (insn instanceof LdcInsnNode l && (l.cst instanceof ConstantDynamic
                        || insn.getNext() instanceof MethodInsnNode call && call.name.equals("enterEntrySectionCell"))) {
                    guardLoads++;
                }
            }
            assertEquals(cm.instructions.size() - guardLoads, f.methods.get(i).instructions.size(), f.methods.get(i).name);
            assertEquals(cm.tryCatchBlocks.size(), f.methods.get(i).tryCatchBlocks.size(), f.methods.get(i).name);
        }
    }

    @Test
    void aLoaderThatDefinesTheEpochClassRunsEverySectionThroughItAndIsAskedForItOnce() throws Throwable {
        WeavingLoader.EpochClassDefining loader = WeavingLoader.entriesWithEpochClass(new GuardTransformer(null));
        Class<?> bytecode = loader.fixture("entries.Bytecode");
        assertTrue(epochLoads(loader.defined.get(ENTRIES + "Bytecode")).stream().allMatch("epoch class"::equals),
                "the transformer took the byte-level path with the epoch class's calls");
        assertEquals(0, loader.epochClassRequests.get(), "defining a woven class does not load the epoch class");

        Object expected = call(dev.unloadguard.agent.fixture.entries.Bytecode.class, null, "straight", new Class<?>[] {int.class}, 5);
        Probe.drain();
        assertEquals(expected, call(bytecode, null, "straight", new Class<?>[] {int.class}, 5));
        assertEquals(List.of(1), Probe.drain(), "the method ran inside its section");
        Object point = bytecode.getClassLoader().loadClass(ENTRIES + "Point").getConstructor(int.class, int.class).newInstance(2, 3);
        assertEquals(5, call(point.getClass(), point, "sum", new Class<?>[0]));
        Class<?> service = loader.fixture("entries.Service");
        Object s = service.getConstructor(int.class).newInstance(2);
        assertEquals(8, call(service, s, "handle", new Class<?>[] {String.class}, "four"));
        Probe.drain();
        assertEquals(0, loader.releaseEpoch().depth());

        assertEquals(1, loader.epochClassDefinitions.get(), "one epoch class per loader");
        assertEquals(1, loader.epochClassRequests.get(),
                "the JVM asked the loader once: later resolutions find the class the loader defined without calling it");
        Class<?> epochClass = Class.forName(PluginEpochClass.NAME, false, loader);
        assertSame(loader, epochClass.getClassLoader());
        Object constant = epochClass.getField(PluginEpochClass.FIELD).get(null);
        assertInstanceOf(ReleaseGuard.epochConstantClass(), constant, "what ReleaseGuard.epochConstant returns");
        int token = ReleaseGuard.enter(constant);
        assertEquals(1, loader.releaseEpoch().depth(), "the constant is the loader's own epoch's");
        ReleaseGuard.exit(constant, token);
    }

    @Test
    void theAsmWeaverReadsTheFieldTooForClassesTheByteLevelWeaverLeavesToIt() throws Throwable {
        WeavingLoader.EpochClassDefining loader = WeavingLoader.entriesWithEpochClass(new GuardTransformer(null));
        Class<?> shapes = loader.fixture("entries.Shapes"); // objects made before super(...): ASM's ConstructorPrologue
        List<String> loads = epochLoads(loader.defined.get(ENTRIES + "Shapes"));
        assertTrue(loads.size() > 10 && loads.stream().allMatch("field"::equals), loads::toString);
        assertArrayEquals(dynamicConstantsAndBootstrapMethods(WeavingLoader.bytes(ENTRIES + "Shapes")),
                dynamicConstantsAndBootstrapMethods(loader.defined.get(ENTRIES + "Shapes")), "no dynamic constant, no bootstrap method added");
        shapes.getConstructor(int.class).newInstance(3);
        assertTrue(Probe.drain().contains(1));
        assertEquals(0, loader.releaseEpoch().depth());

        // Release paths only, with bridges added for method references: the ASM weaver, the field, the added methods too.
        WeavingLoader.EpochClassDefining releasePaths = WeavingLoader.releasePathsWithEpochClass(new GuardTransformer(null));
        Class<?> refs = releasePaths.fixture("MethodRefs");
        List<String> refLoads = epochLoads(releasePaths.defined.get(WeavingLoader.FIXTURES + "MethodRefs"));
        assertFalse(refLoads.isEmpty());
        assertTrue(refLoads.stream().allMatch("field"::equals), refLoads::toString);
        Object callback = refs.getMethod("unboundStatic").invoke(null);
        ((dev.unloadguard.driver.ReleaseCallback) callback).release();
        assertEquals(List.of(1), Probe.drain(), "the bridge ran the referenced body inside the section");
    }

    @Test
    void theStreamingWeaverWritesWhatTheTreeWeaverWritesWithTheField() throws Exception {
        WeavingLoader loader = WeavingLoader.entriesWithEpochClass(new GuardTransformer(null));
        int compared = 0;
        for (String name : EntriesTransformerTest.fixtureClasses()) {
            byte[] original = WeavingLoader.bytes(name);
            for (GuardPlan.Scope scope : GuardPlan.Scope.values()) {
                ClassReader reader = new ClassReader(original);
                GuardPlan plan = GuardPlan.analyze(reader, original, loader, Map.of(), true, scope);
                if (plan.targets().isEmpty()) {
                    continue;
                }
                Weaver.Woven tree = Weaver.weaveReporting(reader, plan, Weaver.RELEASE_GUARD, false, true);
                Weaver.Woven streamed = Weaver.weaveReporting(reader, plan, Weaver.RELEASE_GUARD, true, true);
                assertArrayEquals(tree.classfile(), streamed.classfile(), name + " " + scope);
                assertTrue(epochLoads(streamed.classfile()).stream().allMatch("field"::equals), name);
                compared++;
            }
        }
        assertTrue(compared > 40, "compared " + compared);
    }

    @Test
    void everyFixtureVerifiesAndInitializesWithTheField() throws Exception {
        WeavingLoader.EpochClassDefining loader = WeavingLoader.entriesWithEpochClass(new GuardTransformer(null));
        int woven = 0;
        for (String name : EntriesTransformerTest.fixtureClasses()) {
            Class<?> c = Class.forName(name, false, loader);
            EntriesTransformerTest.link(c);
            if (loader.transformed.contains(name)) {
                woven++;
                assertEquals(0, dynamicConstantsAndBootstrapMethods(loader.defined.get(name))[0], name + " has no dynamic constant");
            }
        }
        assertTrue(woven > 30, "woven " + woven);
        Probe.drain();
    }

    @Test
    void otherLoadersAndOldClassFilesKeepTheirBinding() throws Throwable {
        WeavingLoader foreign = WeavingLoader.entries(new GuardTransformer(null)); // an EpochHolder that does not define the class
        foreign.fixture("entries.Bytecode");
        assertTrue(epochLoads(foreign.defined.get(ENTRIES + "Bytecode")).stream().allMatch("condy"::equals));
        foreign.fixture("entries.Shapes");
        assertTrue(epochLoads(foreign.defined.get(ENTRIES + "Shapes")).stream().allMatch("condy"::equals));

        WeavingLoader.EpochClassDefining loader = WeavingLoader.entriesWithEpochClass(new GuardTransformer(null));
        Class<?> old = loader.define(WeavingLoader.FIXTURES + "GenOld50", EntriesTransformerTest.oldClass("GenOld50", Opcodes.V1_6));
        ClassNode node = new ClassNode();
        new ClassReader(loader.defined.get(WeavingLoader.FIXTURES + "GenOld50")).accept(node, 0);
        List<String> calls = new ArrayList<>();
        for (MethodNode m : node.methods) {
            for (AbstractInsnNode insn : m.instructions) {
                assertFalse(insn instanceof FieldInsnNode f && f.owner.equals(PluginEpochClass.INTERNAL_NAME), "a Java 6 class file keeps its binding");
                if (insn instanceof MethodInsnNode call && call.owner.equals(Weaver.RELEASE_GUARD)) {
                    calls.add(call.name);
                }
            }
        }
        assertTrue(calls.contains("enterEntryCaller"), calls::toString);
        old.getConstructor(int.class).newInstance(1);
        assertEquals(List.of(1, 1), Probe.drain());
        assertEquals(0, loader.epochClassRequests.get(), "nothing asked for the epoch class");
    }

    @Test
    void theEpochClassInitializesInsideAnotherClassStaticInitializerOnAnyThread() throws Exception {
        WeavingLoader.EpochClassDefining loader = WeavingLoader.entriesWithEpochClass(new GuardTransformer(null));
        // The first woven code to run is Service's static initializer, on another thread.
        CompletableFuture<Class<?>> service = CompletableFuture.supplyAsync(() -> {
            try {
                return Class.forName(ENTRIES + "Service", true, loader);
            } catch (ClassNotFoundException e) {
                throw new AssertionError(e);
            }
        });
        assertEquals(1, service.get(30, TimeUnit.SECONDS).getField("initialized").get(null));
        assertEquals(List.of(1), Probe.drain(), "the static initializer ran inside its section");

        // Several threads run the first woven code of different classes at once; one defines the epoch class.
        WeavingLoader.EpochClassDefining racing = WeavingLoader.entriesWithEpochClass(new GuardTransformer(null));
        List<String> names = List.of("Service", "Point", "Color", "Bytecode", "Defaults", "UsesDefaults");
        CountDownLatch start = new CountDownLatch(1);
        List<CompletableFuture<Class<?>>> all = new ArrayList<>();
        for (String n : names) {
            all.add(CompletableFuture.supplyAsync(() -> {
                try {
                    start.await();
                    return Class.forName(ENTRIES + n, true, racing);
                } catch (ClassNotFoundException | InterruptedException e) {
                    throw new AssertionError(e);
                }
            }, r -> new Thread(r).start()));
        }
        start.countDown();
        for (CompletableFuture<Class<?>> f : all) {
            assertNotNull(f.get(30, TimeUnit.SECONDS));
        }
        Object service2 = Class.forName(ENTRIES + "Service", true, racing).getConstructor(int.class).newInstance(2);
        assertEquals("Service(2)", service2.toString());
        assertEquals(1, racing.epochClassDefinitions.get());
        Probe.drain();
        assertEquals(0, racing.releaseEpoch().depth());
    }

    @Test
    void afterTheGateClosedTheEpochClassStillInitializesAndTheEntryIsRefusedAsBefore() throws Throwable {
        WeavingLoader.EpochClassDefining loader = WeavingLoader.entriesWithEpochClass(new GuardTransformer(null));
        Class<?> bytecode = loader.fixture("entries.Bytecode");
        loader.releaseEpoch().closeGate("epoch-class", 1, null);
        // No woven code ran before GOING: the epoch class is defined and initialized now, by a refused entry.
        PluginUnloadedError refused = assertThrows(PluginUnloadedError.class,
                () -> call(bytecode, null, "straight", new Class<?>[] {int.class}, 5));
        assertTrue(refused.getMessage().startsWith(ENTRIES + "Bytecode.straight(int) refused: plugin epoch-class generation 1"),
                "the entered method, named from the stack (woven classes hold no name): " + refused.getMessage());
        assertEquals(1, loader.epochClassDefinitions.get());
        assertInstanceOf(ReleaseGuard.epochConstantClass(),
                Class.forName(PluginEpochClass.NAME, false, loader).getField(PluginEpochClass.FIELD).get(null));
        assertEquals(0, loader.releaseEpoch().depth());
        assertEquals(List.of(), Probe.drain());
    }

    private static Object call(Class<?> c, Object target, String name, Class<?>[] types, Object... args) throws Throwable {
        try {
            return c.getMethod(name, types).invoke(target, args);
        } catch (InvocationTargetException e) {
            throw e.getCause();
        }
    }
}
