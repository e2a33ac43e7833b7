package dev.unloadguard.weave.internal;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Set;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.ClassVisitor;
import org.objectweb.asm.ClassWriter;
import org.objectweb.asm.Handle;
import org.objectweb.asm.Label;
import org.objectweb.asm.MethodVisitor;
import org.objectweb.asm.Opcodes;
import org.objectweb.asm.Type;

/**
 * The call-site half of managed registrations: rewrites the calls in a plugin class that register
 * something with a JVM-wide registry so that they go through {@code dev.unloadguard.epoch.ManagedCalls},
 * which makes the call and records it for the class's plugin generation (the host undoes it at
 * unload). The table of rewrites is in the {@code ManagedCalls} class comment; in short:
 * <ul>
 * <li><b>Replaced</b> by a static call with the same arguments, the receiver first, and the
 *     calling class ({@code ldc C}) last: {@code Runtime.add/removeShutdownHook},
 *     {@code MBeanServer.registerMBean}, {@code ThreadLocal.set/remove} (receivers typed
 *     {@code ThreadLocal} or {@code InheritableThreadLocal}), {@code Logger.addHandler},
 *     {@code Security.addProvider/insertProviderAt}, {@code Thread.setContextClassLoader},
 *     {@code System.setProperty}; {@code DriverManager.registerDriver} gets
 *     {@code MethodHandles.lookup()} instead of the class (the undo must call
 *     {@code deregisterDriver} as the plugin).
 * <li><b>Preceded</b>: every {@code invokevirtual start()V}, whatever the receiver's static type
 *     (plugin subclasses of {@code Thread} included): {@code dup; ldc C; starting}, which records
 *     the receiver if it is a {@code Thread}.
 * <li><b>Followed</b>: calls that return a new thread or executor ({@code Executors.new*} returning
 *     an {@code ExecutorService}, {@code Thread.startVirtualThread}, {@code Thread.Builder.start}),
 *     and the constructors of {@code Timer}, {@code ThreadPoolExecutor},
 *     {@code ScheduledThreadPoolExecutor} and {@code ForkJoinPool}: {@code dup; ldc C; created}
 *     after the call. A constructor is followed only in the shape compilers emit ({@code new T;
 *     dup; args; invokespecial T.<init>}, tracked in code order), and a plugin subclass of one of
 *     those types is recorded after its {@code super(...)} call ({@code aload 0; ldc C; created}).
 * </ul>
 * Nothing else changes: no local is added and the stack at every instruction the original code
 * has is the same, so stack map frames stay valid; {@code max_stack} grows by 2. Class files
 * older than Java 5 (version 49, no {@code ldc} of a class) are left as they are.
 *
 * <h2>What escapes</h2>
 * Reflection ({@code Method.invoke} of {@code Thread.start}), method handles, and method
 * references ({@code executor.execute(thread::start)}, an {@code invokedynamic} whose
 * implementation handle is {@code Thread.start}: the call happens in the JDK's generated class)
 * are not rewritten; nor are calls from classes the plugin did not define (a library on the host's
 * class path that the plugin asks to start a thread), {@code ThreadLocal} values that
 * {@code initialValue()} sets inside {@code get()}, {@code System.getProperties().put},
 * and receivers typed as a plugin subclass of {@code ThreadLocal} or {@code Logger}.
 * The threads they start, if they keep the generation alive, are still found by the barrier, the
 * close audit or the leak check.
 *
 * <h2>Cost</h2>
 * {@link #mayRegister} scans the constant pool's UTF-8 entries without ASM and without allocating
 * (as {@link GuardPlan#scanConstantPool} does); only a class naming one of the registry types or a
 * method named {@code start} is parsed and rewritten.
 */
public final class RegistrationSites {

    /** The runtime class the rewritten sites call. */
    static final String MANAGED_CALLS = "dev/unloadguard/epoch/ManagedCalls";
    private static final String CLASS = "Ljava/lang/Class;";
    private static final String OBJECT_CLASS = "(Ljava/lang/Object;Ljava/lang/Class;)V";
    private static final String LOOKUP = "Ljava/lang/invoke/MethodHandles$Lookup;";

    /** UTF-8 constants that make a class a candidate (class names, and the method name {@code start}). */
    private static final String[] MARKERS = {
        "start", "java/lang/Runtime", "java/sql/DriverManager", "javax/management/MBeanServer", "java/lang/ThreadLocal",
        "java/lang/InheritableThreadLocal", "java/util/logging/Logger", "java/security/Security", "setContextClassLoader",
        "setProperty", "java/util/concurrent/Executors", "java/util/Timer", "java/util/concurrent/ThreadPoolExecutor",
        "java/util/concurrent/ScheduledThreadPoolExecutor", "java/util/concurrent/ForkJoinPool",
    };

    /** Per string length: the indexes in {@link #MARKERS} of the markers of that length. */
    private static final byte[][] MARKERS_BY_LENGTH;

    static {
        int longest = MANAGED_CALLS.length();
        for (String m : MARKERS) {
            longest = Math.max(longest, m.length());
        }
        MARKERS_BY_LENGTH = new byte[longest + 1][0];
        for (int m = 0; m < MARKERS.length; m++) {
            byte[] ms = MARKERS_BY_LENGTH[MARKERS[m].length()];
            ms = java.util.Arrays.copyOf(ms, ms.length + 1);
            ms[ms.length - 1] = (byte) m;
            MARKERS_BY_LENGTH[MARKERS[m].length()] = ms;
        }
    }

    /** Constructed types whose new instances are recorded (executors, timers). */
    static final Set<String> RECORDED_TYPES = Set.of("java/util/Timer", "java/util/concurrent/ThreadPoolExecutor",
            "java/util/concurrent/ScheduledThreadPoolExecutor", "java/util/concurrent/ForkJoinPool");

    private RegistrationSites() {
    }

    /** One rewritten call, for tests and the debug log: {@code owner.name(descriptor)} and how. */
    public record Site(String method, String call, String how) {
        @Override
        public String toString() {
            return method + ": " + how + " " + call;
        }
    }

    /**
     * Whether the class file may hold a registration call: its constant pool has one of the
     * marker UTF-8 entries, and does not name {@code ManagedCalls} yet (a class rewritten already
     * is not rewritten twice). Without ASM and without allocating.
     */
    public static boolean mayRegister(byte[] b) {
        int count = u2(b, 8);
        int offset = 10;
        boolean marker = false;
        for (int i = 1; i < count; i++) {
            int tag = b[offset];
            if (tag == 1) {
                int length = u2(b, offset + 1);
                if (length < MARKERS_BY_LENGTH.length) {
                    if (length == MANAGED_CALLS.length() && matches(b, offset + 3, MANAGED_CALLS)) {
                        return false; // rewritten already: the transformer's output passed through it again
                    }
                    byte[] ms = MARKERS_BY_LENGTH[length];
                    for (int j = 0; j < ms.length && !marker; j++) {
                        marker = matches(b, offset + 3, MARKERS[ms[j]]);
                    }
                }
                offset += 3 + length;
            } else {
                offset += GuardPlan.entrySize(b, offset, i);
                if (tag == 5 || tag == 6) {
                    i++;
                }
            }
        }
        return marker;
    }

    /**
     * The class file with its registration calls rewritten, or {@code null} if it has none (or is
     * older than Java 5).
     */
    public static byte[] rewrite(byte[] classfile) {
        List<Site> sites = new ArrayList<>();
        byte[] out = rewrite(classfile, sites);
        return sites.isEmpty() ? null : out;
    }

    /** {@link #rewrite(byte[])}, listing the rewritten sites in {@code sites}. */
    public static byte[] rewrite(byte[] classfile, List<Site> sites) {
        ClassReader reader = new ClassReader(classfile);
        if ((reader.readUnsignedShort(6)) < Opcodes.V1_5) {
            return classfile;
        }
        ClassWriter writer = new ClassWriter(reader, 0);
        String className = reader.getClassName();
        String superName = reader.getSuperName();
        reader.accept(new ClassVisitor(Opcodes.ASM9, writer) {
            @Override
            public MethodVisitor visitMethod(int access, String name, String descriptor, String signature, String[] exceptions) {
                MethodVisitor out = super.visitMethod(access, name, descriptor, signature, exceptions);
                return new Rewriter(out, className, superName, name, name + descriptor, sites);
            }
        }, 0);
        return writer.toByteArray();
    }

    /** Rewrites one method's registration calls (see the class comment). */
    private static final class Rewriter extends MethodVisitor {
        private final String className;
        private final String superName;
        private final boolean constructor;
        private final String method;
        private final List<Site> sites;
        /** The {@code new} instructions whose constructor call has not come yet: type, and whether a {@code dup} followed. */
        private final Deque<String[]> news = new ArrayDeque<>();
        /** The {@code new} just visited, waiting to see whether the next instruction is a {@code dup}. */
        private String[] justNew;
        private boolean changed;

        Rewriter(MethodVisitor out, String className, String superName, String name, String method, List<Site> sites) {
            super(Opcodes.ASM9, out);
            this.className = className;
            this.superName = superName;
            this.constructor = name.equals("<init>");
            this.method = className.replace('/', '.') + "." + method;
            this.sites = sites;
        }

        /** Every instruction: settles whether the previous {@code new} was followed by a {@code dup}. */
        private void next(boolean isDup) {
            if (justNew != null) {
                justNew[1] = isDup ? "dup" : "";
                justNew = null;
            }
        }

        private void pushCaller() {
            super.visitLdcInsn(Type.getObjectType(className));
        }

        private void site(String owner, String name, String descriptor, String how) {
            sites.add(new Site(method, owner.replace('/', '.') + "." + name + descriptor, how));
            changed = true;
        }

        @Override
        public void visitMethodInsn(int opcode, String owner, String name, String descriptor, boolean isInterface) {
            next(false);
            String replacement = replacement(opcode, owner, name, descriptor);
            if (replacement != null) {
                if (owner.equals("java/sql/DriverManager")) {
                    super.visitMethodInsn(Opcodes.INVOKESTATIC, "java/lang/invoke/MethodHandles", "lookup", "()" + LOOKUP, false);
                } else {
                    pushCaller();
                }
                site(owner, name, descriptor, "replaced by ManagedCalls." + replacementName(owner, name));
                super.visitMethodInsn(Opcodes.INVOKESTATIC, MANAGED_CALLS, replacementName(owner, name), replacement, false);
                return;
            }
            if (opcode == Opcodes.INVOKEVIRTUAL && name.equals("start") && descriptor.equals("()V")) {
                super.visitInsn(Opcodes.DUP);
                pushCaller();
                super.visitMethodInsn(Opcodes.INVOKESTATIC, MANAGED_CALLS, "starting", OBJECT_CLASS, false);
                site(owner, name, descriptor, "preceded by ManagedCalls.starting");
                super.visitMethodInsn(opcode, owner, name, descriptor, isInterface);
                return;
            }
            if (opcode == Opcodes.INVOKESPECIAL && name.equals("<init>")) {
                String[] made = news.isEmpty() ? null : news.peek();
                boolean ofNew = made != null && made[0].equals(owner);
                if (ofNew) {
                    news.pop();
                }
                super.visitMethodInsn(opcode, owner, name, descriptor, isInterface);
                if (RECORDED_TYPES.contains(owner)) {
                    if (ofNew && "dup".equals(made[1])) {
                        super.visitInsn(Opcodes.DUP);
                        pushCaller();
                        super.visitMethodInsn(Opcodes.INVOKESTATIC, MANAGED_CALLS, "created", OBJECT_CLASS, false);
                        site(owner, name, descriptor, "followed by ManagedCalls.created");
                    } else if (!ofNew && news.isEmpty() && constructor && owner.equals(superName)) {
                        super.visitVarInsn(Opcodes.ALOAD, 0);
                        pushCaller();
                        super.visitMethodInsn(Opcodes.INVOKESTATIC, MANAGED_CALLS, "created", OBJECT_CLASS, false);
                        site(owner, name, descriptor, "super call followed by ManagedCalls.created");
                    }
                }
                return;
            }
            super.visitMethodInsn(opcode, owner, name, descriptor, isInterface);
            if (returnsThreadOrExecutor(opcode, owner, name, descriptor)) {
                super.visitInsn(Opcodes.DUP);
                pushCaller();
                super.visitMethodInsn(Opcodes.INVOKESTATIC, MANAGED_CALLS, "created", OBJECT_CLASS, false);
                site(owner, name, descriptor, "followed by ManagedCalls.created");
            }
        }

        @Override
        public void visitTypeInsn(int opcode, String type) {
            next(false);
            super.visitTypeInsn(opcode, type);
            if (opcode == Opcodes.NEW) {
                justNew = new String[] {type, ""};
                news.push(justNew);
            }
        }

        @Override
        public void visitInsn(int opcode) {
            next(opcode == Opcodes.DUP);
            super.visitInsn(opcode);
        }

        @Override
        public void visitIntInsn(int opcode, int operand) {
            next(false);
            super.visitIntInsn(opcode, operand);
        }

        @Override
        public void visitVarInsn(int opcode, int varIndex) {
            next(false);
            super.visitVarInsn(opcode, varIndex);
        }

        @Override
        public void visitFieldInsn(int opcode, String owner, String name, String descriptor) {
            next(false);
            super.visitFieldInsn(opcode, owner, name, descriptor);
        }

        @Override
        public void visitInvokeDynamicInsn(String name, String descriptor, Handle bsm, Object... args) {
            next(false);
            super.visitInvokeDynamicInsn(name, descriptor, bsm, args);
        }

        @Override
        public void visitJumpInsn(int opcode, Label label) {
            next(false);
            super.visitJumpInsn(opcode, label);
        }

        @Override
        public void visitLdcInsn(Object value) {
            next(false);
            super.visitLdcInsn(value);
        }

        @Override
        public void visitIincInsn(int varIndex, int increment) {
            next(false);
            super.visitIincInsn(varIndex, increment);
        }

        @Override
        public void visitTableSwitchInsn(int min, int max, Label dflt, Label... labels) {
            next(false);
            super.visitTableSwitchInsn(min, max, dflt, labels);
        }

        @Override
        public void visitLookupSwitchInsn(Label dflt, int[] keys, Label[] labels) {
            next(false);
            super.visitLookupSwitchInsn(dflt, keys, labels);
        }

        @Override
        public void visitMultiANewArrayInsn(String descriptor, int numDimensions) {
            next(false);
            super.visitMultiANewArrayInsn(descriptor, numDimensions);
        }

        @Override
        public void visitMaxs(int maxStack, int maxLocals) {
            super.visitMaxs(changed ? maxStack + 2 : maxStack, maxLocals);
        }
    }

    /** The descriptor of the {@code ManagedCalls} method that replaces the call, or {@code null} if it is not replaced. */
    static String replacement(int opcode, String owner, String name, String descriptor) {
        switch (owner) {
            case "java/lang/Runtime":
                return opcode == Opcodes.INVOKEVIRTUAL && (name.equals("addShutdownHook") || name.equals("removeShutdownHook"))
                        ? withReceiver(owner, descriptor, CLASS) : null;
            case "java/sql/DriverManager":
                return opcode == Opcodes.INVOKESTATIC && name.equals("registerDriver")
                        ? appended(descriptor, LOOKUP) : null;
            case "javax/management/MBeanServer":
                return opcode == Opcodes.INVOKEINTERFACE && name.equals("registerMBean")
                        ? withReceiver(owner, descriptor, CLASS) : null;
            case "java/lang/ThreadLocal":
            case "java/lang/InheritableThreadLocal":
                if (opcode == Opcodes.INVOKEVIRTUAL && name.equals("set") && descriptor.equals("(Ljava/lang/Object;)V")) {
                    return "(Ljava/lang/ThreadLocal;Ljava/lang/Object;Ljava/lang/Class;)V";
                }
                return opcode == Opcodes.INVOKEVIRTUAL && name.equals("remove") && descriptor.equals("()V")
                        ? "(Ljava/lang/ThreadLocal;Ljava/lang/Class;)V" : null;
            case "java/util/logging/Logger":
                return opcode == Opcodes.INVOKEVIRTUAL && name.equals("addHandler") ? withReceiver(owner, descriptor, CLASS) : null;
            case "java/security/Security":
                return opcode == Opcodes.INVOKESTATIC && (name.equals("addProvider") || name.equals("insertProviderAt"))
                        ? appended(descriptor, CLASS) : null;
            case "java/lang/Thread":
                return opcode == Opcodes.INVOKEVIRTUAL && name.equals("setContextClassLoader")
                        ? withReceiver(owner, descriptor, CLASS) : null;
            case "java/lang/System":
                return opcode == Opcodes.INVOKESTATIC && name.equals("setProperty")
                        && descriptor.equals("(Ljava/lang/String;Ljava/lang/String;)Ljava/lang/String;")
                        ? appended(descriptor, CLASS) : null;
            default:
                return null;
        }
    }

    private static String replacementName(String owner, String name) {
        if (owner.equals("java/lang/ThreadLocal") || owner.equals("java/lang/InheritableThreadLocal")) {
            return name.equals("set") ? "threadLocalSet" : "threadLocalRemove";
        }
        return name;
    }

    /** Whether the call returns a new thread or executor the caller now owns. */
    static boolean returnsThreadOrExecutor(int opcode, String owner, String name, String descriptor) {
        if (opcode == Opcodes.INVOKESTATIC && owner.equals("java/util/concurrent/Executors") && name.startsWith("new")) {
            return descriptor.endsWith(")Ljava/util/concurrent/ExecutorService;")
                    || descriptor.endsWith(")Ljava/util/concurrent/ScheduledExecutorService;");
        }
        if (opcode == Opcodes.INVOKESTATIC && owner.equals("java/lang/Thread") && name.equals("startVirtualThread")) {
            return true;
        }
        return opcode == Opcodes.INVOKEINTERFACE && owner.startsWith("java/lang/Thread$Builder") && name.equals("start")
                && descriptor.equals("(Ljava/lang/Runnable;)Ljava/lang/Thread;");
    }

    private static String withReceiver(String owner, String descriptor, String last) {
        return "(L" + owner + ";" + descriptor.substring(1, descriptor.indexOf(')')) + last + descriptor.substring(descriptor.indexOf(')'));
    }

    private static String appended(String descriptor, String last) {
        int close = descriptor.indexOf(')');
        return descriptor.substring(0, close) + last + descriptor.substring(close);
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
}
