package dev.unloadguard.loader;

import java.util.Arrays;

/**
 * A plugin's version, from its manifest's {@code Plugin-Version}: dot-separated numbers
 * ({@code 1}, {@code 1.2}, {@code 1.2.0}; missing parts are 0), optionally followed by a qualifier
 * after {@code -} ({@code 1.0.0-SNAPSHOT}) that is kept for display and ignored in comparisons.
 * A plugin without {@code Plugin-Version} has version {@link #NONE} ({@code 0}).
 */
public final class PluginVersion implements Comparable<PluginVersion> {

    /** The version of a plugin that declares none. */
    public static final PluginVersion NONE = new PluginVersion(new int[] {0}, "0");

    private final int[] parts;
    private final String text;

    private PluginVersion(int[] parts, String text) {
        this.parts = parts;
        this.text = text;
    }

    /** Parses {@code 1.2.0} or {@code 1.2.0-qualifier}; throws IllegalArgumentException saying what is wrong. */
    public static PluginVersion parse(String text) {
        String t = text.trim();
        int dash = t.indexOf('-');
        String numbers = dash < 0 ? t : t.substring(0, dash);
        String[] s = numbers.split("\\.", -1);
        int[] parts = new int[s.length];
        for (int i = 0; i < s.length; i++) {
            if (s[i].isEmpty() || s[i].length() > 9 || !s[i].chars().allMatch(c -> c >= '0' && c <= '9')) {
                throw new IllegalArgumentException("'" + t + "' is not a version (dot-separated numbers, optionally -qualifier)");
            }
            parts[i] = Integer.parseInt(s[i]);
        }
        return new PluginVersion(parts, t);
    }

    private int part(int i) {
        return i < parts.length ? parts[i] : 0;
    }

    @Override
    public int compareTo(PluginVersion o) {
        for (int i = 0; i < Math.max(parts.length, o.parts.length); i++) {
            int c = Integer.compare(part(i), o.part(i));
            if (c != 0) {
                return c;
            }
        }
        return 0;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof PluginVersion && compareTo((PluginVersion) o) == 0;
    }

    @Override
    public int hashCode() {
        int n = parts.length;
        while (n > 1 && parts[n - 1] == 0) {
            n--;
        }
        return Arrays.hashCode(Arrays.copyOf(parts, n));
    }

    /** As written in the manifest. */
    @Override
    public String toString() {
        return text;
    }
}
