package dev.unloadguard.weave.internal;

import dev.unloadguard.epoch.internal.PluginEpochClass;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.ClassVisitor;
import org.objectweb.asm.ClassWriter;
import org.objectweb.asm.ConstantDynamic;
import org.objectweb.asm.Handle;
import org.objectweb.asm.MethodTooLargeException;
import org.objectweb.asm.MethodVisitor;
import org.objectweb.asm.Opcodes;
import org.objectweb.asm.Type;
import org.objectweb.asm.tree.AbstractInsnNode;
import org.objectweb.asm.tree.AnnotationNode;
import org.objectweb.asm.tree.FrameNode;
import org.objectweb.asm.tree.InsnList;
import org.objectweb.asm.tree.InsnNode;
import org.objectweb.asm.tree.LabelNode;
import org.objectweb.asm.tree.MethodInsnNode;
import org.objectweb.asm.tree.MethodNode;
import org.objectweb.asm.tree.TryCatchBlockNode;
import org.objectweb.asm.tree.VarInsnNode;

/**
 * Weaves the release epoch of the class's own plugin into the methods a {@link GuardPlan} chose,
 * and adds the methods it plans (bridges for method references, overrides for inherited release
 * bodies). Each guarded body of a class file of Java 11 or later becomes
 * <pre>{@code
 * int t = ReleaseGuard.enter(ldc EPOCH);                                // ungated section
 *      or ReleaseGuard.enterEntry(ldc EPOCH, "a.b.C.m(int)");          // gated entry
 * try { body } catch (Throwable any) { any = ReleaseGuard.unpin(any, t); ReleaseGuard.exit(ldc EPOCH, t); throw any; }
 * // and before every return of body: ReleaseGuard.exit(ldc EPOCH, t);
 * }</pre>
 * where {@code EPOCH} is the class's one dynamic constant {@code epoch} of type {@code Object},
 * bootstrapped by {@code ReleaseGuard.epochConstant} (the {@code CONSTANT_Dynamic} and its
 * {@code BootstrapMethods} entry are added to the constant pool once per class, however many
 * methods use it), and the method gets the annotation {@code @dev.unloadguard.epoch.Guarded}. The
 * JVM resolves the constant once per class, the first time a woven method of the class runs: the
 * class's plugin epoch, opaque to the class (see {@code ReleaseGuard}); the JIT folds it. For a
 * loader that defines the epoch class ({@code PluginEpochClass.definedBy}: unloadguard's own plugin
 * loaders) {@code ldc EPOCH} is {@code getstatic dev/unloadguard/epoch/woven/PluginEpoch.epoch}
 * instead ({@link Link#FIELD}): the same value, bootstrapped once per plugin generation by that
 * class's static initializer, and a {@code Fieldref} in the constant pool instead of the constant
 * and its bootstrap method. This is
 * for start-up: linking an {@code invokedynamic} site costs tens of microseconds the first time
 * it runs, and the former shape linked every enter and exit site of every method on its own
 * (figures: {@code docs/guard-model.md}, "Start-up"). Class files of Java 7 to 10, which cannot
 * hold a dynamic constant, keep that shape:
 * <pre>{@code
 * int t = invokedynamic enter()I [ReleaseGuard.bootstrap];                       // ungated section
 *      or invokedynamic enter()I [ReleaseGuard.bootstrapEntry, "a.b.C.m(int)"]  // gated entry
 * // exits: iload t; invokedynamic exit(I)V [ReleaseGuard.bootstrap]
 * }</pre>
 * whose bootstraps bind each call site once to the epoch of the class's plugin; a gated entry's
 * name ({@link GuardPlan.Target#entryName()}), which a refused entry's error names, is the
 * bootstrap's static argument there and an {@code ldc} string argument of {@code enterEntry}
 * from Java 11 on. Class files older than Java 7, which cannot hold {@code invokedynamic}, call
 * {@code ReleaseGuard.enterCaller()I} (or {@code ldc name; enterEntryCaller(Ljava/lang/String;)I})
 * and {@code exitCaller(I)V} instead ({@link Link}). A foreign loader that cannot see the runtime
 * gets the same calls to {@code dev.unloadguard.boot.BootGuard}. Everything else of the class is
 * copied byte for byte (the {@link ClassWriter} is built on the {@link ClassReader}, so untouched
 * methods are not even parsed). Only the constant pool grows (the constant, its bootstrap method
 * and names, or the field reference); no field or method is added for it, so the weave stays a valid retransformation.
 *
 * <h2>Constructors</h2>
 * The verifier refuses an exception handler whose range covers code where {@code this} is still
 * uninitialized, so a constructor's section starts right after its initializing call (the
 * {@code invokespecial <init>} on the uninitialized {@code this}: {@code super(...)} or
 * {@code this(...)}), found by {@link ConstructorPrologue}: the enter call follows it, the try
 * ranges start there, and only the frames after it gain the token. The code before it (the
 * arguments of {@code super(...)}, fields javac stores before it such as an inner class's
 * {@code this$0}) is not a section; the methods it calls are. A constructor whose initializing
 * call cannot be located for certain (shapes no Java compiler emits) is left as it was and
 * reported ({@link Woven#notWoven()}).
 *
 * <h2>Streaming</h2>
 * Methods are woven as they stream from the reader to the writer ({@link StreamingGuard};
 * constructors through {@link ConstructorGuard}, which records a straight-line prologue until the
 * initializing call and falls back to a tree for anything else). The tree weave
 * ({@link #guard} on a {@link MethodNode}) stays for those constructors, for the methods the plan
 * adds, and as the reference: the tests compare both weaves of every fixture byte for byte. The
 * token's slot ({@code max_locals}) is read from the class file's method table first
 * ({@link #codeMaxs}): the reader reports it only after the code.
 *
 * <h2>What changes</h2>
 * Guarded methods: code and one annotation each. Methods holding a release-lambda
 * {@code invokedynamic} the plan bridges: bootstrap argument 1 (the implementation handle) of that
 * site only, counted by position among the method's {@code invokedynamic} instructions in the
 * original code (before any woven ones), exactly as {@link GuardPlan} counted them. Added methods,
 * after the class's own, in the plan's order:
 * <ul>
 * <li>a bridge {@code private static synthetic unloadguard$ref$N(receiver?, params...)}: loads its
 *     parameters, calls the referenced method with its handle's opcode ({@code invokestatic},
 *     {@code invokevirtual} or {@code invokeinterface}), owner, name, descriptor and interface
 *     flag, and returns the result;
 * <li>an override {@code public synthetic release(params...)}: {@code aload 0}, its parameters,
 *     {@code invokespecial} of the plan's owner (the direct superclass, or a direct
 *     superinterface), return.
 * </ul>
 * Both are straight-line code built as a {@link MethodNode} and then guarded by {@link #guard},
 * like any other method: the only stack map frame they need is the handler's, which it writes.
 * Nothing else is added, so when the plan adds no methods the result is a valid
 * retransformation (same fields, methods, modifiers and supertypes); when it does, only a class
 * being defined may take it, or a retransformation of a class that was defined with the same
 * additions: the output is a function of the input bytes and the plan, so replaying the original
 * bytes yields the same methods. A method whose woven code would exceed the JVM's 64 KiB limit is
 * left as it was (the class is woven again without it) and reported.
 *
 * <h2>The body</h2>
 * <ul>
 * <li>The token goes to a new local at index {@code max_locals}: no existing local moves, so the
 *     method's local variable tables and stack map frames stay valid as they are; each existing
 *     frame (after a constructor's initializing call) only gains the token (padded with
 *     {@code TOP} up to its slot).
 * <li>Normal exits: {@code iload t; exit} before every {@code *return}.
 * <li>Abrupt exits: catch-all exception-table entries, appended after the method's own entries,
 *     so the method's own handlers keep precedence (the JVM searches the table in order). They
 *     cover the whole original body from the section's start, the method's own handler code
 *     included, but <em>not</em> the exit sequences before the returns: an exception thrown by
 *     {@code exit} itself must not reach the handler and exit a second time (javac's try/finally
 *     leaves its inlined finally blocks out of the range the same way). {@code enter} is outside
 *     the ranges too: if it throws (a refused entry), there is nothing to exit.
 * <li>The handler, at the end of the code, has the frame {@code [TOP ... TOP, int t]
 *     [Throwable]}: every local but the token is {@code TOP}, which any frame in the covered
 *     range is assignable to, so it never depends on what the body keeps in its locals. It calls
 *     {@code unpin(any, t)}, which drops the exception's backtrace only when it leaves the
 *     plugin's outermost section.
 * </ul>
 * Because every frame is written explicitly, the class writer computes nothing
 * ({@code COMPUTE_FRAMES} would need {@code getCommonSuperClass} for every merge in the guarded
 * methods, that is class hierarchy lookups that can only be approximated without loading
 * classes). Class files older than Java 7 without stack maps get none.
 */
final class Weaver {

    /** The runtime woven calls go to, for loaders that see it (all of unloadguard's own). */
    static final String RELEASE_GUARD = "dev/unloadguard/epoch/ReleaseGuard";
    /** The bootstrap bridge, for registered foreign loaders that cannot see the runtime. */
    static final String BOOT_GUARD = "dev/unloadguard/boot/BootGuard";

    private Weaver() {
    }

    /**
     * A woven class file and the planned methods left as they were.
     *
     * @param classfile the woven class file
     * @param notWoven keys (name followed by descriptor) of planned methods that were not woven:
     *     constructors whose initializing call could not be located for certain
     *     ({@link ConstructorPrologue}), methods that would exceed the JVM's 64 KiB code limit
     */
    record Woven(byte[] classfile, List<String> notWoven) {
    }

    /**
     * Returns the class file of {@code reader} woven as {@code plan} says, guarded by calls to
     * {@code guardOwner}'s {@code enter()I} and {@code exit(I)V}.
     */
    static byte[] weave(ClassReader reader, GuardPlan plan, String guardOwner) {
        return weaveReporting(reader, plan, guardOwner).classfile();
    }

    /**
     * {@link #weave(ClassReader, GuardPlan, String)}; if {@code epochField}, class files of Java 11
     * and later read the epoch from the loader's epoch class ({@link Link#FIELD}).
     */
    static byte[] weave(ClassReader reader, GuardPlan plan, String guardOwner, boolean epochField) {
        return weaveReporting(reader, plan, guardOwner, true, epochField).classfile();
    }

    /**
     * {@link #weave}, saying which planned methods were left unwoven. A method whose woven code
     * would be too large is left as it was, and the class woven again without it.
     */
    static Woven weaveReporting(ClassReader reader, GuardPlan plan, String guardOwner) {
        return weaveReporting(reader, plan, guardOwner, true);
    }

    /**
     * {@link #weaveReporting(ClassReader, GuardPlan, String)}: {@code streaming} false weaves every
     * method as a tree ({@link #guard}), the reference the streaming weaver is tested against.
     */
    static Woven weaveReporting(ClassReader reader, GuardPlan plan, String guardOwner, boolean streaming) {
        return weaveReporting(reader, plan, guardOwner, streaming, false);
    }

    /**
     * {@link #weaveReporting(ClassReader, GuardPlan, String, boolean)}; if {@code epochField},
     * class files of Java 11 and later read the epoch from the loader's epoch class
     * ({@link Link#FIELD}; only for a loader that defines it, and with {@link #RELEASE_GUARD}).
     */
    static Woven weaveReporting(ClassReader reader, GuardPlan plan, String guardOwner, boolean streaming, boolean epochField) {
        Map<String, GuardPlan.Target> targets = plan.declaredTargets();
        List<String> notWoven = new ArrayList<>();
        while (true) {
            List<String> skipped = new ArrayList<>();
            try {
                byte[] woven = weave(reader, plan, targets, guardOwner, epochField, skipped, streaming);
                notWoven.addAll(skipped);
                return new Woven(woven, List.copyOf(notWoven));
            } catch (MethodTooLargeException e) {
                String key = e.getMethodName() + e.getDescriptor();
                if (targets.remove(key) == null) {
                    throw e; // not one of ours: an added method, or the class was too large already
                }
                notWoven.add(key);
            }
        }
    }

    private static byte[] weave(ClassReader reader, GuardPlan plan, Map<String, GuardPlan.Target> targets, String guardOwner,
            boolean epochField, List<String> skipped, boolean streaming) {
        Map<String, Map<Integer, Handle>> rewrites = plan.siteRewrites();
        Map<String, int[]> maxs = streaming && !targets.isEmpty() ? codeMaxs(reader) : Map.of();
        ClassWriter writer = new ClassWriter(reader, 0);
        reader.accept(new ClassVisitor(Opcodes.ASM9, writer) {
            private int version;

            @Override
            public void visit(int version, int access, String name, String signature, String superName, String[] interfaces) {
                this.version = version;
                super.visit(version, access, name, signature, superName, interfaces);
            }

            @Override
            public MethodVisitor visitMethod(int access, String name, String descriptor, String signature, String[] exceptions) {
                MethodVisitor out = super.visitMethod(access, name, descriptor, signature, exceptions);
                String key = name + descriptor;
                Map<Integer, Handle> sites = rewrites.get(key);
                GuardPlan.Target target = targets.get(key);
                if (target == null) {
                    return sites == null ? out : new SiteRewriter(out, sites);
                }
                int classVersion = version;
                String entryName = target.reason().gated() ? target.entryName() : null;
                int[] codeMaxs = maxs.get(key);
                if (codeMaxs != null) {
                    MethodVisitor guarded = name.equals("<init>")
                            ? new ConstructorGuard(out, access, name, descriptor, signature, exceptions, classVersion, guardOwner,
                                    epochField, entryName, codeMaxs, () -> skipped.add(key))
                            : new StreamingGuard(out, classVersion, guardOwner, epochField, entryName, codeMaxs[1]);
                    // The rewriter sees the original instructions only, not the woven enter/exit sites.
                    return sites == null ? guarded : new SiteRewriter(guarded, sites);
                }
                MethodNode guarded = new MethodNode(Opcodes.ASM9, access, name, descriptor, signature, exceptions) {
                    @Override
                    public void visitEnd() {
                        super.visitEnd();
                        if (!guard(this, classVersion, guardOwner, epochField, entryName)) {
                            skipped.add(key);
                        }
                        accept(out);
                    }
                };
                // The rewriter sees the original instructions only, not the woven enter/exit sites.
                return sites == null ? guarded : new SiteRewriter(guarded, sites);
            }

            @Override
            public void visitEnd() {
                for (GuardPlan.Bridge b : plan.bridges()) {
                    MethodNode m = bridge(b);
                    guard(m, version, guardOwner, epochField, null);
                    m.accept(cv);
                }
                for (GuardPlan.InheritedOverride o : plan.overrides()) {
                    MethodNode m = override(o);
                    guard(m, version, guardOwner, epochField, null);
                    m.accept(cv);
                }
                super.visitEnd();
            }
        }, ClassReader.EXPAND_FRAMES);
        return writer.toByteArray();
    }

    /** Points the planned {@code invokedynamic} sites of one method at their bridges. */
    private static final class SiteRewriter extends MethodVisitor {
        private final Map<Integer, Handle> sites;
        private int index;

        SiteRewriter(MethodVisitor out, Map<Integer, Handle> sites) {
            super(Opcodes.ASM9, out);
            this.sites = sites;
        }

        @Override
        public void visitInvokeDynamicInsn(String name, String descriptor, Handle bsm, Object... args) {
            Handle bridge = sites.get(index++);
            Object[] bsmArgs = args;
            if (bridge != null) {
                bsmArgs = args.clone();
                bsmArgs[1] = bridge;
            }
            super.visitInvokeDynamicInsn(name, descriptor, bsm, bsmArgs);
        }
    }

    /** The bridge's unguarded code: call the referenced method with its own parameters. */
    static MethodNode bridge(GuardPlan.Bridge b) {
        MethodNode m = new MethodNode(Opcodes.ASM9, Opcodes.ACC_PRIVATE | Opcodes.ACC_STATIC | Opcodes.ACC_SYNTHETIC,
                b.name(), b.descriptor(), null, null);
        int slots = loadArguments(m.instructions, b.descriptor(), 0);
        Handle h = b.target();
        int opcode;
        switch (h.getTag()) {
            case Opcodes.H_INVOKESTATIC:
                opcode = Opcodes.INVOKESTATIC;
                break;
            case Opcodes.H_INVOKEVIRTUAL:
                opcode = Opcodes.INVOKEVIRTUAL;
                break;
            case Opcodes.H_INVOKEINTERFACE:
                opcode = Opcodes.INVOKEINTERFACE;
                break;
            default:
                throw new IllegalArgumentException("not a bridgeable method handle: " + h);
        }
        m.instructions.add(new MethodInsnNode(opcode, h.getOwner(), h.getName(), h.getDesc(), h.isInterface()));
        Type returned = Type.getReturnType(b.descriptor());
        m.instructions.add(new InsnNode(returned.getOpcode(Opcodes.IRETURN)));
        m.maxLocals = slots;
        m.maxStack = Math.max(slots, returned.getSize());
        return m;
    }

    /** The override's unguarded code: {@code super.release(params)}. */
    static MethodNode override(GuardPlan.InheritedOverride o) {
        MethodNode m = new MethodNode(Opcodes.ASM9, Opcodes.ACC_PUBLIC | Opcodes.ACC_SYNTHETIC, "release", o.descriptor(), null, null);
        m.instructions.add(new VarInsnNode(Opcodes.ALOAD, 0));
        int slots = loadArguments(m.instructions, o.descriptor(), 1);
        m.instructions.add(new MethodInsnNode(Opcodes.INVOKESPECIAL, o.invokeOwner(), "release", o.descriptor(), o.invokeInterface()));
        m.instructions.add(new InsnNode(Opcodes.RETURN));
        m.maxLocals = slots;
        m.maxStack = slots;
        return m;
    }

    /** Loads the parameters of {@code descriptor} from slot {@code first} on; returns the next free slot. */
    private static int loadArguments(InsnList code, String descriptor, int first) {
        int slot = first;
        for (Type t : Type.getArgumentTypes(descriptor)) {
            code.add(new VarInsnNode(t.getOpcode(Opcodes.ILOAD), slot));
            slot += t.getSize();
        }
        return slot;
    }

    /**
     * Rewrites one method body in place (see the class comment): an ungated section if
     * {@code entryName} is {@code null}, else a gated entry named so. A constructor's section
     * starts after its initializing call; {@code false} (the method unchanged) if that call cannot
     * be located for certain.
     */
    static boolean guard(MethodNode method, int classVersion, String guardOwner, String entryName) {
        return guard(method, classVersion, guardOwner, false, entryName);
    }

    /** {@link #guard(MethodNode, int, String, String)}, the epoch read from the epoch class if {@code epochField} ({@link Link#of}). */
    static boolean guard(MethodNode method, int classVersion, String guardOwner, boolean epochField, String entryName) {
        InsnList code = method.instructions;
        AbstractInsnNode initialized = null; // the section starts after it; null: at the method's start
        if (method.name.equals("<init>")) {
            initialized = ConstructorPrologue.initializingCall(method);
            if (initialized == null) {
                return false;
            }
        }
        int token = method.maxLocals;
        boolean frames = (classVersion & 0xFFFF) >= Opcodes.V1_7 || hasFrames(code);
        Link link = Link.of(classVersion, epochField);

        // Existing frames: the token is an int in its slot from the section's start on (a
        // constructor's frames before its initializing call do not have it).
        for (AbstractInsnNode insn = initialized == null ? code.getFirst() : initialized; insn != null; insn = insn.getNext()) {
            if (insn instanceof FrameNode) {
                addToken((FrameNode) insn, token);
            }
        }

        LabelNode handler = new LabelNode();
        List<TryCatchBlockNode> ranges = new ArrayList<>();

        InsnList prologue = new InsnList();
        enterCall(prologue, guardOwner, link, entryName);
        prologue.add(new VarInsnNode(Opcodes.ISTORE, token));
        LabelNode rangeStart = new LabelNode();
        prologue.add(rangeStart);
        if (initialized == null) {
            code.insert(prologue);
        } else {
            code.insert(initialized, prologue);
        }

        List<AbstractInsnNode> returns = new ArrayList<>();
        for (AbstractInsnNode insn = rangeStart.getNext(); insn != null; insn = insn.getNext()) {
            int op = insn.getOpcode();
            if (op >= Opcodes.IRETURN && op <= Opcodes.RETURN) {
                returns.add(insn);
            }
        }
        for (AbstractInsnNode insn : returns) {
            LabelNode rangeEnd = new LabelNode();
            InsnList exit = new InsnList();
            exit.add(rangeEnd);
            exit.add(exitCall(guardOwner, link, token));
            code.insertBefore(insn, exit);
            addRange(ranges, rangeStart, rangeEnd, handler);
            rangeStart = new LabelNode();
            code.insert(insn, rangeStart);
        }
        LabelNode end = new LabelNode();
        code.add(end);
        addRange(ranges, rangeStart, end, handler);

        if (!ranges.isEmpty()) {
            code.add(handler);
            if (frames) {
                Object[] locals = new Object[token + 1];
                for (int i = 0; i < token; i++) {
                    locals[i] = Opcodes.TOP;
                }
                locals[token] = Opcodes.INTEGER;
                code.add(new FrameNode(Opcodes.F_NEW, locals.length, locals, 1, new Object[] {"java/lang/Throwable"}));
            }
            // unpin(any, t): only an exception leaving the plugin's outermost section is unpinned.
            code.add(new VarInsnNode(Opcodes.ILOAD, token));
            code.add(new MethodInsnNode(Opcodes.INVOKESTATIC, guardOwner, "unpin",
                    "(Ljava/lang/Throwable;I)Ljava/lang/Throwable;", false));
            code.add(exitCall(guardOwner, link, token));
            code.add(new InsnNode(Opcodes.ATHROW));
            // Last in the table: the method's own handlers are searched first.
            method.tryCatchBlocks.addAll(ranges);
        }

        method.maxLocals = token + 1;
        // Over a return value: the token (and the epoch); in the handler: Throwable, (epoch,) token.
        method.maxStack = Math.max(method.maxStack + link.extraStack(), link.handlerStack());
        if (method.visibleAnnotations == null) {
            method.visibleAnnotations = new ArrayList<>();
        }
        method.visibleAnnotations.add(new AnnotationNode(GuardPlan.GUARDED_DESC));
        return true;
    }

    /**
     * How woven code reaches its class's epoch, by class file version: a dynamic constant from
     * Java 11 (version 55) on (or the field of the loader's epoch class, for a loader that defines
     * one), {@code invokedynamic} sites from Java 7, a stack walk before.
     */
    enum Link {
        /** {@code enterCaller()I}/{@code exitCaller(I)V}: the runtime finds the caller's class with a stack walk. */
        CALLER,
        /** {@code invokedynamic enter()I}/{@code exit(I)V}, each site bound to the epoch by its bootstrap. */
        INDY,
        /** {@code ldc} of the class's one dynamic constant {@code epoch}, passed to static {@code enter}/{@code exit}. */
        CONDY,
        /**
         * {@code getstatic dev/unloadguard/epoch/woven/PluginEpoch.epoch}: the same value as
         * {@link #CONDY}'s, held by the epoch class the loader defines ({@code PluginEpochClass}),
         * passed to the same static {@code enter}/{@code exit}.
         */
        FIELD;

        /** The link for a class file of {@code classVersion}; {@link #FIELD} instead of {@link #CONDY} if {@code epochField}. */
        static Link of(int classVersion, boolean epochField) {
            int major = classVersion & 0xFFFF;
            return major >= Opcodes.V11 ? (epochField ? FIELD : CONDY) : major >= Opcodes.V1_7 ? INDY : CALLER;
        }

        /** What a section needs on the operand stack beyond the method's own: while exiting, the epoch and the token over a return value. */
        int extraStack() {
            return this == CONDY || this == FIELD ? 2 : 1;
        }

        /** What the handler needs on the stack: the exception, then (epoch and) token. */
        int handlerStack() {
            return this == CONDY || this == FIELD ? 3 : 2;
        }
    }

    /** The bootstrap method of the woven call sites, in {@code guardOwner}. */
    private static Handle bootstrap(String guardOwner) {
        return new Handle(Opcodes.H_INVOKESTATIC, guardOwner, "bootstrap",
                "(Ljava/lang/invoke/MethodHandles$Lookup;Ljava/lang/String;Ljava/lang/invoke/MethodType;)Ljava/lang/invoke/CallSite;",
                false);
    }

    /** The bootstrap of gated entries: one static argument, the entry's readable name. */
    private static Handle bootstrapEntry(String guardOwner) {
        return new Handle(Opcodes.H_INVOKESTATIC, guardOwner, "bootstrapEntry",
                "(Ljava/lang/invoke/MethodHandles$Lookup;Ljava/lang/String;Ljava/lang/invoke/MethodType;Ljava/lang/String;)"
                        + "Ljava/lang/invoke/CallSite;",
                false);
    }

    /**
     * The class's dynamic constant {@code epoch}: equal for every use in a class, so the class
     * writer puts it (and its bootstrap method entry) into the constant pool once.
     */
    static ConstantDynamic epochConstant(String guardOwner) {
        return new ConstantDynamic("epoch", "Ljava/lang/Object;", new Handle(Opcodes.H_INVOKESTATIC, guardOwner, "epochConstant",
                "(Ljava/lang/invoke/MethodHandles$Lookup;Ljava/lang/String;Ljava/lang/Class;)Ljava/lang/Object;", false));
    }

    /** Pushes the class's epoch constant: {@code ldc} of the dynamic constant, or {@code getstatic} of the epoch class's field. */
    private static void loadEpoch(MethodVisitor mv, String guardOwner, Link link) {
        if (link == Link.FIELD) {
            mv.visitFieldInsn(Opcodes.GETSTATIC, PluginEpochClass.INTERNAL_NAME, PluginEpochClass.FIELD, PluginEpochClass.FIELD_DESCRIPTOR);
        } else {
            mv.visitLdcInsn(epochConstant(guardOwner));
        }
    }

    /** Appends the enter call: ungated ({@code entryName == null}) or gated, leaving the token on the stack. */
    private static void enterCall(InsnList code, String guardOwner, Link link, String entryName) {
        MethodNode events = new MethodNode();
        enterCall(events, guardOwner, link, entryName);
        code.add(events.instructions);
    }

    /** Appends the exit of section {@code token} (its load included). */
    private static InsnList exitCall(String guardOwner, Link link, int token) {
        MethodNode events = new MethodNode();
        exitCall(events, guardOwner, link, token);
        return events.instructions;
    }

    /** {@link #enterCall(InsnList, String, Link, String)} as events. */
    static void enterCall(MethodVisitor mv, String guardOwner, Link link, String entryName) {
        switch (link) {
            case CONDY:
            case FIELD:
                loadEpoch(mv, guardOwner, link);
                if (entryName == null) {
                    mv.visitMethodInsn(Opcodes.INVOKESTATIC, guardOwner, "enter", "(Ljava/lang/Object;)I", false);
                } else {
                    mv.visitLdcInsn(entryName);
                    mv.visitMethodInsn(Opcodes.INVOKESTATIC, guardOwner, "enterEntry", "(Ljava/lang/Object;Ljava/lang/String;)I", false);
                }
                break;
            case INDY:
                if (entryName == null) {
                    mv.visitInvokeDynamicInsn("enter", "()I", bootstrap(guardOwner));
                } else {
                    mv.visitInvokeDynamicInsn("enter", "()I", bootstrapEntry(guardOwner), entryName);
                }
                break;
            default:
                if (entryName == null) {
                    mv.visitMethodInsn(Opcodes.INVOKESTATIC, guardOwner, "enterCaller", "()I", false);
                } else {
                    mv.visitLdcInsn(entryName);
                    mv.visitMethodInsn(Opcodes.INVOKESTATIC, guardOwner, "enterEntryCaller", "(Ljava/lang/String;)I", false);
                }
        }
    }

    /** {@link #exitCall(String, Link, int)} as events. */
    static void exitCall(MethodVisitor mv, String guardOwner, Link link, int token) {
        switch (link) {
            case CONDY:
            case FIELD:
                loadEpoch(mv, guardOwner, link);
                mv.visitVarInsn(Opcodes.ILOAD, token);
                mv.visitMethodInsn(Opcodes.INVOKESTATIC, guardOwner, "exit", "(Ljava/lang/Object;I)V", false);
                break;
            case INDY:
                mv.visitVarInsn(Opcodes.ILOAD, token);
                mv.visitInvokeDynamicInsn("exit", "(I)V", bootstrap(guardOwner));
                break;
            default:
                mv.visitVarInsn(Opcodes.ILOAD, token);
                mv.visitMethodInsn(Opcodes.INVOKESTATIC, guardOwner, "exitCaller", "(I)V", false);
        }
    }

    /** The locals of an expanded frame with the token appended at slot {@code token} (see {@link #addToken}). */
    static Object[] withToken(Object[] local, int numLocal, int token) {
        int slots = 0;
        for (int i = 0; i < numLocal; i++) {
            slots += (Opcodes.LONG.equals(local[i]) || Opcodes.DOUBLE.equals(local[i])) ? 2 : 1;
        }
        Object[] out = new Object[numLocal + Math.max(0, token - slots) + 1];
        System.arraycopy(local, 0, out, 0, numLocal);
        for (int i = numLocal; i < out.length - 1; i++) {
            out[i] = Opcodes.TOP;
        }
        out[out.length - 1] = Opcodes.INTEGER;
        return out;
    }

    /**
     * {@code max_stack} and {@code max_locals} of every method with code, by key (name followed
     * by descriptor), read from the class file's method table without parsing any code: the
     * streaming weaver needs the token's slot before the code streams by (the reader reports
     * the maxima only after it).
     */
    static Map<String, int[]> codeMaxs(ClassReader reader) {
        Map<String, int[]> maxs = new java.util.HashMap<>();
        char[] buf = new char[reader.getMaxStringLength()];
        int offset = GuardPlan.methodTable(reader);
        int methods = reader.readUnsignedShort(offset);
        offset += 2;
        for (int i = 0; i < methods; i++) {
            String name = reader.readUTF8(offset + 2, buf);
            String descriptor = reader.readUTF8(offset + 4, buf);
            int attributes = reader.readUnsignedShort(offset + 6);
            int attribute = offset + 8;
            for (int a = 0; a < attributes; a++) {
                if ("Code".equals(reader.readUTF8(attribute, buf))) {
                    maxs.put(name + descriptor, new int[] {reader.readUnsignedShort(attribute + 6), reader.readUnsignedShort(attribute + 8)});
                }
                attribute += 6 + reader.readInt(attribute + 2);
            }
            offset = attribute;
        }
        return maxs;
    }

    /** Adds {@code [from, to)} unless it holds no instruction (an empty range is illegal). */
    private static void addRange(List<TryCatchBlockNode> ranges, LabelNode from, LabelNode to, LabelNode handler) {
        for (AbstractInsnNode n = from.getNext(); n != null && n != to; n = n.getNext()) {
            if (n.getOpcode() >= 0) {
                ranges.add(new TryCatchBlockNode(from, to, handler, null));
                return;
            }
        }
    }

    private static boolean hasFrames(InsnList code) {
        for (AbstractInsnNode insn = code.getFirst(); insn != null; insn = insn.getNext()) {
            if (insn instanceof FrameNode) {
                return true;
            }
        }
        return false;
    }

    /**
     * Appends the token to an expanded frame's locals: {@code TOP} up to slot {@code token}, then
     * {@code INTEGER}. In ASM's frame lists a long or double is one element covering two slots.
     */
    private static void addToken(FrameNode frame, int token) {
        List<Object> locals = frame.local == null ? new ArrayList<>() : new ArrayList<>(frame.local);
        int slots = 0;
        for (Object type : locals) {
            slots += (Opcodes.LONG.equals(type) || Opcodes.DOUBLE.equals(type)) ? 2 : 1;
        }
        while (slots < token) {
            locals.add(Opcodes.TOP);
            slots++;
        }
        locals.add(Opcodes.INTEGER);
        frame.local = locals;
    }
}
