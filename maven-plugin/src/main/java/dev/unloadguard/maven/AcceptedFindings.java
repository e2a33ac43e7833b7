package dev.unloadguard.maven;

import dev.unloadguard.check.Hazard;
import dev.unloadguard.check.HazardKind;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * The findings a project accepts, so {@code check} does not fail on them. One key per finding:
 *
 * <pre>
 * KIND:CLASS#METHOD      THREAD:com.acme.EchoDriver#init(Ldev/unloadguard/driver/DriverContext;)V
 * KIND:CLASS#NAME        THREAD:com.acme.EchoDriver#init        (every overload of init)
 * KIND:CLASS             THREAD_LOCAL:com.acme.Cache            (every finding of that kind in the class,
 *                                                                and those not in a method: fields, services)</pre>
 *
 * {@code KIND} is a {@link HazardKind} name, {@code CLASS} the binary class name and
 * {@code METHOD} name and descriptor, all as the report and its JSON print them ({@code kind},
 * {@code class}, {@code method}). Line numbers are left out on purpose: they move with every edit
 * of the file, the method does not. The build's failure message prints the exact key of each
 * finding it fails on.
 */
final class AcceptedFindings {

    private final Set<String> keys;

    private AcceptedFindings(Set<String> keys) {
        this.keys = keys;
    }

    /**
     * Parses keys from the {@code <accept>} list and lines of an accept file: blank lines and
     * {@code #} comments are skipped, whitespace around a key is trimmed.
     *
     * @throws IllegalArgumentException for a key that is not {@code KIND:CLASS[#METHOD]} or names
     *         no {@link HazardKind}, naming the key and the known kinds
     */
    static AcceptedFindings parse(Collection<String> lines) {
        Set<String> keys = new LinkedHashSet<>();
        for (String line : lines) {
            if (line == null) {
                continue;
            }
            int hash = line.indexOf(" #");
            String key = (line.startsWith("#") ? "" : hash >= 0 ? line.substring(0, hash) : line).trim();
            if (key.isEmpty()) {
                continue;
            }
            int colon = key.indexOf(':');
            String kind = colon < 0 ? "" : key.substring(0, colon);
            String where = colon < 0 ? "" : key.substring(colon + 1);
            if (!knownKind(kind) || where.isEmpty() || where.startsWith("#") || where.endsWith("#")) {
                throw new IllegalArgumentException("not an accepted-finding key: '" + key + "' (expected KIND:CLASS#METHOD, "
                        + "KIND:CLASS#NAME or KIND:CLASS, KIND one of " + List.of(HazardKind.values()) + ")");
            }
            keys.add(key);
        }
        return new AcceptedFindings(keys);
    }

    private static boolean knownKind(String kind) {
        for (HazardKind k : HazardKind.values()) {
            if (k.name().equals(kind)) {
                return true;
            }
        }
        return false;
    }

    /** The exact key of {@code hazard}: {@code KIND:CLASS#METHOD}, or {@code KIND:CLASS} outside a method. */
    static String keyOf(Hazard hazard) {
        String key = hazard.kind().name() + ':' + hazard.className();
        return hazard.method().isEmpty() ? key : key + '#' + hazard.method();
    }

    /** Whether a key accepts {@code hazard}: its exact key, its method name without descriptor, or its class. */
    boolean accepts(Hazard hazard) {
        return matching(hazard) != null;
    }

    private String matching(Hazard hazard) {
        String exact = keyOf(hazard);
        if (keys.contains(exact)) {
            return exact;
        }
        String classKey = hazard.kind().name() + ':' + hazard.className();
        if (!hazard.method().isEmpty()) {
            int paren = hazard.method().indexOf('(');
            String byName = classKey + '#' + (paren < 0 ? hazard.method() : hazard.method().substring(0, paren));
            if (keys.contains(byName)) {
                return byName;
            }
        }
        return keys.contains(classKey) ? classKey : null;
    }

    /** The hazards no key accepts, in their order. */
    List<Hazard> remaining(List<Hazard> hazards) {
        List<Hazard> left = new ArrayList<>();
        for (Hazard h : hazards) {
            if (!accepts(h)) {
                left.add(h);
            }
        }
        return left;
    }

    /** Keys that accept none of {@code findings}: stale entries to remove. */
    List<String> unused(List<Hazard> findings) {
        Set<String> used = new LinkedHashSet<>();
        for (Hazard h : findings) {
            String key = matching(h);
            if (key != null) {
                used.add(key);
            }
        }
        List<String> unused = new ArrayList<>();
        for (String k : keys) {
            if (!used.contains(k)) {
                unused.add(k);
            }
        }
        return unused;
    }

    int size() {
        return keys.size();
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "%d accepted finding key(s) %s", keys.size(), keys);
    }
}
