package dev.unloadguard.weave.internal;

import org.objectweb.asm.Handle;
import org.objectweb.asm.Label;
import org.objectweb.asm.MethodVisitor;
import org.objectweb.asm.Opcodes;
import org.objectweb.asm.tree.AbstractInsnNode;
import org.objectweb.asm.tree.LabelNode;
import org.objectweb.asm.tree.MethodNode;

/**
 * Weaves one constructor as it streams by: its section starts after the initializing call
 * ({@link ConstructorPrologue}). The code is recorded (as a {@link MethodNode} whose labels are
 * the reader's own) while the prologue is interpreted instruction by instruction
 * ({@link ConstructorPrologue.Linear}). At the initializing call of a straight-line prologue,
 * the recorded instructions are replayed to the writer, the section begins, and the rest streams
 * through a {@link StreamingGuard}. Anything else (a try range, a branch or a frame before the
 * call) keeps recording the whole constructor, which is then woven as a tree by
 * {@link Weaver#guard} (or left as it was if the call cannot be located for certain).
 */
final class ConstructorGuard extends MethodVisitor {

    private enum Mode { RECORDING, TREE, STREAMING }

    private final MethodVisitor out;
    private final int classVersion;
    private final String guardOwner;
    private final boolean epochField;
    private final String entryName;
    private final int token;
    private final Runnable notWoven;
    private final Recorder recorder;
    private final ConstructorPrologue.Linear prologue;
    private Mode mode = Mode.RECORDING;

    /**
     * @param maxs {@code max_stack} and {@code max_locals} of the constructor's code
     * @param notWoven called if the constructor is left as it was
     */
    ConstructorGuard(MethodVisitor out, int access, String name, String descriptor, String signature, String[] exceptions,
            int classVersion, String guardOwner, boolean epochField, String entryName, int[] maxs, Runnable notWoven) {
        super(Opcodes.ASM9, out);
        this.out = out;
        this.classVersion = classVersion;
        this.guardOwner = guardOwner;
        this.epochField = epochField;
        this.entryName = entryName;
        this.token = maxs[1];
        this.notWoven = notWoven;
        this.recorder = new Recorder(access, name, descriptor, signature, exceptions);
        this.prologue = new ConstructorPrologue.Linear(maxs[1], maxs[0]);
    }

    /** A method node that keeps the reader's labels, so recorded code can be replayed to the writer as it came. */
    private static final class Recorder extends MethodNode {
        Recorder(int access, String name, String descriptor, String signature, String[] exceptions) {
            super(Opcodes.ASM9, access, name, descriptor, signature, exceptions);
        }

        @Override
        protected LabelNode getLabelNode(Label label) {
            if (!(label.info instanceof LabelNode)) {
                label.info = new LabelNode(label);
            }
            return (LabelNode) label.info;
        }
    }

    @Override
    public void visitCode() {
        // Everything before the code (annotations, parameters) went to the writer; the code is recorded.
        mv = recorder;
        recorder.visitCode();
    }

    @Override
    public void visitTryCatchBlock(Label start, Label end, Label handler, String type) {
        super.visitTryCatchBlock(start, end, handler, type);
        if (mode == Mode.RECORDING) {
            mode = Mode.TREE; // a try range might cover the prologue
        }
    }

    @Override
    public void visitFrame(int type, int numLocal, Object[] local, int numStack, Object[] stack) {
        super.visitFrame(type, numLocal, local, numStack, stack);
        recorded();
    }

    @Override
    public void visitEnd() {
        if (mode == Mode.STREAMING) {
            super.visitEnd();
            return;
        }
        recorder.visitEnd();
        if (!Weaver.guard(recorder, classVersion, guardOwner, epochField, entryName)) {
            notWoven.run();
        }
        recorder.accept(out); // its annotations are @Guarded alone (the others went to the writer), then the code
    }

    /** After each recorded node: interpret it; at a straight-line prologue's initializing call, start streaming. */
    private void recorded() {
        if (mode != Mode.RECORDING) {
            return;
        }
        AbstractInsnNode last = recorder.instructions.getLast();
        int step = prologue.step(last);
        if (step == ConstructorPrologue.NOT_LINEAR) {
            mode = Mode.TREE;
        } else if (step == ConstructorPrologue.INITIALIZING_CALL) {
            StreamingGuard.markGuarded(out);
            out.visitCode();
            for (AbstractInsnNode insn = recorder.instructions.getFirst(); insn != null; insn = insn.getNext()) {
                insn.accept(out);
            }
            StreamingGuard stream = new StreamingGuard(out, classVersion, guardOwner, epochField, entryName, token);
            stream.begin();
            mv = stream;
            mode = Mode.STREAMING;
        }
    }

    @Override
    public void visitLabel(Label label) {
        super.visitLabel(label);
        recorded();
    }

    @Override
    public void visitInsn(int opcode) {
        super.visitInsn(opcode);
        recorded();
    }

    @Override
    public void visitIntInsn(int opcode, int operand) {
        super.visitIntInsn(opcode, operand);
        recorded();
    }

    @Override
    public void visitVarInsn(int opcode, int varIndex) {
        super.visitVarInsn(opcode, varIndex);
        recorded();
    }

    @Override
    public void visitTypeInsn(int opcode, String type) {
        super.visitTypeInsn(opcode, type);
        recorded();
    }

    @Override
    public void visitFieldInsn(int opcode, String owner, String name, String descriptor) {
        super.visitFieldInsn(opcode, owner, name, descriptor);
        recorded();
    }

    @Override
    public void visitMethodInsn(int opcode, String owner, String name, String descriptor, boolean isInterface) {
        super.visitMethodInsn(opcode, owner, name, descriptor, isInterface);
        recorded();
    }

    @Override
    public void visitInvokeDynamicInsn(String name, String descriptor, Handle bootstrapMethodHandle, Object... bootstrapMethodArguments) {
        super.visitInvokeDynamicInsn(name, descriptor, bootstrapMethodHandle, bootstrapMethodArguments);
        recorded();
    }

    @Override
    public void visitJumpInsn(int opcode, Label label) {
        super.visitJumpInsn(opcode, label);
        recorded();
    }

    @Override
    public void visitLdcInsn(Object value) {
        super.visitLdcInsn(value);
        recorded();
    }

    @Override
    public void visitIincInsn(int varIndex, int increment) {
        super.visitIincInsn(varIndex, increment);
        recorded();
    }

    @Override
    public void visitTableSwitchInsn(int min, int max, Label dflt, Label... labels) {
        super.visitTableSwitchInsn(min, max, dflt, labels);
        recorded();
    }

    @Override
    public void visitLookupSwitchInsn(Label dflt, int[] keys, Label[] labels) {
        super.visitLookupSwitchInsn(dflt, keys, labels);
        recorded();
    }

    @Override
    public void visitMultiANewArrayInsn(String descriptor, int numDimensions) {
        super.visitMultiANewArrayInsn(descriptor, numDimensions);
        recorded();
    }
}
