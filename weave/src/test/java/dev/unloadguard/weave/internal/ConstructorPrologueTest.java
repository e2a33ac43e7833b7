package dev.unloadguard.weave.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.objectweb.asm.Label;
import org.objectweb.asm.MethodVisitor;
import org.objectweb.asm.Opcodes;
import org.objectweb.asm.tree.AbstractInsnNode;
import org.objectweb.asm.tree.MethodInsnNode;
import org.objectweb.asm.tree.MethodNode;

/**
 * Where a constructor's {@code this} becomes initialized, on constructors built instruction by
 * instruction: the shapes javac emits (found), and shapes only other tools emit (found when
 * certain, else none: the weaver then leaves the constructor alone).
 */
class ConstructorPrologueTest {

    private static final String BASE = "a/Base";

    /** A constructor {@code (descriptor)} of {@code a/C} whose code {@code body} writes; maxima large enough. */
    private static MethodNode ctor(String descriptor, Consumer<MethodVisitor> body) {
        MethodNode m = new MethodNode(Opcodes.ASM9, Opcodes.ACC_PUBLIC, "<init>", descriptor, null, null);
        m.visitCode();
        body.accept(m);
        m.visitMaxs(8, 8);
        m.visitEnd();
        return m;
    }

    private static void superCall(MethodVisitor mv, String descriptor) {
        mv.visitMethodInsn(Opcodes.INVOKESPECIAL, BASE, "<init>", descriptor, false);
    }

    /** The {@code n}-th (from 0) {@code invokespecial <init>} of {@code m}. */
    private static MethodInsnNode initCall(MethodNode m, int n) {
        int seen = 0;
        for (AbstractInsnNode insn : m.instructions) {
            if (insn.getOpcode() == Opcodes.INVOKESPECIAL && ((MethodInsnNode) insn).name.equals("<init>") && seen++ == n) {
                return (MethodInsnNode) insn;
            }
        }
        throw new AssertionError("no init call " + n);
    }

    /** Steps {@link ConstructorPrologue.Linear} over the code: the answers, one per node, up to the first non-PROLOGUE. */
    private static List<Integer> linear(MethodNode m) {
        ConstructorPrologue.Linear l = new ConstructorPrologue.Linear(m.maxLocals, m.maxStack);
        List<Integer> answers = new ArrayList<>();
        for (AbstractInsnNode insn : m.instructions) {
            int a = l.step(insn);
            if (a != ConstructorPrologue.PROLOGUE) {
                answers.add(a);
                break;
            }
        }
        return answers;
    }

    @Test
    void theCommonShapeIsStraightLine() {
        MethodNode m = ctor("()V", mv -> {
            mv.visitVarInsn(Opcodes.ALOAD, 0);
            superCall(mv, "()V");
            mv.visitInsn(Opcodes.RETURN);
        });
        assertSame(initCall(m, 0), ConstructorPrologue.initializingCall(m));
        assertEquals(List.of(ConstructorPrologue.INITIALIZING_CALL), linear(m));
    }

    @Test
    void objectsMadeBeforeSuperAreNotThis() {
        // super(new X(), 2L): X's constructor is called first, on the new object.
        MethodNode m = ctor("()V", mv -> {
            mv.visitVarInsn(Opcodes.ALOAD, 0);
            mv.visitTypeInsn(Opcodes.NEW, "a/X");
            mv.visitInsn(Opcodes.DUP);
            mv.visitMethodInsn(Opcodes.INVOKESPECIAL, "a/X", "<init>", "()V", false);
            mv.visitLdcInsn(2L);
            superCall(mv, "(La/X;J)V");
            mv.visitInsn(Opcodes.RETURN);
        });
        assertSame(initCall(m, 1), ConstructorPrologue.initializingCall(m));
        assertEquals(List.of(ConstructorPrologue.INITIALIZING_CALL), linear(m), "straight line, the second call");
    }

    @Test
    void innerClassesStoreTheOuterInstanceBeforeSuper() {
        MethodNode m = ctor("(La/Outer;)V", mv -> {
            mv.visitVarInsn(Opcodes.ALOAD, 0);
            mv.visitVarInsn(Opcodes.ALOAD, 1);
            mv.visitFieldInsn(Opcodes.PUTFIELD, "a/C", "this$0", "La/Outer;");
            mv.visitVarInsn(Opcodes.ALOAD, 0);
            mv.visitInsn(Opcodes.DUP);
            mv.visitInsn(Opcodes.POP);
            superCall(mv, "()V");
            mv.visitInsn(Opcodes.RETURN);
        });
        assertSame(initCall(m, 0), ConstructorPrologue.initializingCall(m));
        assertEquals(List.of(ConstructorPrologue.INITIALIZING_CALL), linear(m));
    }

    @Test
    void wideArgumentsAndStackShufflesAreFollowed() {
        // aload_0; lload_1; dconst_1; dup2_x2; pop2; invokespecial (JD)V: the receiver is 4 slots down.
        MethodNode m = ctor("(J)V", mv -> {
            mv.visitVarInsn(Opcodes.ALOAD, 0);
            mv.visitVarInsn(Opcodes.LLOAD, 1);
            mv.visitInsn(Opcodes.DCONST_1);
            mv.visitInsn(Opcodes.DUP2_X2);
            mv.visitInsn(Opcodes.POP2);
            superCall(mv, "(JD)V");
            mv.visitInsn(Opcodes.RETURN);
        });
        assertSame(initCall(m, 0), ConstructorPrologue.initializingCall(m));
    }

    @Test
    void thisThroughAnotherLocalAndDelegationToThisAreFound() {
        MethodNode m = ctor("()V", mv -> {
            mv.visitVarInsn(Opcodes.ALOAD, 0);
            mv.visitVarInsn(Opcodes.ASTORE, 1);
            mv.visitVarInsn(Opcodes.ALOAD, 1);
            mv.visitInsn(Opcodes.ICONST_1);
            mv.visitMethodInsn(Opcodes.INVOKESPECIAL, "a/C", "<init>", "(I)V", false); // this(1)
            mv.visitInsn(Opcodes.RETURN);
        });
        assertSame(initCall(m, 0), ConstructorPrologue.initializingCall(m));
    }

    @Test
    void branchesAndLoopsBeforeSuperAreInterpretedAsTheVerifierWould() {
        // super(flag ? new X() : null)
        MethodNode ternary = ctor("(Z)V", mv -> {
            Label no = new Label();
            Label join = new Label();
            mv.visitVarInsn(Opcodes.ALOAD, 0);
            mv.visitVarInsn(Opcodes.ILOAD, 1);
            mv.visitJumpInsn(Opcodes.IFEQ, no);
            mv.visitTypeInsn(Opcodes.NEW, "a/X");
            mv.visitInsn(Opcodes.DUP);
            mv.visitMethodInsn(Opcodes.INVOKESPECIAL, "a/X", "<init>", "()V", false);
            mv.visitJumpInsn(Opcodes.GOTO, join);
            mv.visitLabel(no);
            mv.visitInsn(Opcodes.ACONST_NULL);
            mv.visitLabel(join);
            superCall(mv, "(La/X;)V");
            mv.visitInsn(Opcodes.RETURN);
        });
        assertSame(initCall(ternary, 1), ConstructorPrologue.initializingCall(ternary));
        assertEquals(List.of(ConstructorPrologue.NOT_LINEAR), linear(ternary), "a branch: the whole method is analyzed");

        // int i = 0; while (i < n) i++; super(i) (a flexible constructor body, javac 25)
        MethodNode loop = ctor("(I)V", mv -> {
            Label head = new Label();
            Label done = new Label();
            mv.visitInsn(Opcodes.ICONST_0);
            mv.visitVarInsn(Opcodes.ISTORE, 2);
            mv.visitLabel(head);
            mv.visitVarInsn(Opcodes.ILOAD, 2);
            mv.visitVarInsn(Opcodes.ILOAD, 1);
            mv.visitJumpInsn(Opcodes.IF_ICMPGE, done);
            mv.visitIincInsn(2, 1);
            mv.visitJumpInsn(Opcodes.GOTO, head);
            mv.visitLabel(done);
            mv.visitVarInsn(Opcodes.ALOAD, 0);
            mv.visitVarInsn(Opcodes.ILOAD, 2);
            superCall(mv, "(I)V");
            mv.visitInsn(Opcodes.RETURN);
        });
        assertSame(initCall(loop, 0), ConstructorPrologue.initializingCall(loop));
    }

    @Test
    void bodiesWithTheirOwnTryCatchAfterSuperAreFine() {
        MethodNode m = ctor("()V", mv -> {
            Label start = new Label();
            Label end = new Label();
            Label handler = new Label();
            Label after = new Label();
            mv.visitTryCatchBlock(start, end, handler, "java/lang/RuntimeException");
            mv.visitVarInsn(Opcodes.ALOAD, 0);
            superCall(mv, "()V");
            mv.visitLabel(start);
            mv.visitMethodInsn(Opcodes.INVOKESTATIC, "a/C", "work", "()V", false);
            mv.visitLabel(end);
            mv.visitJumpInsn(Opcodes.GOTO, after);
            mv.visitLabel(handler);
            mv.visitInsn(Opcodes.POP);
            mv.visitLabel(after);
            mv.visitInsn(Opcodes.RETURN);
        });
        assertSame(initCall(m, 0), ConstructorPrologue.initializingCall(m));
    }

    @Test
    void uncertainShapesAnswerNone() {
        // Two initializing calls, one per branch.
        MethodNode twoCalls = ctor("(Z)V", mv -> {
            Label other = new Label();
            Label join = new Label();
            mv.visitVarInsn(Opcodes.ILOAD, 1);
            mv.visitJumpInsn(Opcodes.IFEQ, other);
            mv.visitVarInsn(Opcodes.ALOAD, 0);
            superCall(mv, "()V");
            mv.visitJumpInsn(Opcodes.GOTO, join);
            mv.visitLabel(other);
            mv.visitVarInsn(Opcodes.ALOAD, 0);
            superCall(mv, "()V");
            mv.visitLabel(join);
            mv.visitInsn(Opcodes.RETURN);
        });
        assertNull(ConstructorPrologue.initializingCall(twoCalls));

        // A try range covering the call and the body.
        MethodNode covered = ctor("()V", mv -> {
            Label start = new Label();
            Label end = new Label();
            Label handler = new Label();
            mv.visitTryCatchBlock(start, end, handler, null);
            mv.visitLabel(start);
            mv.visitVarInsn(Opcodes.ALOAD, 0);
            superCall(mv, "()V");
            mv.visitMethodInsn(Opcodes.INVOKESTATIC, "a/C", "work", "()V", false);
            mv.visitLabel(end);
            mv.visitInsn(Opcodes.RETURN);
            mv.visitLabel(handler);
            mv.visitInsn(Opcodes.ATHROW);
        });
        assertNull(ConstructorPrologue.initializingCall(covered));

        // The prologue laid out after the body: goto prologue; body: return; prologue: super(); goto body.
        MethodNode reordered = ctor("()V", mv -> {
            Label body = new Label();
            Label prologue = new Label();
            mv.visitJumpInsn(Opcodes.GOTO, prologue);
            mv.visitLabel(body);
            mv.visitInsn(Opcodes.RETURN);
            mv.visitLabel(prologue);
            mv.visitVarInsn(Opcodes.ALOAD, 0);
            superCall(mv, "()V");
            mv.visitJumpInsn(Opcodes.GOTO, body);
        });
        assertNull(ConstructorPrologue.initializingCall(reordered));

        // A subroutine before the call (class files before Java 6).
        MethodNode jsr = ctor("()V", mv -> {
            Label sub = new Label();
            Label call = new Label();
            mv.visitJumpInsn(Opcodes.JSR, sub);
            mv.visitJumpInsn(Opcodes.GOTO, call);
            mv.visitLabel(sub);
            mv.visitVarInsn(Opcodes.ASTORE, 1);
            mv.visitVarInsn(Opcodes.RET, 1);
            mv.visitLabel(call);
            mv.visitVarInsn(Opcodes.ALOAD, 0);
            superCall(mv, "()V");
            mv.visitInsn(Opcodes.RETURN);
        });
        assertNull(ConstructorPrologue.initializingCall(jsr));

        // Malformed: the receiver is missing (stack underflow); and a prologue that never calls.
        MethodNode underflow = ctor("()V", mv -> {
            superCall(mv, "()V");
            mv.visitInsn(Opcodes.RETURN);
        });
        assertNull(ConstructorPrologue.initializingCall(underflow));
        assertEquals(List.of(ConstructorPrologue.NOT_LINEAR), linear(underflow));
        MethodNode throwsOnly = ctor("()V", mv -> {
            mv.visitTypeInsn(Opcodes.NEW, "java/lang/IllegalStateException");
            mv.visitInsn(Opcodes.DUP);
            mv.visitMethodInsn(Opcodes.INVOKESPECIAL, "java/lang/IllegalStateException", "<init>", "()V", false);
            mv.visitInsn(Opcodes.ATHROW);
        });
        assertNull(ConstructorPrologue.initializingCall(throwsOnly));
    }
}
