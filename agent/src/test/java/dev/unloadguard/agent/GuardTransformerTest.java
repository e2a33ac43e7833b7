package dev.unloadguard.agent;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.driver.Driver;
import dev.unloadguard.driver.ReleaseAction;
import dev.unloadguard.driver.ReleaseCallback;
import dev.unloadguard.epoch.Guarded;
import java.lang.ref.WeakReference;
import java.lang.reflect.InvocationTargetException;
import java.time.Duration;
import java.util.List;
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
    void methodReferenceToAnotherPluginClassGuardsThatBody() throws Throwable {
        Class<?> reg = loader.fixture("LambdaRegistrar");
        ReleaseCallback ref = (ReleaseCallback) invoke(reg, "reference", new Class<?>[0]);
        ref.release();
        Class<?> helper = loader.fixture("Helper");
        invoke(helper, "unrelated", new Class<?>[0]);
        assertEquals(List.of(1, 0), Probe.drain(), "Helper.cleanup guarded (pending target), Helper.unrelated not");
        assertTrue(helper.getMethod("cleanup").isAnnotationPresent(Guarded.class));
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
        // Fills the hierarchy cache (supertypes of ViaBaseCallback) and the pending targets
        // (LambdaRegistrar's method reference to Helper), both keyed by this loader.
        ((ReleaseCallback) plugin.fixture("ViaBaseCallback").getConstructor().newInstance()).release();
        plugin.fixture("LambdaRegistrar");
        assertEquals(List.of(1), Probe.drain());
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
        assertEquals(3, lambdas.targets().size(), lambdas.toString());
        for (GuardPlan.Target t : lambdas.targets()) {
            assertEquals(GuardPlan.Reason.LAMBDA_BODY, t.reason());
            assertTrue(t.name().startsWith("lambda$"), t.toString());
        }
        assertEquals(List.of(target("Helper", "cleanup", "()V", GuardPlan.Reason.LAMBDA_BODY)), lambdas.externalTargets(),
                "the method reference to Helper; not the one to Objects.requireNonNull (JDK)");
    }

    private GuardPlan plan(String simpleName) {
        return GuardPlan.of(WeavingLoader.bytes(WeavingLoader.FIXTURES + simpleName), loader);
    }

    private static GuardPlan.Target target(String simpleName, String name, String desc, GuardPlan.Reason reason) {
        return new GuardPlan.Target("dev/unloadguard/agent/fixture/" + simpleName, name, desc, reason);
    }

}
