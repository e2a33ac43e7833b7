package dev.unloadguard.check;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import org.objectweb.asm.ClassReader;

/**
 * The types of one jar, read without loading anything: which classes the jar holds, and the
 * superclass chain of any type, from class-file headers — the jar's own entries first, then the
 * resources of unloadguard's class loader (the JDK, the unloadguard API).
 *
 * <p>{@link #resources()} is the same view as a {@link ClassLoader} for {@code GuardPlan}: it
 * only answers {@code getResourceAsStream}, it never defines a class.
 */
final class JarTypes {

    /** Bound on a superclass walk: a malformed or cyclic chain must not loop. */
    private static final int MAX_DEPTH = 64;

    private final Map<String, byte[]> entries;
    private final Set<String> classNames;
    private final ClassLoader resources;
    private final Map<String, String> superNames = new HashMap<>();

    /**
     * @param entries jar entry name ({@code a/b/C.class}) to bytes
     * @param classNames internal names of the classes the jar holds
     */
    JarTypes(Map<String, byte[]> entries, Set<String> classNames) {
        this.entries = entries;
        this.classNames = classNames;
        this.resources = new EntryResources(entries, JarTypes.class.getClassLoader());
    }

    /** Whether the jar holds the class {@code internalName}. */
    boolean inJar(String internalName) {
        return classNames.contains(internalName);
    }

    /** The jar's entries, then unloadguard's loader, as class-file resources. */
    ClassLoader resources() {
        return resources;
    }

    /**
     * Whether {@code internalName} is {@code ancestor} or extends it (classes only, not
     * interfaces). An unknown type in the chain (a host class) answers {@code false}.
     */
    boolean isSubclassOf(String internalName, String ancestor) {
        String name = internalName;
        for (int depth = 0; name != null && depth < MAX_DEPTH; depth++) {
            if (name.equals(ancestor)) {
                return true;
            }
            if (name.equals("java/lang/Object")) {
                return false;
            }
            name = superName(name);
        }
        return false;
    }

    private String superName(String internalName) {
        if (superNames.containsKey(internalName)) {
            return superNames.get(internalName);
        }
        String superName = null;
        try (InputStream in = resources.getResourceAsStream(internalName + ".class")) {
            if (in != null) {
                superName = new ClassReader(in).getSuperName();
            }
        } catch (IOException | RuntimeException e) {
            superName = null; // unreadable: the chain ends here
        }
        superNames.put(internalName, superName);
        return superName;
    }

    /**
     * Resources of a jar held in memory, then of a parent loader. Never defines a class: it only
     * serves class-file bytes to header readers.
     */
    private static final class EntryResources extends ClassLoader {
        private final Map<String, byte[]> entries;

        EntryResources(Map<String, byte[]> entries, ClassLoader parent) {
            super("unloadguard-check", parent);
            this.entries = entries;
        }

        @Override
        public InputStream getResourceAsStream(String name) {
            byte[] bytes = entries.get(name);
            return bytes != null ? new ByteArrayInputStream(bytes) : super.getResourceAsStream(name);
        }

        @Override
        protected Class<?> findClass(String name) throws ClassNotFoundException {
            throw new ClassNotFoundException(name + ": the check reads class files, it never loads them");
        }
    }
}
