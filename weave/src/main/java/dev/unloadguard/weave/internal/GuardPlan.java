package dev.unloadguard.weave.internal;

import dev.unloadguard.epoch.internal.EntryNames;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import org.objectweb.asm.AnnotationVisitor;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.ClassVisitor;
import org.objectweb.asm.Handle;
import org.objectweb.asm.MethodVisitor;
import org.objectweb.asm.Opcodes;
import org.objectweb.asm.Type;

/**
 * What the agent would guard in one class file, and why: the pure decision half of the agent,
 * usable without an agent (tests, the {@code check} command).
 *
 * <h2>Scope</h2>
 * A plugin's guard scope ({@link Scope}) decides how much of it is planned. In
 * {@link Scope#RELEASE_PATHS} only the release paths below are sections. In
 * {@link Scope#ENTRIES} every concrete method of the class is a section: constructors (the
 * weaver starts their section after the {@code super(...)}/{@code this(...)} call), static
 * initializers, private, static, synthetic and bridge methods, lambda bodies, interface
 * default/static/private methods; not abstract or native methods, nor methods already carrying
 * {@code @Guarded}. Each gets one reason: a release path's own (below, ungated), else
 * {@link Reason#CLEANUP} for the instance methods {@code hashCode()I},
 * {@code equals(Ljava/lang/Object;)Z}, {@code toString()Ljava/lang/String;}, {@code close()V},
 * {@code finalize()V} and any one-parameter {@code compareTo} returning {@code int} (ungated: a
 * host takes a plugin's objects apart with them while it unloads), else {@link Reason#ENTRY}
 * (gated: refused once the plugin is unloading, see {@link Reason#gated()}). The release paths,
 * bridges, overrides and external targets are planned exactly as in {@link Scope#RELEASE_PATHS}:
 * a release path reached through a bridge stays ungated even when its body is a gated entry (the
 * body then runs nested, which is never refused). {@link #of(byte[], ClassLoader)} plans
 * {@link Scope#RELEASE_PATHS}; the agent takes the scope from the plugin's epoch.
 *
 * <h2>What is guarded (the release paths)</h2>
 * A concrete method (not abstract, native, bridge, constructor or class initializer, and not
 * already carrying {@code @dev.unloadguard.epoch.Guarded}) is guarded when
 * <ol>
 * <li>it is {@code release()V}, not static, and the class implements
 *     {@code dev.unloadguard.driver.ReleaseCallback} directly or transitively
 *     ({@link Reason#RELEASE_CALLBACK});
 * <li>it is {@code release(Ldev/unloadguard/device/Device;)V}, not static, and the class
 *     implements {@code ReleaseAction} ({@link Reason#RELEASE_ACTION}) or {@code Driver}
 *     ({@link Reason#DRIVER_RELEASE});
 * <li>it is annotated {@code @dev.unloadguard.driver.GuardedRelease} ({@link Reason#ANNOTATED});
 * <li>it is the body of a lambda or method reference turned into a release action or callback
 *     in the class itself ({@link Reason#LAMBDA_BODY}): an {@code invokedynamic} bootstrapped by
 *     {@code LambdaMetafactory.metafactory/altMetafactory} whose call site type returns
 *     {@code ReleaseAction} or {@code ReleaseCallback} (or a plugin sub-interface of them whose
 *     functional method is {@code release}) names its body in the implementation method handle
 *     (bootstrap argument 1).
 * </ol>
 *
 * <h2>What is added</h2>
 * Two things cannot be guarded by rewriting a method of the class, and are guarded by adding one
 * to it instead (only when the class is defined for the first time: a retransformation may not
 * add methods, see below):
 * <ul>
 * <li><b>Method references to other classes</b> ({@link Reason#METHOD_REFERENCE}): a site as in
 *     case 4 whose body is in another class ({@code other::cleanup}, {@code Other::cleanup},
 *     {@code iface::defaultMethod}, a JDK method) gets a <em>bridge</em>: a
 *     {@code private static synthetic} method of the referring class named
 *     {@code unloadguard$ref$N} (N counts the distinct referenced methods in site order, skipping
 *     names the class already declares), taking the receiver (for an instance method) and the
 *     referenced method's parameters, calling it with the original opcode, owner, name,
 *     descriptor and interface flag, and returning its result. The site's implementation handle
 *     is pointed at the bridge ({@code H_INVOKESTATIC}, same bootstrap and other arguments), and
 *     the bridge is guarded like any guarded method. So the body runs inside the epoch from the
 *     first call, whether or not its class is loaded yet, and enters the epoch of the plugin
 *     whose release action it is (the referring class's). JDK bodies are bridged too: they run as
 *     the plugin's release action exactly as the lambda {@code () -> list.clear()} would, which
 *     is guarded. A private method of a nestmate (javac 11 and later reference it with
 *     {@code H_INVOKEVIRTUAL}) is bridged too: the bridge is in the same nest, so its
 *     {@code invokevirtual} is allowed. Not bridged, and left to the fallback below: constructor
 *     references ({@code H_NEWINVOKESPECIAL}, never guarded), {@code H_INVOKESPECIAL} handles to
 *     another class (a static bridge could not make that call), and serializable lambdas
 *     ({@code altMetafactory} with {@code FLAG_SERIALIZABLE}: the class's
 *     {@code $deserializeLambda$} compares the implementation handle to the original).
 * <li><b>Inherited release bodies</b> ({@link Reason#INHERITED_RELEASE}): a class (not an
 *     interface) that is a {@code ReleaseCallback} (resp. {@code ReleaseAction} or
 *     {@code Driver}), has a direct interface outside the JDK (without one, it is a release type
 *     through its superclass only, whose body is then guarded on its own), does not declare the
 *     {@code release} method itself, and inherits its body from a supertype that is not guarded
 *     on its own (whose hierarchy lacks the interface:
 *     {@code class C extends PlainBase implements ReleaseCallback {}}) gets a synthetic guarded
 *     override {@code public void release() { super.release(); }}:
 *     {@code invokespecial} of its direct superclass, which also reaches a default method the
 *     superclass inherits, or, for a default method reachable only through a direct
 *     superinterface {@code K}, {@code invokespecial K.release} (class files from Java 8 on).
 *     {@link Hierarchy#inheritedRelease} names the body as the JVM selects it. The supertype is
 *     "guarded on its own" when the direct superclass (resp. the interface declaring the
 *     default) has the interface: then that body, or an override added to the superclass that
 *     brought the interface in, is guarded already, and a second guard would only nest.
 * </ul>
 * "Implements transitively" and the inherited bodies are answered by {@link Hierarchy} from
 * class files read through a class loader's resources; no class is ever loaded.
 *
 * <h2>Retransformation: the fallback</h2>
 * A class loaded before the agent (dynamic attach) is retransformed, and a retransformation
 * cannot add methods. Planned with {@code mayAddMethods = false}, and for the sites not bridged
 * above, a
 * method-reference body in another plugin class is an {@link #externalTargets() external target}
 * ({@link Reason#LAMBDA_BODY}), and so is an inherited release body
 * ({@link Reason#INHERITED_RELEASE}): guarded in its own class when that class is transformed
 * (the agent records them per loader and retransforms their classes if already loaded), so
 * only if that class is defined by the same plugin loader, and only from then on. JDK bodies
 * are never external targets. A class that gained methods when it was defined is planned with
 * {@code mayAddMethods = true} on every retransformation, and the plan of the same bytes is the
 * same every time (bridge names, order and code included): the JVM replays a class's original
 * bytes through the transformer, and its methods must come out the same.
 *
 * <h2>Cost</h2>
 * In {@link Scope#ENTRIES} nothing below skips a class: every class with a concrete method is
 * planned and woven; the constant-pool scan still decides how much of the class the planner reads:
 * a class naming no release path and no {@code @Guarded} and with no direct interface outside the
 * JDK is planned from its method table without ASM ({@link #entriesWithoutReader}).
 * In {@link Scope#RELEASE_PATHS}: before parsing anything, the constant pool is scanned (passes over its bytes, without ASM,
 * allocating nothing: {@link #mayGuard}) for three UTF-8 entries: {@code release}
 * (the name of every method of cases 1, 2 and of the functional method in case 4),
 * {@code Ldev/unloadguard/driver/GuardedRelease;} and {@code java/lang/invoke/LambdaMetafactory};
 * and the direct interfaces are checked for one outside the JDK (only through such an interface
 * can a class become a release type without declaring {@code release}). A class with none of
 * these (and no external targets recorded for it) is done there. A class that has only a
 * non-JDK interface is done after its header (ASM's constant-pool offsets) and the memoized
 * hierarchy bits of its supertypes, unless it is a release type. Method bodies are parsed only
 * if the class has lambdas; supertypes are resolved only if the class declares a concrete
 * {@code release} method, has release-named lambdas of an interface other than the two exact
 * ones, or a non-JDK interface; inherited bodies are looked for only in release types that do
 * not declare the method.
 */
public final class GuardPlan {

    /** Why a method is guarded. */
    public enum Reason {
        /** Implements {@code ReleaseCallback.release()}. */
        RELEASE_CALLBACK,
        /** Implements {@code ReleaseAction.release(Device)}. */
        RELEASE_ACTION,
        /** Implements {@code Driver.release(Device)}. */
        DRIVER_RELEASE,
        /** Carries {@code @GuardedRelease}. */
        ANNOTATED,
        /**
         * The body of a lambda or method reference used as a release action or callback: in the
         * class itself, or (the fallback) in another class that a retransformed class or a
         * serializable lambda names.
         */
        LAMBDA_BODY,
        /**
         * Added by the agent: the bridge through which a method reference to a method of another
         * class runs as a release action or callback; {@link Target#calls()} names that method.
         */
        METHOD_REFERENCE,
        /**
         * Added by the agent: the override that guards the release body a release type inherits
         * from a supertype not guarded on its own; {@link Target#calls()} names that body. As an
         * external target (the fallback): that inherited body itself.
         */
        INHERITED_RELEASE,
        /**
         * Scope {@link Scope#ENTRIES} only: a clean-up method a host calls while it takes a plugin's
         * objects apart ({@code hashCode()I}, {@code equals(Ljava/lang/Object;)Z},
         * {@code toString()Ljava/lang/String;}, a one-parameter {@code compareTo} returning
         * {@code int}, {@code close()V}, {@code finalize()V}; instance methods only): a section
         * that is waited for, never refused. A host removing plugin listeners from a
         * {@code HashSet} while the plugin is GOING calls {@code hashCode} and {@code equals}.
         */
        CLEANUP,
        /**
         * Scope {@link Scope#ENTRIES} only: any other concrete method (constructors after their
         * {@code super()}/{@code this()} call, static initializers, private, synthetic, bridge and
         * lambda-body methods, interface default/static/private methods): a <em>gated</em>
         * section. Once the plugin is GOING, a new entry from outside the plugin is refused with
         * {@code PluginUnloadedError} naming {@link Target#entryName()}.
         */
        ENTRY;

        /**
         * Whether a section of this kind is refused once the plugin is GOING (entered through
         * {@code bootstrapEntry}); every other reason is only waited for.
         */
        public boolean gated() {
            return this == ENTRY;
        }
    }

    /** What a plan covers: the plugin's guard scope, chosen per plugin by the host. */
    public enum Scope {
        /** The release paths only: the reasons up to {@link Reason#INHERITED_RELEASE}. */
        RELEASE_PATHS,
        /**
         * Every concrete method of the class is a section: the release paths as in
         * {@link #RELEASE_PATHS} (ungated), the {@link Reason#CLEANUP} methods (ungated) and every
         * other method as an {@link Reason#ENTRY} (gated).
         */
        ENTRIES
    }

    /**
     * One method to guard.
     *
     * @param owner internal name of the class declaring the method ({@code a/b/C})
     * @param name method name
     * @param descriptor method descriptor
     * @param reason why it is guarded
     * @param calls for a method the agent adds ({@link #synthesized()}): the method it calls and
     *     guards, as {@code a/b/Owner.name(descriptor)}; the declaring supertype of an
     *     inherited body; {@code ""} otherwise
     */
    public record Target(String owner, String name, String descriptor, Reason reason, String calls) {
        public Target {
            Objects.requireNonNull(owner, "owner");
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(descriptor, "descriptor");
            Objects.requireNonNull(reason, "reason");
            Objects.requireNonNull(calls, "calls");
        }

        /** A method of the class itself (nothing to call through). */
        public Target(String owner, String name, String descriptor, Reason reason) {
            this(owner, name, descriptor, reason, "");
        }

        /** Whether the agent adds this method to the class (a bridge or an override). */
        public boolean synthesized() {
            return !calls.isEmpty();
        }

        /** The key the weaver matches methods by: name followed by descriptor. */
        String key() {
            return name + descriptor;
        }

        /**
         * The method as people name it, the static argument of a gated entry and the text of a
         * refused entry's error: {@code com.acme.Service.handle(java.lang.String,int)},
         * {@code new com.acme.Service(int)}, {@code static initializer of com.acme.Service}.
         */
        public String entryName() {
            return GuardPlan.entryName(owner, name, descriptor);
        }

        @Override
        public String toString() {
            return owner.replace('/', '.') + "." + name + descriptor + " (" + reason
                    + (calls.isEmpty() ? "" : ", calls " + calls.substring(0, calls.indexOf('.')).replace('/', '.')
                            + calls.substring(calls.indexOf('.'))) + ")";
        }
    }

    /**
     * A bridge to add: {@code private static synthetic name(descriptor)} calling {@code target}.
     * Its guard is woven like any guarded method's.
     */
    record Bridge(String name, String descriptor, Handle target) {
    }

    /**
     * An override to add: {@code public synthetic release(descriptor)} calling
     * {@code invokespecial invokeOwner.release(descriptor)}.
     */
    record InheritedOverride(String descriptor, String invokeOwner, boolean invokeInterface) {
    }

    static final String GUARDED_DESC = "Ldev/unloadguard/epoch/Guarded;";
    static final String GUARDED_RELEASE_DESC = "Ldev/unloadguard/driver/GuardedRelease;";
    static final String DEVICE_RELEASE_DESC = "(Ldev/unloadguard/device/Device;)V";
    static final String CALLBACK_RELEASE_DESC = "()V";
    /** Prefix of the bridges' names. */
    static final String BRIDGE_PREFIX = "unloadguard$ref$";
    private static final String RELEASE = "release";
    private static final String LAMBDA_METAFACTORY = "java/lang/invoke/LambdaMetafactory";
    /** {@code LambdaMetafactory.FLAG_SERIALIZABLE}. */
    private static final int FLAG_SERIALIZABLE = 1;

    private static final GuardPlan NOTHING = new GuardPlan("", List.of(), List.of(), List.of(), List.of(), Map.of());
    /**
     * The cleanup methods but {@code compareTo}: their names, and at the same index their
     * descriptors (compared apart: no string is built per method).
     */
    private static final String[] CLEANUP_NAMES = {"hashCode", "equals", "toString", "close", "finalize"};
    private static final String[] CLEANUP_DESCRIPTORS = {"()I", "(Ljava/lang/Object;)Z", "()Ljava/lang/String;", "()V", "()V"};

    private final String className;
    private final List<Target> targets;
    private final List<Target> externalTargets;
    private final List<Bridge> bridges;
    private final List<InheritedOverride> overrides;
    /** Method key to (index of the {@code invokedynamic} in that method, in code order) to new handle. */
    private final Map<String, Map<Integer, Handle>> siteRewrites;

    private GuardPlan(String className, List<Target> targets, List<Target> externalTargets, List<Bridge> bridges,
            List<InheritedOverride> overrides, Map<String, Map<Integer, Handle>> siteRewrites) {
        this.className = className;
        this.targets = targets;
        this.externalTargets = externalTargets;
        this.bridges = bridges;
        this.overrides = overrides;
        this.siteRewrites = siteRewrites;
    }

    /**
     * Plans one class file as the agent does when a plugin loader defines it (bridges and
     * overrides included).
     *
     * @param classfile the class file bytes
     * @param hierarchyLoader the loader whose resources hold the class's supertypes (the loader
     *     that will define it); {@code null} resolves nothing, so only the class's direct
     *     interfaces count
     * @throws IllegalArgumentException if {@code classfile} is not a class file ASM can read
     */
    public static GuardPlan of(byte[] classfile, ClassLoader hierarchyLoader) {
        return of(classfile, hierarchyLoader, Scope.RELEASE_PATHS);
    }

    /**
     * Plans one class file as the agent does when a plugin loader of guard scope {@code scope}
     * defines it ({@link #of(byte[], ClassLoader)} plans {@link Scope#RELEASE_PATHS}).
     *
     * @throws IllegalArgumentException if {@code classfile} is not a class file ASM can read
     */
    public static GuardPlan of(byte[] classfile, ClassLoader hierarchyLoader, Scope scope) {
        ClassReader reader = new ClassReader(classfile);
        return analyze(reader, classfile, hierarchyLoader, Map.of(), true, scope);
    }

    /**
     * Plans one class file as the agent does once other classes of the same plugin asked for
     * method-reference bodies in it (their {@link #externalTargets()}: serializable lambdas): a
     * declared, guardable method whose name followed by descriptor is in
     * {@code methodReferenceBodies} is guarded too ({@link Reason#LAMBDA_BODY}). For whole-jar
     * views such as the {@code check} command.
     *
     * @throws IllegalArgumentException if {@code classfile} is not a class file ASM can read
     */
    public static GuardPlan of(byte[] classfile, ClassLoader hierarchyLoader, Set<String> methodReferenceBodies) {
        return of(classfile, hierarchyLoader, methodReferenceBodies, Scope.RELEASE_PATHS);
    }

    /**
     * {@link #of(byte[], ClassLoader, Set)} for a plugin loader of guard scope {@code scope}.
     *
     * @throws IllegalArgumentException if {@code classfile} is not a class file ASM can read
     */
    public static GuardPlan of(byte[] classfile, ClassLoader hierarchyLoader, Set<String> methodReferenceBodies, Scope scope) {
        ClassReader reader = new ClassReader(classfile);
        Map<String, Reason> pending = new HashMap<>();
        for (String key : methodReferenceBodies) {
            pending.put(key, Reason.LAMBDA_BODY);
        }
        return analyze(reader, classfile, hierarchyLoader, pending, true, scope);
    }

    /**
     * The readable name of a method (see {@link Target#entryName()}): binary class names, Java
     * type names for the parameters, separated by commas as {@code java.lang.reflect.Method}
     * prints them.
     */
    static String entryName(String owner, String name, String descriptor) {
        return EntryNames.of(owner.replace('/', '.'), name, descriptor);
    }

    /** Internal name of the planned class ({@code ""} when the pre-check excluded it). */
    public String className() {
        return className;
    }

    /**
     * Methods of this class to guard: declared ones in declaration order, then the ones the agent
     * adds ({@link Target#synthesized()}): bridges in site order, then overrides.
     */
    public List<Target> targets() {
        return targets;
    }

    /**
     * Bodies to guard in other (plugin) classes: method references this class names that are not
     * bridged, and inherited release bodies when methods cannot be added (see the class comment).
     */
    public List<Target> externalTargets() {
        return externalTargets;
    }

    /** Whether there is nothing to guard, here or elsewhere. */
    public boolean isEmpty() {
        return targets.isEmpty() && externalTargets.isEmpty();
    }

    /** Bridges to add, in name order. */
    List<Bridge> bridges() {
        return bridges;
    }

    /** Overrides to add. */
    List<InheritedOverride> overrides() {
        return overrides;
    }

    /**
     * Whether weaving this plan only turns whole method bodies of the class into sections: it adds
     * no method and rewrites no call site. Such a plan can be woven byte by byte ({@link EntryWeaver}).
     */
    boolean weavesBodiesOnly() {
        return bridges.isEmpty() && overrides.isEmpty() && siteRewrites.isEmpty();
    }

    /** Whether weaving this plan adds methods to the class. */
    boolean addsMethods() {
        return !bridges.isEmpty() || !overrides.isEmpty();
    }

    /** The declared methods to guard, by key (name followed by descriptor). */
    Map<String, Target> declaredTargets() {
        Map<String, Target> declared = new HashMap<>();
        for (Target t : targets) {
            if (!t.synthesized()) {
                declared.put(t.key(), t);
            }
        }
        return declared;
    }

    /**
     * Weaves {@code classfile} (the class this plan was made for) as the agent would and returns
     * the keys (name followed by descriptor) of the planned methods it had to leave as they were:
     * constructors whose initializing call cannot be located for certain, methods too large to
     * weave. For whole-jar views such as the {@code check} command; the woven bytes are dropped.
     *
     * @throws IllegalArgumentException if {@code classfile} is not a class file ASM can read
     */
    public List<String> unwovenMethods(byte[] classfile) {
        if (targets.isEmpty()) {
            return List.of();
        }
        return Weaver.weaveReporting(new ClassReader(classfile), this, Weaver.RELEASE_GUARD).notWoven();
    }

    /** How many of {@link #targets()} are gated ({@link Reason#ENTRY}). */
    public int gatedCount() {
        int n = 0;
        for (Target t : targets) {
            if (t.reason().gated()) {
                n++;
            }
        }
        return n;
    }

    /**
     * The {@code invokedynamic} sites to point at bridges: method key to (index of the
     * {@code invokedynamic} among the method's, in code order) to the bridge's handle.
     */
    Map<String, Map<Integer, Handle>> siteRewrites() {
        return siteRewrites;
    }

    @Override
    public String toString() {
        return "GuardPlan[" + className + ": " + targets + ", external " + externalTargets + "]";
    }

    /**
     * The plan for {@code reader}; {@code pending} maps method keys (name + descriptor) other
     * classes asked to guard in this one (recorded earlier) to why. {@code mayAddMethods}: the
     * class is being defined (bridges and overrides), not retransformed (the fallback).
     */
    static GuardPlan analyze(ClassReader reader, byte[] classfile, ClassLoader loader, Map<String, Reason> pending,
            boolean mayAddMethods, Scope scope) {
        return analyze(reader, scanConstantPool(classfile), loader, pending, mayAddMethods, scope);
    }

    /**
     * {@link #analyze(ClassReader, byte[], ClassLoader, Map, boolean, Scope)} with the constant
     * pool already scanned ({@link #scanConstantPool}): the transformer scans once for its fast
     * path and reuses it.
     */
    static GuardPlan analyze(ClassReader reader, int found, ClassLoader loader, Map<String, Reason> pending,
            boolean mayAddMethods, Scope scope) {
        return analyze(reader, found, loader, pending, mayAddMethods, scope, true);
    }

    /**
     * {@link #analyze(ClassReader, int, ClassLoader, Map, boolean, Scope)}; {@code fromMethodTable}
     * false always parses the class (the tests compare both ways).
     */
    static GuardPlan analyze(ClassReader reader, int found, ClassLoader loader, Map<String, Reason> pending,
            boolean mayAddMethods, Scope scope, boolean fromMethodTable) {
        boolean mentionsRelease = (found & CP_RELEASE) != 0;
        boolean mentionsAnnotation = (found & CP_GUARDED_RELEASE) != 0;
        boolean pluginInterface = (found & CP_PLUGIN_INTERFACE) != 0;
        boolean entries = scope == Scope.ENTRIES;
        if (!mentionsRelease && !mentionsAnnotation && pending.isEmpty()) {
            // Only an inherited release body could be left: a release type through a direct interface.
            if (!pluginInterface || (Hierarchy.bitsOf(loader, reader.getSuperName(), reader.getInterfaces()) & RELEASE_TYPES) == 0) {
                if (!entries) {
                    return NOTHING;
                }
                if (fromMethodTable && (found & CP_GUARDED) == 0) {
                    // No release path, and no method can carry @Guarded: every concrete method is an entry
                    // section, read from the method table without parsing the class.
                    return entriesFromMethodTable(reader);
                }
            }
        }
        // Bodies hold the invokedynamic sites; parse them only if a release-named lambda can exist.
        boolean parseCode = mentionsRelease && (found & CP_LAMBDA_METAFACTORY) != 0;
        Collector c = new Collector();
        reader.accept(c, parseCode
                ? ClassReader.SKIP_DEBUG | ClassReader.SKIP_FRAMES
                : ClassReader.SKIP_CODE | ClassReader.SKIP_DEBUG | ClassReader.SKIP_FRAMES);
        return c.plan(loader, pending, mayAddMethods, pluginInterface, entries);
    }

    private static final int RELEASE_TYPES = Hierarchy.CALLBACK | Hierarchy.ACTION | Hierarchy.DRIVER;

    /**
     * The plan {@link #analyze(ClassReader, int, ClassLoader, Map, boolean, Scope)} makes, without
     * an ASM {@link ClassReader}, for the classes whose plan the method table alone gives: scope
     * ENTRIES, no body pending, and a constant pool ({@code found}, {@link #scanConstantPool})
     * naming no release path, no {@code @Guarded} and no direct interface outside the JDK (most
     * classes of a plugin). The class's name and its methods' names and descriptors are read
     * from the bytes ({@link #entriesFromMethodTable(byte[])}); the byte-level weaver then needs
     * no reader either, so such a class is never parsed by ASM. {@code null} for any other class:
     * plan it with a reader.
     *
     * @throws IllegalArgumentException for a class file version ASM's reader refuses, as it would
     */
    static GuardPlan entriesWithoutReader(byte[] classfile, int found, Map<String, Reason> pending, Scope scope) {
        if (scope != Scope.ENTRIES || !pending.isEmpty()
                || (found & (CP_RELEASE | CP_GUARDED_RELEASE | CP_PLUGIN_INTERFACE | CP_GUARDED)) != 0) {
            return null;
        }
        int major = (short) u2(classfile, 6);
        if (major > READABLE_MAJOR) {
            throw new IllegalArgumentException("Unsupported class file major version " + major);
        }
        return entriesFromMethodTable(classfile);
    }

    /**
     * The newest class file major version the bundled ASM reads: its {@link ClassReader} refuses
     * newer ones, and the classes planned without one are refused alike. Found by asking it, so
     * it follows ASM's upgrades.
     */
    static final int READABLE_MAJOR = readableMajor();

    private static int readableMajor() {
        // magic, minor 0, major, an empty constant pool (count 1): all a ClassReader reads at first
        byte[] header = {(byte) 0xCA, (byte) 0xFE, (byte) 0xBA, (byte) 0xBE, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0};
        for (int major = Opcodes.V17; major < 0x7FFF; major++) {
            header[6] = (byte) (major >> 8);
            header[7] = (byte) major;
            try {
                new ClassReader(header);
            } catch (IllegalArgumentException e) {
                return major - 1;
            }
        }
        return 0x7FFF;
    }

    /** {@link #entriesFromMethodTable(ClassReader)} from the bytes, with an index of the constant pool of its own. */
    private static GuardPlan entriesFromMethodTable(byte[] b) {
        int count = u2(b, 8);
        int[] items = new int[count];
        int offset = 10;
        for (int i = 1; i < count; i++) {
            int tag = b[offset];
            items[i] = offset;
            offset += entrySize(b, offset, i);
            if (tag == 5 || tag == 6) { // Long, Double: two slots
                i++;
            }
        }
        String name = utf8(b, items[u2(b, items[u2(b, offset + 2)] + 1)]); // this_class: a Class naming a Utf8
        offset += 6;
        offset += 2 + 2 * u2(b, offset);                                     // interfaces
        int fields = u2(b, offset);
        offset += 2;
        for (int i = 0; i < fields; i++) {
            offset = skipAttributes(b, offset);
        }
        int methods = u2(b, offset);
        offset += 2;
        List<Target> targets = new ArrayList<>(methods);
        for (int i = 0; i < methods; i++) {
            int access = u2(b, offset);
            if ((access & (Opcodes.ACC_ABSTRACT | Opcodes.ACC_NATIVE)) == 0) {
                MethodInfo m = new MethodInfo(access, utf8(b, items[u2(b, offset + 2)]), utf8(b, items[u2(b, offset + 4)]));
                targets.add(new Target(name, m.name, m.descriptor, m.cleanup() ? Reason.CLEANUP : Reason.ENTRY));
            }
            offset = skipAttributes(b, offset);
        }
        if (targets.isEmpty()) {
            return NOTHING;
        }
        return new GuardPlan(name, Collections.unmodifiableList(targets), List.of(), List.of(), List.of(), Map.of());
    }

    /** The offset after the field or method whose {@code access_flags} are at {@code offset}. */
    private static int skipAttributes(byte[] b, int offset) {
        int attributes = u2(b, offset + 6);
        int attribute = offset + 8;
        for (int a = 0; a < attributes; a++) {
            attribute += 6 + (u2(b, attribute + 2) << 16 | u2(b, attribute + 4));
        }
        return attribute;
    }

    /**
     * The {@code Utf8} constant whose entry (its tag) is at {@code entry}: modified UTF-8 decoded
     * as ASM's {@link ClassReader} decodes it.
     */
    static String utf8(byte[] b, int entry) {
        int len = u2(b, entry + 1);
        char[] chars = new char[len];
        int n = 0;
        int i = entry + 3;
        int end = i + len;
        while (i < end) {
            int x = b[i++];
            if ((x & 0x80) == 0) {
                chars[n++] = (char) (x & 0x7F);
            } else if ((x & 0xE0) == 0xC0) {
                chars[n++] = (char) (((x & 0x1F) << 6) + (b[i++] & 0x3F));
            } else {
                chars[n++] = (char) (((x & 0xF) << 12) + ((b[i++] & 0x3F) << 6) + (b[i++] & 0x3F));
            }
        }
        return new String(chars, 0, n);
    }

    /** Offset of {@code methods_count} in the class file: past the interfaces and the fields. */
    static int methodTable(ClassReader reader) {
        int offset = reader.header + 6;
        offset += 2 + 2 * reader.readUnsignedShort(offset); // interfaces
        int fields = reader.readUnsignedShort(offset);
        offset += 2;
        for (int i = 0; i < fields; i++) {
            offset = skipAttributes(reader, offset);
        }
        return offset;
    }

    /**
     * Scope ENTRIES for a class with no release path and no {@code @Guarded} method: every method
     * with code ({@link Reason#CLEANUP} or {@link Reason#ENTRY}), in declaration order, read from
     * the class file's method table (access flags, name, descriptor) as {@link Weaver#codeMaxs} does.
     */
    private static GuardPlan entriesFromMethodTable(ClassReader reader) {
        char[] buf = new char[reader.getMaxStringLength()];
        int offset = methodTable(reader);
        int methods = reader.readUnsignedShort(offset);
        offset += 2;
        String name = reader.getClassName();
        List<Target> targets = new ArrayList<>(methods);
        for (int i = 0; i < methods; i++) {
            int access = reader.readUnsignedShort(offset);
            if ((access & (Opcodes.ACC_ABSTRACT | Opcodes.ACC_NATIVE)) == 0) {
                MethodInfo m = new MethodInfo(access, reader.readUTF8(offset + 2, buf), reader.readUTF8(offset + 4, buf));
                targets.add(new Target(name, m.name, m.descriptor, m.cleanup() ? Reason.CLEANUP : Reason.ENTRY));
            }
            offset = skipAttributes(reader, offset);
        }
        if (targets.isEmpty()) {
            return NOTHING;
        }
        return new GuardPlan(name, Collections.unmodifiableList(targets), List.of(), List.of(), List.of(), Map.of());
    }

    /** The offset after the field or method whose {@code access_flags} are at {@code offset}. */
    static int skipAttributes(ClassReader reader, int offset) {
        int attributes = reader.readUnsignedShort(offset + 6);
        int attribute = offset + 8;
        for (int a = 0; a < attributes; a++) {
            attribute += 6 + reader.readInt(attribute + 2);
        }
        return attribute;
    }

    private static final int CP_RELEASE = 1;
    private static final int CP_GUARDED_RELEASE = 2;
    private static final int CP_LAMBDA_METAFACTORY = 4;
    /** Not a constant: the class is no interface and has a direct interface outside the JDK. */
    private static final int CP_PLUGIN_INTERFACE = 8;
    /** {@code Ldev/unloadguard/epoch/Guarded;}: a method may be woven already. */
    private static final int CP_GUARDED = 16;
    /** More direct interfaces than this are not looked at one by one (each costs pool walks). */
    private static final int MAX_INTERFACES_SCANNED = 8;

    /**
     * Whether {@code classfile} may have something to guard for its own sake: its constant pool
     * names {@code release} or {@code @GuardedRelease}, or it is a class with a direct interface
     * outside the JDK (it may inherit a release body). Without ASM and without allocating: the
     * agent's first question for every plugin class (a class that answers no is done unless
     * another class asked for a method-reference body in it).
     *
     * @throws IndexOutOfBoundsException or IllegalArgumentException if the constant pool is malformed
     */
    static boolean mayGuard(byte[] classfile) {
        return mayGuard(scanConstantPool(classfile));
    }

    /** {@link #mayGuard(byte[])} on the result of {@link #scanConstantPool}. */
    static boolean mayGuard(int scanned) {
        return (scanned & (CP_RELEASE | CP_GUARDED_RELEASE | CP_PLUGIN_INTERFACE)) != 0;
    }

    /**
     * Which of the three interesting UTF-8 constants the constant pool holds (exact matches),
     * walking the pool's entries directly (JVMS 4.4): one pass, nothing allocated; then whether
     * the class has a direct interface outside the JDK (two more walks per interface, to find
     * its name: the pool has no index).
     */
    static int scanConstantPool(byte[] b) {
        int found = 0;
        int count = u2(b, 8);
        int offset = 10; // magic, minor, major, constant_pool_count
        for (int i = 1; i < count; i++) {
            int tag = b[offset];
            if (tag == 1) { // CONSTANT_Utf8: u2 length, bytes
                int length = u2(b, offset + 1);
                int start = offset + 3;
                if (length == RELEASE.length() && matches(b, start, RELEASE)) {
                    found |= CP_RELEASE;
                } else if (length == GUARDED_RELEASE_DESC.length() && matches(b, start, GUARDED_RELEASE_DESC)) {
                    found |= CP_GUARDED_RELEASE;
                } else if (length == LAMBDA_METAFACTORY.length() && matches(b, start, LAMBDA_METAFACTORY)) {
                    found |= CP_LAMBDA_METAFACTORY;
                } else if (length == GUARDED_DESC.length() && matches(b, start, GUARDED_DESC)) {
                    found |= CP_GUARDED;
                }
            }
            offset += entrySize(b, offset, i);
            if (tag == 5 || tag == 6) { // Long, Double: two slots
                i++;
            }
        }
        // access_flags, this_class, super_class, interfaces_count, interfaces[]
        int access = u2(b, offset);
        int interfaces = u2(b, offset + 6);
        if ((access & Opcodes.ACC_INTERFACE) == 0 && interfaces > 0 && anyNonJdkInterface(b, offset + 8, interfaces)) {
            found |= CP_PLUGIN_INTERFACE;
        }
        return found;
    }

    /**
     * Per constant-pool tag: the size in bytes of an entry, its tag included ({@code Utf8}: without
     * its bytes); 0 for a tag no class file has. A table rather than a switch: the pool walks run
     * for every plugin class while an application starts, and a lookup compiles to the same small
     * code whichever tags the first classes happened to use.
     */
    static final byte[] ENTRY_SIZE = new byte[32];

    static {
        ENTRY_SIZE[1] = 3;
        ENTRY_SIZE[7] = ENTRY_SIZE[8] = ENTRY_SIZE[16] = ENTRY_SIZE[19] = ENTRY_SIZE[20] = 3;
        ENTRY_SIZE[15] = 4;
        ENTRY_SIZE[3] = ENTRY_SIZE[4] = ENTRY_SIZE[9] = ENTRY_SIZE[10] = ENTRY_SIZE[11] = 5;
        ENTRY_SIZE[12] = ENTRY_SIZE[17] = ENTRY_SIZE[18] = 5;
        ENTRY_SIZE[5] = ENTRY_SIZE[6] = 9;
    }

    /** Size in bytes of the constant pool entry at {@code offset}. */
    static int entrySize(byte[] b, int offset, int index) {
        int tag = b[offset];
        int size = tag >= 0 && tag < ENTRY_SIZE.length ? ENTRY_SIZE[tag] : 0;
        if (size == 0) {
            throw notAClassFile(index, tag);
        }
        return tag == 1 ? size + u2(b, offset + 1) : size;
    }

    /** The error for an unknown constant-pool tag. */
    static IllegalArgumentException notAClassFile(int index, int tag) {
        return new IllegalArgumentException("not a class file: constant pool entry " + index + " has tag " + tag);
    }

    /** Offset of constant pool entry {@code index}, walking from the start. */
    private static int entryOffset(byte[] b, int index) {
        int offset = 10;
        for (int i = 1; i < index; i++) {
            int tag = b[offset];
            offset += entrySize(b, offset, i);
            if (tag == 5 || tag == 6) {
                i++;
            }
        }
        return offset;
    }

    private static boolean anyNonJdkInterface(byte[] b, int table, int count) {
        if (count > MAX_INTERFACES_SCANNED) {
            return true;
        }
        for (int j = 0; j < count; j++) {
            int classEntry = entryOffset(b, u2(b, table + 2 * j));
            int name = entryOffset(b, u2(b, classEntry + 1));
            int start = name + 3;
            int length = u2(b, name + 1);
            if (!(startsWith(b, start, length, "java/") || startsWith(b, start, length, "javax/")
                    || startsWith(b, start, length, "jdk/") || startsWith(b, start, length, "sun/"))) {
                return true;
            }
        }
        return false;
    }

    private static boolean startsWith(byte[] b, int start, int length, String ascii) {
        return length >= ascii.length() && matches(b, start, ascii);
    }

    private static int u2(byte[] b, int offset) {
        return ((b[offset] & 0xFF) << 8) | (b[offset + 1] & 0xFF);
    }

    private static boolean matches(byte[] b, int start, String ascii) {
        for (int i = 0; i < ascii.length(); i++) {
            if (b[start + i] != (byte) ascii.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    /** One declared method, as far as the plan cares. */
    private static final class MethodInfo {
        final int access;
        final String name;
        final String descriptor;
        boolean annotated;
        boolean alreadyGuarded;

        MethodInfo(int access, String name, String descriptor) {
            this.access = access;
            this.name = name;
            this.descriptor = descriptor;
        }

        String key() {
            return name + descriptor;
        }

        /** Whether it has code to weave into and is not woven yet: a section in scope ENTRIES. */
        boolean concrete() {
            return (access & (Opcodes.ACC_ABSTRACT | Opcodes.ACC_NATIVE)) == 0 && !alreadyGuarded;
        }

        /** Whether it can be a release path (the rules of scope RELEASE_PATHS). */
        boolean guardable() {
            return concrete() && (access & Opcodes.ACC_BRIDGE) == 0 && !name.equals("<init>") && !name.equals("<clinit>");
        }

        /** Whether it is one of the {@link Reason#CLEANUP} methods. */
        boolean cleanup() {
            if ((access & Opcodes.ACC_STATIC) != 0) {
                return false;
            }
            if (name.equals("compareTo")) {
                return descriptor.endsWith(")I") && Type.getArgumentCount(descriptor) == 1;
            }
            for (int i = 0; i < CLEANUP_NAMES.length; i++) {
                if (name.equals(CLEANUP_NAMES[i])) {
                    return descriptor.equals(CLEANUP_DESCRIPTORS[i]);
                }
            }
            return false;
        }
    }

    /**
     * A {@code LambdaMetafactory} call site: interface, functional method and body, where it is
     * (method key, index among that method's {@code invokedynamic}s) and whether it is serializable.
     */
    private record LambdaSite(String iface, String samName, String samDescriptor, Handle body, String methodKey,
            int index, boolean serializable) {
    }

    /** Collects the header, the methods and the lambda sites of one class. */
    private static final class Collector extends ClassVisitor {
        int version;
        int access;
        String name;
        String superName;
        String[] interfaces;
        final List<MethodInfo> methods = new ArrayList<>();
        final List<LambdaSite> lambdas = new ArrayList<>();

        Collector() {
            super(Opcodes.ASM9);
        }

        @Override
        public void visit(int version, int access, String name, String signature, String superName, String[] interfaces) {
            this.version = version;
            this.access = access;
            this.name = name;
            this.superName = superName;
            this.interfaces = interfaces;
        }

        @Override
        public MethodVisitor visitMethod(int access, String name, String descriptor, String signature, String[] exceptions) {
            MethodInfo m = new MethodInfo(access, name, descriptor);
            methods.add(m);
            return new MethodVisitor(Opcodes.ASM9) {
                private int indys;

                @Override
                public AnnotationVisitor visitAnnotation(String desc, boolean visible) {
                    note(desc);
                    return null;
                }

                @Override
                public void visitInvokeDynamicInsn(String indyName, String indyDesc, Handle bsm, Object... args) {
                    lambdaSite(m.key(), indys++, indyName, indyDesc, bsm, args);
                }

                private void note(String desc) {
                    if (GUARDED_RELEASE_DESC.equals(desc)) {
                        m.annotated = true;
                    } else if (GUARDED_DESC.equals(desc)) {
                        m.alreadyGuarded = true;
                    }
                }
            };
        }

        private void lambdaSite(String methodKey, int index, String samName, String indyDesc, Handle bsm, Object[] args) {
            if (!LAMBDA_METAFACTORY.equals(bsm.getOwner())
                    || !(bsm.getName().equals("metafactory") || bsm.getName().equals("altMetafactory"))
                    || args.length < 2 || !(args[0] instanceof Type) || !(args[1] instanceof Handle)) {
                return;
            }
            Type returned = Type.getReturnType(indyDesc);
            if (returned.getSort() != Type.OBJECT || !samName.equals(RELEASE)) {
                // Both release interfaces have "release" as their functional method; any other
                // name is some other functional interface.
                return;
            }
            boolean serializable = bsm.getName().equals("altMetafactory") && args.length > 3
                    && args[3] instanceof Integer && (((Integer) args[3]) & FLAG_SERIALIZABLE) != 0;
            lambdas.add(new LambdaSite(returned.getInternalName(), samName, ((Type) args[0]).getDescriptor(), (Handle) args[1],
                    methodKey, index, serializable));
        }

        boolean isInterface() {
            return (access & Opcodes.ACC_INTERFACE) != 0;
        }

        boolean declares(String methodName, String descriptor) {
            for (MethodInfo m : methods) {
                if (m.name.equals(methodName) && m.descriptor.equals(descriptor)) {
                    return true;
                }
            }
            return false;
        }

        GuardPlan plan(ClassLoader loader, Map<String, Reason> pending, boolean mayAddMethods, boolean pluginInterface,
                boolean entries) {
            // Lambda and method-reference bodies first: they are the cheap part.
            List<String> localBodies = new ArrayList<>();
            List<Target> external = new ArrayList<>();
            Map<Handle, Bridge> bridges = new LinkedHashMap<>();
            Map<String, Map<Integer, Handle>> rewrites = new HashMap<>();
            Set<String> names = new HashSet<>();
            for (MethodInfo m : methods) {
                names.add(m.name);
            }
            for (LambdaSite site : lambdas) {
                if (!isReleaseInterface(loader, site)) {
                    continue;
                }
                Handle body = site.body();
                int tag = body.getTag();
                if (tag == Opcodes.H_NEWINVOKESPECIAL) {
                    continue; // a constructor reference: never guarded
                }
                if (body.getOwner().equals(name)) {
                    localBodies.add(body.getName() + body.getDesc());
                    continue;
                }
                boolean bridgeable = tag == Opcodes.H_INVOKESTATIC || tag == Opcodes.H_INVOKEVIRTUAL || tag == Opcodes.H_INVOKEINTERFACE;
                if (mayAddMethods && bridgeable && !site.serializable()) {
                    Bridge bridge = bridges.get(body);
                    if (bridge == null) {
                        bridge = new Bridge(bridgeName(names, bridges.size()), bridgeDescriptor(body), body);
                        names.add(bridge.name());
                        bridges.put(body, bridge);
                    }
                    rewrites.computeIfAbsent(site.methodKey(), k -> new HashMap<>())
                            .put(site.index(), new Handle(Opcodes.H_INVOKESTATIC, name, bridge.name(), bridge.descriptor(), isInterface()));
                    continue;
                }
                if (Hierarchy.isJdk(body.getOwner())) {
                    continue; // the fallback guards plugin classes only
                }
                Target t = new Target(body.getOwner(), body.getName(), body.getDesc(), Reason.LAMBDA_BODY);
                if (!external.contains(t)) {
                    external.add(t);
                }
            }
            int bits = -1; // resolved lazily: only a class with a concrete release method needs it
            List<Target> targets = new ArrayList<>();
            for (MethodInfo m : methods) {
                if (!m.guardable()) {
                    if (entries && m.concrete()) {
                        targets.add(new Target(name, m.name, m.descriptor, m.cleanup() ? Reason.CLEANUP : Reason.ENTRY));
                    }
                    continue;
                }
                Reason reason = null;
                if (m.name.equals(RELEASE) && (m.access & Opcodes.ACC_STATIC) == 0
                        && (m.descriptor.equals(CALLBACK_RELEASE_DESC) || m.descriptor.equals(DEVICE_RELEASE_DESC))) {
                    if (bits < 0) {
                        bits = Hierarchy.bitsOf(loader, superName, interfaces);
                    }
                    if (m.descriptor.equals(CALLBACK_RELEASE_DESC)) {
                        reason = (bits & Hierarchy.CALLBACK) != 0 ? Reason.RELEASE_CALLBACK : null;
                    } else if ((bits & Hierarchy.ACTION) != 0) {
                        reason = Reason.RELEASE_ACTION;
                    } else if ((bits & Hierarchy.DRIVER) != 0) {
                        reason = Reason.DRIVER_RELEASE;
                    }
                }
                if (reason == null && m.annotated) {
                    reason = Reason.ANNOTATED;
                }
                if (reason == null && localBodies.contains(m.key())) {
                    reason = Reason.LAMBDA_BODY;
                }
                if (reason == null && pending.containsKey(m.key())) {
                    reason = pending.get(m.key());
                }
                if (reason == null && entries) {
                    reason = m.cleanup() ? Reason.CLEANUP : Reason.ENTRY;
                }
                if (reason != null) {
                    targets.add(new Target(name, m.name, m.descriptor, reason));
                }
            }
            for (Bridge b : bridges.values()) {
                Handle h = b.target();
                targets.add(new Target(name, b.name(), b.descriptor(), Reason.METHOD_REFERENCE,
                        h.getOwner() + "." + h.getName() + h.getDesc()));
            }
            List<InheritedOverride> overrides = new ArrayList<>();
            if (pluginInterface && !isInterface()) {
                if (bits < 0) {
                    bits = Hierarchy.bitsOf(loader, superName, interfaces);
                }
                inherited(loader, bits, CALLBACK_RELEASE_DESC, Hierarchy.CALLBACK, mayAddMethods, targets, overrides, external);
                inherited(loader, bits, DEVICE_RELEASE_DESC, Hierarchy.ACTION | Hierarchy.DRIVER, mayAddMethods, targets, overrides, external);
            }
            if (targets.isEmpty() && external.isEmpty()) {
                return NOTHING;
            }
            return new GuardPlan(name, Collections.unmodifiableList(targets), Collections.unmodifiableList(external),
                    List.copyOf(bridges.values()), List.copyOf(overrides), rewrites);
        }

        /** Plans the override for an inherited {@code release(descriptor)}, or its fallback. */
        private void inherited(ClassLoader loader, int bits, String descriptor, int typeBits, boolean mayAddMethods,
                List<Target> targets, List<InheritedOverride> overrides, List<Target> external) {
            if ((bits & typeBits) == 0 || declares(RELEASE, descriptor)) {
                return;
            }
            Hierarchy.Inherited body = Hierarchy.inheritedRelease(loader, superName, interfaces, descriptor);
            if (body == null) {
                return;
            }
            // Guarded on its own: the superclass is a release type already (its body, or an
            // override added to the class that brought the interface in, is guarded), or the
            // interface whose default it is.
            String guardedIfReleaseType = body.invokeInterface() ? body.declaringType() : superName;
            if ((Hierarchy.bits(loader, guardedIfReleaseType) & typeBits) != 0) {
                return;
            }
            boolean reachable = !body.invokeInterface() || (version & 0xFFFF) >= Opcodes.V1_8;
            if (mayAddMethods && reachable) {
                overrides.add(new InheritedOverride(descriptor, body.invokeOwner(), body.invokeInterface()));
                targets.add(new Target(name, RELEASE, descriptor, Reason.INHERITED_RELEASE,
                        body.declaringType() + "." + RELEASE + descriptor));
            } else if (!Hierarchy.isJdk(body.declaringType())) {
                Target t = new Target(body.declaringType(), RELEASE, descriptor, Reason.INHERITED_RELEASE);
                if (!external.contains(t)) {
                    external.add(t);
                }
            }
        }

        /** {@code unloadguard$ref$N}: the next N not declared already. */
        private static String bridgeName(Set<String> names, int start) {
            for (int n = start; ; n++) {
                String candidate = BRIDGE_PREFIX + n;
                if (!names.contains(candidate)) {
                    return candidate;
                }
            }
        }

        /** The referenced method's parameters, preceded by its receiver if it is an instance method. */
        private static String bridgeDescriptor(Handle body) {
            if (body.getTag() == Opcodes.H_INVOKESTATIC) {
                return body.getDesc();
            }
            return "(L" + body.getOwner() + ";" + body.getDesc().substring(1);
        }

        private static boolean isReleaseInterface(ClassLoader loader, LambdaSite site) {
            String iface = site.iface();
            if (iface.equals(Hierarchy.RELEASE_CALLBACK) || iface.equals(Hierarchy.RELEASE_ACTION)) {
                return true;
            }
            // A plugin sub-interface whose functional method is the inherited release method.
            if (site.samDescriptor().equals(CALLBACK_RELEASE_DESC)) {
                return (Hierarchy.bits(loader, iface) & Hierarchy.CALLBACK) != 0;
            }
            if (site.samDescriptor().equals(DEVICE_RELEASE_DESC)) {
                return (Hierarchy.bits(loader, iface) & Hierarchy.ACTION) != 0;
            }
            return false;
        }
    }
}
