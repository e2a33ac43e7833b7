package dev.unloadguard.boot;

import java.lang.invoke.CallSite;
import java.lang.invoke.ConstantCallSite;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.Set;
import java.util.function.IntConsumer;
import java.util.function.IntSupplier;
import java.util.function.ToIntFunction;

/**
 * The bridge for plugin loaders that cannot see unloadguard's runtime: a foreign host's loader
 * registered with {@code ForeignPluginLoaders.guard} whose parents do not reach the loader of
 * {@code dev.unloadguard.epoch} (for example one whose parent is the platform loader). For those
 * loaders only, the agent appends this one class to the bootstrap class path (lazily, the first
 * time such a loader is registered) and weaves calls to it instead of {@code ReleaseGuard}, with
 * the same shapes: the dynamic constant {@code epoch} of a class (Java 11+ class files) and the
 * static {@code enter}/{@code enterEntry}/{@code exit} taking it, the {@code invokedynamic}
 * bootstraps bound to the class's own plugin epoch (Java 7 to 10), the stack-walking entry points
 * for pre-Java-7 class files, and {@code unpin}. The constant's value is the runtime's own holder;
 * this bridge checks its class (wired) and enters and exits through the JDK interfaces it
 * implements, which the JIT inlines as it does the runtime's direct calls when the holder is a
 * constant.
 *
 * <p>It holds no state of its own and links no unloadguard class: the agent {@link #wire wires} it
 * to the runtime with method handles of JDK types only, so each loader still enters its own epoch.
 *
 * <p>Never referenced from unloadguard's own code except reflectively through the bootstrap loader:
 * a direct reference would define a second copy in the application loader.
 */
public final class BootGuard {

    private static final StackWalker CALLERS = StackWalker.getInstance(Set.of(StackWalker.Option.RETAIN_CLASS_REFERENCE));

    /**
     * Written once by {@link #wire}, before any class calling this one is transformed (the agent
     * wires the bridge before it answers that a loader needs it); volatile so every thread sees
     * the wired handles.
     */
    private static volatile MethodHandle handle;      // (Lookup, String, MethodType) MethodHandle
    private static volatile MethodHandle enterFor;    // (Class) int
    private static volatile MethodHandle exitFor;     // (Class, int) void
    private static volatile MethodHandle unpin;       // (Throwable) Throwable
    private static volatile MethodHandle entryHandle; // (Lookup, String, MethodType, String) MethodHandle
    private static volatile MethodHandle enterEntryFor; // (Class, String) int
    private static volatile MethodHandle epochConstant; // (Lookup, String, Class) Object
    private static volatile Class<?> constantClass;    // the class of epochConstant's values

    private BootGuard() {
    }

    /** The bootstrap of the woven {@code invokedynamic enter()I} and {@code exit(I)V}. */
    public static CallSite bootstrap(MethodHandles.Lookup lookup, String name, MethodType type) throws Throwable {
        return new ConstantCallSite((MethodHandle) handle.invokeExact(lookup, name, type));
    }

    /** The bootstrap of the woven {@code invokedynamic enter()I} of a gated entry; {@code method} names it. */
    public static CallSite bootstrapEntry(MethodHandles.Lookup lookup, String name, MethodType type, String method) throws Throwable {
        return new ConstantCallSite((MethodHandle) entryHandle.invokeExact(lookup, name, type, method));
    }

    /** The bootstrap of the woven dynamic constant {@code epoch}: the class's own epoch, opaque. */
    public static Object epochConstant(MethodHandles.Lookup lookup, String name, Class<?> type) throws Throwable {
        return (Object) epochConstant.invokeExact(lookup, name, type);
    }

    /** Enters the epoch of the woven constant {@code epoch}: an ungated section. */
    public static int enter(Object epoch) {
        return ((IntSupplier) check(epoch)).getAsInt();
    }

    /** Enters the epoch of the woven constant {@code epoch} as a gated entry named {@code method}. */
    @SuppressWarnings("unchecked")
    public static int enterEntry(Object epoch, String method) {
        return ((ToIntFunction<String>) check(epoch)).applyAsInt(method);
    }

    /** Exits the section {@code token} of the epoch of the woven constant {@code epoch}. */
    public static void exit(Object epoch, int token) {
        ((IntConsumer) check(epoch)).accept(token);
    }

    /** {@code epoch} if it is a value of {@link #epochConstant}; else the runtime's own refusal. */
    private static Object check(Object epoch) {
        if (epoch == null || epoch.getClass() != constantClass) {
            throw new IllegalArgumentException("not a release epoch constant: "
                    + (epoch == null ? "null" : "an instance of " + epoch.getClass().getName())
                    + "; pass the dynamic constant bootstrapped by BootGuard.epochConstant with the class's own lookup");
        }
        return epoch;
    }

    /** Enters the caller's plugin's epoch as a gated entry (pre-Java-7 class files). */
    public static int enterEntryCaller(String method) throws Throwable {
        return (int) enterEntryFor.invokeExact(CALLERS.getCallerClass(), method);
    }

    /** Enters the caller's plugin's epoch (pre-Java-7 class files). */
    public static int enterCaller() throws Throwable {
        return (int) enterFor.invokeExact(CALLERS.getCallerClass());
    }

    /** Exits the caller's innermost section (pre-Java-7 class files). */
    public static void exitCaller(int token) throws Throwable {
        exitFor.invokeExact(CALLERS.getCallerClass(), token);
    }

    /** Unpins an exception leaving plugin code; never throws. */
    public static Throwable unpin(Throwable t) {
        try {
            return (Throwable) unpin.invokeExact(t);
        } catch (Throwable ignored) {
            return t;
        }
    }

    /** Unpins an exception leaving the section {@code token} if it is the outermost one; never throws. */
    public static Throwable unpin(Throwable t, int token) {
        return (token >>> 1) == 1 ? unpin(t) : t;
    }

    /** Called once by the agent: connects the bridge to the runtime. */
    public static synchronized void wire(MethodHandle handleFactory, MethodHandle enterForClass, MethodHandle exitForClass,
            MethodHandle unpinThrowable, MethodHandle entryHandleFactory, MethodHandle enterEntryForClass,
            MethodHandle epochConstantFactory, Class<?> epochConstantClass) {
        if (handle != null) {
            return;
        }
        constantClass = epochConstantClass;
        epochConstant = epochConstantFactory;
        enterEntryFor = enterEntryForClass;
        entryHandle = entryHandleFactory;
        unpin = unpinThrowable;
        exitFor = exitForClass;
        enterFor = enterForClass;
        handle = handleFactory;
    }
}
