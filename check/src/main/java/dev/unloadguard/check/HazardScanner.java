package dev.unloadguard.check;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.objectweb.asm.ClassVisitor;
import org.objectweb.asm.ConstantDynamic;
import org.objectweb.asm.FieldVisitor;
import org.objectweb.asm.Handle;
import org.objectweb.asm.Label;
import org.objectweb.asm.MethodVisitor;
import org.objectweb.asm.Opcodes;
import org.objectweb.asm.Type;

/**
 * Finds unload hazards in one class file by instruction patterns; the line of each is the last
 * {@code LineNumberTable} entry before the instruction (-1 without one).
 *
 * <h2>Rules</h2>
 * <ul>
 * <li>{@link HazardKind#THREAD}: {@code start()V} invoked on {@code java/lang/Thread} or a class
 *     extending it; {@code Thread.startVirtualThread}; {@code start} on a {@code Thread$Builder}.
 * <li>{@link HazardKind#EXECUTOR}: {@code Executors.new*}; {@code new} + {@code <init>} of
 *     {@code ThreadPoolExecutor}, {@code ForkJoinPool} or a subclass (so
 *     {@code ScheduledThreadPoolExecutor}). A super-constructor call is not a construction: an
 *     {@code <init>} counts only when it completes a {@code new} of its owner in the same method.
 * <li>{@link HazardKind#TIMER}: {@code new} + {@code <init>} of {@code java/util/Timer} or a subclass.
 * <li>{@link HazardKind#SHUTDOWN_HOOK}: {@code Runtime.addShutdownHook}.
 * <li>{@link HazardKind#THREAD_LOCAL}: a field (static or not) whose type is {@code ThreadLocal}
 *     or a subclass; reported at its first assignment in the class, if any.
 * <li>{@link HazardKind#JDBC_DRIVER}: {@code DriverManager.registerDriver}.
 * <li>{@link HazardKind#LOGGING_HANDLER}: {@code addHandler} on {@code java/util/logging/Logger}
 *     (or a subclass), {@code LogManager.addLogger/addConfigurationListener}.
 * <li>{@link HazardKind#NATIVE_LIBRARY}: {@code System.load/loadLibrary},
 *     {@code Runtime.load/loadLibrary}.
 * <li>{@link HazardKind#STATIC_CACHE}: (a) {@code putstatic} of a reference-typed field of a
 *     class not in the jar; (b) {@code getstatic} of a reference-typed field of a class not in
 *     the jar whose value is the very next receiver consumed — tracked by a small operand-stack
 *     height simulation, given up at anything it does not model — of a method named
 *     {@code put*}, {@code add*}, {@code register*}, {@code compute*}, {@code offer*},
 *     {@code merge}, {@code push} or {@code set} with at least one reference argument, or of an
 *     {@code aastore} into that array; (c) calls of process-wide JDK registries
 *     ({@link #JDK_REGISTRIES}).
 * <li>{@link HazardKind#CONTEXT_CLASS_LOADER} (warning): {@code setContextClassLoader} on a thread.
 * </ul>
 */
final class HazardScanner extends ClassVisitor {

    /** Process-wide JDK registries: owner.name to what a call there does. */
    static final Map<String, String> JDK_REGISTRIES = Map.ofEntries(
            Map.entry("java/lang/Thread.setDefaultUncaughtExceptionHandler", "sets the JVM-wide default uncaught exception handler"),
            Map.entry("java/security/Security.addProvider", "adds a JVM-wide security provider"),
            Map.entry("java/security/Security.insertProviderAt", "adds a JVM-wide security provider"),
            Map.entry("java/beans/PropertyEditorManager.registerEditor", "registers a JVM-wide property editor"),
            Map.entry("java/net/URL.setURLStreamHandlerFactory", "sets the JVM-wide URL stream handler factory"),
            Map.entry("java/net/URLConnection.setContentHandlerFactory", "sets the JVM-wide content handler factory"),
            Map.entry("java/net/Authenticator.setDefault", "sets the JVM-wide default authenticator"),
            Map.entry("java/net/ProxySelector.setDefault", "sets the JVM-wide default proxy selector"),
            Map.entry("java/net/CookieHandler.setDefault", "sets the JVM-wide default cookie handler"),
            Map.entry("java/net/ResponseCache.setDefault", "sets the JVM-wide default response cache"),
            Map.entry("javax/net/ssl/HttpsURLConnection.setDefaultHostnameVerifier", "sets the JVM-wide default hostname verifier"),
            Map.entry("javax/net/ssl/HttpsURLConnection.setDefaultSSLSocketFactory", "sets the JVM-wide default SSL socket factory"),
            Map.entry("javax/net/ssl/SSLContext.setDefault", "sets the JVM-wide default SSL context"),
            Map.entry("javax/management/MBeanServer.registerMBean", "registers an MBean with an MBean server"),
            Map.entry("java/rmi/server/UnicastRemoteObject.exportObject", "exports an RMI remote object"));

    private static final String THREAD = "java/lang/Thread";

    private final JarTypes types;
    private final Consumer<Hazard> sink;
    private String internalName;
    private String className;
    /** ThreadLocal fields of this class, by name + descriptor, with their first assignment. */
    private final Map<String, TlField> threadLocals = new LinkedHashMap<>();

    private static final class TlField {
        final String name;
        final String type;
        final boolean isStatic;
        String method = "";
        int line = -1;

        TlField(String name, String type, boolean isStatic) {
            this.name = name;
            this.type = type;
            this.isStatic = isStatic;
        }
    }

    HazardScanner(JarTypes types, Consumer<Hazard> sink) {
        super(Opcodes.ASM9);
        this.types = types;
        this.sink = sink;
    }

    @Override
    public void visit(int version, int access, String name, String signature, String superName, String[] interfaces) {
        this.internalName = name;
        this.className = name.replace('/', '.');
    }

    @Override
    public FieldVisitor visitField(int access, String name, String descriptor, String signature, Object value) {
        Type t = Type.getType(descriptor);
        if (t.getSort() == Type.OBJECT && types.isSubclassOf(t.getInternalName(), "java/lang/ThreadLocal")) {
            threadLocals.put(name + descriptor, new TlField(name, dotted(t.getInternalName()), (access & Opcodes.ACC_STATIC) != 0));
        }
        return null;
    }

    @Override
    public MethodVisitor visitMethod(int access, String name, String descriptor, String signature, String[] exceptions) {
        return new Scanner(name + descriptor);
    }

    @Override
    public void visitEnd() {
        for (TlField f : threadLocals.values()) {
            sink.accept(new Hazard(HazardKind.THREAD_LOCAL, className, f.method, f.line,
                    (f.isStatic ? "static " : "") + "field " + f.name + " of type " + f.type
                            + (f.method.isEmpty() ? " (not assigned in this class)" : " assigned here")));
        }
    }

    private static String dotted(String internalName) {
        return internalName.replace('/', '.');
    }

    private static boolean isReference(String descriptor) {
        char c = descriptor.charAt(0);
        return c == 'L' || c == '[';
    }

    /** Slots a value of this descriptor takes on the operand stack. */
    private static int size(String descriptor) {
        return Type.getType(descriptor).getSize();
    }

    /** A {@code new T} waiting for its {@code <init>}. */
    private record New(String type, int line) {
    }

    /**
     * A value read by {@code getstatic} from a class not in the jar, followed on the operand
     * stack: {@code depth} is the number of slots from the value (inclusive) to the top.
     */
    private static final class Watch {
        final String field; // Owner.NAME, dotted
        int depth;
        final Map<Label, Integer> atLabel = new HashMap<>();

        Watch(String field, int depth) {
            this.field = field;
            this.depth = depth;
        }
    }

    private final class Scanner extends MethodVisitor {
        private final String method;
        private int line = -1;
        private final Deque<New> news = new ArrayDeque<>();
        private final List<Watch> watches = new ArrayList<>();
        /** False after an unconditional transfer, until a label. */
        private boolean reachable = true;

        Scanner(String method) {
            super(Opcodes.ASM9);
            this.method = method;
        }

        private void report(HazardKind kind, String detail) {
            sink.accept(new Hazard(kind, className, method, line, detail));
        }

        // ---- operand stack heights of the watched values ----

        /** Applies an instruction that pops then pushes slots; a watched value popped is gone. */
        private void effect(int pops, int pushes) {
            if (watches.isEmpty()) {
                return;
            }
            for (Iterator<Watch> it = watches.iterator(); it.hasNext(); ) {
                Watch w = it.next();
                if (pops >= w.depth) {
                    it.remove();
                } else {
                    w.depth += pushes - pops;
                }
            }
        }

        /** An instruction this simulation does not model: forget every watched value. */
        private void unknown() {
            watches.clear();
        }

        private void unconditional() {
            reachable = false;
        }

        private void jumpTo(Label target) {
            for (Watch w : watches) {
                Integer known = w.atLabel.putIfAbsent(target, w.depth);
                if (known != null && known != w.depth) {
                    w.depth = -1; // inconsistent: dropped below
                }
            }
            watches.removeIf(w -> w.depth < 0);
        }

        @Override
        public void visitLabel(Label label) {
            if (watches.isEmpty()) {
                reachable = true;
                return;
            }
            for (Iterator<Watch> it = watches.iterator(); it.hasNext(); ) {
                Watch w = it.next();
                Integer known = w.atLabel.get(label);
                if (reachable ? known != null && known != w.depth : known == null) {
                    it.remove();
                } else if (known != null) {
                    w.depth = known;
                }
            }
            reachable = true;
        }

        @Override
        public void visitLineNumber(int line, Label start) {
            this.line = line;
        }

        @Override
        public void visitInsn(int opcode) {
            if (opcode == Opcodes.AASTORE) {
                for (Watch w : watches) {
                    if (w.depth == 3) {
                        report(HazardKind.STATIC_CACHE, "stores into the array in static field " + w.field
                                + " of a class outside the jar");
                    }
                }
            }
            switch (opcode) {
                case Opcodes.DUP:
                    effect(0, 1);
                    return;
                case Opcodes.DUP2:
                    effect(0, 2);
                    return;
                case Opcodes.DUP_X1:
                case Opcodes.SWAP:
                    rearrange(2, opcode == Opcodes.SWAP ? 0 : 1);
                    return;
                case Opcodes.DUP_X2:
                    rearrange(3, 1);
                    return;
                case Opcodes.DUP2_X1:
                    rearrange(3, 2);
                    return;
                case Opcodes.DUP2_X2:
                    rearrange(4, 2);
                    return;
                default:
                    break;
            }
            int e = InsnEffects.of(opcode);
            if (e < 0) {
                unknown();
            } else {
                effect(e >> 4, e & 0xF);
            }
            if ((opcode >= Opcodes.IRETURN && opcode <= Opcodes.RETURN) || opcode == Opcodes.ATHROW) {
                unconditional();
            }
        }

        /** DUP_X*, SWAP: the top {@code involved} slots are shuffled, {@code growth} slots added. */
        private void rearrange(int involved, int growth) {
            watches.removeIf(w -> w.depth <= involved);
            for (Watch w : watches) {
                w.depth += growth;
            }
        }

        @Override
        public void visitIntInsn(int opcode, int operand) {
            effect(opcode == Opcodes.NEWARRAY ? 1 : 0, 1);
        }

        @Override
        public void visitVarInsn(int opcode, int varIndex) {
            switch (opcode) {
                case Opcodes.ILOAD:
                case Opcodes.FLOAD:
                case Opcodes.ALOAD:
                    effect(0, 1);
                    break;
                case Opcodes.LLOAD:
                case Opcodes.DLOAD:
                    effect(0, 2);
                    break;
                case Opcodes.ISTORE:
                case Opcodes.FSTORE:
                case Opcodes.ASTORE:
                    effect(1, 0);
                    break;
                case Opcodes.LSTORE:
                case Opcodes.DSTORE:
                    effect(2, 0);
                    break;
                default: // RET
                    unknown();
                    unconditional();
            }
        }

        @Override
        public void visitTypeInsn(int opcode, String type) {
            switch (opcode) {
                case Opcodes.NEW:
                    news.push(new New(type, line));
                    effect(0, 1);
                    break;
                case Opcodes.CHECKCAST:
                    // The same value, retyped: a watched value on top stays watched.
                    break;
                default: // ANEWARRAY, INSTANCEOF
                    effect(1, 1);
            }
        }

        @Override
        public void visitFieldInsn(int opcode, String owner, String name, String descriptor) {
            int size = size(descriptor);
            switch (opcode) {
                case Opcodes.GETSTATIC:
                    effect(0, size);
                    if (!types.inJar(owner) && isReference(descriptor)) {
                        watches.add(new Watch(dotted(owner) + "." + name, 1));
                    }
                    break;
                case Opcodes.PUTSTATIC:
                    effect(size, 0);
                    if (!types.inJar(owner) && isReference(descriptor)) {
                        report(HazardKind.STATIC_CACHE, "assigns static field " + dotted(owner) + "." + name
                                + " of a class outside the jar");
                    }
                    assigned(owner, name, descriptor);
                    break;
                case Opcodes.GETFIELD:
                    effect(1, size);
                    break;
                default: // PUTFIELD
                    effect(1 + size, 0);
                    assigned(owner, name, descriptor);
            }
        }

        private void assigned(String owner, String name, String descriptor) {
            if (owner.equals(internalName)) {
                TlField f = threadLocals.get(name + descriptor);
                if (f != null && f.method.isEmpty()) {
                    f.method = method;
                    f.line = line;
                }
            }
        }

        @Override
        public void visitMethodInsn(int opcode, String owner, String name, String descriptor, boolean isInterface) {
            Type[] args = Type.getArgumentTypes(descriptor);
            int argSlots = 0;
            boolean referenceArg = false;
            for (Type a : args) {
                argSlots += a.getSize();
                referenceArg |= a.getSort() == Type.OBJECT || a.getSort() == Type.ARRAY;
            }
            boolean instance = opcode != Opcodes.INVOKESTATIC;
            int pops = argSlots + (instance ? 1 : 0);
            if (instance && referenceArg && storesInto(name)) {
                for (Watch w : watches) {
                    if (w.depth == pops) { // the watched value is this call's receiver
                        report(HazardKind.STATIC_CACHE, "calls " + name + "(...) on static field " + w.field
                                + " of a class outside the jar");
                    }
                }
            }
            patterns(opcode, owner, name, descriptor);
            effect(pops, Type.getReturnType(descriptor).getSize());
        }

        private boolean storesInto(String name) {
            return name.startsWith("put") || name.startsWith("add") || name.startsWith("register")
                    || name.startsWith("compute") || name.startsWith("offer")
                    || name.equals("merge") || name.equals("push") || name.equals("set");
        }

        private void patterns(int opcode, String owner, String name, String descriptor) {
            if (name.equals("<init>")) {
                if (opcode == Opcodes.INVOKESPECIAL && !news.isEmpty() && news.peek().type().equals(owner)) {
                    New n = news.pop();
                    constructed(owner, n.line());
                }
                return;
            }
            String registry = JDK_REGISTRIES.get(owner + "." + name);
            if (registry != null) {
                report(HazardKind.STATIC_CACHE, registry + " (" + dotted(owner) + "." + name + ")");
                return;
            }
            switch (owner) {
                case "java/lang/Runtime":
                    if (name.equals("addShutdownHook")) {
                        report(HazardKind.SHUTDOWN_HOOK, "registers a shutdown hook (java.lang.Runtime.addShutdownHook)");
                    } else if (name.equals("loadLibrary") || name.equals("load")) {
                        report(HazardKind.NATIVE_LIBRARY, "loads a native library (java.lang.Runtime." + name + ")");
                    }
                    return;
                case "java/lang/System":
                    if (name.equals("loadLibrary") || name.equals("load")) {
                        report(HazardKind.NATIVE_LIBRARY, "loads a native library (java.lang.System." + name + ")");
                    }
                    return;
                case "java/util/concurrent/Executors":
                    if (name.startsWith("new")) { // newFixedThreadPool, newScheduledThreadPool, ...
                        report(HazardKind.EXECUTOR, "creates an executor (java.util.concurrent.Executors." + name + ")");
                    }
                    return;
                case "java/sql/DriverManager":
                    if (name.equals("registerDriver")) {
                        report(HazardKind.JDBC_DRIVER, "registers a JDBC driver (java.sql.DriverManager.registerDriver)");
                    }
                    return;
                case "java/util/logging/LogManager":
                    if (name.equals("addLogger") || name.equals("addConfigurationListener")) {
                        report(HazardKind.LOGGING_HANDLER, "registers with the JDK-wide log manager (java.util.logging.LogManager."
                                + name + ")");
                    }
                    return;
                default:
                    break;
            }
            if (owner.startsWith("java/lang/Thread$Builder") && (name.equals("start") || name.equals("unstarted")
                    || name.equals("factory"))) {
                if (name.equals("start")) {
                    report(HazardKind.THREAD, "starts a thread (" + dotted(owner) + ".start)");
                }
                return;
            }
            if (owner.equals(THREAD) && name.equals("startVirtualThread")) {
                report(HazardKind.THREAD, "starts a virtual thread (java.lang.Thread.startVirtualThread)");
                return;
            }
            if (opcode == Opcodes.INVOKESTATIC) {
                return;
            }
            if (name.equals("start") && descriptor.equals("()V") && types.isSubclassOf(owner, THREAD)) {
                report(HazardKind.THREAD, "starts a thread (" + dotted(owner) + ".start()"
                        + (owner.equals(THREAD) ? "" : ", a java.lang.Thread") + ")");
            } else if (name.equals("setContextClassLoader") && types.isSubclassOf(owner, THREAD)) {
                report(HazardKind.CONTEXT_CLASS_LOADER, "sets a thread's context class loader (java.lang.Thread.setContextClassLoader)");
            } else if (name.equals("addHandler") && types.isSubclassOf(owner, "java/util/logging/Logger")) {
                report(HazardKind.LOGGING_HANDLER, "adds a java.util.logging handler (" + dotted(owner) + ".addHandler)");
            }
        }

        /** {@code new owner(...)} completed at the {@code new}'s line. */
        private void constructed(String owner, int newLine) {
            HazardKind kind = null;
            String what = null;
            if (types.isSubclassOf(owner, "java/util/concurrent/ThreadPoolExecutor")
                    || types.isSubclassOf(owner, "java/util/concurrent/ForkJoinPool")) {
                kind = HazardKind.EXECUTOR;
                what = "creates an executor (new " + dotted(owner) + ")";
            } else if (types.isSubclassOf(owner, "java/util/Timer")) {
                kind = HazardKind.TIMER;
                what = "creates a timer and its thread (new " + dotted(owner) + ")";
            }
            if (kind != null) {
                sink.accept(new Hazard(kind, className, method, newLine, what));
            }
        }

        @Override
        public void visitInvokeDynamicInsn(String name, String descriptor, Handle bootstrapMethodHandle,
                Object... bootstrapMethodArguments) {
            int argSlots = 0;
            for (Type a : Type.getArgumentTypes(descriptor)) {
                argSlots += a.getSize();
            }
            effect(argSlots, Type.getReturnType(descriptor).getSize());
        }

        @Override
        public void visitJumpInsn(int opcode, Label label) {
            switch (opcode) {
                case Opcodes.GOTO:
                    jumpTo(label);
                    unconditional();
                    return;
                case Opcodes.JSR:
                    unknown();
                    return;
                case Opcodes.IF_ICMPEQ:
                case Opcodes.IF_ICMPNE:
                case Opcodes.IF_ICMPLT:
                case Opcodes.IF_ICMPGE:
                case Opcodes.IF_ICMPGT:
                case Opcodes.IF_ICMPLE:
                case Opcodes.IF_ACMPEQ:
                case Opcodes.IF_ACMPNE:
                    effect(2, 0);
                    break;
                default: // IFEQ..IFLE, IFNULL, IFNONNULL
                    effect(1, 0);
            }
            jumpTo(label);
        }

        @Override
        public void visitLdcInsn(Object value) {
            int size = value instanceof Long || value instanceof Double ? 2
                    : value instanceof ConstantDynamic ? ((ConstantDynamic) value).getSize() : 1;
            effect(0, size);
        }

        @Override
        public void visitIincInsn(int varIndex, int increment) {
            // no stack effect
        }

        @Override
        public void visitTableSwitchInsn(int min, int max, Label dflt, Label... labels) {
            unknown();
            unconditional();
        }

        @Override
        public void visitLookupSwitchInsn(Label dflt, int[] keys, Label[] labels) {
            unknown();
            unconditional();
        }

        @Override
        public void visitMultiANewArrayInsn(String descriptor, int numDimensions) {
            effect(numDimensions, 1);
        }
    }
}
