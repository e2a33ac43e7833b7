package dev.unloadguard.weave.internal;

import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.objectweb.asm.Opcodes;
import org.objectweb.asm.Type;
import org.objectweb.asm.tree.AbstractInsnNode;
import org.objectweb.asm.tree.FieldInsnNode;
import org.objectweb.asm.tree.InsnList;
import org.objectweb.asm.tree.InvokeDynamicInsnNode;
import org.objectweb.asm.tree.JumpInsnNode;
import org.objectweb.asm.tree.LabelNode;
import org.objectweb.asm.tree.LdcInsnNode;
import org.objectweb.asm.tree.LookupSwitchInsnNode;
import org.objectweb.asm.tree.MethodInsnNode;
import org.objectweb.asm.tree.MethodNode;
import org.objectweb.asm.tree.MultiANewArrayInsnNode;
import org.objectweb.asm.tree.TableSwitchInsnNode;
import org.objectweb.asm.tree.TryCatchBlockNode;
import org.objectweb.asm.tree.VarInsnNode;

/**
 * Finds where a constructor's {@code this} becomes initialized: the one {@code invokespecial
 * <init>} (of the superclass, or of the class itself for {@code this(...)}) whose receiver is the
 * uninitialized {@code this}. The weaver enters the section right after it, because the verifier
 * refuses an exception handler whose range covers code where {@code this} is uninitialized
 * (unless the handler's frame says so, and then the handler could not use {@code this} nor return).
 *
 * <h2>Algorithm</h2>
 * A small abstract interpretation of the code before that call (the prologue), in the manner of
 * the verifier but tracking one bit per stack slot and local: "is the uninitialized {@code this}".
 * It starts at the first instruction with {@code this} in local 0 and an empty stack and walks the
 * instructions, following jumps, switches and the handlers of the try ranges it passes through
 * (with a stack of one non-{@code this} value); a path ends at a return or {@code athrow}, or at
 * an {@code invokespecial <init>} whose receiver slot holds {@code this} (an initializing call:
 * recorded, not followed). A state is saved at each label reached; reaching a label again with
 * the same state ends the path, with another state the analysis gives up (valid code never merges
 * an uninitialized {@code this} with anything else). Only the prologue is interpreted: usually
 * {@code aload_0; invokespecial}, a handful of instructions.
 *
 * <p>The answer is used only when it is certain: exactly one initializing call, every instruction
 * interpreted (the prologue) lies before it in the code, and no jump, switch or try range of the
 * code after it leads before it (so the code after it is reached only through it, and {@code this}
 * is initialized everywhere there). Otherwise (code no Java compiler emits: several initializing
 * calls, {@code jsr} in a prologue, a prologue laid out after the body) the answer is "none", and
 * the weaver leaves the constructor as it is: not a section.
 */
final class ConstructorPrologue {

    private static final byte OTHER = 0;
    private static final byte THIS = 1;

    /** {@link Linear#step}: an instruction of the prologue, interpreted. */
    static final int PROLOGUE = 0;
    /** {@link Linear#step}: the initializing call. */
    static final int INITIALIZING_CALL = 1;
    /** {@link Linear#step}: not straight-line code (or malformed): the whole method must be analyzed. */
    static final int NOT_LINEAR = -1;

    private ConstructorPrologue() {
    }

    /**
     * The same interpretation one instruction at a time as the code streams by, for the common
     * case of a straight-line prologue ({@code aload_0; ...; invokespecial}): any jump, switch,
     * return, {@code athrow}, {@code jsr}/{@code ret} or stack map frame (a merge point) before the
     * initializing call answers {@link #NOT_LINEAR}, and the caller falls back to
     * {@link #initializingCall} on the whole method. The caller must also fall back if the method
     * has a try range (one could cover the prologue). Code after a straight-line prologue cannot
     * lead back into it (the verifier's frames at such a merge would differ in {@code this}), so the
     * first {@link #INITIALIZING_CALL} is the answer.
     */
    static final class Linear {
        private final State state;

        Linear(int maxLocals, int maxStack) {
            state = new State(Math.max(maxLocals, 1), maxStack);
            state.locals[0] = THIS;
        }

        /** Interprets {@code insn}, the next node of the code: {@link #PROLOGUE}, {@link #INITIALIZING_CALL} or {@link #NOT_LINEAR}. */
        int step(AbstractInsnNode insn) {
            int op = insn.getOpcode();
            if (insn instanceof org.objectweb.asm.tree.FrameNode) {
                return NOT_LINEAR;
            }
            if (op < 0) {
                return PROLOGUE; // labels (a jump to one would be a jump instruction first), line numbers
            }
            try {
                switch (op) {
                    case Opcodes.IRETURN: case Opcodes.LRETURN: case Opcodes.FRETURN: case Opcodes.DRETURN:
                    case Opcodes.ARETURN: case Opcodes.RETURN: case Opcodes.ATHROW: case Opcodes.JSR: case Opcodes.RET:
                    case Opcodes.TABLESWITCH: case Opcodes.LOOKUPSWITCH:
                        return NOT_LINEAR;
                    default:
                        if (insn instanceof JumpInsnNode) {
                            return NOT_LINEAR;
                        }
                        if (op == Opcodes.INVOKESPECIAL && ((MethodInsnNode) insn).name.equals("<init>")
                                && state.stack[state.top - argumentSlots(((MethodInsnNode) insn).desc) - 1] == THIS) {
                            return INITIALIZING_CALL;
                        }
                        execute(insn, state);
                        return PROLOGUE;
                }
            } catch (RuntimeException e) {
                return NOT_LINEAR; // a stack underflow, a local out of range: malformed
            }
        }
    }

    /** The initializing call of constructor {@code m}, or {@code null} if it cannot be located for certain. */
    static MethodInsnNode initializingCall(MethodNode m) {
        try {
            return new Walk(m).run();
        } catch (RuntimeException e) {
            // Malformed code (a stack underflow, a local out of range): leave the constructor alone.
            return null;
        }
    }

    /** One analysis. */
    private static final class Walk {
        private final MethodNode method;
        private final InsnList code;
        private final Map<LabelNode, State> atLabel = new HashMap<>();
        private final ArrayDeque<Object[]> pending = new ArrayDeque<>(); // {index, State}
        private MethodInsnNode found;
        private int maxInterpreted = -1;

        Walk(MethodNode method) {
            this.method = method;
            this.code = method.instructions;
        }

        MethodInsnNode run() {
            State start = new State(Math.max(method.maxLocals, 1), method.maxStack);
            start.locals[0] = THIS;
            pending.add(new Object[] {0, start});
            while (!pending.isEmpty()) {
                Object[] next = pending.poll();
                if (!path((Integer) next[0], (State) next[1])) {
                    return null;
                }
            }
            if (found == null) {
                return null;
            }
            int at = code.indexOf(found);
            if (maxInterpreted > at) {
                return null; // part of the prologue lies after the call
            }
            return leavesAfter(at) ? null : found;
        }

        /** Whether code after {@code at} jumps, switches or has a handler before it. */
        private boolean leavesAfter(int at) {
            for (AbstractInsnNode insn = found.getNext(); insn != null; insn = insn.getNext()) {
                if (insn instanceof JumpInsnNode) {
                    if (code.indexOf(((JumpInsnNode) insn).label) <= at) {
                        return true;
                    }
                } else if (insn instanceof TableSwitchInsnNode) {
                    TableSwitchInsnNode s = (TableSwitchInsnNode) insn;
                    if (before(s.dflt, s.labels, at)) {
                        return true;
                    }
                } else if (insn instanceof LookupSwitchInsnNode) {
                    LookupSwitchInsnNode s = (LookupSwitchInsnNode) insn;
                    if (before(s.dflt, s.labels, at)) {
                        return true;
                    }
                }
            }
            for (TryCatchBlockNode tcb : method.tryCatchBlocks) {
                int start = code.indexOf(tcb.start);
                int end = code.indexOf(tcb.end);
                int handler = code.indexOf(tcb.handler);
                boolean coversAfter = end > at + 1;
                boolean coversBefore = start <= at;
                if (coversAfter && (coversBefore || handler <= at)) {
                    return true;
                }
            }
            return false;
        }

        private boolean before(LabelNode dflt, List<LabelNode> labels, int at) {
            if (code.indexOf(dflt) <= at) {
                return true;
            }
            for (LabelNode l : labels) {
                if (code.indexOf(l) <= at) {
                    return true;
                }
            }
            return false;
        }

        /** Interprets one path from instruction {@code index}; {@code false} to give up. */
        private boolean path(int index, State s) {
            for (AbstractInsnNode insn = code.get(index); insn != null; insn = insn.getNext()) {
                if (insn instanceof LabelNode) {
                    State seen = atLabel.get(insn);
                    if (seen != null) {
                        return seen.equals(s);
                    }
                    atLabel.put((LabelNode) insn, s.copy());
                    continue;
                }
                int op = insn.getOpcode();
                if (op < 0) {
                    continue; // line numbers, frames
                }
                maxInterpreted = Math.max(maxInterpreted, code.indexOf(insn));
                handlers(insn, s);
                if (op == Opcodes.INVOKESPECIAL && ((MethodInsnNode) insn).name.equals("<init>")) {
                    MethodInsnNode call = (MethodInsnNode) insn;
                    int receiver = s.top - argumentSlots(call.desc) - 1;
                    if (s.stack[receiver] == THIS) {
                        if (found != null && found != call) {
                            return false; // a second initializing call
                        }
                        found = call;
                        return true;
                    }
                }
                switch (op) {
                    case Opcodes.IRETURN: case Opcodes.LRETURN: case Opcodes.FRETURN: case Opcodes.DRETURN:
                    case Opcodes.ARETURN: case Opcodes.RETURN: case Opcodes.ATHROW:
                        return true;
                    case Opcodes.JSR: case Opcodes.RET:
                        return false;
                    case Opcodes.GOTO:
                        branch(((JumpInsnNode) insn).label, s);
                        return true;
                    case Opcodes.TABLESWITCH: {
                        s.pop(1);
                        TableSwitchInsnNode t = (TableSwitchInsnNode) insn;
                        branch(t.dflt, s);
                        t.labels.forEach(l -> branch(l, s));
                        return true;
                    }
                    case Opcodes.LOOKUPSWITCH: {
                        s.pop(1);
                        LookupSwitchInsnNode t = (LookupSwitchInsnNode) insn;
                        branch(t.dflt, s);
                        t.labels.forEach(l -> branch(l, s));
                        return true;
                    }
                    default:
                        execute(insn, s);
                        if (insn instanceof JumpInsnNode) { // conditional: the stack was popped by execute
                            branch(((JumpInsnNode) insn).label, s);
                        }
                }
            }
            return true; // fell off the end: malformed, nothing found on this path
        }

        private void branch(LabelNode target, State s) {
            pending.add(new Object[] {code.indexOf(target), s.copy()});
        }

        /** Queues the handlers of the try ranges covering {@code insn}, with the locals of {@code s}. */
        private void handlers(AbstractInsnNode insn, State s) {
            if (method.tryCatchBlocks == null || method.tryCatchBlocks.isEmpty()) {
                return;
            }
            int at = code.indexOf(insn);
            for (TryCatchBlockNode tcb : method.tryCatchBlocks) {
                if (code.indexOf(tcb.start) <= at && at < code.indexOf(tcb.end)) {
                    State h = new State(s.locals.length, s.stack.length);
                    System.arraycopy(s.locals, 0, h.locals, 0, s.locals.length);
                    h.push(OTHER);
                    pending.add(new Object[] {code.indexOf(tcb.handler), h});
                }
            }
        }
    }

    private static int argumentSlots(String descriptor) {
        return (Type.getArgumentsAndReturnSizes(descriptor) >> 2) - 1;
    }

    private static int returnSlots(String descriptor) {
        return Type.getArgumentsAndReturnSizes(descriptor) & 3;
    }

    /** The stack effect of one instruction that neither ends a path nor is an initializing call. */
    private static void execute(AbstractInsnNode insn, State s) {
        int op = insn.getOpcode();
        switch (op) {
            case Opcodes.NOP:
                break;
            case Opcodes.ACONST_NULL: case Opcodes.ICONST_M1: case Opcodes.ICONST_0: case Opcodes.ICONST_1:
            case Opcodes.ICONST_2: case Opcodes.ICONST_3: case Opcodes.ICONST_4: case Opcodes.ICONST_5:
            case Opcodes.FCONST_0: case Opcodes.FCONST_1: case Opcodes.FCONST_2: case Opcodes.BIPUSH:
            case Opcodes.SIPUSH: case Opcodes.NEW:
                s.push(OTHER);
                break;
            case Opcodes.LCONST_0: case Opcodes.LCONST_1: case Opcodes.DCONST_0: case Opcodes.DCONST_1:
                s.push(OTHER);
                s.push(OTHER);
                break;
            case Opcodes.LDC: {
                Object c = ((LdcInsnNode) insn).cst;
                int size = c instanceof Long || c instanceof Double
                        || c instanceof org.objectweb.asm.ConstantDynamic && ((org.objectweb.asm.ConstantDynamic) c).getSize() == 2 ? 2 : 1;
                for (int i = 0; i < size; i++) {
                    s.push(OTHER);
                }
                break;
            }
            case Opcodes.ILOAD: case Opcodes.FLOAD:
                s.push(OTHER);
                break;
            case Opcodes.LLOAD: case Opcodes.DLOAD:
                s.push(OTHER);
                s.push(OTHER);
                break;
            case Opcodes.ALOAD:
                s.push(s.locals[((VarInsnNode) insn).var]);
                break;
            case Opcodes.ISTORE: case Opcodes.FSTORE:
                s.pop(1);
                s.locals[((VarInsnNode) insn).var] = OTHER;
                break;
            case Opcodes.ASTORE:
                s.locals[((VarInsnNode) insn).var] = s.stack[--s.top];
                break;
            case Opcodes.LSTORE: case Opcodes.DSTORE: {
                s.pop(2);
                int var = ((VarInsnNode) insn).var;
                s.locals[var] = OTHER;
                s.locals[var + 1] = OTHER;
                break;
            }
            case Opcodes.IALOAD: case Opcodes.FALOAD: case Opcodes.AALOAD: case Opcodes.BALOAD: case Opcodes.CALOAD:
            case Opcodes.SALOAD:
                s.pop(2);
                s.push(OTHER);
                break;
            case Opcodes.LALOAD: case Opcodes.DALOAD:
                s.pop(2);
                s.push(OTHER);
                s.push(OTHER);
                break;
            case Opcodes.IASTORE: case Opcodes.FASTORE: case Opcodes.AASTORE: case Opcodes.BASTORE: case Opcodes.CASTORE:
            case Opcodes.SASTORE:
                s.pop(3);
                break;
            case Opcodes.LASTORE: case Opcodes.DASTORE:
                s.pop(4);
                break;
            case Opcodes.POP:
                s.pop(1);
                break;
            case Opcodes.POP2:
                s.pop(2);
                break;
            case Opcodes.DUP:
                dup(s, 1, 0);
                break;
            case Opcodes.DUP_X1:
                dup(s, 1, 1);
                break;
            case Opcodes.DUP_X2:
                dup(s, 1, 2);
                break;
            case Opcodes.DUP2:
                dup(s, 2, 0);
                break;
            case Opcodes.DUP2_X1:
                dup(s, 2, 1);
                break;
            case Opcodes.DUP2_X2:
                dup(s, 2, 2);
                break;
            case Opcodes.SWAP: {
                byte v1 = s.stack[s.top - 1];
                s.stack[s.top - 1] = s.stack[s.top - 2];
                s.stack[s.top - 2] = v1;
                break;
            }
            case Opcodes.IADD: case Opcodes.ISUB: case Opcodes.IMUL: case Opcodes.IDIV: case Opcodes.IREM:
            case Opcodes.ISHL: case Opcodes.ISHR: case Opcodes.IUSHR: case Opcodes.IAND: case Opcodes.IOR: case Opcodes.IXOR:
            case Opcodes.FADD: case Opcodes.FSUB: case Opcodes.FMUL: case Opcodes.FDIV: case Opcodes.FREM:
            case Opcodes.FCMPL: case Opcodes.FCMPG:
                s.pop(2);
                s.push(OTHER);
                break;
            case Opcodes.LADD: case Opcodes.LSUB: case Opcodes.LMUL: case Opcodes.LDIV: case Opcodes.LREM:
            case Opcodes.LAND: case Opcodes.LOR: case Opcodes.LXOR:
            case Opcodes.DADD: case Opcodes.DSUB: case Opcodes.DMUL: case Opcodes.DDIV: case Opcodes.DREM:
                s.pop(4);
                s.push(OTHER);
                s.push(OTHER);
                break;
            case Opcodes.LSHL: case Opcodes.LSHR: case Opcodes.LUSHR:
                s.pop(3);
                s.push(OTHER);
                s.push(OTHER);
                break;
            case Opcodes.LCMP: case Opcodes.DCMPL: case Opcodes.DCMPG:
                s.pop(4);
                s.push(OTHER);
                break;
            case Opcodes.INEG: case Opcodes.FNEG: case Opcodes.I2F: case Opcodes.F2I: case Opcodes.I2B: case Opcodes.I2C:
            case Opcodes.I2S: case Opcodes.ARRAYLENGTH: case Opcodes.NEWARRAY: case Opcodes.ANEWARRAY:
            case Opcodes.CHECKCAST: case Opcodes.INSTANCEOF:
                s.pop(1);
                s.push(OTHER);
                break;
            case Opcodes.LNEG: case Opcodes.DNEG: case Opcodes.L2D: case Opcodes.D2L:
                s.pop(2);
                s.push(OTHER);
                s.push(OTHER);
                break;
            case Opcodes.I2L: case Opcodes.I2D: case Opcodes.F2L: case Opcodes.F2D:
                s.pop(1);
                s.push(OTHER);
                s.push(OTHER);
                break;
            case Opcodes.L2I: case Opcodes.L2F: case Opcodes.D2I: case Opcodes.D2F:
                s.pop(2);
                s.push(OTHER);
                break;
            case Opcodes.IINC:
                break;
            case Opcodes.IFEQ: case Opcodes.IFNE: case Opcodes.IFLT: case Opcodes.IFGE: case Opcodes.IFGT: case Opcodes.IFLE:
            case Opcodes.IFNULL: case Opcodes.IFNONNULL: case Opcodes.MONITORENTER: case Opcodes.MONITOREXIT:
                s.pop(1);
                break;
            case Opcodes.IF_ICMPEQ: case Opcodes.IF_ICMPNE: case Opcodes.IF_ICMPLT: case Opcodes.IF_ICMPGE:
            case Opcodes.IF_ICMPGT: case Opcodes.IF_ICMPLE: case Opcodes.IF_ACMPEQ: case Opcodes.IF_ACMPNE:
                s.pop(2);
                break;
            case Opcodes.GETSTATIC:
                s.pushSlots(Type.getType(((FieldInsnNode) insn).desc).getSize());
                break;
            case Opcodes.PUTSTATIC:
                s.pop(Type.getType(((FieldInsnNode) insn).desc).getSize());
                break;
            case Opcodes.GETFIELD:
                s.pop(1);
                s.pushSlots(Type.getType(((FieldInsnNode) insn).desc).getSize());
                break;
            case Opcodes.PUTFIELD:
                s.pop(1 + Type.getType(((FieldInsnNode) insn).desc).getSize());
                break;
            case Opcodes.INVOKEVIRTUAL: case Opcodes.INVOKESPECIAL: case Opcodes.INVOKEINTERFACE: {
                String desc = ((MethodInsnNode) insn).desc;
                s.pop(argumentSlots(desc) + 1);
                s.pushSlots(returnSlots(desc));
                break;
            }
            case Opcodes.INVOKESTATIC: {
                String desc = ((MethodInsnNode) insn).desc;
                s.pop(argumentSlots(desc));
                s.pushSlots(returnSlots(desc));
                break;
            }
            case Opcodes.INVOKEDYNAMIC: {
                String desc = ((InvokeDynamicInsnNode) insn).desc;
                s.pop(argumentSlots(desc));
                s.pushSlots(returnSlots(desc));
                break;
            }
            case Opcodes.MULTIANEWARRAY:
                s.pop(((MultiANewArrayInsnNode) insn).dims);
                s.push(OTHER);
                break;
            default:
                throw new IllegalArgumentException("opcode " + op);
        }
    }

    /**
     * The DUP family on slots: copies the top {@code copied} slots (DUP: 1, DUP2: 2) and inserts the
     * copy below the {@code under} slots beneath them (_X1: 1, _X2: 2), so {@code ..., w, v} becomes
     * {@code ..., v, w, v} with {@code v} the copied and {@code w} the skipped slots.
     */
    private static void dup(State s, int copied, int under) {
        byte[] moved = Arrays.copyOfRange(s.stack, s.top - copied - under, s.top);
        s.top -= moved.length;
        for (int i = under; i < moved.length; i++) {
            s.push(moved[i]);
        }
        for (byte v : moved) {
            s.push(v);
        }
    }

    /** Stack and locals, one byte per slot: {@link #THIS} or {@link #OTHER}. */
    private static final class State {
        final byte[] locals;
        final byte[] stack;
        int top;

        State(int locals, int stack) {
            this.locals = new byte[locals];
            this.stack = new byte[Math.max(stack, 1)];
        }

        State copy() {
            State c = new State(locals.length, stack.length);
            System.arraycopy(locals, 0, c.locals, 0, locals.length);
            System.arraycopy(stack, 0, c.stack, 0, top);
            c.top = top;
            return c;
        }

        void push(byte v) {
            stack[top++] = v;
        }

        void pushSlots(int n) {
            for (int i = 0; i < n; i++) {
                push(OTHER);
            }
        }

        void pop(int n) {
            top -= n;
            if (top < 0) {
                throw new IllegalStateException("stack underflow");
            }
        }

        @Override
        public boolean equals(Object o) {
            if (!(o instanceof State)) {
                return false;
            }
            State other = (State) o;
            return top == other.top && Arrays.equals(locals, other.locals)
                    && Arrays.equals(stack, 0, top, other.stack, 0, top);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(locals) * 31 + top;
        }
    }
}
