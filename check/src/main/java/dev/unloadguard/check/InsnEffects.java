package dev.unloadguard.check;

import org.objectweb.asm.Opcodes;

/**
 * Operand-stack effects of the zero-operand instructions, in slots (long and double take two):
 * {@code pops << 4 | pushes}, or -1 for those the caller handles itself (the {@code DUP} family,
 * {@code SWAP}) or does not model.
 */
final class InsnEffects {

    private static final int[] EFFECTS = new int[256];

    static {
        java.util.Arrays.fill(EFFECTS, -1);
        set(0, 0, Opcodes.NOP, Opcodes.RETURN);
        set(0, 1, Opcodes.ACONST_NULL, Opcodes.ICONST_M1, Opcodes.ICONST_0, Opcodes.ICONST_1, Opcodes.ICONST_2,
                Opcodes.ICONST_3, Opcodes.ICONST_4, Opcodes.ICONST_5, Opcodes.FCONST_0, Opcodes.FCONST_1, Opcodes.FCONST_2);
        set(0, 2, Opcodes.LCONST_0, Opcodes.LCONST_1, Opcodes.DCONST_0, Opcodes.DCONST_1);
        set(2, 1, Opcodes.IALOAD, Opcodes.FALOAD, Opcodes.AALOAD, Opcodes.BALOAD, Opcodes.CALOAD, Opcodes.SALOAD);
        set(2, 2, Opcodes.LALOAD, Opcodes.DALOAD);
        set(3, 0, Opcodes.IASTORE, Opcodes.FASTORE, Opcodes.AASTORE, Opcodes.BASTORE, Opcodes.CASTORE, Opcodes.SASTORE);
        set(4, 0, Opcodes.LASTORE, Opcodes.DASTORE);
        set(1, 0, Opcodes.POP, Opcodes.IRETURN, Opcodes.FRETURN, Opcodes.ARETURN, Opcodes.ATHROW,
                Opcodes.MONITORENTER, Opcodes.MONITOREXIT);
        set(2, 0, Opcodes.POP2, Opcodes.LRETURN, Opcodes.DRETURN);
        set(2, 1, Opcodes.IADD, Opcodes.FADD, Opcodes.ISUB, Opcodes.FSUB, Opcodes.IMUL, Opcodes.FMUL, Opcodes.IDIV,
                Opcodes.FDIV, Opcodes.IREM, Opcodes.FREM, Opcodes.ISHL, Opcodes.ISHR, Opcodes.IUSHR, Opcodes.IAND,
                Opcodes.IOR, Opcodes.IXOR, Opcodes.FCMPL, Opcodes.FCMPG);
        set(4, 2, Opcodes.LADD, Opcodes.DADD, Opcodes.LSUB, Opcodes.DSUB, Opcodes.LMUL, Opcodes.DMUL, Opcodes.LDIV,
                Opcodes.DDIV, Opcodes.LREM, Opcodes.DREM, Opcodes.LAND, Opcodes.LOR, Opcodes.LXOR);
        set(3, 2, Opcodes.LSHL, Opcodes.LSHR, Opcodes.LUSHR);
        set(1, 1, Opcodes.INEG, Opcodes.FNEG, Opcodes.I2F, Opcodes.F2I, Opcodes.I2B, Opcodes.I2C, Opcodes.I2S,
                Opcodes.ARRAYLENGTH);
        set(2, 2, Opcodes.LNEG, Opcodes.DNEG, Opcodes.L2D, Opcodes.D2L);
        set(1, 2, Opcodes.I2L, Opcodes.I2D, Opcodes.F2L, Opcodes.F2D);
        set(2, 1, Opcodes.L2I, Opcodes.L2F, Opcodes.D2I, Opcodes.D2F);
        set(4, 1, Opcodes.LCMP, Opcodes.DCMPL, Opcodes.DCMPG);
    }

    private InsnEffects() {
    }

    private static void set(int pops, int pushes, int... opcodes) {
        for (int op : opcodes) {
            EFFECTS[op] = pops << 4 | pushes;
        }
    }

    /** {@code pops << 4 | pushes} of a zero-operand instruction, or -1. */
    static int of(int opcode) {
        return opcode >= 0 && opcode < EFFECTS.length ? EFFECTS[opcode] : -1;
    }
}
