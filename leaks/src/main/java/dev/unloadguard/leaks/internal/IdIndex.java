package dev.unloadguard.leaks.internal;

import java.util.Arrays;

/**
 * Dense numbers for object ids, in the order they are first seen: an open-addressing hash map
 * from id (never 0) to number, and the ids by number. Not thread-safe.
 */
final class IdIndex {

    private long[] keys;
    private int[] values;
    private long[] ids;
    private int size;

    IdIndex(int expected) {
        int cap = Integer.highestOneBit(Math.max(16, expected) * 2 - 1) << 1;
        keys = new long[cap];
        values = new int[cap];
        ids = new long[Math.max(16, expected)];
    }

    /** The number of {@code id}, or -1 if it has none yet. */
    int get(long id) {
        int mask = keys.length - 1;
        for (int i = mix(id) & mask; ; i = (i + 1) & mask) {
            long k = keys[i];
            if (k == id) {
                return values[i];
            }
            if (k == 0) {
                return -1;
            }
        }
    }

    /** The number of {@code id}, given the next free one if it had none. */
    int add(long id) {
        if ((size + 1) * 2 > keys.length) {
            grow();
        }
        int mask = keys.length - 1;
        for (int i = mix(id) & mask; ; i = (i + 1) & mask) {
            long k = keys[i];
            if (k == id) {
                return values[i];
            }
            if (k == 0) {
                keys[i] = id;
                values[i] = size;
                if (size == ids.length) {
                    ids = Arrays.copyOf(ids, size + size / 2 + 1);
                }
                ids[size] = id;
                return size++;
            }
        }
    }

    long id(int number) {
        return ids[number];
    }

    int size() {
        return size;
    }

    private void grow() {
        long[] oldKeys = keys;
        int[] oldValues = values;
        keys = new long[oldKeys.length * 2];
        values = new int[oldKeys.length * 2];
        int mask = keys.length - 1;
        for (int j = 0; j < oldKeys.length; j++) {
            long k = oldKeys[j];
            if (k != 0) {
                int i = mix(k) & mask;
                while (keys[i] != 0) {
                    i = (i + 1) & mask;
                }
                keys[i] = k;
                values[i] = oldValues[j];
            }
        }
    }

    private static int mix(long id) {
        long h = id * 0x9E3779B97F4A7C15L;
        return (int) (h ^ (h >>> 32));
    }
}
