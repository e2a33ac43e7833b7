package dev.unloadguard.agent;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
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
 * <h2>What is guarded</h2>
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
 *     somewhere ({@link Reason#LAMBDA_BODY}): an {@code invokedynamic} bootstrapped by
 *     {@code LambdaMetafactory.metafactory/altMetafactory} whose call site type returns
 *     {@code ReleaseAction} or {@code ReleaseCallback} (or a plugin sub-interface of them whose
 *     functional method is {@code release}) names its body in the implementation method handle
 *     (bootstrap argument 1). A body in the class itself is a {@link #targets() target}; a body in
 *     another class (a method reference {@code Other::cleanup}) is an
 *     {@link #externalTargets() external target}, guarded when that class is transformed.
 * </ol>
 * "Implements transitively" is answered by {@link Hierarchy} from class-file headers read
 * through a class loader's resources; no class is ever loaded.
 *
 * <h2>Cost</h2>
 * Before parsing anything, the constant pool is scanned (one pass over its bytes, without ASM,
 * allocating nothing: {@link #mayGuard}) for three UTF-8 entries: {@code release}
 * (the name of every method of cases 1, 2 and of the functional method in case 4),
 * {@code Ldev/unloadguard/driver/GuardedRelease;} and {@code java/lang/invoke/LambdaMetafactory}.
 * A class with neither of the first two (and no external targets recorded for it) is done
 * there. Method bodies are parsed only if the class has lambdas; supertypes are resolved only if
 * the class declares a concrete {@code release} method or has release-named lambdas of an
 * interface other than the two exact ones.
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
        /** The body of a lambda or method reference used as a release action or callback. */
        LAMBDA_BODY
    }

    /**
     * One method to guard.
     *
     * @param owner internal name of the class declaring the method ({@code a/b/C})
     * @param name method name
     * @param descriptor method descriptor
     * @param reason why it is guarded
     */
    public record Target(String owner, String name, String descriptor, Reason reason) {
        public Target {
            Objects.requireNonNull(owner, "owner");
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(descriptor, "descriptor");
            Objects.requireNonNull(reason, "reason");
        }

        /** The key the weaver matches methods by: name followed by descriptor. */
        String key() {
            return name + descriptor;
        }

        @Override
        public String toString() {
            return owner.replace('/', '.') + "." + name + descriptor + " (" + reason + ")";
        }
    }

    static final String GUARDED_DESC = "Ldev/unloadguard/epoch/Guarded;";
    static final String GUARDED_RELEASE_DESC = "Ldev/unloadguard/driver/GuardedRelease;";
    static final String DEVICE_RELEASE_DESC = "(Ldev/unloadguard/device/Device;)V";
    static final String CALLBACK_RELEASE_DESC = "()V";
    private static final String RELEASE = "release";
    private static final String LAMBDA_METAFACTORY = "java/lang/invoke/LambdaMetafactory";

    private static final GuardPlan NOTHING = new GuardPlan("", List.of(), List.of());

    private final String className;
    private final List<Target> targets;
    private final List<Target> externalTargets;

    private GuardPlan(String className, List<Target> targets, List<Target> externalTargets) {
        this.className = className;
        this.targets = targets;
        this.externalTargets = externalTargets;
    }

    /**
     * Plans one class file.
     *
     * @param classfile the class file bytes
     * @param hierarchyLoader the loader whose resources hold the class's supertypes (the loader
     *     that will define it); {@code null} resolves nothing, so only the class's direct
     *     interfaces count
     * @throws IllegalArgumentException if {@code classfile} is not a class file ASM can read
     */
    public static GuardPlan of(byte[] classfile, ClassLoader hierarchyLoader) {
        ClassReader reader = new ClassReader(classfile);
        return analyze(reader, classfile, hierarchyLoader, Set.of());
    }

    /**
     * Plans one class file as the agent does once other classes of the same plugin asked for
     * method-reference bodies in it (their {@link #externalTargets()}): a declared, guardable
     * method whose name followed by descriptor is in {@code methodReferenceBodies} is guarded too
     * ({@link Reason#LAMBDA_BODY}). For whole-jar views such as the {@code check} command.
     *
     * @throws IllegalArgumentException if {@code classfile} is not a class file ASM can read
     */
    public static GuardPlan of(byte[] classfile, ClassLoader hierarchyLoader, Set<String> methodReferenceBodies) {
        ClassReader reader = new ClassReader(classfile);
        return analyze(reader, classfile, hierarchyLoader, Set.copyOf(methodReferenceBodies));
    }

    /** Internal name of the planned class ({@code ""} when the pre-check excluded it). */
    public String className() {
        return className;
    }

    /** Methods of this class to guard, in declaration order. */
    public List<Target> targets() {
        return targets;
    }

    /** Lambda and method-reference bodies this class names in other (plugin) classes. */
    public List<Target> externalTargets() {
        return externalTargets;
    }

    /** Whether there is nothing to guard, here or elsewhere. */
    public boolean isEmpty() {
        return targets.isEmpty() && externalTargets.isEmpty();
    }

    @Override
    public String toString() {
        return "GuardPlan[" + className + ": " + targets + ", external " + externalTargets + "]";
    }

    /**
     * The plan for {@code reader}; {@code pendingKeys} are method keys (name + descriptor) other
     * classes asked to guard in this one (method references recorded earlier).
     */
    static GuardPlan analyze(ClassReader reader, byte[] classfile, ClassLoader loader, Set<String> pendingKeys) {
        int found = scanConstantPool(classfile);
        boolean mentionsRelease = (found & CP_RELEASE) != 0;
        boolean mentionsAnnotation = (found & CP_GUARDED_RELEASE) != 0;
        if (!mentionsRelease && !mentionsAnnotation && pendingKeys.isEmpty()) {
            return NOTHING;
        }
        // Bodies hold the invokedynamic sites; parse them only if a release-named lambda can exist.
        boolean parseCode = mentionsRelease && (found & CP_LAMBDA_METAFACTORY) != 0;
        Collector c = new Collector();
        reader.accept(c, parseCode
                ? ClassReader.SKIP_DEBUG | ClassReader.SKIP_FRAMES
                : ClassReader.SKIP_CODE | ClassReader.SKIP_DEBUG | ClassReader.SKIP_FRAMES);
        return c.plan(loader, pendingKeys);
    }

    private static final int CP_RELEASE = 1;
    private static final int CP_GUARDED_RELEASE = 2;
    private static final int CP_LAMBDA_METAFACTORY = 4;

    /**
     * Whether {@code classfile} may have something to guard for its own sake: its constant pool
     * names {@code release} or {@code @GuardedRelease}. Without ASM and without allocating: the
     * agent's first question for every plugin class (a class that answers no is done unless
     * another class asked for a method-reference body in it).
     *
     * @throws IndexOutOfBoundsException or IllegalArgumentException if the constant pool is malformed
     */
    static boolean mayGuard(byte[] classfile) {
        return (scanConstantPool(classfile) & (CP_RELEASE | CP_GUARDED_RELEASE)) != 0;
    }

    /**
     * Which of the three interesting UTF-8 constants the constant pool holds (exact matches),
     * walking the pool's entries directly (JVMS 4.4): one pass, nothing allocated.
     */
    private static int scanConstantPool(byte[] b) {
        int found = 0;
        int count = u2(b, 8);
        int offset = 10; // magic, minor, major, constant_pool_count
        for (int i = 1; i < count; i++) {
            int tag = b[offset];
            switch (tag) {
                case 1: { // CONSTANT_Utf8: u2 length, bytes
                    int length = u2(b, offset + 1);
                    int start = offset + 3;
                    if (length == RELEASE.length() && matches(b, start, RELEASE)) {
                        found |= CP_RELEASE;
                    } else if (length == GUARDED_RELEASE_DESC.length() && matches(b, start, GUARDED_RELEASE_DESC)) {
                        found |= CP_GUARDED_RELEASE;
                    } else if (length == LAMBDA_METAFACTORY.length() && matches(b, start, LAMBDA_METAFACTORY)) {
                        found |= CP_LAMBDA_METAFACTORY;
                    }
                    offset = start + length;
                    break;
                }
                case 7: case 8: case 16: case 19: case 20: // Class, String, MethodType, Module, Package
                    offset += 3;
                    break;
                case 15: // MethodHandle
                    offset += 4;
                    break;
                case 3: case 4: case 9: case 10: case 11: case 12: case 17: case 18:
                    // Integer, Float, Fieldref, Methodref, InterfaceMethodref, NameAndType, Dynamic, InvokeDynamic
                    offset += 5;
                    break;
                case 5: case 6: // Long, Double: two slots
                    offset += 9;
                    i++;
                    break;
                default:
                    throw new IllegalArgumentException("not a class file: constant pool entry " + i + " has tag " + tag);
            }
        }
        return found;
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

        boolean guardable() {
            return (access & (Opcodes.ACC_ABSTRACT | Opcodes.ACC_NATIVE | Opcodes.ACC_BRIDGE)) == 0
                    && !name.equals("<init>") && !name.equals("<clinit>") && !alreadyGuarded;
        }
    }

    /** A {@code LambdaMetafactory} call site: interface, functional method and body. */
    private record LambdaSite(String iface, String samName, String samDescriptor, Handle body) {
    }

    /** Collects the header, the methods and the lambda sites of one class. */
    private static final class Collector extends ClassVisitor {
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
            this.name = name;
            this.superName = superName;
            this.interfaces = interfaces;
        }

        @Override
        public MethodVisitor visitMethod(int access, String name, String descriptor, String signature, String[] exceptions) {
            MethodInfo m = new MethodInfo(access, name, descriptor);
            methods.add(m);
            return new MethodVisitor(Opcodes.ASM9) {
                @Override
                public AnnotationVisitor visitAnnotation(String desc, boolean visible) {
                    note(desc);
                    return null;
                }

                @Override
                public void visitInvokeDynamicInsn(String indyName, String indyDesc, Handle bsm, Object... args) {
                    lambdaSite(indyName, indyDesc, bsm, args);
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

        private void lambdaSite(String samName, String indyDesc, Handle bsm, Object[] args) {
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
            lambdas.add(new LambdaSite(returned.getInternalName(), samName, ((Type) args[0]).getDescriptor(), (Handle) args[1]));
        }

        GuardPlan plan(ClassLoader loader, Set<String> pendingKeys) {
            // Lambda and method-reference bodies first: they are the cheap part.
            List<String> localBodies = new ArrayList<>();
            List<Target> external = new ArrayList<>();
            for (LambdaSite site : lambdas) {
                if (!isReleaseInterface(loader, site)) {
                    continue;
                }
                Handle body = site.body();
                if (body.getTag() == Opcodes.H_NEWINVOKESPECIAL || Hierarchy.isJdk(body.getOwner())) {
                    // A constructor reference (never guarded), or a JDK method (not plugin code).
                    continue;
                }
                if (body.getOwner().equals(name)) {
                    localBodies.add(body.getName() + body.getDesc());
                } else {
                    Target t = new Target(body.getOwner(), body.getName(), body.getDesc(), Reason.LAMBDA_BODY);
                    if (!external.contains(t)) {
                        external.add(t);
                    }
                }
            }
            int bits = -1; // resolved lazily: only a class with a concrete release method needs it
            List<Target> targets = new ArrayList<>();
            for (MethodInfo m : methods) {
                if (!m.guardable()) {
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
                if (reason == null && (localBodies.contains(m.key()) || pendingKeys.contains(m.key()))) {
                    reason = Reason.LAMBDA_BODY;
                }
                if (reason != null) {
                    targets.add(new Target(name, m.name, m.descriptor, reason));
                }
            }
            if (targets.isEmpty() && external.isEmpty()) {
                return NOTHING;
            }
            return new GuardPlan(name, Collections.unmodifiableList(targets), Collections.unmodifiableList(external));
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
