package dev.unloadguard.epoch;

import dev.unloadguard.epoch.internal.Epochs;
import dev.unloadguard.epoch.internal.ReleaseEpoch;
import dev.unloadguard.epoch.internal.Throwables;
import java.lang.invoke.CallSite;
import java.lang.invoke.ConstantCallSite;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.Objects;
import java.util.Set;
import java.util.function.IntConsumer;
import java.util.function.IntSupplier;
import java.util.function.ToIntFunction;

/**
 * The tiny runtime the agent's woven bytecode calls, and what plugin code may ask about the guard.
 * Each plugin generation has a release epoch of its own; a guarded method of a plugin class enters
 * its own plugin's epoch:
 *
 * <pre>{@code
 * int t = enter(ldc EPOCH)           // EPOCH: one dynamic constant per class, see below
 * try { body }
 * catch (Throwable any) { any = unpin(any, t); exit(ldc EPOCH, t); throw any; }
 * exit(ldc EPOCH, t)                 // before every return
 * }</pre>
 * ({@code ldc EPOCH} is {@code getstatic PluginEpoch.epoch} in classes of unloadguard's own plugin
 * loaders, see "Binding").
 *
 * <p><b>Binding.</b> In class files of Java 11 and later (version 55, which can hold a
 * {@code CONSTANT_Dynamic}) each woven class has one dynamic constant {@code epoch}, typed
 * {@code Object}, whose bootstrap {@link #epochConstant} runs once per class, the first time any
 * of its woven methods runs: it finds the epoch of the class (from its class loader) and returns
 * an opaque holder of it. The woven methods load it with {@code ldc} and pass it to the static
 * {@link #enter(Object)}, {@link #enterEntry(Object, String)} and {@link #exit(Object, int)},
 * which accept that holder and nothing else ({@link IllegalArgumentException}). The JIT treats a
 * resolved dynamic constant as a constant, folds the holder's type check and its fields (a
 * record's final fields, which the JIT trusts: the epoch, and the epoch's table for finding a
 * thread's cell, which the balanced forms below use) and inlines the epoch's
 * {@code enter}/{@code exit} into the plugin method: no map lookup, no class-loader query per call, the same code as a
 * constant call site bound to the epoch. What it saves is start-up: linking a call site
 * ({@code invokedynamic}) costs tens of microseconds the first time it runs, and every enter and
 * exit site of every method was linked on its own; resolving the constant costs about as much
 * as one such site, once per class (measured figures: {@code docs/guard-model.md}, "Start-up").
 *
 * <p>A plugin loader that defines the epoch class itself
 * ({@link dev.unloadguard.epoch.internal.PluginEpochClass.Definer}: unloadguard's own plugin
 * loaders) saves even that: the epoch class {@code dev.unloadguard.epoch.woven.PluginEpoch} holds
 * the constant in a static final field {@code epoch}, which its static initializer sets to
 * {@code epochConstant(MethodHandles.lookup(), "epoch", Object.class)}, the same value the loader's
 * classes' dynamic constant would resolve to, so the bootstrap runs once per plugin generation; the
 * JIT folds a static final field of an initialized class as it folds a resolved constant. The
 * byte-level weaver's sections in such classes do not name this class at all: they call the epoch
 * class's four short static methods, which pass its constant on to the balanced forms below:
 *
 * <pre>{@code
 * Object cell = PluginEpoch.b();     // enterEntrySectionCell(epoch); PluginEpoch.a(): enterSectionCell(epoch)
 * try { body }
 * catch (Throwable any) { PluginEpoch.d(any); throw any; }   // exitSectionThrowing(epoch, any)
 * PluginEpoch.c(cell)                // exitSectionCell(cell), before every return
 * }</pre>
 * A woven class's constant pool then holds the epoch class and four one-letter methods with short
 * descriptors, no {@code ReleaseGuard}, no field reference and no method name per method: a gated
 * entry that the gate refuses is named from the stack ({@link #enterEntrySectionCell(Object)}).
 * The ASM weaver's token sections in such classes read the field ({@code getstatic PluginEpoch.epoch})
 * and call the methods here.
 *
 * <p>Class files of Java 7 to 10 keep {@code invokedynamic enter()I} / {@code exit(I)V} sites:
 * {@link #bootstrap} (and {@link #bootstrapEntry} for gated entries) runs once per call site and
 * returns a {@link ConstantCallSite} bound to the class's epoch's {@code enter} or {@code exit}.
 * Class files older than Java 7 cannot hold either; for them the agent weaves
 * {@link #enterCaller()}/{@link #exitCaller(int)}, which find the caller's epoch with a stack walk
 * (slow, correct, rare).
 *
 * <p><b>Only your own epoch.</b> The bootstraps need a lookup with full privilege access, which
 * only the class itself can make ({@code MethodHandles.lookup()}), so plugin code can bind only its
 * own plugin's epoch; the legacy entry points use the caller's class. The dynamic constant hands
 * plugin code no more than the bootstraps already did (a way to enter and exit its own epoch):
 * it is an instance of a private record, so ordinary reflection cannot reach the epoch's other
 * public methods (closing the gate, replacing the refusal listener) through it, and
 * {@link #enter(Object)} and its siblings refuse any other object. The epoch class's public field
 * holds the same value for the classes of its loader; code holding another plugin's class loader
 * can read it by reflection, as it can reach that loader's public {@code releaseEpoch()}: the
 * guarantee is about what plugin code links against, not about reflection. Tokens name a section
 * (depth and index): exiting anything but the calling thread's innermost open section of that
 * epoch throws {@link IllegalStateException} and changes nothing. What only the host or the agent
 * may do (make epochs, register loaders, record that the agent is installed) lives in
 * {@code dev.unloadguard.epoch.internal}, which unloadguard's plugin loaders do not delegate.
 *
 * <p>Plugin loaders see this class through delegation: unloadguard's own plugin loaders delegate
 * {@code dev.unloadguard.epoch} to unloadguard's loader whatever their parent is. A foreign host's
 * loader that cannot see it is served by a bridge on the bootstrap class path instead
 * ({@code dev.unloadguard.boot.BootGuard}), with the same shape.
 */
public final class ReleaseGuard {

    private static final MethodHandle ENTER;
    private static final MethodHandle EXIT;
    private static final MethodHandle ENTER_ENTRY;
    private static final StackWalker CALLERS = StackWalker.getInstance(Set.of(StackWalker.Option.RETAIN_CLASS_REFERENCE));

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            ENTER = l.findVirtual(ReleaseEpoch.class, "enter", MethodType.methodType(int.class));
            EXIT = l.findVirtual(ReleaseEpoch.class, "exit", MethodType.methodType(void.class, int.class));
            ENTER_ENTRY = l.findVirtual(ReleaseEpoch.class, "enterEntry", MethodType.methodType(int.class, String.class));
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private ReleaseGuard() {
    }

    /**
     * The value of a woven class's dynamic constant {@code epoch}: its plugin's epoch, opaque to
     * plugin code (a private class). A record, so the JIT trusts its final field and folds it
     * when the holder is a constant. The JDK interfaces let the bootstrap bridge
     * ({@code dev.unloadguard.boot.BootGuard}), which links no unloadguard type, enter and exit
     * through it; they offer nothing the bootstraps do not.
     */
    private record EpochConstant(ReleaseEpoch epoch, Object slots) implements IntSupplier, ToIntFunction<String>, IntConsumer {
        /** The epoch's constant: the epoch and its fast-path table ({@link ReleaseEpoch#fastSlots()}), both folded by the JIT. */
        EpochConstant(ReleaseEpoch epoch) {
            this(epoch, epoch.fastSlots());
        }

        @Override
        public int getAsInt() {
            return epoch.enter();
        }

        @Override
        public int applyAsInt(String method) {
            return epoch.enterEntry(method);
        }

        @Override
        public void accept(int token) {
            epoch.exit(token);
        }

        @Override
        public String toString() {
            return "the dynamic constant of the " + epoch;
        }
    }

    /**
     * The bootstrap of the woven dynamic constant {@code epoch} (type {@code Object}): the
     * release epoch of {@code lookup}'s class, in a holder only {@link #enter(Object)},
     * {@link #enterEntry(Object, String)} and {@link #exit(Object, int)} accept.
     *
     * @throws IllegalArgumentException if {@code lookup} lacks full privilege access, or
     *         {@code name}/{@code type} is not {@code epoch}/{@code Object}
     * @throws IllegalStateException if its class is not plugin code
     */
    public static Object epochConstant(MethodHandles.Lookup lookup, String name, Class<?> type) {
        if (!name.equals("epoch") || type != Object.class) {
            throw new IllegalArgumentException("no release guard constant " + name + " of " + type + ": epoch of java.lang.Object");
        }
        return new EpochConstant(epochOf(lookup));
    }

    /** Enters the epoch of the woven constant {@code epoch} ({@link #epochConstant}): an ungated section. */
    public static int enter(Object epoch) {
        return unwrap(epoch).enter();
    }

    /** Enters the epoch of the woven constant {@code epoch} as a gated entry named {@code method}; see {@link #bootstrapEntry}. */
    public static int enterEntry(Object epoch, String method) {
        return unwrap(epoch).enterEntry(method);
    }

    /** Exits the section {@code token} of the epoch of the woven constant {@code epoch}. */
    public static void exit(Object epoch, int token) {
        unwrap(epoch).exit(token);
    }

    /*
     * The balanced forms, woven by the agent's byte-level weaver for every method of a plugin in
     * guard scope ENTRIES: a method body enters on its first instruction (a constructor after its
     * super(...) call) and exits before every return and in a catch-all handler over the rest of
     * its code, so its section is always the thread's innermost one when it exits and needs no
     * token. The enter returns the calling thread's cell of the epoch (its counters and depth;
     * opaque here, a private class of ReleaseEpoch), which the woven code keeps in a local of its
     * own and hands back to every exit of the same body, so a section looks the thread's cell up
     * once instead of twice. The exits check that the cell is the calling thread's (an identity
     * compare on its owner): a cell passed to another thread is refused and nothing changes.
     * Same effect, gate, fences and pairings as enter/enterEntry/exit.
     */

    /**
     * Enters the epoch of the woven constant {@code epoch} for a balanced method body: an
     * ungated section.
     *
     * @return the calling thread's cell of the epoch, for {@link #exitSectionCell(Object)} and
     *         {@link #exitSectionThrowingCell(Throwable, Object)}
     */
    public static Object enterSectionCell(Object epoch) {
        EpochConstant k = constant(epoch);
        return k.epoch().enterCell(k.slots());
    }

    /**
     * Enters the epoch of the woven constant {@code epoch} for a balanced method body: a gated
     * entry named {@code method}.
     *
     * @return the calling thread's cell of the epoch, as {@link #enterSectionCell(Object)}
     */
    public static Object enterEntrySectionCell(Object epoch, String method) {
        EpochConstant k = constant(epoch);
        return k.epoch().enterEntryCell(k.slots(), method);
    }

    /**
     * {@link #enterEntrySectionCell(Object, String)} without the method's name: the epoch class's
     * gated enter ({@code PluginEpoch.b()}, see "Binding"), so woven classes hold no string per
     * method. A refused entry (and a crossing a probe counts) names the method it finds on the
     * stack at that point: the first frame below the guard's own (this method, the epoch class's
     * {@code b} and the epoch's), that is the woven method whose first instruction called
     * {@code b}, named as the weaver names it ({@code com.acme.Service.handle(java.lang.String)},
     * {@code new com.acme.Service(int)}, {@code static initializer of com.acme.Service}).
     *
     * @return the calling thread's cell of the epoch, as {@link #enterSectionCell(Object)}
     */
    public static Object enterEntrySectionCell(Object epoch) {
        EpochConstant k = constant(epoch);
        return k.epoch().enterEntryCell(k.slots(), null);
    }

    /**
     * Exits the innermost section of the calling thread in the epoch of the woven constant
     * {@code epoch}, as the catch-all handler of a balanced method body that does not pass its
     * cell (the epoch class's {@code d}, see "Binding"): finds the thread's cell (an exception
     * leaving a method is rare; the cell's local is for the exits before returns), unpins
     * {@code t} if it leaves the thread's outermost section in the plugin, then exits as
     * {@link #exitSectionCell(Object)}. The caller rethrows {@code t}.
     *
     * @throws IllegalStateException if the calling thread has no open section in that epoch
     */
    public static void exitSectionThrowing(Object epoch, Throwable t) {
        unwrap(epoch).exitCellThrowing(t);
    }

    /**
     * Exits the innermost section of the calling thread in the epoch whose cell {@code cell} is
     * (what the body's enter returned).
     *
     * @throws IllegalArgumentException if {@code cell} is not what an enter returned
     * @throws IllegalStateException if {@code cell} is another thread's, or no section is open on it
     */
    public static void exitSectionCell(Object cell) {
        ReleaseEpoch.exitCell(cell);
    }

    /**
     * The catch-all handler of a balanced method body that keeps its cell: {@link #unpin(Throwable)
     * unpins} {@code t} if it leaves the thread's outermost section in the plugin, then exits the
     * innermost section as {@link #exitSectionCell(Object)}.
     *
     * @return {@code t}, to be thrown
     */
    public static Throwable exitSectionThrowingCell(Throwable t, Object cell) {
        Throwable thrown = ReleaseEpoch.cellDepth(cell) == 1 ? Throwables.unpin(t) : t;
        ReleaseEpoch.exitCell(cell);
        return thrown;
    }

    private static ReleaseEpoch unwrap(Object epoch) {
        return constant(epoch).epoch();
    }

    private static EpochConstant constant(Object epoch) {
        if (epoch instanceof EpochConstant) {
            return (EpochConstant) epoch;
        }
        throw notAnEpochConstant(epoch);
    }

    /** The error for anything but the value of {@link #epochConstant}; the bridge throws the same. */
    public static IllegalArgumentException notAnEpochConstant(Object given) {
        return new IllegalArgumentException("not a release epoch constant: "
                + (given == null ? "null" : "an instance of " + given.getClass().getName())
                + "; pass the dynamic constant bootstrapped by ReleaseGuard.epochConstant with the class's own lookup");
    }

    /** The class of {@link #epochConstant}'s values: for the agent, which wires the bootstrap bridge's check. */
    public static Class<?> epochConstantClass() {
        return EpochConstant.class;
    }

    /**
     * The bootstrap of the woven {@code invokedynamic enter()I} and {@code exit(I)V}: a constant
     * call site bound to the release epoch of {@code lookup}'s class.
     *
     * @throws IllegalArgumentException if {@code lookup} lacks full privilege access, its class is
     *         not plugin code, or {@code name}/{@code type} is not one of the two above
     */
    public static CallSite bootstrap(MethodHandles.Lookup lookup, String name, MethodType type) {
        return new ConstantCallSite(handle(lookup, name, type));
    }

    /**
     * The epoch-bound handle for {@link #bootstrap} and the bootstrap bridge: {@code enter} of
     * type {@code ()int}, or {@code exit} of type {@code (int)void}.
     */
    public static MethodHandle handle(MethodHandles.Lookup lookup, String name, MethodType type) {
        ReleaseEpoch epoch = epochOf(lookup);
        MethodHandle mh;
        if (name.equals("enter") && type.equals(ENTER.type().dropParameterTypes(0, 1))) {
            mh = ENTER;
        } else if (name.equals("exit") && type.equals(EXIT.type().dropParameterTypes(0, 1))) {
            mh = EXIT;
        } else {
            throw new IllegalArgumentException("no release guard operation " + name + type + ": enter()int or exit(int)void");
        }
        return mh.bindTo(epoch);
    }

    /**
     * The bootstrap of the woven {@code invokedynamic enter()I} of a gated entry (a method the
     * host or another plugin may call from outside): a constant call site bound to the
     * {@code enterEntry(method)} of the release epoch of {@code lookup}'s class. Once the plugin
     * is unloading, an entry from outside throws {@code PluginUnloadedError} naming
     * {@code method}; a nested one (the thread is already inside the plugin) costs a depth check.
     *
     * @param method the method the call site is in, as error messages name it (a static argument)
     * @throws IllegalArgumentException as {@link #bootstrap}, or if {@code name}/{@code type} is
     *         not {@code enter()int}
     */
    public static CallSite bootstrapEntry(MethodHandles.Lookup lookup, String name, MethodType type, String method) {
        return new ConstantCallSite(entryHandle(lookup, name, type, method));
    }

    /** The epoch-bound handle for {@link #bootstrapEntry} and the bootstrap bridge, of type {@code ()int}. */
    public static MethodHandle entryHandle(MethodHandles.Lookup lookup, String name, MethodType type, String method) {
        if (!name.equals("enter") || !type.equals(ENTER.type().dropParameterTypes(0, 1))) {
            throw new IllegalArgumentException("no gated release guard operation " + name + type + ": enter()int");
        }
        return MethodHandles.insertArguments(ENTER_ENTRY.bindTo(epochOf(lookup)), 0, Objects.requireNonNull(method, "method"));
    }

    /** The epoch of {@code lookup}'s class, if the lookup may bind it: only a class's own full-privilege lookup may. */
    private static ReleaseEpoch epochOf(MethodHandles.Lookup lookup) {
        if (!lookup.hasFullPrivilegeAccess()) {
            throw new IllegalArgumentException("the release guard binds only a class's own epoch: " + lookup
                    + " has no full privilege access (use the class's own MethodHandles.lookup())");
        }
        return Epochs.epochOf(lookup.lookupClass());
    }

    /** Enters the caller's plugin's epoch as a gated entry: pre-Java-7 class files. */
    public static int enterEntryCaller(String method) {
        return Epochs.epochOf(CALLERS.getCallerClass()).enterEntry(method);
    }

    /** Enters the caller's plugin's epoch: woven into guarded methods of pre-Java-7 class files. */
    public static int enterCaller() {
        return Epochs.epochOf(CALLERS.getCallerClass()).enter();
    }

    /** Exits the caller's innermost section of its plugin's epoch; see {@link #enterCaller()}. */
    public static void exitCaller(int token) {
        Epochs.epochOf(CALLERS.getCallerClass()).exit(token);
    }

    /**
     * Keeps an exception that leaves plugin code from keeping the plugin's class loader reachable:
     * turns its stack into strings and drops the JVM's backtrace (causes and suppressed included).
     * Woven into the handler that exits the epoch when a guarded method throws. Never throws.
     *
     * @return {@code t}
     */
    public static Throwable unpin(Throwable t) {
        return Throwables.unpin(t);
    }

    /**
     * {@link #unpin(Throwable)} for an exception leaving the guarded section {@code token}, but
     * only when that is the thread's outermost section in the plugin, that is, when the exception
     * leaves the plugin's code: with every method of a plugin guarded, an exception thrown and
     * caught inside the plugin crosses many nested sections, and materializing its stack at each
     * of them would cost a stack walk per frame. Never throws.
     *
     * @return {@code t}
     */
    public static Throwable unpin(Throwable t, int token) {
        return (token >>> 1) == 1 ? Throwables.unpin(t) : t;
    }

    /** Whether the unloadguard agent is installed in this JVM. */
    public static boolean agentActive() {
        return Epochs.agentActive();
    }

    /** The installed agent's version, or {@code null} without the agent. */
    public static String agentVersion() {
        return Epochs.agentVersion();
    }

    /**
     * The current thread's nesting depth in the release epoch of the calling plugin class's
     * plugin: 0 outside, more inside a guarded method. For plugin code (diagnostics, tests).
     *
     * @throws IllegalStateException if the caller is not plugin code
     */
    public static int depth() {
        return Epochs.epochOf(CALLERS.getCallerClass()).depth();
    }

    /**
     * The current thread's nesting depth in the release epoch of {@code pluginLoader}'s plugin
     * (0 outside, and for a loader that is not a plugin loader). For hosts and tests.
     */
    public static int depth(ClassLoader pluginLoader) {
        ReleaseEpoch epoch = Epochs.of(pluginLoader);
        return epoch == null ? 0 : epoch.depth();
    }
}
