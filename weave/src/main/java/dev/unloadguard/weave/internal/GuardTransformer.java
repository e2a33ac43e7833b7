package dev.unloadguard.weave.internal;

import dev.unloadguard.epoch.internal.Epochs;
import dev.unloadguard.epoch.internal.PluginEpochClass;
import dev.unloadguard.epoch.internal.ReleaseEpoch;
import java.lang.instrument.ClassFileTransformer;
import java.lang.instrument.Instrumentation;
import java.lang.ref.WeakReference;
import java.security.ProtectionDomain;
import java.util.HashMap;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.WeakHashMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import org.objectweb.asm.ClassReader;

/**
 * The agent's one transformer: guards the classes defined by plugin class loaders, every method
 * of them or their release paths only, as each plugin's guard scope says, and does nothing else.
 *
 * <h2>Per class</h2>
 * <ol>
 * <li>Fast path, before the bytes are looked at: a class whose defining loader is not a plugin
 *     loader ({@link Epochs#isPluginLoader}) is returned unchanged. That is one type check
 *     for every JDK, host and agent class.
 * <li>The scope comes from the loader's epoch: {@link ReleaseEpoch#guardsEntries()} is
 *     {@link GuardPlan.Scope#ENTRIES}, every concrete method a section; otherwise
 *     {@link GuardPlan.Scope#RELEASE_PATHS}.
 * <li>Release paths only: most plugin classes have nothing to guard: a class whose constant pool
 *     names neither {@code release} nor {@code @GuardedRelease}, and that has no direct interface
 *     outside the JDK ({@link GuardPlan#mayGuard}: passes over the bytes, no ASM, nothing
 *     allocated), and for which no body is pending is returned unchanged without being parsed.
 *     In scope ENTRIES no class is skipped this way.
 * <li>{@link GuardPlan} decides what to guard, from the bytes and the plugin loader's resources,
 *     and {@link Weaver} rewrites the chosen methods (as they stream through) and adds the
 *     planned ones. Planned methods the weaver has to leave as they were (constructors of a
 *     shape no compiler emits, methods too large) are logged once per class at INFO. A plan of
 *     whole method bodies is woven byte by byte ({@link EntryWeaver}); a plain class in scope
 *     ENTRIES is planned and woven that way without being parsed by ASM at all.
 * </ol>
 * Then, for a class whose constant pool names a JDK registry ({@link RegistrationSites#mayRegister},
 * another pass over the pool without ASM), a second, ASM pass over the guarded bytes points its
 * registration calls at {@code ManagedCalls} (managed registrations: recorded per plugin generation
 * and undone at unload). It is a pass of its own rather than part of the {@link GuardPlan}: it
 * changes call sites, not sections, applies in both guard scopes (a class with nothing to guard is
 * rewritten all the same), keeps frames and locals as they are, adds no member (so it is a valid
 * retransformation), and is a function of the bytes alone (so a reusable definition stays
 * reusable). Loaders that reach the runtime only through the boot bridge are not rewritten.
 * Any throwable is caught, logged once per class at WARNING and answered with "unchanged": a
 * transformer must never break class loading.
 *
 * <h2>Defining a class: no window</h2>
 * When a class is defined ({@code classBeingRedefined == null}) the plan may add methods: a
 * method reference to a method of another class used as a release action or callback is
 * rewritten to call a guarded bridge added to the referring class, and a release type whose
 * {@code release} body is inherited from a supertype that is not guarded on its own gets a
 * guarded override (see {@link GuardPlan}). Both are guarded from the first call: nothing
 * depends on whether, or when, the body's class is loaded or transformed. The class's name is
 * remembered (per loader) when methods were added, because every later retransformation of it
 * must add the same ones: the JVM replays the original bytes through this transformer, and a
 * retransformation that lacks a method the class has is refused. The plan and the weaving are
 * functions of the bytes and of the loader's resources (memoized by {@link Hierarchy}), so the
 * replay adds the same methods with the same code.
 *
 * <h2>Retransforming: the fallback, and its window</h2>
 * A class loaded before the agent (dynamic attach) cannot gain methods. Its method-reference
 * bodies in other classes, and an inherited release body, are recorded per loader as pending
 * targets instead, and guarded in their own class when that class is transformed: later, when
 * it is defined (it is then guarded from its first call), or at once by retransformation if it
 * is already loaded. The same holds, at any time, for the sites that are never bridged:
 * serializable lambdas and {@code invokespecial} handles. Only the owner's own loader is looked
 * at, so a body defined by another loader stays unguarded.
 *
 * <p>That retransformation cannot happen inside {@code transform}: the JDK's instrumentation is
 * not reentrant on one thread, so a class retransformed from inside a transformer would be
 * retransformed <em>without</em> this transformer, losing its guards. A single daemon worker does
 * it instead, shortly after. The thread is started with the transformer, not on first use (see
 * {@link #startRetransformer}). The race this leaves, on the fallback path only: the body may run
 * unguarded if it is invoked before the worker finished, within milliseconds of the referring
 * class being retransformed. (A second narrow race: an owner that is being defined concurrently
 * on another thread, after it read its pending targets and before it is listed as loaded, misses
 * them.) A body guarded this way and also reached through a bridge or an override added to a
 * class defined later nests two sections of the same epoch, which is allowed.
 *
 * <h2>State</h2>
 * The pending targets and the names of classes that gained methods are kept per loader in
 * {@link WeakHashMap}s holding strings only, so they never keep a plugin loader alive; the worker
 * holds the loader weakly too. Counters are {@link LongAdder}s, shared by all instances (there is
 * one per JVM).
 */
public final class GuardTransformer implements ClassFileTransformer {

    /**
     * Diagnostic counters since the JVM started.
     *
     * @param classesExamined classes from plugin loaders the transformer looked at
     * @param classesTransformed classes it changed
     * @param methodsGuarded methods it guarded
     */
    public record Stats(long classesExamined, long classesTransformed, long methodsGuarded) {
    }

    private static final LongAdder EXAMINED = new LongAdder();
    private static final LongAdder TRANSFORMED = new LongAdder();
    private static final LongAdder GUARDED = new LongAdder();

    /** Class names whose failure was logged: one warning per class, not per retransformation. */
    private static final Set<String> FAILED = ConcurrentHashMap.newKeySet();
    private static final int MAX_FAILURES_REMEMBERED = 10_000;

    /**
     * Never transformed, even by a plugin loader that defines them itself: the runtime (guarding
     * it would recurse), the epoch class a plugin loader defines in itself
     * ({@link PluginEpochClass}: woven code reads its field, so guarding its static initializer
     * would read the field it is about to set) and the agent. The packages themselves, not their
     * subpackages.
     */
    private static final String[] OWN_PACKAGES = {"dev/unloadguard/epoch/", "dev/unloadguard/epoch/internal/",
        "dev/unloadguard/epoch/woven/", "dev/unloadguard/agent/", "dev/unloadguard/boot/"};

    private final Instrumentation instrumentation;
    /** Per loader: owner class name to method key to why (bodies other classes asked to guard). */
    private final Map<ClassLoader, Map<String, Map<String, GuardPlan.Reason>>> pending = new WeakHashMap<>();
    /** Per loader: names of the classes that gained methods when they were defined. */
    private final Map<ClassLoader, Set<String>> shaped = new WeakHashMap<>();
    /**
     * Whether any method-reference body was ever recorded in {@link #pending}: until then (in most
     * JVMs, for ever) a plugin class skips the lookup and its lock. Set before the first entry
     * is added, never cleared; volatile, so a class defined after an entry was added sees it.
     */
    private volatile boolean anyPending;
    private final ThreadPoolExecutor retransformer;

    /**
     * @param instrumentation used to retransform already loaded owners of method-reference bodies;
     *     {@code null} to never retransform (tests)
     */
    public GuardTransformer(Instrumentation instrumentation) {
        this.instrumentation = instrumentation;
        this.retransformer = instrumentation != null && instrumentation.isRetransformClassesSupported()
                ? startRetransformer() : null;
    }

    /** The counters, for reports and diagnostics. */
    public static Stats stats() {
        return new Stats(EXAMINED.sum(), TRANSFORMED.sum(), GUARDED.sum());
    }

    /**
     * The pure weaving function, for a class about to be defined: {@code classfile} with its
     * release callbacks guarded (bridges and overrides added), or {@code null} if it has nothing
     * to guard. Bodies in other classes that are not bridged are not followed (see
     * {@link GuardPlan#externalTargets()}).
     *
     * @param hierarchyLoader whose resources hold the class's supertypes, see {@link GuardPlan#of};
     *                        the loader that defines the class: if it defines the epoch class
     *                        ({@link PluginEpochClass#definedBy}), woven code reads the epoch from it
     */
    public static byte[] guard(byte[] classfile, ClassLoader hierarchyLoader) {
        return guard(classfile, hierarchyLoader, GuardPlan.Scope.RELEASE_PATHS);
    }

    /**
     * {@link #guard(byte[], ClassLoader)} for a plugin of guard scope {@code scope}: the same bytes
     * the agent defines (byte by byte where {@link EntryWeaver} takes the class, ASM otherwise).
     */
    public static byte[] guard(byte[] classfile, ClassLoader hierarchyLoader, GuardPlan.Scope scope) {
        return guard(classfile, hierarchyLoader, scope, true);
    }

    /** {@link #guard(byte[], ClassLoader, GuardPlan.Scope)} with ASM only: the weaving before {@link EntryWeaver}. */
    public static byte[] guardWithAsm(byte[] classfile, ClassLoader hierarchyLoader, GuardPlan.Scope scope) {
        return guard(classfile, hierarchyLoader, scope, false);
    }

    private static byte[] guard(byte[] classfile, ClassLoader hierarchyLoader, GuardPlan.Scope scope, boolean byteLevel) {
        int scanned = GuardPlan.scanConstantPool(classfile);
        GuardPlan byBytes = byteLevel ? GuardPlan.entriesWithoutReader(classfile, scanned, Map.of(), scope) : null;
        ClassReader reader = byBytes != null ? null : new ClassReader(classfile);
        GuardPlan plan = byBytes != null ? byBytes : GuardPlan.analyze(reader, scanned, hierarchyLoader, Map.of(), true, scope);
        if (plan.targets().isEmpty()) {
            return null;
        }
        byte[] fast = byteLevel && plan.weavesBodiesOnly()
                ? EntryWeaver.weave(classfile, plan, PluginEpochClass.definedBy(hierarchyLoader)) : null;
        return fast != null ? fast : Weaver.weave(reader != null ? reader : new ClassReader(classfile), plan,
                Weaver.RELEASE_GUARD, PluginEpochClass.definedBy(hierarchyLoader));
    }

    /**
     * What {@link #transform} made of one class, for a woven-bytes cache in front of it (the
     * agent's).
     *
     * @param classfile      the class file to define, {@code null} for the input unchanged
     * @param methodsGuarded the methods it guarded
     * @param reusable       whether the same input, defined by another plugin loader with the
     *                       same guard scope, guard owner, epoch binding (whether the loader
     *                       defines the epoch class, {@link PluginEpochClass#definedBy}) and
     *                       supertypes, is woven to the same
     *                       bytes and leaves nothing to record per loader: a class being defined
     *                       (not retransformed), no pending body consulted or recorded, no method
     *                       added, nothing left unwoven, no failure
     */
    public record Definition(byte[] classfile, int methodsGuarded, boolean reusable) {
        private static final Definition UNCHANGED = new Definition(null, 0, false);
    }

    @Override
    public byte[] transform(ClassLoader loader, String className, Class<?> classBeingRedefined,
            ProtectionDomain protectionDomain, byte[] classfileBuffer) {
        return define(loader, className, classBeingRedefined, classfileBuffer).classfile();
    }

    /** {@link #transform}, saying whether its answer may be reused (see {@link Definition}). */
    public Definition define(ClassLoader loader, String className, Class<?> classBeingRedefined, byte[] classfileBuffer) {
        if (!Epochs.isPluginLoader(loader)) {
            return Definition.UNCHANGED;
        }
        if (className == null || classfileBuffer == null || isOwn(className)) {
            return Definition.UNCHANGED;
        }
        EXAMINED.increment();
        try {
            ReleaseEpoch epoch = Epochs.of(loader);
            GuardPlan.Scope scope = epoch != null && epoch.guardsEntries() ? GuardPlan.Scope.ENTRIES : GuardPlan.Scope.RELEASE_PATHS;
            Map<String, GuardPlan.Reason> pendingKeys = anyPending ? pendingFor(loader, className) : Map.of();
            int scanned = GuardPlan.scanConstantPool(classfileBuffer);
            // Managed registrations: only for loaders that see the runtime (ManagedCalls), not through the boot bridge.
            boolean registers = RegistrationSites.mayRegister(classfileBuffer) && !Epochs.needsBootBridge(loader);
            if (scope == GuardPlan.Scope.RELEASE_PATHS && pendingKeys.isEmpty() && !GuardPlan.mayGuard(scanned)) {
                if (registers) {
                    return registrations(null, classfileBuffer, 0, classBeingRedefined == null, loader);
                }
                return Definition.UNCHANGED; // most plugin classes: passes over the constant pool, no parse, no ASM
            }
            // Defined now, or retransformed after being defined with methods added: the same plan.
            boolean mayAddMethods = classBeingRedefined == null || wasShaped(loader, className);
            // Most classes in scope ENTRIES are planned and woven from their bytes, never parsed by ASM.
            GuardPlan byBytes = GuardPlan.entriesWithoutReader(classfileBuffer, scanned, pendingKeys, scope);
            ClassReader reader = byBytes != null ? null : new ClassReader(classfileBuffer);
            GuardPlan plan = byBytes != null ? byBytes
                    : GuardPlan.analyze(reader, scanned, loader, pendingKeys, mayAddMethods, scope);
            for (GuardPlan.Target t : plan.externalTargets()) {
                if (addPending(loader, t)) {
                    scheduleRetransform(loader, t.owner());
                }
            }
            boolean reusable = classBeingRedefined == null && pendingKeys.isEmpty() && plan.externalTargets().isEmpty();
            if (plan.targets().isEmpty()) {
                return registers ? registrations(null, classfileBuffer, 0, reusable, loader) : new Definition(null, 0, reusable);
            }
            String guard = Epochs.needsBootBridge(loader) ? Weaver.BOOT_GUARD : Weaver.RELEASE_GUARD;
            if (guard == Weaver.RELEASE_GUARD && plan.weavesBodiesOnly()) {
                byte[] fast = EntryWeaver.weave(classfileBuffer, plan, PluginEpochClass.definedBy(loader));
                if (fast != null) {
                    TRANSFORMED.increment();
                    GUARDED.add(plan.targets().size());
                    Log.debug(() -> describe(plan, new Weaver.Woven(fast, List.of()), loader));
                    // adds no method, leaves none unwoven
                    return registers ? registrations(fast, classfileBuffer, plan.targets().size(), reusable, loader)
                            : new Definition(fast, plan.targets().size(), reusable);
                }
            }
            boolean epochField = guard == Weaver.RELEASE_GUARD && PluginEpochClass.definedBy(loader);
            Weaver.Woven woven = Weaver.weaveReporting(reader != null ? reader : new ClassReader(classfileBuffer), plan, guard, true,
                    epochField);
            if (plan.addsMethods() && classBeingRedefined == null) {
                shape(loader, className);
            }
            TRANSFORMED.increment();
            int guarded = plan.targets().size() - woven.notWoven().size();
            GUARDED.add(guarded);
            if (!woven.notWoven().isEmpty()) {
                notWoven(className, loader, woven.notWoven());
            }
            Log.debug(() -> describe(plan, woven, loader));
            boolean wovenReusable = reusable && !plan.addsMethods() && woven.notWoven().isEmpty();
            return registers ? registrations(woven.classfile(), classfileBuffer, guarded, wovenReusable, loader)
                    : new Definition(woven.classfile(), guarded, wovenReusable);
        } catch (Throwable t) {
            if (FAILED.size() >= MAX_FAILURES_REMEMBERED || FAILED.add(className)) {
                Log.warning("could not guard " + className.replace('/', '.') + " (defined by " + loader
                        + "); it is loaded unchanged, its release callbacks run outside the release epoch", t);
            }
            return Definition.UNCHANGED;
        }
    }

    /**
     * The managed-registrations pass ({@link RegistrationSites}) over the class as guarded so far
     * ({@code guarded}, or {@code original} if nothing was guarded): its registration calls go
     * through {@code ManagedCalls}. A second ASM pass, over the few classes whose constant pool
     * names a registry; a pure function of the bytes, so it keeps the definition's reusability.
     */
    private static Definition registrations(byte[] guarded, byte[] original, int methodsGuarded, boolean reusable,
            ClassLoader loader) {
        List<RegistrationSites.Site> sites = new ArrayList<>();
        byte[] rewritten = RegistrationSites.rewrite(guarded != null ? guarded : original, sites);
        if (sites.isEmpty()) {
            return new Definition(guarded, methodsGuarded, reusable);
        }
        if (guarded == null) {
            TRANSFORMED.increment();
        }
        Log.debug(() -> "managed registrations in " + new ClassReader(original).getClassName().replace('/', '.') + ": " + sites
                + " (defined by " + loader + ")");
        return new Definition(rewritten, methodsGuarded, reusable);
    }

    /**
     * Whether a {@link Definition} cached for {@code className} may answer for {@code loader}:
     * no method-reference body is pending for that class there (it would be guarded too).
     */
    public boolean mayReuse(ClassLoader loader, String className) {
        return !anyPending || pendingFor(loader, className).isEmpty();
    }

    /** Counts a class a cache in front of {@link #define} answered, as {@link #define} would have. */
    public static void countReused(Definition reused) {
        EXAMINED.increment();
        if (reused.classfile() != null) {
            TRANSFORMED.increment();
            GUARDED.add(reused.methodsGuarded());
        }
    }

    /** One line for the debug log: a long list of entry sections is counted, release paths are named. */
    private static String describe(GuardPlan plan, Weaver.Woven woven, ClassLoader loader) {
        List<String> parts = new ArrayList<>();
        int gated = plan.gatedCount();
        if (gated > 0) {
            parts.add(gated + (gated == 1 ? " entry section" : " entry sections"));
        }
        for (GuardPlan.Target t : plan.targets()) {
            if (!t.reason().gated()) {
                parts.add(t.toString());
            }
        }
        return "guarded " + plan.className().replace('/', '.') + ": " + String.join(", ", parts)
                + (woven.notWoven().isEmpty() ? "" : "; not woven " + woven.notWoven()) + " (defined by " + loader + ")";
    }

    /**
     * Planned methods left unwoven: a constructor whose initializing call could not be located
     * for certain (bytecode no Java compiler emits), a method too large to weave. Logged once per
     * class: they run outside the epoch (what they call is guarded on its own).
     */
    private static void notWoven(String className, ClassLoader loader, List<String> keys) {
        if (FAILED.size() >= MAX_FAILURES_REMEMBERED || FAILED.add(className)) {
            Log.info("not every planned method of " + className.replace('/', '.') + " (defined by " + loader
                    + ") is a section: " + keys + " run outside the epoch (constructors of an unusual shape or "
                    + "methods too large to weave are left as they are; what they call is guarded)");
        }
    }

    private static boolean isOwn(String className) {
        for (String p : OWN_PACKAGES) {
            if (className.startsWith(p) && className.indexOf('/', p.length()) < 0) {
                return true;
            }
        }
        return false;
    }

    private Map<String, GuardPlan.Reason> pendingFor(ClassLoader loader, String className) {
        synchronized (pending) {
            Map<String, Map<String, GuardPlan.Reason>> perLoader = pending.get(loader);
            Map<String, GuardPlan.Reason> keys = perLoader == null ? null : perLoader.get(className);
            return keys == null ? Map.of() : Map.copyOf(keys);
        }
    }

    /** Records a body to guard in another class; {@code true} if it was not known yet. */
    private boolean addPending(ClassLoader loader, GuardPlan.Target target) {
        anyPending = true; // before the entry: a class that reads false cannot have one yet (it was not recorded)
        synchronized (pending) {
            return pending.computeIfAbsent(loader, l -> new HashMap<>())
                    .computeIfAbsent(target.owner(), o -> new HashMap<>())
                    .putIfAbsent(target.key(), target.reason()) == null;
        }
    }

    /** Remembers that {@code className} gained methods when {@code loader} defined it. */
    private void shape(ClassLoader loader, String className) {
        synchronized (shaped) {
            shaped.computeIfAbsent(loader, l -> new HashSet<>()).add(className);
        }
    }

    private boolean wasShaped(ClassLoader loader, String className) {
        synchronized (shaped) {
            Set<String> names = shaped.get(loader);
            return names != null && names.contains(className);
        }
    }

    private void scheduleRetransform(ClassLoader loader, String owner) {
        Instrumentation inst = instrumentation;
        if (inst == null || !inst.isRetransformClassesSupported()) {
            return;
        }
        WeakReference<ClassLoader> weakLoader = new WeakReference<>(loader);
        retransformer().execute(() -> retransformIfLoaded(inst, weakLoader.get(), owner));
    }

    private ThreadPoolExecutor retransformer() {
        return retransformer;
    }

    /**
     * The one retransform thread, started when the agent installs — never lazily: a thread created
     * while a plugin class loads would inherit the plugin's loader as its context class loader (and,
     * on JDK 17, an access-control context holding the plugin's protection domain), and would keep
     * that plugin generation reachable for as long as it lives. It lives for the JVM (a parked
     * daemon), with no context class loader.
     */
    private static ThreadPoolExecutor startRetransformer() {
        ThreadPoolExecutor r = new ThreadPoolExecutor(1, 1, 0, TimeUnit.SECONDS, new LinkedBlockingQueue<>(), task -> {
            Thread t = new Thread(task, "unloadguard-retransform");
            t.setDaemon(true);
            t.setContextClassLoader(null);
            return t;
        });
        r.prestartCoreThread();
        return r;
    }

    private static void retransformIfLoaded(Instrumentation inst, ClassLoader loader, String owner) {
        if (loader == null) {
            return; // the plugin is gone already
        }
        String binaryName = owner.replace('/', '.');
        for (Class<?> c : inst.getAllLoadedClasses()) {
            if (c.getClassLoader() == loader && c.getName().equals(binaryName)) {
                if (!inst.isModifiableClass(c)) {
                    return;
                }
                try {
                    inst.retransformClasses(c);
                    Log.debug(() -> "retransformed " + binaryName + " to guard method-reference bodies");
                } catch (Throwable t) {
                    Log.warning("could not retransform " + binaryName + " (defined by " + loader
                            + ") to guard a method reference used as a release callback", t);
                }
                return;
            }
        }
    }
}
