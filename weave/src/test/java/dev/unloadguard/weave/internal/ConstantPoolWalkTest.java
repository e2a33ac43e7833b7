package dev.unloadguard.weave.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import org.junit.jupiter.api.Test;

/**
 * The constant-pool walks every plugin class goes through ({@link GuardPlan#scanConstantPool},
 * {@link RegistrationSites#mayRegister}) step by the table {@link GuardPlan#ENTRY_SIZE}: each
 * tag's size as JVMS 4.4 gives it, and a clear error for a tag no class file has.
 */
class ConstantPoolWalkTest {

    @Test
    void everyTagHasItsSizeFromTheJvms() {
        int[][] sizes = { // tag, size of the entry with its tag (Utf8: without its bytes)
            {1, 3}, {3, 5}, {4, 5}, {5, 9}, {6, 9}, {7, 3}, {8, 3}, {9, 5}, {10, 5}, {11, 5}, {12, 5},
            {15, 4}, {16, 3}, {17, 5}, {18, 5}, {19, 3}, {20, 3},
        };
        int known = 0;
        for (int[] s : sizes) {
            byte[] entry = new byte[16];
            entry[0] = (byte) s[0];
            entry[2] = 4; // a Utf8's length
            assertEquals(s[1] + (s[0] == 1 ? 4 : 0), GuardPlan.entrySize(entry, 0, 1), "tag " + s[0]);
            known++;
        }
        for (int tag = 0; tag < 32; tag++) {
            if (GuardPlan.ENTRY_SIZE[tag] != 0) {
                known--;
            }
        }
        assertEquals(0, known, "the table knows exactly the tags of JVMS 4.4");
    }

    @Test
    void anUnknownTagIsRefusedNamingTheEntryAndTheTag() {
        for (int tag : new int[] {0, 2, 13, 14, 21, -1}) {
            byte[] entry = {(byte) tag, 0, 0, 0, 0};
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> GuardPlan.entrySize(entry, 0, 7));
            assertEquals("not a class file: constant pool entry 7 has tag " + tag, e.getMessage());
        }
    }

    @Test
    void theWalksStepOverEveryKindOfEntryToTheUtf8sTheyLookFor() throws IOException {
        // One entry of each tag, then the strings the two scans look for: found only if every
        // entry before them was stepped over by its right size.
        byte[] withMarkers = classFile(true);
        assertTrue(GuardPlan.mayGuard(withMarkers), "release found after entries of every tag");
        assertTrue(RegistrationSites.mayRegister(withMarkers), "a registry type found after entries of every tag");
        byte[] without = classFile(false);
        assertFalse(GuardPlan.mayGuard(without));
        assertFalse(RegistrationSites.mayRegister(without));
    }

    /** A class file's start: a constant pool with an entry of each tag, then (or not) two marker strings; then the header. */
    private static byte[] classFile(boolean markers) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(bytes);
        out.writeInt(0xCAFEBABE);
        out.writeShort(0);
        out.writeShort(61);
        int count = 1;
        ByteArrayOutputStream pool = new ByteArrayOutputStream();
        DataOutputStream p = new DataOutputStream(pool);
        p.writeByte(1); p.writeUTF("some/Name"); count++;                       // 1 Utf8
        p.writeByte(3); p.writeInt(42); count++;                                // 2 Integer
        p.writeByte(4); p.writeFloat(1f); count++;                              // 3 Float
        p.writeByte(5); p.writeLong(7L); count += 2;                            // 4 Long (two slots)
        p.writeByte(6); p.writeDouble(2d); count += 2;                          // 6 Double (two slots)
        p.writeByte(7); p.writeShort(1); count++;                               // 8 Class
        p.writeByte(8); p.writeShort(1); count++;                               // 9 String
        p.writeByte(12); p.writeShort(1); p.writeShort(1); count++;             // 10 NameAndType
        p.writeByte(9); p.writeShort(8); p.writeShort(10); count++;             // 11 Fieldref
        p.writeByte(10); p.writeShort(8); p.writeShort(10); count++;            // 12 Methodref
        p.writeByte(11); p.writeShort(8); p.writeShort(10); count++;            // 13 InterfaceMethodref
        p.writeByte(15); p.writeByte(6); p.writeShort(12); count++;             // 14 MethodHandle
        p.writeByte(16); p.writeShort(1); count++;                              // 15 MethodType
        p.writeByte(17); p.writeShort(0); p.writeShort(10); count++;            // 16 Dynamic
        p.writeByte(18); p.writeShort(0); p.writeShort(10); count++;            // 17 InvokeDynamic
        p.writeByte(19); p.writeShort(1); count++;                              // 18 Module
        p.writeByte(20); p.writeShort(1); count++;                              // 19 Package
        if (markers) {
            p.writeByte(1); p.writeUTF("release"); count++;
            p.writeByte(1); p.writeUTF("java/util/Timer"); count++;
        }
        out.writeShort(count);
        out.write(pool.toByteArray());
        out.writeShort(0x0001);                                                 // access: public class
        out.writeShort(8);                                                      // this_class
        out.writeShort(0);                                                      // super_class
        out.writeShort(0);                                                      // interfaces_count
        out.flush();
        return bytes.toByteArray();
    }
}
