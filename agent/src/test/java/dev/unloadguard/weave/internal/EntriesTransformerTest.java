package dev.unloadguard.weave.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.agent.Probe;
import dev.unloadguard.driver.PluginUnloadedError;
import dev.unloadguard.driver.ReleaseCallback;
import dev.unloadguard.epoch.Guarded;
import java.io.IOException;
import java.lang.reflect.Constructor;
import java.lang.reflect.Executable;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.ClassWriter;
import org.objectweb.asm.ConstantDynamic;
import org.objectweb.asm.Label;
import org.objectweb.asm.MethodVisitor;
import org.objectweb.asm.Opcodes;
import org.objectweb.asm.tree.AbstractInsnNode;
import org.objectweb.asm.tree.ClassNode;
import org.objectweb.asm.tree.InvokeDynamicInsnNode;
import org.objectweb.asm.tree.LdcInsnNode;
import org.objectweb.asm.tree.MethodInsnNode;
import org.objectweb.asm.tree.MethodNode;

/**
 * Guard scope ENTRIES through the transformer, without an agent: a plugin loader whose epoch
 * guards every entry ({@link WeavingLoader#entries}) defines the woven classes, so the JVM
 * verifies them, and fixture code records the epoch depth it ran at ({@link Probe}). Depth 1 is
 * an outermost section, 2 a nested one; 0 is code outside every section (a constructor's code
 * before its {@code super(...)} call).
 */
class EntriesTransformerTest {

    private static final String ENTRIES = WeavingLoader.FIXTURES + "entries.";
    private static final String ENTRIES_INTERNAL = "dev/unloadguard/agent/fixture/entries/";

    /** Defines every class as it is. */
    private static final java.lang.instrument.ClassFileTransformer UNCHANGED = new java.lang.instrument.ClassFileTransformer() {
    };

    private final GuardTransformer transformer = new GuardTransformer(null);
    private WeavingLoader loader;

    @BeforeEach
    void freshLoader() {
        loader = WeavingLoader.entries(transformer);
        Probe.drain();
    }

    @AfterEach
    void outsideAgain() {
        assertEquals(0, loader.releaseEpoch().depth(), "every section was exited");
    }

    private Class<?> fixture(String simpleName) throws ClassNotFoundException {
        return loader.fixture("entries." + simpleName);
    }

    private static Object call(Object target, String method, Class<?>[] types, Object... args) throws Throwable {
        try {
            Class<?> c = target instanceof Class ? (Class<?>) target : target.getClass();
            Method m = c.getMethod(method, types);
            m.setAccessible(true);
            return m.invoke(target instanceof Class ? null : target, args);
        } catch (InvocationTargetException e) {
            throw e.getCause();
        }
    }

    private static Object make(Class<?> c, Class<?>[] types, Object... args) throws Throwable {
        try {
            Constructor<?> k = c.getDeclaredConstructor(types);
            k.setAccessible(true);
            return k.newInstance(args);
        } catch (InvocationTargetException e) {
            throw e.getCause();
        }
    }

    private static byte[] bytes(String simpleName) {
        return WeavingLoader.bytes(ENTRIES + simpleName);
    }

    private GuardPlan plan(String simpleName) {
        return GuardPlan.of(bytes(simpleName), loader, GuardPlan.Scope.ENTRIES);
    }

    /** Method key to reason. */
    private static Map<String, GuardPlan.Reason> reasons(GuardPlan plan) {
        Map<String, GuardPlan.Reason> r = new TreeMap<>();
        plan.targets().forEach(t -> r.put(t.name() + t.descriptor(), t.reason()));
        return r;
    }

    // ---- The plan ----

    @Test
    void everyConcreteMethodIsASectionCleanupUngatedEverythingElseGated() {
        Map<String, GuardPlan.Reason> service = reasons(plan("Service"));
        Map<String, GuardPlan.Reason> cleanup = new TreeMap<>();
        service.forEach((k, r) -> {
            if (r == GuardPlan.Reason.CLEANUP) {
                cleanup.put(k, r);
            } else {
                assertEquals(GuardPlan.Reason.ENTRY, r, k);
            }
        });
        assertEquals(List.of("close()V", "compareTo(L" + ENTRIES_INTERNAL + "Service;)I", "compareTo(Ljava/lang/Object;)I",
                "equals(Ljava/lang/Object;)Z", "hashCode()I", "toString()Ljava/lang/String;"), new ArrayList<>(cleanup.keySet()),
                "the clean-up set, the compareTo bridge included");
        ClassNode node = node(bytes("Service"));
        assertEquals(node.methods.size(), service.size(), "every method of Service is concrete: every one is a section " + service);
        for (String gated : List.of("<clinit>()V", "<init>()V", "<init>(I)V", "handle(Ljava/lang/String;)I", "helper(I)I",
                "util([Ljava/lang/String;J)Ljava/lang/String;", "apply(Ljava/lang/Object;)Ljava/lang/Object;", "lambda$task$0()V")) {
            assertEquals(GuardPlan.Reason.ENTRY, service.get(gated), gated + " in " + service);
        }
        assertTrue(GuardPlan.of(bytes("Service"), loader).isEmpty(), "release paths only: nothing in Service");

        Map<String, GuardPlan.Reason> defaults = reasons(plan("Defaults"));
        assertEquals(Map.of("greet()Ljava/lang/String;", GuardPlan.Reason.ENTRY,
                        "shout(Ljava/lang/String;)Ljava/lang/String;", GuardPlan.Reason.ENTRY,
                        "decorate(Ljava/lang/String;)Ljava/lang/String;", GuardPlan.Reason.ENTRY), defaults,
                "default, static and private interface methods; not the abstract name()");
    }

    @Test
    void releasePathsKeepTheirReasonsAndStayUngatedInScopeEntries() {
        GuardPlan callback = GuardPlan.of(WeavingLoader.bytes(WeavingLoader.FIXTURES + "DirectCallback"), loader, GuardPlan.Scope.ENTRIES);
        assertEquals(Map.of("release()V", GuardPlan.Reason.RELEASE_CALLBACK, "notGuarded()V", GuardPlan.Reason.ENTRY,
                "<init>()V", GuardPlan.Reason.ENTRY), reasons(callback));
        GuardPlan refs = GuardPlan.of(WeavingLoader.bytes(WeavingLoader.FIXTURES + "MethodRefs"), loader, GuardPlan.Scope.ENTRIES);
        GuardPlan refsReleaseOnly = GuardPlan.of(WeavingLoader.bytes(WeavingLoader.FIXTURES + "MethodRefs"), loader);
        List<GuardPlan.Target> releasePaths = refs.targets().stream()
                .filter(t -> t.reason() != GuardPlan.Reason.ENTRY && t.reason() != GuardPlan.Reason.CLEANUP).collect(Collectors.toList());
        assertEquals(refsReleaseOnly.targets(), releasePaths, "the same release paths, bridges included, in both scopes");
        assertFalse(GuardPlan.Reason.CLEANUP.gated());
        assertTrue(GuardPlan.Reason.ENTRY.gated());
        for (GuardPlan.Reason r : GuardPlan.Reason.values()) {
            assertEquals(r == GuardPlan.Reason.ENTRY, r.gated(), r::toString);
        }
    }

    // ---- The woven code ----

    /** The ASM weaving (classes the byte-level weaver leaves to it); {@link EntryWeaverTest} has the byte-level shape. */
    @Test
    void gatedEntriesNameTheirMethodAndEveryMethodOfAClassUsesItsOneEpochConstant() {
        byte[] woven = GuardTransformer.guardWithAsm(bytes("Service"), loader, GuardPlan.Scope.ENTRIES);
        Map<String, String> enters = constantEnters(woven, Weaver.RELEASE_GUARD);
        String service = "dev.unloadguard.agent.fixture.entries.Service";
        assertEquals("enterEntry " + "static initializer of " + service, enters.get("<clinit>()V"));
        assertEquals("enterEntry new " + service + "()", enters.get("<init>()V"));
        assertEquals("enterEntry new " + service + "(int)", enters.get("<init>(I)V"));
        assertEquals("enterEntry " + service + ".handle(java.lang.String)", enters.get("handle(Ljava/lang/String;)I"));
        assertEquals("enterEntry " + service + ".util(java.lang.String[],long)",
                enters.get("util([Ljava/lang/String;J)Ljava/lang/String;"));
        assertEquals("enterEntry " + service + ".lambda$task$0()", enters.get("lambda$task$0()V"));
        for (String cleanup : List.of("hashCode()I", "equals(Ljava/lang/Object;)Z", "toString()Ljava/lang/String;", "close()V",
                "compareTo(Ljava/lang/Object;)I")) {
            assertEquals("enter", enters.get(cleanup), cleanup);
        }
        ClassNode node = node(woven);
        int exits = 0;
        for (MethodNode m : node.methods) {
            for (AbstractInsnNode insn : m.instructions) {
                assertFalse(insn instanceof InvokeDynamicInsnNode && ((InvokeDynamicInsnNode) insn).bsm.getName().startsWith("bootstrap"),
                        () -> m.name + m.desc + ": a Java 17 class file links no call site for its sections");
                if (insn instanceof MethodInsnNode && ((MethodInsnNode) insn).name.equals("exit")) {
                    MethodInsnNode exit = (MethodInsnNode) insn;
                    assertEquals(Weaver.RELEASE_GUARD + ".exit(Ljava/lang/Object;I)V", exit.owner + "." + exit.name + exit.desc);
                    assertEquals(Opcodes.ILOAD, exit.getPrevious().getOpcode(), "the token");
                    assertEquals(Weaver.epochConstant(Weaver.RELEASE_GUARD), ((LdcInsnNode) exit.getPrevious().getPrevious()).cst,
                            "under it, the class's epoch constant");
                    exits++;
                }
            }
        }
        assertTrue(exits > enters.size(), "an exit before each return and one in each handler");
        // One CONSTANT_Dynamic for the whole class, however many methods use it.
        assertEquals(1, dynamicConstants(woven));
        ClassReader reader = new ClassReader(bytes("Service"));
        GuardPlan plan = GuardPlan.analyze(reader, bytes("Service"), loader, Map.of(), true, GuardPlan.Scope.ENTRIES);
        byte[] bridged = Weaver.weave(reader, plan, Weaver.BOOT_GUARD);
        Map<String, String> boot = constantEnters(bridged, Weaver.BOOT_GUARD);
        assertEquals(enters, boot, "the bridge has the same shape");
        assertEquals(1, dynamicConstants(bridged));
        assertFalse(node(bridged).methods.stream().flatMap(m -> Arrays.stream(m.instructions.toArray()))
                .anyMatch(i -> i instanceof MethodInsnNode && ((MethodInsnNode) i).owner.equals(Weaver.RELEASE_GUARD)));
    }

    @Test
    void classFilesOfJava7To10KeepTheirInvokedynamicSitesNamingTheGatedEntryInTheBootstrapArgument() {
        byte[] java8 = bytes("Service").clone();
        java8[6] = 0;
        java8[7] = 52; // the shape only depends on the version; the woven bytes are inspected, not loaded
        ClassReader reader = new ClassReader(java8);
        GuardPlan plan = GuardPlan.analyze(reader, java8, loader, Map.of(), true, GuardPlan.Scope.ENTRIES);
        byte[] woven = Weaver.weave(reader, plan, Weaver.RELEASE_GUARD);
        Map<String, String> enters = enters(woven);
        String service = "dev.unloadguard.agent.fixture.entries.Service";
        assertEquals("bootstrapEntry new " + service + "(int)", enters.get("<init>(I)V"));
        assertEquals("bootstrapEntry " + service + ".handle(java.lang.String)", enters.get("handle(Ljava/lang/String;)I"));
        assertEquals("bootstrap", enters.get("hashCode()I"));
        assertEquals(0, dynamicConstants(woven));
        for (MethodNode m : node(woven).methods) {
            for (AbstractInsnNode insn : m.instructions) {
                if (insn instanceof InvokeDynamicInsnNode && ((InvokeDynamicInsnNode) insn).bsm.getName().startsWith("bootstrap")) {
                    InvokeDynamicInsnNode indy = (InvokeDynamicInsnNode) insn;
                    assertEquals(Weaver.RELEASE_GUARD, indy.bsm.getOwner());
                    if (indy.bsm.getName().equals("bootstrapEntry")) {
                        assertEquals("(Ljava/lang/invoke/MethodHandles$Lookup;Ljava/lang/String;Ljava/lang/invoke/MethodType;"
                                + "Ljava/lang/String;)Ljava/lang/invoke/CallSite;", indy.bsm.getDesc());
                        assertEquals("enter()I", indy.name + indy.desc, "only the enter is gated; exits use the plain bootstrap");
                    }
                }
            }
        }
    }

    /**
     * Method key to its first woven enter ({@code enterEntry NAME} or {@code enter}) of a Java 11+
     * class file, checking it takes the class's epoch constant bootstrapped by {@code owner}.
     */
    private static Map<String, String> constantEnters(byte[] classfile, String owner) {
        Map<String, String> enters = new LinkedHashMap<>();
        for (MethodNode m : node(classfile).methods) {
            for (AbstractInsnNode insn : m.instructions) {
                if (insn instanceof MethodInsnNode && ((MethodInsnNode) insn).owner.equals(owner)
                        && (((MethodInsnNode) insn).name.equals("enter") || ((MethodInsnNode) insn).name.equals("enterEntry"))) {
                    MethodInsnNode call = (MethodInsnNode) insn;
                    AbstractInsnNode epoch = call.getPrevious();
                    String entry = "";
                    if (call.name.equals("enterEntry")) {
                        assertEquals("(Ljava/lang/Object;Ljava/lang/String;)I", call.desc);
                        entry = " " + ((LdcInsnNode) epoch).cst;
                        epoch = epoch.getPrevious();
                    } else {
                        assertEquals("(Ljava/lang/Object;)I", call.desc);
                    }
                    ConstantDynamic constant = (ConstantDynamic) ((LdcInsnNode) epoch).cst;
                    assertEquals("epoch Ljava/lang/Object; " + owner + ".epochConstant"
                            + "(Ljava/lang/invoke/MethodHandles$Lookup;Ljava/lang/String;Ljava/lang/Class;)Ljava/lang/Object;",
                            constant.getName() + " " + constant.getDescriptor() + " " + constant.getBootstrapMethod().getOwner() + "."
                                    + constant.getBootstrapMethod().getName() + constant.getBootstrapMethod().getDesc());
                    assertEquals(0, constant.getBootstrapMethodArgumentCount());
                    enters.put(m.name + m.desc, call.name + entry);
                    break;
                }
            }
        }
        return enters;
    }

    /** How many CONSTANT_Dynamic entries (tag 17) the class file's constant pool holds. */
    private static int dynamicConstants(byte[] classfile) {
        ClassReader reader = new ClassReader(classfile);
        int n = 0;
        for (int i = 1; i < reader.getItemCount(); i++) {
            int offset = reader.getItem(i);
            if (offset > 0 && (classfile[offset - 1] & 0xFF) == 17) {
                n++;
            }
        }
        return n;
    }

    /** Method key to the bootstrap of its first woven enter ({@code bootstrapEntry NAME} or {@code bootstrap}). */
    private static Map<String, String> enters(byte[] classfile) {
        Map<String, String> enters = new LinkedHashMap<>();
        for (MethodNode m : node(classfile).methods) {
            for (AbstractInsnNode insn : m.instructions) {
                if (insn instanceof InvokeDynamicInsnNode && ((InvokeDynamicInsnNode) insn).name.equals("enter")) {
                    InvokeDynamicInsnNode indy = (InvokeDynamicInsnNode) insn;
                    enters.put(m.name + m.desc, indy.bsm.getName()
                            + (indy.bsmArgs.length == 0 ? "" : " " + indy.bsmArgs[0]));
                    break;
                }
            }
        }
        return enters;
    }

    private static ClassNode node(byte[] classfile) {
        ClassNode node = new ClassNode();
        new ClassReader(classfile).accept(node, 0);
        return node;
    }

    @Test
    void everyKindOfMethodRunsInsideItsSectionAndNestedCallsCountOnce() throws Throwable {
        Class<?> service = fixture("Service");
        assertEquals(List.of(1), Probe.drain(), "the static initializer is a section");
        Object s = make(service, new Class<?>[0]);
        assertEquals(List.of(1), Probe.drain(), "new Service() delegates with this(1): that constructor's body is a section");
        assertEquals(3, call(s, "handle", new Class<?>[] {String.class}, "abc"));
        assertEquals(List.of(1, 2), Probe.drain(), "handle, then the private helper nested in it");
        assertEquals("2:7", call(service, "util", new Class<?>[] {String[].class, long.class}, new String[2], 7L));
        ((Runnable) call(s, "task", new Class<?>[0])).run();
        assertEquals("anonymous 5", call(s, "anonymous", new Class<?>[] {int.class}, 5).toString());
        assertEquals(List.of(1, 1, 1), Probe.drain(), "static method, lambda body, method of an anonymous class");
        @SuppressWarnings("unchecked")
        Function<Object, Object> f = (Function<Object, Object>) s;
        assertEquals(2, f.apply("xy"));
        @SuppressWarnings({"unchecked", "rawtypes"})
        int cmp = ((Comparable) s).compareTo(s);
        assertEquals(0, cmp);
        assertEquals(List.of(2, 2), Probe.drain(), "through the bridge methods: each bridge a section, its target nested");
        assertEquals(1, s.hashCode());
        assertTrue(s.equals(s));
        assertEquals("Service(1)", s.toString());
        ((AutoCloseable) s).close();
        assertEquals(List.of(1, 1, 1, 1), Probe.drain());
        assertAllGuarded(service);
    }

    @Test
    void constructorsOfEveryShapeVerifyAndRunTheirBodyAfterSuperInsideTheSection() throws Throwable {
        Class<?> shapes = fixture("Shapes");
        Object made = make(shapes, new Class<?>[0]);
        assertEquals(List.of(0, 1), Probe.drain(), "the arguments of super(...) run before the section, the body inside");
        assertEquals("made before super", shapes.getField("part").get(made).toString());

        Object yes = make(shapes, new Class<?>[] {boolean.class}, true);
        Object no = make(shapes, new Class<?>[] {boolean.class}, false);
        assertEquals(List.of(0), Probe.drain(), "a branch in the arguments of super(...)");
        assertEquals(List.of("yes"), shapes.getField("log").get(yes));
        assertEquals(List.of("no"), shapes.getField("log").get(no));

        Object loops = make(shapes, new Class<?>[] {int.class}, 5);
        assertEquals(List.of("two", "total 3 half 2.0", "finally", "locked"), shapes.getField("log").get(loops));
        assertEquals(List.of(1), Probe.drain(), "loops, switch, try/catch/finally and synchronized after super()");
        Object early = make(shapes, new Class<?>[] {int.class}, 10);
        assertEquals("early return", ((List<?>) shapes.getField("log").get(early)).get(2));
        assertEquals(0, loader.releaseEpoch().depth(), "the early return exited");

        Object delegating = make(shapes, new Class<?>[] {String.class}, "abcd");
        assertEquals("abcd", ((List<?>) shapes.getField("log").get(delegating)).get(4));
        assertEquals(List.of(1), Probe.drain(), "this(...) runs the other constructor's section before this one's starts");

        IllegalArgumentException thrown = assertThrows(IllegalArgumentException.class,
                () -> make(shapes, new Class<?>[] {long.class}, 3L));
        assertEquals("constructor fails 3", thrown.getMessage());
        assertEquals(0, loader.releaseEpoch().depth(), "a throwing constructor exits its section");

        Object inner = call(made, "inner", new Class<?>[] {String.class}, "x");
        assertEquals("x", inner.getClass().getField("name").get(inner));
        assertEquals(List.of(2), Probe.drain(), "inner class (this$0 stored before super()): nested in inner(String)");
        assertAllGuarded(shapes);
        assertAllGuarded(inner.getClass());
    }

    @Test
    void enumsRecordsAndInterfaceMethodsAreSections() throws Throwable {
        Class<?> color = fixture("Color");
        assertEquals(List.of(2, 2), Probe.drain(), "the enum's constructors, nested in its static initializer");
        Object[] values = (Object[]) call(color, "values", new Class<?>[0]);
        assertEquals(2, values.length);
        assertEquals("red", call(values[0], "describe", new Class<?>[0]));
        assertEquals("green, specially", call(values[1], "describe", new Class<?>[0]));
        assertEquals(List.of(1, 1), Probe.drain(), "the constant with a body is a class of its own, also woven");
        assertAllGuarded(color);
        assertAllGuarded(values[1].getClass());

        Class<?> point = fixture("Point");
        Object p = make(point, new Class<?>[] {int.class, int.class}, 1, 2);
        assertEquals(3, call(p, "sum", new Class<?>[0]));
        assertEquals(List.of(1, 1), Probe.drain(), "compact constructor, method");
        assertEquals(p, make(point, new Class<?>[] {int.class, int.class}, 1, 2));
        assertEquals("Point[x=1, y=2]", p.toString());
        Probe.drain();
        assertThrows(IllegalArgumentException.class, () -> make(point, new Class<?>[] {int.class, int.class}, -1, 2));
        assertEquals(List.of(1), Probe.drain());
        assertAllGuarded(point);

        Object uses = make(fixture("UsesDefaults"), new Class<?>[0]);
        assertEquals("hello plugin", call(uses, "greet", new Class<?>[0]));
        assertEquals("HI", call(fixture("Defaults"), "shout", new Class<?>[] {String.class}, "hi"));
        assertEquals(List.of(1, 2, 1), Probe.drain(), "default method, the private method it calls, static method");
    }

    /** Every constructor and method declared by {@code c} (but abstract ones) carries {@code @Guarded}. */
    private static void assertAllGuarded(Class<?> c) {
        List<Executable> all = new ArrayList<>(Arrays.asList(c.getDeclaredConstructors()));
        all.addAll(Arrays.asList(c.getDeclaredMethods()));
        for (Executable e : all) {
            if (!java.lang.reflect.Modifier.isAbstract(e.getModifiers())) {
                assertTrue(e.isAnnotationPresent(Guarded.class), () -> e + " is not a section");
            }
        }
    }

    // ---- The gate ----

    @Test
    void onceGoingNewEntriesAreRefusedWhileCleanupReleasePathsAndCallsAlreadyInsideRunOn() throws Throwable {
        Class<?> service = fixture("Service");
        Object s = make(service, new Class<?>[] {int.class}, 2);
        ReleaseCallback callback = (ReleaseCallback) make(loader.fixture("DirectCallback"), new Class<?>[0]);
        CountDownLatch inside = new CountDownLatch(1);
        CountDownLatch proceed = new CountDownLatch(1);
        Runnable hostCode = () -> {
            inside.countDown();
            try {
                proceed.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        };
        CompletableFuture<Object> already = CompletableFuture.supplyAsync(() -> {
            try {
                return call(s, "nested", new Class<?>[] {Runnable.class}, hostCode);
            } catch (Throwable t) {
                return t;
            }
        });
        assertTrue(inside.await(20, TimeUnit.SECONDS));
        Probe.drain();
        List<String> heard = new java.util.concurrent.CopyOnWriteArrayList<>();
        loader.releaseEpoch().onRefusedEntry(heard::add);
        loader.releaseEpoch().closeGate("entries-test", 4, null);

        String name = "dev.unloadguard.agent.fixture.entries.Service";
        PluginUnloadedError refused = assertThrows(PluginUnloadedError.class,
                () -> call(s, "handle", new Class<?>[] {String.class}, "x"));
        assertTrue(refused.getMessage().contains(name + ".handle(java.lang.String)") && refused.getMessage().contains("unloading")
                && refused.getMessage().contains("entries-test") && refused.getMessage().contains("4"), refused.getMessage());
        String delegated = assertThrows(PluginUnloadedError.class, () -> make(service, new Class<?>[0])).getMessage();
        assertTrue(delegated.contains("new " + name + "(int)"),
                () -> "new Service() delegates to Service(int) before its own section: that is the entry refused: " + delegated);
        assertThrows(PluginUnloadedError.class, () -> call(service, "util", new Class<?>[] {String[].class, long.class}, new String[0], 1L));
        assertEquals(List.of(), Probe.drain(), "refused before any of the body ran");
        assertEquals(3, loader.releaseEpoch().refusedEntries());
        assertEquals(List.of(name + ".handle(java.lang.String)", "new " + name + "(int)", name + ".util(java.lang.String[],long)"), heard);

        // Waited for, not refused: what a host calls while taking the plugin's objects apart, and release paths.
        java.util.Set<Object> listeners = new java.util.HashSet<>();
        listeners.add(s);
        Probe.drain();
        assertTrue(listeners.remove(s));
        assertEquals(List.of(1), Probe.drain(), "hashCode");
        assertFalse(s.equals(new Object()));
        assertTrue(s.equals(s));
        assertEquals(List.of(1, 1), Probe.drain(), "equals");
        assertEquals("Service(2)", s.toString());
        @SuppressWarnings({"unchecked", "rawtypes"})
        int cmp = ((Comparable) s).compareTo(s);
        assertEquals(0, cmp);
        assertEquals(List.of(1, 2), Probe.drain(), "toString, compareTo through its bridge");
        ((AutoCloseable) s).close();
        callback.release();
        assertEquals(List.of(1, 1), Probe.drain(), "close, a release callback");
        assertEquals(3, loader.releaseEpoch().refusedEntries());

        proceed.countDown();
        assertEquals(2 * 2 + 3, already.get(20, TimeUnit.SECONDS), "a thread already inside runs on: nested entries are not refused");
        assertEquals(List.of(2, 2), Probe.drain(), "helper() and new Service(3), nested in nested()");
        assertEquals(3, loader.releaseEpoch().refusedEntries());
    }

    @Test
    void aStaticInitializerRefusedOnceGoingLeavesTheClassUnusable() throws Throwable {
        loader.releaseEpoch().closeGate("entries-test", 1, null);
        Class<?> color = Class.forName(ENTRIES + "Color", false, loader);
        PluginUnloadedError refused = assertThrows(PluginUnloadedError.class, () -> call(color, "values", new Class<?>[0]));
        assertTrue(refused.getMessage().contains("static initializer of dev.unloadguard.agent.fixture.entries.Color"), refused.getMessage());
        assertEquals(1, loader.releaseEpoch().refusedEntries());
        NoClassDefFoundError again = assertThrows(NoClassDefFoundError.class, () -> call(color, "values", new Class<?>[0]));
        assertFalse(again instanceof PluginUnloadedError, "erroneous from then on, as after any failed initializer: " + again);
        assertEquals(1, loader.releaseEpoch().refusedEntries(), "not entered again");
        assertEquals(List.of(), Probe.drain());
    }

    // ---- Verification: every fixture, old class files, unusual constructors ----

    @Test
    void everyFixtureClassVerifiesWovenInScopeEntriesWithEveryConstructorLocated() throws Exception {
        List<String> names = fixtureClasses();
        assertTrue(names.size() > 30, names::toString);
        int sections = 0;
        List<String> planned = new ArrayList<>();
        for (String name : names) {
            byte[] original = WeavingLoader.bytes(name);
            ClassReader reader = new ClassReader(original);
            GuardPlan plan = GuardPlan.analyze(reader, original, loader, Map.of(), true, GuardPlan.Scope.ENTRIES);
            if (plan.targets().isEmpty()) {
                continue;
            }
            Weaver.Woven woven = Weaver.weaveReporting(reader, plan, Weaver.RELEASE_GUARD);
            assertEquals(List.of(), woven.notWoven(), name);
            sections += plan.targets().size();
            planned.add(name);
            Class<?> c = Class.forName(name, false, loader);
            link(c); // the verifier runs here: a bad frame or handler range is a VerifyError
        }
        assertTrue(sections > 150, "sections: " + sections);
        assertTrue(loader.transformed.containsAll(planned), loader.transformed::toString);
    }

    @Test
    void theStreamingWeaverWritesExactlyWhatTheTreeWeaverWrites() throws Exception {
        Map<String, byte[]> classes = new LinkedHashMap<>();
        for (String name : fixtureClasses()) {
            classes.put(name, WeavingLoader.bytes(name));
        }
        classes.put("GenOld50", oldClass("GenOld50", Opcodes.V1_6));
        classes.put("GenOld49", oldClass("GenOld49", Opcodes.V1_5));
        classes.put("GenLoopPrologue", prologueClass("GenLoopPrologue", false));
        classes.put("GenTwoSupers", prologueClass("GenTwoSupers", true));
        int compared = 0;
        for (Map.Entry<String, byte[]> c : classes.entrySet()) {
            for (GuardPlan.Scope scope : GuardPlan.Scope.values()) {
                ClassReader reader = new ClassReader(c.getValue());
                GuardPlan plan = GuardPlan.analyze(reader, c.getValue(), loader, Map.of(), true, scope);
                if (plan.targets().isEmpty()) {
                    continue;
                }
                for (String owner : List.of(Weaver.RELEASE_GUARD, Weaver.BOOT_GUARD)) {
                    Weaver.Woven tree = Weaver.weaveReporting(reader, plan, owner, false);
                    Weaver.Woven streamed = Weaver.weaveReporting(reader, plan, owner, true);
                    assertArrayEquals(tree.classfile(), streamed.classfile(), c.getKey() + " " + scope + " " + owner);
                    assertEquals(tree.notWoven(), streamed.notWoven());
                    compared++;
                }
            }
        }
        assertTrue(compared > 100, "compared " + compared);
    }

    @Test
    void planningFromTheMethodTableGivesThePlanParsingGives() throws Exception {
        int compared = 0;
        for (String name : fixtureClasses()) {
            byte[] bytes = WeavingLoader.bytes(name);
            for (GuardPlan.Scope scope : GuardPlan.Scope.values()) {
                int found = GuardPlan.scanConstantPool(bytes);
                GuardPlan fast = GuardPlan.analyze(new ClassReader(bytes), found, loader, Map.of(), true, scope, true);
                GuardPlan parsed = GuardPlan.analyze(new ClassReader(bytes), found, loader, Map.of(), true, scope, false);
                assertEquals(parsed.toString(), fast.toString(), name + " " + scope);
                compared++;
            }
        }
        // A woven class names @Guarded: parsed, so its methods are not planned again.
        byte[] woven = GuardTransformer.guard(bytes("Service"), loader, GuardPlan.Scope.ENTRIES);
        assertTrue(GuardPlan.of(woven, loader, GuardPlan.Scope.ENTRIES).isEmpty());
        assertTrue(compared > 60, "compared " + compared);
    }

    @Test
    void linkingVerifiesSoTheTestsAboveWouldSeeABadFrame() {
        // The harness itself: a class whose stack map frame is wrong fails in link(), not later.
        ClassWriter cw = new ClassWriter(0);
        cw.visit(Opcodes.V17, Opcodes.ACC_PUBLIC | Opcodes.ACC_SUPER, "dev/unloadguard/agent/fixture/GenBadFrame", null, "java/lang/Object", null);
        MethodVisitor mv = cw.visitMethod(Opcodes.ACC_PUBLIC | Opcodes.ACC_STATIC, "bad", "(I)I", null, null);
        mv.visitCode();
        Label l = new Label();
        mv.visitVarInsn(Opcodes.ILOAD, 0);
        mv.visitJumpInsn(Opcodes.IFEQ, l);
        mv.visitLabel(l);
        mv.visitFrame(Opcodes.F_NEW, 1, new Object[] {"java/lang/String"}, 0, new Object[0]); // wrong: local 0 is an int
        mv.visitVarInsn(Opcodes.ILOAD, 0);
        mv.visitInsn(Opcodes.IRETURN);
        mv.visitMaxs(1, 1);
        mv.visitEnd();
        byte[] bad = cw.toByteArray();
        WeavingLoader plain = new WeavingLoader(UNCHANGED);
        Class<?> c = plain.define(WeavingLoader.FIXTURES + "GenBadFrame", bad);
        assertThrows(VerifyError.class, () -> link(c));
    }

    /** Links {@code c} (and so verifies it) without initializing it. */
    static void link(Class<?> c) {
        c.getDeclaredMethods(); // HotSpot links the class to answer this
        c.getDeclaredConstructors();
    }

    /** Binary names of every class of the fixture package and its subpackages. */
    static List<String> fixtureClasses() throws IOException, URISyntaxException {
        Path root = Path.of(WeavingLoader.class.getClassLoader().getResource("dev/unloadguard/agent/fixture/").toURI());
        Path classes = root.getParent().getParent().getParent().getParent();
        try (Stream<Path> s = Files.walk(root)) {
            return s.filter(p -> p.toString().endsWith(".class"))
                    .map(p -> classes.relativize(p).toString().replace(java.io.File.separatorChar, '.').replaceAll("\\.class$", ""))
                    .sorted().collect(Collectors.toList());
        }
    }

    @Test
    void java6And5ClassFilesCallTheCallerEntryPointsWithTheNameAndVerify() throws Throwable {
        for (int version : new int[] {Opcodes.V1_6, Opcodes.V1_5}) {
            String simple = "GenOld" + (version & 0xFFFF);
            byte[] original = oldClass(simple, version);
            byte[] woven = GuardTransformer.guard(original, loader, GuardPlan.Scope.ENTRIES);
            assertNotNull(woven);
            ClassNode node = node(woven);
            assertEquals(version, node.version);
            for (MethodNode m : node.methods) {
                AbstractInsnNode first = m.instructions.getFirst();
                while (first.getOpcode() < 0) {
                    first = first.getNext();
                }
                if (m.name.equals("<init>")) {
                    while (!(first instanceof MethodInsnNode && ((MethodInsnNode) first).name.equals("<init>"))) {
                        first = first.getNext();
                    }
                    first = first.getNext();
                }
                assertTrue(first instanceof LdcInsnNode, m.name + ": " + first);
                assertEquals(GuardPlan.entryName("dev/unloadguard/agent/fixture/" + simple, m.name, m.desc), ((LdcInsnNode) first).cst);
                MethodInsnNode enter = (MethodInsnNode) first.getNext();
                assertEquals(Weaver.RELEASE_GUARD + ".enterEntryCaller(Ljava/lang/String;)I", enter.owner + "." + enter.name + enter.desc);
                assertTrue(Arrays.stream(m.instructions.toArray()).noneMatch(i -> i instanceof InvokeDynamicInsnNode), m.name);
            }
            Class<?> c = loader.define(WeavingLoader.FIXTURES + simple, original);
            link(c);
            Object o = make(c, new Class<?>[] {int.class}, 4);
            assertEquals(List.of(1, 1), Probe.drain(), "static initializer, constructor body");
            assertEquals(6, call(o, "sum", new Class<?>[] {int.class}, 4));
            assertEquals(-1, call(o, "sum", new Class<?>[] {int.class}, -4));
            assertEquals(List.of(1, 1), Probe.drain(), "a loop and a handler in a class file without stack maps");
            assertTrue(c.getMethod("sum", int.class).isAnnotationPresent(Guarded.class));
        }
        WeavingLoader going = WeavingLoader.entries(transformer);
        Class<?> c = going.define(WeavingLoader.FIXTURES + "GenOld50", oldClass("GenOld50", Opcodes.V1_6));
        Object o = make(c, new Class<?>[] {int.class}, 1);
        going.releaseEpoch().closeGate("old", 2, null);
        PluginUnloadedError refused = assertThrows(PluginUnloadedError.class, () -> call(o, "sum", new Class<?>[] {int.class}, 1));
        assertTrue(refused.getMessage().contains("dev.unloadguard.agent.fixture.GenOld50.sum(int)"), refused.getMessage());
        Probe.drain();
        assertEquals(0, going.releaseEpoch().depth());
    }

    /**
     * A class file of {@code version} (no stack maps) in the fixture package: a static initializer,
     * a constructor {@code (I)V}, and {@code int sum(int n)}: 0+1+...+(n-1) in a loop, or -1 from a
     * handler when n is negative ({@code throw} inside a try range); both record the depth.
     */
    static byte[] oldClass(String simpleName, int version) {
        ClassWriter cw = new ClassWriter(ClassWriter.COMPUTE_MAXS);
        String name = "dev/unloadguard/agent/fixture/" + simpleName;
        cw.visit(version, Opcodes.ACC_PUBLIC | Opcodes.ACC_SUPER, name, null, "java/lang/Object", null);
        MethodVisitor clinit = cw.visitMethod(Opcodes.ACC_STATIC, "<clinit>", "()V", null, null);
        clinit.visitCode();
        clinit.visitMethodInsn(Opcodes.INVOKESTATIC, "dev/unloadguard/agent/Probe", "record", "()V", false);
        clinit.visitInsn(Opcodes.RETURN);
        clinit.visitMaxs(0, 0);
        clinit.visitEnd();

        MethodVisitor init = cw.visitMethod(Opcodes.ACC_PUBLIC, "<init>", "(I)V", null, null);
        init.visitCode();
        init.visitVarInsn(Opcodes.ALOAD, 0);
        init.visitMethodInsn(Opcodes.INVOKESPECIAL, "java/lang/Object", "<init>", "()V", false);
        init.visitMethodInsn(Opcodes.INVOKESTATIC, "dev/unloadguard/agent/Probe", "record", "()V", false);
        init.visitInsn(Opcodes.RETURN);
        init.visitMaxs(0, 0);
        init.visitEnd();

        MethodVisitor sum = cw.visitMethod(Opcodes.ACC_PUBLIC, "sum", "(I)I", null, null);
        sum.visitCode();
        Label start = new Label();
        Label end = new Label();
        Label handler = new Label();
        Label loop = new Label();
        Label done = new Label();
        sum.visitTryCatchBlock(start, end, handler, "java/lang/IllegalArgumentException");
        sum.visitMethodInsn(Opcodes.INVOKESTATIC, "dev/unloadguard/agent/Probe", "record", "()V", false);
        sum.visitLabel(start);
        sum.visitVarInsn(Opcodes.ILOAD, 1);
        sum.visitJumpInsn(Opcodes.IFGE, end);
        sum.visitTypeInsn(Opcodes.NEW, "java/lang/IllegalArgumentException");
        sum.visitInsn(Opcodes.DUP);
        sum.visitMethodInsn(Opcodes.INVOKESPECIAL, "java/lang/IllegalArgumentException", "<init>", "()V", false);
        sum.visitInsn(Opcodes.ATHROW);
        sum.visitLabel(end);
        sum.visitInsn(Opcodes.ICONST_0);
        sum.visitVarInsn(Opcodes.ISTORE, 2);
        sum.visitInsn(Opcodes.ICONST_0);
        sum.visitVarInsn(Opcodes.ISTORE, 3);
        sum.visitLabel(loop);
        sum.visitVarInsn(Opcodes.ILOAD, 3);
        sum.visitVarInsn(Opcodes.ILOAD, 1);
        sum.visitJumpInsn(Opcodes.IF_ICMPGE, done);
        sum.visitVarInsn(Opcodes.ILOAD, 2);
        sum.visitVarInsn(Opcodes.ILOAD, 3);
        sum.visitInsn(Opcodes.IADD);
        sum.visitVarInsn(Opcodes.ISTORE, 2);
        sum.visitIincInsn(3, 1);
        sum.visitJumpInsn(Opcodes.GOTO, loop);
        sum.visitLabel(done);
        sum.visitVarInsn(Opcodes.ILOAD, 2);
        sum.visitInsn(Opcodes.IRETURN);
        sum.visitLabel(handler);
        sum.visitInsn(Opcodes.POP);
        sum.visitInsn(Opcodes.ICONST_M1);
        sum.visitInsn(Opcodes.IRETURN);
        sum.visitMaxs(0, 0);
        sum.visitEnd();
        cw.visitEnd();
        return cw.toByteArray();
    }

    @Test
    void aLoopBeforeSuperIsFollowedAndTwoInitializingCallsLeaveTheConstructorAsItWas() throws Throwable {
        // A prologue with a backward jump (javac 25 compiles such "flexible constructor bodies").
        byte[] looping = prologueClass("GenLoopPrologue", false);
        WeavingLoader unwoven = new WeavingLoader(UNCHANGED);
        link(unwoven.define(WeavingLoader.FIXTURES + "GenLoopPrologue", looping)); // the original verifies
        Class<?> c = loader.define(WeavingLoader.FIXTURES + "GenLoopPrologue", looping);
        Object o = make(c, new Class<?>[] {int.class}, 3);
        assertEquals(3, fixture("ShapesBase").getField("part").get(o));
        assertEquals(List.of(1), Probe.drain());
        assertTrue(c.getDeclaredConstructor(int.class).isAnnotationPresent(Guarded.class));

        // Two calls of super(...), one per branch: no Java compiler emits it; left as it was.
        byte[] twoCalls = prologueClass("GenTwoSupers", true);
        link(unwoven.define(WeavingLoader.FIXTURES + "GenTwoSupers", twoCalls));
        ClassReader reader = new ClassReader(twoCalls);
        GuardPlan plan = GuardPlan.analyze(reader, twoCalls, loader, Map.of(), true, GuardPlan.Scope.ENTRIES);
        assertEquals(List.of("<init>(I)V"), Weaver.weaveReporting(reader, plan, Weaver.RELEASE_GUARD).notWoven());
        Class<?> two = loader.define(WeavingLoader.FIXTURES + "GenTwoSupers", twoCalls);
        Object t = make(two, new Class<?>[] {int.class}, -2);
        assertEquals(-2, fixture("ShapesBase").getField("part").get(t));
        assertEquals(List.of(0), Probe.drain(), "the constructor is not a section");
        assertFalse(two.getDeclaredConstructor(int.class).isAnnotationPresent(Guarded.class));
    }

    /**
     * A subclass of {@code ShapesBase} with a constructor {@code (I)V} that records the depth
     * after calling {@code super(Integer.valueOf(x))}. {@code twoSupers} false: {@code x} is
     * counted up to the argument in a loop before the call; true: the call is made on one of two
     * branches (a negative or a positive argument).
     */
    private static byte[] prologueClass(String simpleName, boolean twoSupers) {
        ClassWriter cw = new ClassWriter(ClassWriter.COMPUTE_MAXS | ClassWriter.COMPUTE_FRAMES) {
            @Override
            protected String getCommonSuperClass(String a, String b) {
                return "java/lang/Object";
            }
        };
        String base = ENTRIES_INTERNAL + "ShapesBase";
        cw.visit(Opcodes.V17, Opcodes.ACC_PUBLIC | Opcodes.ACC_SUPER, "dev/unloadguard/agent/fixture/" + simpleName, null, base, null);
        MethodVisitor mv = cw.visitMethod(Opcodes.ACC_PUBLIC, "<init>", "(I)V", null, null);
        mv.visitCode();
        if (twoSupers) {
            Label positive = new Label();
            Label join = new Label();
            mv.visitVarInsn(Opcodes.ILOAD, 1);
            mv.visitJumpInsn(Opcodes.IFGE, positive);
            mv.visitVarInsn(Opcodes.ALOAD, 0);
            mv.visitVarInsn(Opcodes.ILOAD, 1);
            mv.visitMethodInsn(Opcodes.INVOKESTATIC, "java/lang/Integer", "valueOf", "(I)Ljava/lang/Integer;", false);
            mv.visitMethodInsn(Opcodes.INVOKESPECIAL, base, "<init>", "(Ljava/lang/Object;)V", false);
            mv.visitJumpInsn(Opcodes.GOTO, join);
            mv.visitLabel(positive);
            mv.visitVarInsn(Opcodes.ALOAD, 0);
            mv.visitVarInsn(Opcodes.ILOAD, 1);
            mv.visitMethodInsn(Opcodes.INVOKESTATIC, "java/lang/Integer", "valueOf", "(I)Ljava/lang/Integer;", false);
            mv.visitMethodInsn(Opcodes.INVOKESPECIAL, base, "<init>", "(Ljava/lang/Object;)V", false);
            mv.visitLabel(join);
        } else {
            Label loop = new Label();
            Label done = new Label();
            mv.visitInsn(Opcodes.ICONST_0);
            mv.visitVarInsn(Opcodes.ISTORE, 2);
            mv.visitLabel(loop);
            mv.visitVarInsn(Opcodes.ILOAD, 2);
            mv.visitVarInsn(Opcodes.ILOAD, 1);
            mv.visitJumpInsn(Opcodes.IF_ICMPGE, done);
            mv.visitIincInsn(2, 1);
            mv.visitJumpInsn(Opcodes.GOTO, loop);
            mv.visitLabel(done);
            mv.visitVarInsn(Opcodes.ALOAD, 0);
            mv.visitVarInsn(Opcodes.ILOAD, 2);
            mv.visitMethodInsn(Opcodes.INVOKESTATIC, "java/lang/Integer", "valueOf", "(I)Ljava/lang/Integer;", false);
            mv.visitMethodInsn(Opcodes.INVOKESPECIAL, base, "<init>", "(Ljava/lang/Object;)V", false);
        }
        mv.visitMethodInsn(Opcodes.INVOKESTATIC, "dev/unloadguard/agent/Probe", "record", "()V", false);
        mv.visitInsn(Opcodes.RETURN);
        mv.visitMaxs(0, 0);
        mv.visitEnd();
        cw.visitEnd();
        return cw.toByteArray();
    }

    // ---- Idempotence, retransformation, counters ----

    @Test
    void transformingTwiceAddsNoSecondSectionAndReplayingTheOriginalGivesTheSameBytes() throws Throwable {
        WeavingLoader twice = WeavingLoader.entries(transformer, 2);
        Object s = twice.fixture("entries.Service").getConstructor(int.class).newInstance(1);
        Probe.drain();
        s.getClass().getMethod("handle", String.class).invoke(s, "a");
        assertEquals(List.of(1, 2), Probe.drain(), "depth 1 and 2, not 2 and 4");
        assertEquals(List.of(ENTRIES + "Service"), twice.transformed, "changed by the first pass only");
        assertNull(GuardTransformer.guard(twice.defined.get(ENTRIES + "Service"), twice, GuardPlan.Scope.ENTRIES),
                "every method carries @Guarded: nothing left");

        for (String name : List.of("entries.Service", "MethodRefs", "InheritsRelease")) {
            Class<?> c = loader.fixture(name);
            byte[] replayed = transformer.transform(loader, (WeavingLoader.FIXTURES + name).replace('.', '/'), c, null,
                    WeavingLoader.bytes(WeavingLoader.FIXTURES + name));
            assertArrayEquals(loader.defined.get(WeavingLoader.FIXTURES + name), replayed, name);
        }
    }

    @Test
    void statsCountEverySectionAndPlainClassesAreWovenToo() throws Exception {
        GuardTransformer.Stats before = GuardTransformer.stats();
        loader.fixture("Plain");
        GuardTransformer.Stats after = GuardTransformer.stats();
        assertEquals(1, after.classesExamined() - before.classesExamined());
        assertEquals(1, after.classesTransformed() - before.classesTransformed(), "no release path, still woven: every method is an entry");
        assertEquals(4, after.methodsGuarded() - before.methodsGuarded(), "<init>, add, task and the lambda body");
        assertTrue(loader.transformed.contains(WeavingLoader.FIXTURES + "Plain"));
    }
}
