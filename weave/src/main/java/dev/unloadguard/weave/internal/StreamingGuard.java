package dev.unloadguard.weave.internal;

import java.util.ArrayList;
import java.util.List;
import org.objectweb.asm.Handle;
import org.objectweb.asm.Label;
import org.objectweb.asm.MethodVisitor;
import org.objectweb.asm.Opcodes;

/**
 * Weaves one method as its code streams from the {@code ClassReader} to the {@code ClassWriter},
 * without building a tree: the same code as {@link Weaver#guard} writes on a {@code MethodNode}
 * (the tests compare the two byte for byte), at a fraction of the cost, which matters when every
 * method of every plugin class is woven while the application starts.
 *
 * <p>As the events pass: the method gets {@code @Guarded} and, at the start of its code (or, for a
 * constructor, after its initializing call: {@link #begin()}), the enter call, the token store
 * into slot {@code token} (the method's {@code max_locals}, read from the class file before the
 * code is visited) and the label opening the first try range; every stack map frame gains the
 * token; before every return, a label closing the current range, the exit call, and after the
 * return a label opening the next one. At {@link #visitMaxs}: the last range's end, the handler
 * (with its frame) and the catch-all try ranges, appended after the method's own (which the reader
 * visited before the code), skipping the ranges holding no instruction.
 */
final class StreamingGuard extends MethodVisitor {

    private final String guardOwner;
    private final String entryName;
    private final int token;
    private final boolean classFrames;
    private final Weaver.Link link;
    private final List<Label[]> ranges = new ArrayList<>();
    private Label rangeStart;
    private boolean rangeHasCode;
    private boolean sawFrame;
    private boolean begun;

    /**
     * @param out where the woven method goes
     * @param epochField whether the epoch is read from the loader's epoch class ({@link Weaver.Link#of(int, boolean)})
     * @param entryName the readable name of a gated entry, {@code null} for an ungated section
     * @param token the method's {@code max_locals}: the token's slot
     */
    StreamingGuard(MethodVisitor out, int classVersion, String guardOwner, boolean epochField, String entryName, int token) {
        super(Opcodes.ASM9, out);
        this.guardOwner = guardOwner;
        this.entryName = entryName;
        this.token = token;
        this.classFrames = (classVersion & 0xFFFF) >= Opcodes.V1_7;
        this.link = Weaver.Link.of(classVersion, epochField);
    }

    /** Adds {@code @Guarded}; the section begins with the code (constructors: see {@link ConstructorGuard}). */
    @Override
    public void visitCode() {
        markGuarded(mv);
        super.visitCode();
        begin();
    }

    /** Adds the annotation woven methods carry. */
    static void markGuarded(MethodVisitor out) {
        org.objectweb.asm.AnnotationVisitor av = out.visitAnnotation(GuardPlan.GUARDED_DESC, true);
        if (av != null) {
            av.visitEnd();
        }
    }

    /** Enters the section here: enter, store the token, open the first range. */
    void begin() {
        Weaver.enterCall(mv, guardOwner, link, entryName);
        super.visitVarInsn(Opcodes.ISTORE, token);
        rangeStart = new Label();
        super.visitLabel(rangeStart);
        rangeHasCode = false;
        begun = true;
    }

    @Override
    public void visitFrame(int type, int numLocal, Object[] local, int numStack, Object[] stack) {
        sawFrame = true;
        if (begun) {
            Object[] withToken = Weaver.withToken(local, numLocal, token);
            super.visitFrame(type, withToken.length, withToken, numStack, stack);
        } else {
            super.visitFrame(type, numLocal, local, numStack, stack);
        }
    }

    @Override
    public void visitInsn(int opcode) {
        if (begun && opcode >= Opcodes.IRETURN && opcode <= Opcodes.RETURN) {
            Label end = new Label();
            super.visitLabel(end);
            closeRange(end);
            Weaver.exitCall(mv, guardOwner, link, token);
            super.visitInsn(opcode);
            rangeStart = new Label();
            super.visitLabel(rangeStart);
            return;
        }
        super.visitInsn(opcode);
        rangeHasCode = true;
    }

    private void closeRange(Label end) {
        if (rangeHasCode) {
            ranges.add(new Label[] {rangeStart, end});
        }
        rangeHasCode = false;
    }

    @Override
    public void visitMaxs(int maxStack, int maxLocals) {
        if (begun) {
            Label end = new Label();
            super.visitLabel(end);
            closeRange(end);
            if (!ranges.isEmpty()) {
                Label handler = new Label();
                super.visitLabel(handler);
                if (classFrames || sawFrame) {
                    Object[] locals = new Object[token + 1];
                    for (int i = 0; i < token; i++) {
                        locals[i] = Opcodes.TOP;
                    }
                    locals[token] = Opcodes.INTEGER;
                    super.visitFrame(Opcodes.F_NEW, locals.length, locals, 1, new Object[] {"java/lang/Throwable"});
                }
                super.visitVarInsn(Opcodes.ILOAD, token);
                super.visitMethodInsn(Opcodes.INVOKESTATIC, guardOwner, "unpin", "(Ljava/lang/Throwable;I)Ljava/lang/Throwable;", false);
                Weaver.exitCall(mv, guardOwner, link, token);
                super.visitInsn(Opcodes.ATHROW);
                for (Label[] r : ranges) {
                    super.visitTryCatchBlock(r[0], r[1], handler, null);
                }
            }
            super.visitMaxs(Math.max(maxStack + link.extraStack(), link.handlerStack()), token + 1);
        } else {
            super.visitMaxs(maxStack, maxLocals);
        }
    }

    // Every other instruction puts code into the current range.

    @Override
    public void visitIntInsn(int opcode, int operand) {
        super.visitIntInsn(opcode, operand);
        rangeHasCode = true;
    }

    @Override
    public void visitVarInsn(int opcode, int varIndex) {
        super.visitVarInsn(opcode, varIndex);
        rangeHasCode = true;
    }

    @Override
    public void visitTypeInsn(int opcode, String type) {
        super.visitTypeInsn(opcode, type);
        rangeHasCode = true;
    }

    @Override
    public void visitFieldInsn(int opcode, String owner, String name, String descriptor) {
        super.visitFieldInsn(opcode, owner, name, descriptor);
        rangeHasCode = true;
    }

    @Override
    public void visitMethodInsn(int opcode, String owner, String name, String descriptor, boolean isInterface) {
        super.visitMethodInsn(opcode, owner, name, descriptor, isInterface);
        rangeHasCode = true;
    }

    @Override
    public void visitInvokeDynamicInsn(String name, String descriptor, Handle bootstrapMethodHandle, Object... bootstrapMethodArguments) {
        super.visitInvokeDynamicInsn(name, descriptor, bootstrapMethodHandle, bootstrapMethodArguments);
        rangeHasCode = true;
    }

    @Override
    public void visitJumpInsn(int opcode, Label label) {
        super.visitJumpInsn(opcode, label);
        rangeHasCode = true;
    }

    @Override
    public void visitLdcInsn(Object value) {
        super.visitLdcInsn(value);
        rangeHasCode = true;
    }

    @Override
    public void visitIincInsn(int varIndex, int increment) {
        super.visitIincInsn(varIndex, increment);
        rangeHasCode = true;
    }

    @Override
    public void visitTableSwitchInsn(int min, int max, Label dflt, Label... labels) {
        super.visitTableSwitchInsn(min, max, dflt, labels);
        rangeHasCode = true;
    }

    @Override
    public void visitLookupSwitchInsn(Label dflt, int[] keys, Label[] labels) {
        super.visitLookupSwitchInsn(dflt, keys, labels);
        rangeHasCode = true;
    }

    @Override
    public void visitMultiANewArrayInsn(String descriptor, int numDimensions) {
        super.visitMultiANewArrayInsn(descriptor, numDimensions);
        rangeHasCode = true;
    }
}
