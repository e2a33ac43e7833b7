package dev.unloadguard.weave.internal;

import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.WeakHashMap;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.ClassVisitor;
import org.objectweb.asm.MethodVisitor;
import org.objectweb.asm.Opcodes;

/**
 * Which of unloadguard's release interfaces a plugin type implements, directly or transitively,
 * answered from class-file headers only: never by loading a class.
 *
 * <p>The supertypes of a type are read through the plugin loader's <em>resources</em>
 * ({@code loader.getResourceAsStream(name + ".class")}, parsed by {@link ClassReader} up to the
 * header: super class and interfaces). Loading them instead would be wrong inside a transformer:
 * the class being defined may be one of them (a {@code ClassCircularityError} that then sticks
 * to the referring class), and loading a plugin class from inside a transform is not
 * transformed again (the instrumentation agent is not reentrant on one thread).
 *
 * <p>Names under {@code java/}, {@code javax/}, {@code jdk/} and {@code sun/} short-circuit to
 * "implements nothing of ours": the JDK cannot implement a plugin-facing interface, and this
 * keeps the common supertypes ({@code java/lang/Object}, {@code java/lang/Record}, ...) free.
 *
 * <h2>Inherited release bodies</h2>
 * {@link #inheritedRelease} answers which supertype provides the concrete {@code release} method a
 * class inherits, reading the supertypes' declarations (method names, descriptors and flags; no
 * code) the same way. It follows the JVM's selection (JVMS 5.4.6) for an
 * {@code invokeinterface} on an instance of the class: the nearest superclass declaring a
 * non-private instance method wins ("class wins"; an abstract one means there is no body), and
 * only if none does, the unique non-abstract maximally-specific superinterface method (a default
 * method). It also says how the class itself can reach that body with {@code invokespecial}:
 * through its direct superclass, or through the direct superinterface it is inherited from.
 * JDK types are never read: a JDK superclass ends the superclass walk (what it declares is JDK
 * code, not plugin code) and a JDK interface declares nothing. Past a JDK superclass, a default
 * method reachable only through the class's own interfaces is not used (the JDK class could
 * declare the method, and {@code invokespecial} on the interface would then call another body
 * than the JVM selects); {@code invokespecial} on the direct superclass always selects what the
 * JVM would. Answered "no inherited body" (so nothing is added): an unreadable superclass, a
 * {@code static} declaration, a default that is not unique, and {@code Driver}'s own (empty,
 * unloadguard's) default {@code release(Device)}. An unreadable interface declares nothing.
 *
 * <p>Answers are memoized per loader in {@link WeakHashMap}s keyed by the loader, whose values
 * hold strings, ints and bytes only, so the caches never keep a plugin loader (and its classes)
 * alive. The I/O happens outside the caches' locks; two threads racing on the same name compute
 * the same answer twice, which is harmless.
 */
final class Hierarchy {

    /** The type is or implements {@code dev.unloadguard.driver.ReleaseCallback}. */
    static final int CALLBACK = 1;
    /** The type is or implements {@code dev.unloadguard.device.ReleaseAction}. */
    static final int ACTION = 2;
    /** The type is or implements {@code dev.unloadguard.driver.Driver}. */
    static final int DRIVER = 4;

    static final String RELEASE_CALLBACK = "dev/unloadguard/driver/ReleaseCallback";
    static final String RELEASE_ACTION = "dev/unloadguard/device/ReleaseAction";
    static final String DRIVER_TYPE = "dev/unloadguard/driver/Driver";

    /** Bound on the supertype walk: a malformed or cyclic hierarchy must not recurse forever. */
    private static final int MAX_DEPTH = 64;

    private static final Map<ClassLoader, Map<String, Integer>> CACHE = new WeakHashMap<>();
    private static final Map<ClassLoader, Map<String, TypeInfo>> INFOS = new WeakHashMap<>();

    private Hierarchy() {
    }

    /** Bits for the class being transformed, from its own header (its bytes are at hand). */
    static int bitsOf(ClassLoader loader, String superName, String[] interfaces) {
        int bits = superName == null ? 0 : bits(loader, superName, 0);
        if (interfaces != null) {
            for (String i : interfaces) {
                bits |= bits(loader, i, 0);
            }
        }
        return bits;
    }

    /** Bits of {@code internalName} as seen through {@code loader}'s resources. */
    static int bits(ClassLoader loader, String internalName) {
        return bits(loader, internalName, 0);
    }

    private static int bits(ClassLoader loader, String name, int depth) {
        int known = fixed(name);
        if (known >= 0) {
            return known;
        }
        if (loader == null || depth > MAX_DEPTH) {
            return 0;
        }
        Integer cached = cached(loader, name);
        if (cached != null) {
            return cached;
        }
        int bits = 0;
        ClassReader header = header(loader, name);
        if (header != null) {
            String superName = header.getSuperName();
            if (superName != null) {
                bits |= bits(loader, superName, depth + 1);
            }
            for (String i : header.getInterfaces()) {
                bits |= bits(loader, i, depth + 1);
            }
        }
        synchronized (CACHE) {
            CACHE.computeIfAbsent(loader, l -> new HashMap<>()).put(name, bits);
        }
        return bits;
    }

    /** The answer for names that need no lookup, or -1. */
    private static int fixed(String name) {
        switch (name) {
            case RELEASE_CALLBACK:
                return CALLBACK;
            case RELEASE_ACTION:
                return ACTION;
            case DRIVER_TYPE:
                return DRIVER;
            default:
                return isJdk(name) ? 0 : -1;
        }
    }

    private static Integer cached(ClassLoader loader, String name) {
        synchronized (CACHE) {
            Map<String, Integer> perLoader = CACHE.get(loader);
            return perLoader == null ? null : perLoader.get(name);
        }
    }

    /** JDK names: never plugin code, never implementing anything of ours. */
    static boolean isJdk(String internalName) {
        return internalName.startsWith("java/") || internalName.startsWith("javax/")
                || internalName.startsWith("jdk/") || internalName.startsWith("sun/");
    }

    /**
     * The class file of {@code internalName} as a resource of {@code loader}, parsed up to its
     * constant pool (enough for the header), or {@code null} if the loader has no such resource
     * or it is not a class file ASM can read.
     */
    static ClassReader header(ClassLoader loader, String internalName) {
        if (loader == null) {
            return null;
        }
        try (InputStream in = loader.getResourceAsStream(internalName + ".class")) {
            return in == null ? null : new ClassReader(in);
        } catch (IOException | RuntimeException e) {
            // A missing or unreadable supertype answers "nothing of ours": the class is then
            // guarded only for what it shows itself (annotations, lambdas).
            return null;
        }
    }

    /** How a type declares one of the two release methods. */
    private static final byte NONE = 0;
    private static final byte CONCRETE = 1;
    private static final byte ABSTRACT = 2;
    /** {@code static} or otherwise unusable: the walk gives up. */
    private static final byte OPAQUE = 3;
    /** {@code Driver}'s default {@code release(Device)}: a body, but unloadguard's, not the plugin's. */
    private static final byte API_DEFAULT = 4;

    /**
     * One type as the inherited-body walk needs it: header and declarations of
     * {@code release()V} and {@code release(Ldev/unloadguard/device/Device;)V}.
     */
    private record TypeInfo(String superName, List<String> interfaces, byte callback, byte device) {
        byte declares(String descriptor) {
            return descriptor.equals(GuardPlan.CALLBACK_RELEASE_DESC) ? callback : device;
        }
    }

    /** Read, but not a class file (or not there): declares nothing, has no supertypes. */
    private static final TypeInfo UNREADABLE = new TypeInfo(null, List.of(), NONE, NONE);
    private static final TypeInfo CALLBACK_INFO = new TypeInfo("java/lang/Object", List.of(), ABSTRACT, NONE);
    private static final TypeInfo ACTION_INFO = new TypeInfo("java/lang/Object", List.of(), NONE, ABSTRACT);
    private static final TypeInfo DRIVER_INFO = new TypeInfo("java/lang/Object", List.of(), NONE, API_DEFAULT);

    /**
     * The body a class inherits for {@code release} with {@code descriptor}, and how the class
     * can call it with {@code invokespecial}.
     *
     * @param declaringType internal name of the supertype declaring the body
     * @param invokeOwner the type to name in {@code invokespecial}: the direct superclass, or the
     *     direct superinterface the default method is inherited through
     * @param invokeInterface whether {@code invokeOwner} is an interface
     */
    record Inherited(String declaringType, String invokeOwner, boolean invokeInterface) {
    }

    /**
     * The concrete {@code release} method with {@code descriptor} ({@code ()V} or
     * {@code (Ldev/unloadguard/device/Device;)V}) that a class with these supertypes and no such
     * method of its own inherits, or {@code null} if it inherits none that is plugin code (see the
     * class comment for the rules and the limits).
     */
    static Inherited inheritedRelease(ClassLoader loader, String superName, String[] interfaces, String descriptor) {
        // 1. Superclasses: the nearest declaration wins over every default method.
        List<String> chain = new ArrayList<>();
        boolean opaque = false;
        for (String s = superName; s != null && !s.equals("java/lang/Object"); ) {
            if (isJdk(s) || chain.size() > MAX_DEPTH) {
                opaque = true;
                break;
            }
            TypeInfo info = info(loader, s);
            if (info == UNREADABLE) {
                return null;
            }
            switch (info.declares(descriptor)) {
                case CONCRETE:
                    return new Inherited(s, superName, false);
                case NONE:
                    break;
                default: // abstract: no body; static: not an instance method the JVM would select
                    return null;
            }
            chain.add(s);
            s = info.superName();
        }
        // 2. A default method: the unique non-abstract maximally-specific one among all superinterfaces.
        Set<String> viaSuper = new LinkedHashSet<>();
        for (String c : chain) {
            for (String i : info(loader, c).interfaces()) {
                closure(loader, i, viaSuper, 0);
            }
        }
        Set<String> all = new LinkedHashSet<>(viaSuper);
        if (interfaces != null) {
            for (String i : interfaces) {
                closure(loader, i, all, 0);
            }
        }
        String body = uniqueDefault(loader, all, descriptor);
        if (body == null || info(loader, body).declares(descriptor) != CONCRETE) {
            return null; // none, ambiguous, or Driver's own default
        }
        if (viaSuper.contains(body)) {
            // invokespecial on the superclass selects among the superclass's interfaces only.
            return body.equals(uniqueDefault(loader, viaSuper, descriptor)) ? new Inherited(body, superName, false) : null;
        }
        if (opaque || interfaces == null) {
            return null;
        }
        for (String k : interfaces) {
            Set<String> throughK = new LinkedHashSet<>();
            closure(loader, k, throughK, 0);
            if (throughK.contains(body)) {
                return body.equals(uniqueDefault(loader, throughK, descriptor)) ? new Inherited(body, k, true) : null;
            }
        }
        return null;
    }

    /** Adds {@code name} and its superinterfaces to {@code out}. */
    private static void closure(ClassLoader loader, String name, Set<String> out, int depth) {
        if (depth > MAX_DEPTH || !out.add(name)) {
            return;
        }
        for (String i : info(loader, name).interfaces()) {
            closure(loader, i, out, depth + 1);
        }
    }

    /**
     * The one interface of {@code candidates} whose {@code release} with {@code descriptor} is
     * maximally specific (no other declaring interface of the set extends it) and not abstract,
     * or {@code null} if there is none or more than one (JVMS 5.4.3.3).
     */
    private static String uniqueDefault(ClassLoader loader, Set<String> candidates, String descriptor) {
        List<String> declaring = new ArrayList<>();
        for (String i : candidates) {
            byte d = info(loader, i).declares(descriptor);
            if (d == OPAQUE) {
                return null;
            }
            if (d != NONE) {
                declaring.add(i);
            }
        }
        String found = null;
        for (String i : declaring) {
            boolean maximal = true;
            for (String j : declaring) {
                if (!j.equals(i)) {
                    Set<String> supers = new LinkedHashSet<>();
                    closure(loader, j, supers, 0);
                    if (supers.contains(i)) {
                        maximal = false;
                        break;
                    }
                }
            }
            if (maximal && info(loader, i).declares(descriptor) != ABSTRACT) {
                if (found != null) {
                    return null;
                }
                found = i;
            }
        }
        return found;
    }

    /** The declarations of {@code name} as a resource of {@code loader}, memoized. */
    private static TypeInfo info(ClassLoader loader, String name) {
        switch (name) {
            case RELEASE_CALLBACK:
                return CALLBACK_INFO;
            case RELEASE_ACTION:
                return ACTION_INFO;
            case DRIVER_TYPE:
                return DRIVER_INFO;
            default:
                if (isJdk(name) || loader == null) {
                    return UNREADABLE;
                }
        }
        synchronized (INFOS) {
            Map<String, TypeInfo> perLoader = INFOS.get(loader);
            TypeInfo known = perLoader == null ? null : perLoader.get(name);
            if (known != null) {
                return known;
            }
        }
        TypeInfo info = read(loader, name);
        synchronized (INFOS) {
            INFOS.computeIfAbsent(loader, l -> new HashMap<>()).put(name, info);
        }
        return info;
    }

    private static TypeInfo read(ClassLoader loader, String name) {
        ClassReader reader = header(loader, name);
        if (reader == null) {
            return UNREADABLE;
        }
        byte[] decl = {NONE, NONE};
        try {
            reader.accept(new ClassVisitor(Opcodes.ASM9) {
                @Override
                public MethodVisitor visitMethod(int access, String m, String desc, String signature, String[] exceptions) {
                    if (m.equals("release")) {
                        int which = desc.equals(GuardPlan.CALLBACK_RELEASE_DESC) ? 0 : desc.equals(GuardPlan.DEVICE_RELEASE_DESC) ? 1 : -1;
                        if (which >= 0 && (access & Opcodes.ACC_PRIVATE) == 0) {
                            decl[which] = (access & Opcodes.ACC_STATIC) != 0 ? OPAQUE
                                    : (access & Opcodes.ACC_ABSTRACT) != 0 ? ABSTRACT : CONCRETE;
                        }
                    }
                    return null;
                }
            }, ClassReader.SKIP_CODE | ClassReader.SKIP_DEBUG | ClassReader.SKIP_FRAMES);
        } catch (RuntimeException e) {
            return UNREADABLE;
        }
        return new TypeInfo(reader.getSuperName(), List.of(reader.getInterfaces()), decl[0], decl[1]);
    }
}
