package dev.unloadguard.loader;

/**
 * A range of {@link PluginVersion}s in a {@code Plugin-Requires} entry, OSGi's notation:
 * {@code [1.0,2.0)} (1.0 included, 2.0 excluded), {@code (1.0,2.0]}, {@code [1.2,1.2]} (exactly),
 * or a bare version {@code 1.2} meaning 1.2 or newer. No range: any version.
 */
final class VersionRange {

    static final VersionRange ANY = new VersionRange(null, true, null, false, "any version");

    private final PluginVersion low;
    private final boolean lowIncluded;
    private final PluginVersion high;
    private final boolean highIncluded;
    private final String text;

    private VersionRange(PluginVersion low, boolean lowIncluded, PluginVersion high, boolean highIncluded, String text) {
        this.low = low;
        this.lowIncluded = lowIncluded;
        this.high = high;
        this.highIncluded = highIncluded;
        this.text = text;
    }

    static VersionRange parse(String s) {
        String t = s.trim();
        String usage = "; write a range like [1.0,2.0) (1.0 up to but not including 2.0) or a bare version like 1.2 (1.2 or newer)";
        if (t.isEmpty()) {
            throw new IllegalArgumentException("an empty version range after '@'" + usage);
        }
        char first = t.charAt(0);
        if (first != '[' && first != '(') {
            try {
                return new VersionRange(PluginVersion.parse(t), true, null, false, t);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(e.getMessage() + usage, e);
            }
        }
        char last = t.charAt(t.length() - 1);
        int comma = t.indexOf(',');
        if ((last != ']' && last != ')') || comma < 0) {
            throw new IllegalArgumentException("'" + t + "' is not a version range" + usage);
        }
        try {
            PluginVersion lo = PluginVersion.parse(t.substring(1, comma));
            PluginVersion hi = PluginVersion.parse(t.substring(comma + 1, t.length() - 1));
            if (lo.compareTo(hi) > 0) {
                throw new IllegalArgumentException("'" + t + "' is empty: its low end is above its high end" + usage);
            }
            return new VersionRange(lo, first == '[', hi, last == ']', t);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("'" + t + "' is not a version range: " + e.getMessage() + usage, e);
        }
    }

    boolean isAny() {
        return low == null;
    }

    boolean contains(PluginVersion v) {
        if (low != null) {
            int c = v.compareTo(low);
            if (c < 0 || (c == 0 && !lowIncluded)) {
                return false;
            }
        }
        if (high != null) {
            int c = v.compareTo(high);
            return c < 0 || (c == 0 && highIncluded);
        }
        return true;
    }

    @Override
    public String toString() {
        return text;
    }
}
