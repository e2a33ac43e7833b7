package dev.unloadguard.agent;

import java.io.IOException;
import java.io.InputStream;
import java.util.HashMap;
import java.util.Map;
import java.util.WeakHashMap;
import org.objectweb.asm.ClassReader;

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
 * <p>Answers are memoized per loader in a {@link WeakHashMap} keyed by the loader, whose values
 * hold strings and ints only, so the cache never keeps a plugin loader (and its classes) alive.
 * The I/O happens outside the cache's lock; two threads racing on the same name compute the same
 * answer twice, which is harmless.
 */
final class Hierarchy {

    /** The type is or implements {@code dev.unloadguard.driver.ReleaseCallback}. */
    static final int CALLBACK = 1;
    /** The type is or implements {@code dev.unloadguard.driver.ReleaseAction}. */
    static final int ACTION = 2;
    /** The type is or implements {@code dev.unloadguard.driver.Driver}. */
    static final int DRIVER = 4;

    static final String RELEASE_CALLBACK = "dev/unloadguard/driver/ReleaseCallback";
    static final String RELEASE_ACTION = "dev/unloadguard/driver/ReleaseAction";
    static final String DRIVER_TYPE = "dev/unloadguard/driver/Driver";

    /** Bound on the supertype walk: a malformed or cyclic hierarchy must not recurse forever. */
    private static final int MAX_DEPTH = 64;

    private static final Map<ClassLoader, Map<String, Integer>> CACHE = new WeakHashMap<>();

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
}
