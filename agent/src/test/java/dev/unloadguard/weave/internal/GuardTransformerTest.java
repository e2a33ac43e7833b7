package dev.unloadguard.weave.internal;

import dev.unloadguard.agent.Probe;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.device.Device;
import dev.unloadguard.device.internal.PluginDevices;
import dev.unloadguard.driver.Driver;
import dev.unloadguard.device.ReleaseAction;
import dev.unloadguard.driver.ReleaseCallback;
import dev.unloadguard.epoch.Guarded;
import java.lang.ref.WeakReference;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.time.Duration;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The transformer without an agent: fixture classes are run through it by a plugin loader
 * ({@link WeavingLoader}) that defines the result, so the JVM verifies the woven code, and their
 * release paths record the epoch depth they ran at ({@link Probe}).
 */
class GuardTransformerTest {

    private final GuardTransformer transformer = new GuardTransformer(null);
    private WeavingLoader loader;

    @BeforeEach
    void freshLoader() {
        loader = new WeavingLoader(transformer);
        Probe.drain();
        assertEquals(0, depth(), "the test thread starts outside the epoch");
    }

    private int depth() {
        return loader.releaseEpoch().depth();
    }

    private Object instance(String simpleName) throws Exception {
        return loader.fixture(simpleName).getConstructor().newInstance();
    }

    private static Object invoke(Object target, String method, Class<?>[] types, Object... args) throws Throwable {
        try {
            Class<?> c = target instanceof Class ? (Class<?>) target : target.getClass();
            return c.getMethod(method, types).invoke(target instanceof Class ? null : target, args);
        } catch (InvocationTargetException e) {
            throw e.getCause();
        }
    }

    @Test
    void releaseCallbackImplementationRunsInsideTheEpoch() throws Throwable {
        Object cb = instance("DirectCallback");
        ((ReleaseCallback) cb).release();
        assertEquals(List.of(1), Probe.drain(), "release() ran inside the epoch");
        assertEquals(0, depth(), "and exited it");
        invoke(cb, "notGuarded", new Class<?>[0]);
        assertEquals(List.of(0), Probe.drain(), "other methods are not guarded");
    }

    @Test
    void releaseCallbackThroughAbstractBaseSubInterfaceAndDefaultMethod() throws Throwable {
        Object viaBase = instance("ViaBaseCallback");
        ((ReleaseCallback) viaBase).release();
        invoke(viaBase, "other", new Class<?>[0]);
        ((ReleaseCallback) instance("ViaSubInterface")).release();
        ((ReleaseCallback) instance("UsesDefault")).release();
        assertEquals(List.of(1, 0, 1, 1), Probe.drain());
        assertEquals(0, depth());
        assertTrue(loader.transformed.contains(WeavingLoader.FIXTURES + "DefaultCallback"),
                "the interface's default release() is guarded in the interface: " + loader.transformed);
    }

    @Test
    void driverReleaseAndReleaseActionImplementationsAreGuarded() throws Throwable {
        Object driver = instance("FixtureDriver");
        ((Driver) driver).release(null);
        assertEquals("fixture", ((Driver) driver).id());
        ((ReleaseAction) instance("ActionImpl")).release(null);
        assertEquals(List.of(1, 0, 1), Probe.drain(), "Driver.release and ReleaseAction.release only");
        assertEquals(0, depth());
    }

    @Test
    void annotatedMethodThatThrowsExitsTheEpochAndRethrowsTheSameException() throws Throwable {
        Object thrower = instance("AnnotatedThrower");
        IllegalStateException boom = (IllegalStateException) loader.fixture("AnnotatedThrower").getField("BOOM").get(null);
        Throwable thrown = assertThrows(IllegalStateException.class, () -> invoke(thrower, "boom", new Class<?>[0]));
        assertSame(boom, thrown, "the exception propagates unchanged");
        assertEquals(List.of(1), Probe.drain());
        assertEquals(0, depth(), "a throw exits the epoch");

        Object lock = new Object();
        Throwable again = assertThrows(IllegalStateException.class,
                () -> invoke(thrower, "boomLocked", new Class<?>[] {Object.class}, lock));
        assertSame(boom, again);
        assertFalse(Thread.holdsLock(lock), "the method's own monitor handler still released the lock");
        assertEquals(List.of(1), Probe.drain());
        assertEquals(0, depth());
    }

    @Test
    void methodsOwnHandlersKeepPrecedence() throws Throwable {
        Object handler = instance("OwnHandler");
        ((ReleaseCallback) handler).release();
        assertEquals(true, handler.getClass().getField("caught").get(handler), "its own catch caught");
        assertEquals(true, handler.getClass().getField("finallyRan").get(handler), "its own finally ran");
        assertEquals(List.of(1, 1), Probe.drain(), "still inside the epoch in its own handler");
        assertEquals(0, depth());
    }

    @Test
    void everyKindOfReturnExitsOnceWithItsValueIntact() throws Throwable {
        Class<?> r = loader.fixture("Returns");
        Object returns = r.getConstructor().newInstance();
        assertEquals(1, invoke(r, "sign", new Class<?>[] {int.class}, 5));
        assertEquals(-1, invoke(r, "sign", new Class<?>[] {int.class}, -5));
        assertEquals(0, invoke(r, "sign", new Class<?>[] {int.class}, 0));
        assertEquals(Long.MAX_VALUE - 1, invoke(r, "twice", new Class<?>[] {long.class}, Long.MAX_VALUE / 2));
        assertEquals(10.5 + 4 + 3, invoke(r, "mix", new Class<?>[] {long.class, double.class, int.class}, 4L, 10.5, 3));
        assertEquals(-1.0, invoke(r, "mix", new Class<?>[] {long.class, double.class, int.class}, 4L, 10.5, -1));
        assertEquals("returns:int", invoke(returns, "describe", new Class<?>[] {Object.class}, 3));
        assertEquals("returns:chars", invoke(returns, "describe", new Class<?>[] {Object.class}, "x"));
        assertEquals(2.5f, invoke(returns, "locked", new Class<?>[] {float.class}, 1.5f));
        invoke(returns, "empty", new Class<?>[0]);
        assertEquals(List.of(1, 1, 1, 1, 1, 1, 1, 1, 1), Probe.drain());
        assertEquals(0, depth(), "every return exited exactly once (an extra exit would have thrown)");
    }

    @Test
    void lambdaPassedAsReleaseActionOrCallbackIsGuarded() throws Throwable {
        Class<?> reg = loader.fixture("LambdaRegistrar");
        ((ReleaseAction) invoke(reg, "action", new Class<?>[0])).release(null);
        int[] box = new int[1];
        ((ReleaseCallback) invoke(reg, "capturing", new Class<?>[] {int[].class}, (Object) box)).release();
        ((ReleaseCallback) invoke(reg, "subInterface", new Class<?>[0])).release();
        ((Runnable) invoke(reg, "plain", new Class<?>[0])).run();
        assertEquals(1, box[0], "the capturing lambda still sees its captured state");
        assertEquals(List.of(1, 1, 1, 0), Probe.drain(), "release lambdas guarded, a plain Runnable lambda not");
        assertEquals(0, depth());
    }

    @Test
    void methodReferenceToAnotherPluginClassRunsThroughAGuardedBridge() throws Throwable {
        Class<?> reg = loader.fixture("LambdaRegistrar");
        ReleaseCallback ref = (ReleaseCallback) invoke(reg, "reference", new Class<?>[0]);
        ref.release();
        Class<?> helper = loader.fixture("Helper");
        invoke(helper, "cleanup", new Class<?>[0]);
        invoke(helper, "unrelated", new Class<?>[0]);
        assertEquals(List.of(1, 0, 0), Probe.drain(),
                "Helper.cleanup guarded as the release callback (through the bridge), not when called directly");
        assertFalse(helper.getMethod("cleanup").isAnnotationPresent(Guarded.class), "the body's class is left alone");
        Method bridge = reg.getDeclaredMethod("unloadguard$ref$0");
        assertTrue(bridge.isAnnotationPresent(Guarded.class));
        assertTrue(bridge.isSynthetic() && Modifier.isPrivate(bridge.getModifiers()) && Modifier.isStatic(bridge.getModifiers()),
                bridge::toString);
        assertEquals(0, depth());
    }

    @Test
    void guardedAnnotationIsVisibleByReflectionOnGuardedMethodsOnly() throws Exception {
        Class<?> c = loader.fixture("DirectCallback");
        assertTrue(c.getMethod("release").isAnnotationPresent(Guarded.class));
        assertFalse(c.getMethod("notGuarded").isAnnotationPresent(Guarded.class));
        assertFalse(c.getConstructor().isAnnotationPresent(Guarded.class), "constructors are never guarded");
        Class<?> reg = loader.fixture("LambdaRegistrar");
        long guardedLambdas = java.util.Arrays.stream(reg.getDeclaredMethods())
                .filter(m -> m.getName().startsWith("lambda$") && m.isAnnotationPresent(Guarded.class))
                .count();
        assertEquals(3, guardedLambdas, "action, capturing and subInterface lambda bodies; not plain");
    }

    @Test
    void aMethodNamedReleaseOutsideTheReleaseInterfacesIsNotGuarded() throws Throwable {
        Object unrelated = instance("UnrelatedRelease");
        invoke(unrelated, "release", new Class<?>[0]);
        assertEquals(List.of(0), Probe.drain());
        assertTrue(plan("UnrelatedRelease").isEmpty());
        assertFalse(loader.transformed.contains(WeavingLoader.FIXTURES + "UnrelatedRelease"));
    }

    @Test
    void theTransformersCachesDoNotKeepAPluginLoaderAlive() throws Exception {
        WeavingLoader plugin = new WeavingLoader(transformer);
        // Fills every cache keyed by this loader: the hierarchy bits (supertypes of ViaBaseCallback),
        // the supertypes' declarations (InheritsRelease's PlainBase), the classes that gained methods
        // (LambdaRegistrar's bridges) and the pending targets (SerialRefs' serializable reference).
        ((ReleaseCallback) plugin.fixture("ViaBaseCallback").getConstructor().newInstance()).release();
        ((ReleaseCallback) plugin.fixture("InheritsRelease").getConstructor().newInstance()).release();
        plugin.fixture("LambdaRegistrar");
        plugin.fixture("SerialRefs");
        assertEquals(List.of(1, 1), Probe.drain());
        WeakReference<ClassLoader> ref = new WeakReference<>(plugin);
        plugin = null;
        await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(50)).until(() -> {
            System.gc();
            return ref.get() == null;
        });
    }

    @Test
    void classWithNothingToGuardIsReturnedUnchanged() throws Exception {
        byte[] plain = WeavingLoader.bytes(WeavingLoader.FIXTURES + "Plain");
        assertNull(transformer.transform(loader, "dev/unloadguard/agent/fixture/Plain", null, null, plain));
        assertNull(GuardTransformer.guard(plain, loader));
        assertTrue(GuardPlan.of(plain, loader).isEmpty());
        loader.fixture("Plain");
        assertFalse(loader.transformed.contains(WeavingLoader.FIXTURES + "Plain"));
    }

    @Test
    void guardingTwiceGuardsNothingMore() throws Throwable {
        byte[] original = WeavingLoader.bytes(WeavingLoader.FIXTURES + "DirectCallback");
        byte[] once = GuardTransformer.guard(original, loader);
        assertNotNull(once);
        assertNull(GuardTransformer.guard(once, loader), "already @Guarded: nothing left to guard");

        WeavingLoader twice = new WeavingLoader(transformer, 2);
        ((ReleaseCallback) twice.fixture("DirectCallback").getConstructor().newInstance()).release();
        assertEquals(List.of(WeavingLoader.FIXTURES + "DirectCallback"), twice.transformed, "changed by the first pass only");
        assertEquals(List.of(1), Probe.drain(), "depth 1, not 2");
        assertEquals(0, depth());
    }

    @Test
    void nonPluginLoaderReturnsNullWithoutReadingTheBytes() throws Exception {
        byte[] notAClass = {1, 2, 3};
        GuardTransformer.Stats before = GuardTransformer.stats();
        assertNull(transformer.transform(ClassLoader.getSystemClassLoader(), "x/Y", null, null, notAClass));
        assertNull(transformer.transform(null, "x/Y", null, null, notAClass));
        assertEquals(before.classesExamined(), GuardTransformer.stats().classesExamined(), "never examined");
        assertArrayEquals(new byte[] {1, 2, 3}, notAClass);
    }

    @Test
    void brokenClassFromPluginLoaderIsLeftUnchangedNotThrown() throws Exception {
        byte[] garbage = {(byte) 0xCA, (byte) 0xFE, (byte) 0xBA, (byte) 0xBE, 0, 0, 0, 61, 0, 9, 1};
        GuardTransformer.Stats before = GuardTransformer.stats();
        assertNull(transformer.transform(loader, "x/Broken", null, null, garbage));
        assertNull(transformer.transform(loader, null, null, null, garbage), "no class name: nothing to do");
        assertEquals(before.classesExamined() + 1, GuardTransformer.stats().classesExamined());
        assertEquals(before.classesTransformed(), GuardTransformer.stats().classesTransformed());
    }

    @Test
    void statsCountExaminedTransformedAndGuarded() throws Exception {
        GuardTransformer.Stats before = GuardTransformer.stats();
        loader.fixture("Returns");
        loader.fixture("Plain");
        GuardTransformer.Stats after = GuardTransformer.stats();
        assertEquals(2, after.classesExamined() - before.classesExamined());
        assertEquals(1, after.classesTransformed() - before.classesTransformed());
        assertEquals(6, after.methodsGuarded() - before.methodsGuarded(), "the six @GuardedRelease methods of Returns");
    }

    @Test
    void planNamesEachMethodAndWhy() {
        assertEquals(List.of(target("DirectCallback", "release", "()V", GuardPlan.Reason.RELEASE_CALLBACK)),
                plan("DirectCallback").targets());
        assertEquals(List.of(target("FixtureDriver", "release", "(Ldev/unloadguard/device/Device;)V", GuardPlan.Reason.DRIVER_RELEASE)),
                plan("FixtureDriver").targets());
        assertEquals(List.of(target("ActionImpl", "release", "(Ldev/unloadguard/device/Device;)V", GuardPlan.Reason.RELEASE_ACTION)),
                plan("ActionImpl").targets());
        assertEquals(List.of(target("AnnotatedThrower", "boom", "()V", GuardPlan.Reason.ANNOTATED),
                        target("AnnotatedThrower", "boomLocked", "(Ljava/lang/Object;)V", GuardPlan.Reason.ANNOTATED)),
                plan("AnnotatedThrower").targets());
        assertTrue(plan("AbstractCallbackBase").isEmpty(), "abstract methods are never guarded");
        assertTrue(plan("SubCallback").isEmpty());

        GuardPlan lambdas = plan("LambdaRegistrar");
        assertEquals(5, lambdas.targets().size(), lambdas.toString());
        for (GuardPlan.Target t : lambdas.targets().subList(0, 3)) {
            assertEquals(GuardPlan.Reason.LAMBDA_BODY, t.reason());
            assertTrue(t.name().startsWith("lambda$"), t.toString());
            assertFalse(t.synthesized());
        }
        assertEquals(List.of(
                        new GuardPlan.Target(FIXTURE + "LambdaRegistrar", "unloadguard$ref$0", "()V", GuardPlan.Reason.METHOD_REFERENCE,
                                FIXTURE + "Helper.cleanup()V"),
                        new GuardPlan.Target(FIXTURE + "LambdaRegistrar", "unloadguard$ref$1", "(Ljava/lang/Object;)Ljava/lang/Object;",
                                GuardPlan.Reason.METHOD_REFERENCE, "java/util/Objects.requireNonNull(Ljava/lang/Object;)Ljava/lang/Object;")),
                lambdas.targets().subList(3, 5), "bridges for the method references to Helper and to Objects.requireNonNull (JDK)");
        assertEquals(List.of(), lambdas.externalTargets(), "nothing left for other classes to guard");
    }

    private GuardPlan plan(String simpleName) {
        return GuardPlan.of(WeavingLoader.bytes(WeavingLoader.FIXTURES + simpleName), loader);
    }

    private static GuardPlan.Target target(String simpleName, String name, String desc, GuardPlan.Reason reason) {
        return new GuardPlan.Target(FIXTURE + simpleName, name, desc, reason);
    }

    private static final String FIXTURE = "dev/unloadguard/agent/fixture/";


    // ---- Method references to other classes: bridges (issue 8, item 3) ----

    @Test
    void methodReferenceToAnAlreadyLoadedClassIsGuardedOnItsFirstCall() throws Throwable {
        // The owner first: loaded, linked and initialized before the referring class exists.
        Class<?> targets = loader.fixture("RefTargets");
        Object target = targets.getConstructor().newInstance();
        Class<?> defaults = loader.fixture("RefDefaults");
        Class<?> refs = loader.fixture("MethodRefs");
        ((ReleaseCallback) invoke(refs, "bound", new Class<?>[] {targets}, target)).release();
        ((ReleaseCallback) invoke(refs, "unboundStatic", new Class<?>[0])).release();
        ((ReleaseCallback) invoke(refs, "unboundStaticAgain", new Class<?>[0])).release();
        ((ReleaseCallback) invoke(refs, "interfaceDefault", new Class<?>[] {defaults}, target)).release();
        ((ReleaseCallback) invoke(refs, "subInterface", new Class<?>[] {targets}, target)).release();
        ((ReleaseCallback) invoke(refs, "marker", new Class<?>[0])).release();
        ((ReleaseCallback) invoke(loader.fixture("RefsInInterface"), "reference", new Class<?>[0])).release();
        assertEquals(List.of(1, 1, 1, 1, 1, 1, 1), Probe.drain(), "bound receiver, static (twice), interface default, "
                + "sub-interface, marker and interface-held sites: all inside the epoch at once");
        invoke(target, "cleanup", new Class<?>[0]);
        invoke(targets, "staticCleanup", new Class<?>[0]);
        invoke(target, "defaultCleanup", new Class<?>[0]);
        assertEquals(List.of(0, 0, 0), Probe.drain(), "the bodies themselves are not guarded");
        for (Method m : targets.getDeclaredMethods()) {
            assertFalse(m.isAnnotationPresent(Guarded.class), m::toString);
        }
        assertEquals(0, depth());
    }

    @Test
    void bridgesPassArgumentsAndReturnValues() throws Throwable {
        Class<?> targets = loader.fixture("RefTargets");
        Object target = targets.getConstructor().newInstance();
        Class<?> refs = loader.fixture("MethodRefs");
        ((ReleaseCallback) invoke(refs, "returnsValue", new Class<?>[] {targets}, target)).release();
        ReleaseAction action = (ReleaseAction) invoke(refs, "withDevice", new Class<?>[0]);
        Device device = new PluginDevices("bridge-test", 1, new NoDriver()).create("card0");
        device.addReleaseAction(action);
        assertTrue(device.release(), "the last reference: the device core runs the managed action");
        assertSame(device, targets.getField("lastDevice").get(null), "the bridge passed the device on");
        assertEquals(List.of(1, 1), Probe.drain());
        Method countBridge = refs.getDeclaredMethod("unloadguard$ref$3", targets);
        countBridge.setAccessible(true);
        assertEquals(42, countBridge.invoke(null, target), "the bridge of the int-returning method returns its value");
        Probe.drain();
        assertEquals(0, depth());
    }

    @Test
    void jdkMethodReferenceIsBridgedSoWhatItCallsRunsInsideTheEpoch() throws Throwable {
        Class<?> refs = loader.fixture("MethodRefs");
        Runnable recorder = (Runnable) invoke(refs, "recorder", new Class<?>[0]);
        recorder.run();
        ((ReleaseCallback) invoke(refs, "jdk", new Class<?>[] {Runnable.class}, recorder)).release();
        assertEquals(List.of(0, 1), Probe.drain(), "Runnable.run as a release callback runs as the plugin's release action");
        assertEquals(0, depth());
    }

    @Test
    void nestmatePrivateMethodReferenceIsBridgedAndConstructorReferenceIsNot() throws Throwable {
        Class<?> nested = loader.fixture("MethodRefs$Nested");
        Class<?> refs = loader.fixture("MethodRefs");
        java.lang.reflect.Constructor<?> make = nested.getDeclaredConstructor();
        make.setAccessible(true);
        ((ReleaseCallback) invoke(refs, "nestmate", new Class<?>[] {nested}, make.newInstance())).release();
        ((ReleaseCallback) invoke(refs, "constructor", new Class<?>[0])).release();
        assertEquals(List.of(1), Probe.drain());
        assertEquals(0, depth());
    }

    @Test
    void bridgesAreNamedInSiteOrderOnePerReferencedMethod() {
        GuardPlan plan = plan("MethodRefs");
        List<String> bridges = plan.targets().stream().filter(GuardPlan.Target::synthesized)
                .map(t -> t.name() + t.descriptor() + " -> " + t.calls()).collect(Collectors.toList());
        assertEquals(List.of(
                "unloadguard$ref$0(L" + FIXTURE + "RefTargets;)V -> " + FIXTURE + "RefTargets.cleanup()V",
                "unloadguard$ref$1()V -> " + FIXTURE + "RefTargets.staticCleanup()V",
                "unloadguard$ref$2(L" + FIXTURE + "RefDefaults;)V -> " + FIXTURE + "RefDefaults.defaultCleanup()V",
                "unloadguard$ref$3(L" + FIXTURE + "RefTargets;)I -> " + FIXTURE + "RefTargets.count()I",
                "unloadguard$ref$4(Ldev/unloadguard/device/Device;)V -> " + FIXTURE + "RefTargets.unmap(Ldev/unloadguard/device/Device;)V",
                "unloadguard$ref$5(Ljava/lang/Runnable;)V -> java/lang/Runnable.run()V",
                "unloadguard$ref$6(L" + FIXTURE + "MethodRefs$Nested;)V -> " + FIXTURE + "MethodRefs$Nested.secret()V"), bridges,
                "no bridge for the constructor reference, nor for the plain Runnable lambda");
        plan.targets().stream().filter(GuardPlan.Target::synthesized)
                .forEach(t -> assertEquals(GuardPlan.Reason.METHOD_REFERENCE, t.reason()));
        assertEquals(List.of(), plan.externalTargets());
        assertEquals(plan.toString(), plan("MethodRefs").toString(), "the same bytes, the same plan");
    }

    @Test
    void serializableMethodReferenceIsNotBridgedItsBodyIsGuardedInItsClass() throws Throwable {
        Class<?> refs = loader.fixture("SerialRefs");
        ReleaseCallback serial = (ReleaseCallback) invoke(refs, "serial", new Class<?>[0]);
        serial.release(); // SerialTarget is loaded by this call, after the pending target was recorded
        assertEquals(List.of(1), Probe.drain());
        assertTrue(loader.fixture("SerialTarget").getMethod("cleanup").isAnnotationPresent(Guarded.class));
        assertTrue(java.util.Arrays.stream(refs.getDeclaredMethods()).noneMatch(m -> m.getName().startsWith("unloadguard$")),
                "$deserializeLambda$ compares the implementation handle: it must stay the original");

        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        try (java.io.ObjectOutputStream out = new java.io.ObjectOutputStream(bytes)) {
            out.writeObject(serial);
        }
        Object back;
        try (java.io.ObjectInputStream in = new java.io.ObjectInputStream(new java.io.ByteArrayInputStream(bytes.toByteArray())) {
            @Override
            protected Class<?> resolveClass(java.io.ObjectStreamClass desc) throws java.io.IOException, ClassNotFoundException {
                return Class.forName(desc.getName(), false, loader);
            }
        }) {
            back = in.readObject();
        }
        ((ReleaseCallback) back).release();
        assertEquals(List.of(1), Probe.drain(), "deserialized through $deserializeLambda$, still guarded");
        assertEquals(0, depth());
    }

    // ---- Inherited release bodies: overrides (issue 8, item 4) ----

    @Test
    void inheritedReleaseFromAPlainPluginSuperclassIsGuardedByAnAddedOverride() throws Throwable {
        ((ReleaseCallback) instance("InheritsRelease")).release();
        ((ReleaseAction) instance("InheritsAction")).release(null);
        ((ReleaseCallback) instance("InheritsOverDefault")).release();
        Object base = instance("PlainBase");
        invoke(base, "release", new Class<?>[0]);
        assertEquals(List.of(1, 1, 1, 0), Probe.drain(), "the three release types guarded; PlainBase itself is not");
        Method override = loader.fixture("InheritsRelease").getDeclaredMethod("release");
        assertTrue(override.isAnnotationPresent(Guarded.class) && override.isSynthetic() && Modifier.isPublic(override.getModifiers()),
                override::toString);
        assertFalse(loader.fixture("PlainBase").getMethod("release").isAnnotationPresent(Guarded.class));
        assertEquals(0, depth());
    }

    @Test
    void inheritedDefaultMethodIsGuardedThroughTheSuperclassOrTheDirectInterface() throws Throwable {
        // javac rejects both shapes (an abstract and a default release() meet); the JVM selects the default.
        Class<?> viaSuper = loader.define(WeavingLoader.FIXTURES + "GenInheritsDefault",
                generated("GenInheritsDefault", FIXTURE + "DefaultBase", Hierarchy.RELEASE_CALLBACK));
        Class<?> direct = loader.define(WeavingLoader.FIXTURES + "GenDirectDefault",
                generated("GenDirectDefault", "java/lang/Object", Hierarchy.RELEASE_CALLBACK, FIXTURE + "PlainDefaults"));
        ((ReleaseCallback) viaSuper.getConstructor().newInstance()).release();
        ((ReleaseCallback) direct.getConstructor().newInstance()).release();
        invoke(instance("DefaultBase"), "release", new Class<?>[0]);
        assertEquals(List.of(1, 1, 0), Probe.drain());
        assertEquals(List.of(new GuardPlan.Target(FIXTURE + "GenInheritsDefault", "release", "()V", GuardPlan.Reason.INHERITED_RELEASE,
                        FIXTURE + "PlainDefaults.release()V")),
                GuardPlan.of(generated("GenInheritsDefault", FIXTURE + "DefaultBase", Hierarchy.RELEASE_CALLBACK), loader).targets());
        assertEquals(0, depth());
    }

    @Test
    void aSuperclassThatIsAReleaseTypeAlreadyMeansNoSecondOverride() throws Throwable {
        ((ReleaseCallback) instance("BelowInherits")).release();
        ((ReleaseCallback) instance("BelowDirect")).release();
        ((ReleaseCallback) instance("UsesDefault")).release();
        assertEquals(List.of(1, 1, 1), Probe.drain(), "guarded once, by the superclass's override or method, or the interface's default");
        assertTrue(plan("BelowInherits").isEmpty(), () -> plan("BelowInherits").toString());
        assertTrue(plan("BelowDirect").isEmpty());
        assertTrue(plan("UsesDefault").isEmpty());
        assertThrows(NoSuchMethodException.class, () -> loader.fixture("BelowInherits").getDeclaredMethod("release"));
        assertEquals(0, depth());
    }

    @Test
    void planNamesTheOverridesAndTheBodiesTheyCall() {
        assertEquals(List.of(new GuardPlan.Target(FIXTURE + "InheritsRelease", "release", "()V", GuardPlan.Reason.INHERITED_RELEASE,
                FIXTURE + "PlainBase.release()V")), plan("InheritsRelease").targets());
        assertEquals(List.of(new GuardPlan.Target(FIXTURE + "InheritsAction", "release", "(Ldev/unloadguard/device/Device;)V",
                GuardPlan.Reason.INHERITED_RELEASE, FIXTURE + "PlainBase.release(Ldev/unloadguard/device/Device;)V")),
                plan("InheritsAction").targets());
        assertTrue(plan("PlainBase").isEmpty(), "no release type");
        assertTrue(plan("DefaultBase").isEmpty(), "no release type");
    }

    // ---- Idempotence and retransformation ----

    @Test
    void transformingTwiceAddsNoSecondBridgeOrOverride() throws Throwable {
        WeavingLoader twice = new WeavingLoader(transformer, 2);
        Class<?> targets = twice.fixture("RefTargets");
        Class<?> refs = twice.fixture("MethodRefs");
        ((ReleaseCallback) invoke(refs, "bound", new Class<?>[] {targets}, targets.getConstructor().newInstance())).release();
        ((ReleaseCallback) twice.fixture("InheritsRelease").getConstructor().newInstance()).release();
        assertEquals(List.of(1, 1), Probe.drain(), "depth 1, not 2");
        assertEquals(List.of(WeavingLoader.FIXTURES + "MethodRefs", WeavingLoader.FIXTURES + "InheritsRelease"), twice.transformed,
                "changed by the first pass only");
        assertEquals(7, java.util.Arrays.stream(refs.getDeclaredMethods()).filter(m -> m.getName().startsWith("unloadguard$")).count());
        assertEquals(0, twice.releaseEpoch().depth());
    }

    @Test
    void retransformationAddsNoMethodsAndGuardsTheBodiesInTheirOwnClasses() throws Throwable {
        WeavingLoader attached = WeavingLoader.retransforming(transformer);
        Class<?> refs = attached.fixture("MethodRefs"); // before its owners, like a class loaded before the agent
        assertTrue(java.util.Arrays.stream(refs.getDeclaredMethods()).noneMatch(m -> m.getName().startsWith("unloadguard$")));
        ((ReleaseCallback) invoke(refs, "unboundStatic", new Class<?>[0])).release();
        Class<?> inherits = attached.fixture("InheritsRelease"); // PlainBase is defined after InheritsRelease was transformed
        ((ReleaseCallback) inherits.getConstructor().newInstance()).release();
        Runnable recorder = (Runnable) invoke(refs, "recorder", new Class<?>[0]);
        ((ReleaseCallback) invoke(refs, "jdk", new Class<?>[] {Runnable.class}, recorder)).release();
        assertEquals(List.of(1, 1, 0), Probe.drain(), "guarded in their classes (pending targets); the JDK body is not (the fallback's limit)");
        assertTrue(attached.fixture("RefTargets").getMethod("staticCleanup").isAnnotationPresent(Guarded.class));
        assertTrue(attached.fixture("PlainBase").getMethod("release").isAnnotationPresent(Guarded.class));
        assertThrows(NoSuchMethodException.class, () -> inherits.getDeclaredMethod("release"));
        assertEquals(0, attached.releaseEpoch().depth());
    }

    @Test
    void retransformingAClassThatGainedMethodsReplaysThemExactly() throws Throwable {
        for (String name : List.of("MethodRefs", "InheritsRelease", "LambdaRegistrar", "DirectCallback")) {
            Class<?> c = loader.fixture(name);
            byte[] original = WeavingLoader.bytes(WeavingLoader.FIXTURES + name);
            byte[] replayed = transformer.transform(loader, FIXTURE + name, c, null, original);
            assertNotNull(replayed, name);
            assertArrayEquals(loader.defined.get(WeavingLoader.FIXTURES + name), replayed, name);
        }
        // A body asked for later (a serializable reference) changes the code, never the methods.
        Class<?> serialTarget = loader.fixture("SerialTarget");
        byte[] first = loader.defined.get(WeavingLoader.FIXTURES + "SerialTarget");
        ((ReleaseCallback) invoke(loader.fixture("SerialRefs"), "serial", new Class<?>[0])).release();
        assertEquals(List.of(0), Probe.drain(), "SerialTarget was loaded before: its body waits for a retransformation");
        byte[] replayed = transformer.transform(loader, FIXTURE + "SerialTarget", serialTarget, null,
                WeavingLoader.bytes(WeavingLoader.FIXTURES + "SerialTarget"));
        assertEquals(signatures(first), signatures(replayed), "the same methods");
        assertEquals(List.of("<init>()V -", "cleanup()V @Guarded", "bridged()L" + Hierarchy.RELEASE_CALLBACK + "; -",
                "unloadguard$ref$0()V @Guarded"), methods(replayed), "the asked-for body guarded now, the bridge still there");
    }

    private static List<String> signatures(byte[] classfile) {
        return methods(classfile).stream().map(m -> m.substring(0, m.indexOf(' '))).collect(Collectors.toList());
    }

    /** The methods of a class file: name, descriptor and whether they carry @Guarded. */
    private static List<String> methods(byte[] classfile) {
        org.objectweb.asm.tree.ClassNode node = new org.objectweb.asm.tree.ClassNode();
        new org.objectweb.asm.ClassReader(classfile).accept(node, org.objectweb.asm.ClassReader.SKIP_CODE);
        return node.methods.stream().map(m -> m.name + m.desc + (m.visibleAnnotations != null && m.visibleAnnotations.stream()
                .anyMatch(a -> a.desc.equals(GuardPlan.GUARDED_DESC)) ? " @Guarded" : " -")).collect(Collectors.toList());
    }

    /** A public class with a default constructor and nothing else, in the fixture package. */
    private static byte[] generated(String simpleName, String superName, String... interfaces) {
        org.objectweb.asm.ClassWriter cw = new org.objectweb.asm.ClassWriter(0);
        cw.visit(org.objectweb.asm.Opcodes.V17, org.objectweb.asm.Opcodes.ACC_PUBLIC | org.objectweb.asm.Opcodes.ACC_SUPER,
                FIXTURE + simpleName, null, superName, interfaces);
        org.objectweb.asm.MethodVisitor mv = cw.visitMethod(org.objectweb.asm.Opcodes.ACC_PUBLIC, "<init>", "()V", null, null);
        mv.visitCode();
        mv.visitVarInsn(org.objectweb.asm.Opcodes.ALOAD, 0);
        mv.visitMethodInsn(org.objectweb.asm.Opcodes.INVOKESPECIAL, superName, "<init>", "()V", false);
        mv.visitInsn(org.objectweb.asm.Opcodes.RETURN);
        mv.visitMaxs(1, 1);
        mv.visitEnd();
        cw.visitEnd();
        return cw.toByteArray();
    }

    /** A driver for the device core, doing nothing. */
    private static final class NoDriver implements Driver {
        @Override
        public String id() {
            return "no-driver";
        }

        @Override
        public void init(dev.unloadguard.driver.DriverContext context) {
        }

        @Override
        public void exit() {
        }
    }
}
