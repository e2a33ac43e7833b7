package dev.unloadguard.loader;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.jar.Attributes;
import java.util.regex.Pattern;

/**
 * What a plugin declares about dependencies in the main attributes of its own manifest (the
 * plugin jar's, or the {@code classes/} folder's in the PF4J layout):
 * <ul>
 * <li>{@code Plugin-Version}: its version ({@link PluginVersion}); none counts as {@code 0};</li>
 * <li>{@code Plugin-Requires}: the plugins it needs, comma-separated, each an id with an optional
 *     version range after {@code @} ({@link VersionRange}): {@code greeter@[1.0,2.0), audit};</li>
 * <li>{@code Plugin-Exports}: the packages (exactly, not their subpackages) its dependents see,
 *     comma-separated.</li>
 * </ul>
 */
final class PluginManifest {

    static final String VERSION = "Plugin-Version";
    static final String REQUIRES = "Plugin-Requires";
    static final String EXPORTS = "Plugin-Exports";
    private static final Pattern ID = Pattern.compile("[A-Za-z0-9._-]{1,64}");
    private static final Pattern PACKAGE = Pattern.compile(
            "\\p{javaJavaIdentifierStart}\\p{javaJavaIdentifierPart}*(\\.\\p{javaJavaIdentifierStart}\\p{javaJavaIdentifierPart}*)*");

    /** One entry of {@code Plugin-Requires}. */
    record Requirement(String id, VersionRange range) {
        @Override
        public String toString() {
            return range.isAny() ? id : id + "@" + range;
        }
    }

    final PluginVersion version;
    final List<Requirement> requires;
    final List<String> exports;

    private PluginManifest(PluginVersion version, List<Requirement> requires, List<String> exports) {
        this.version = version;
        this.requires = List.copyOf(requires);
        this.exports = List.copyOf(exports);
    }

    /** What the main attributes of the plugin's own manifest ({@code null}: none) declare. */
    static PluginManifest of(Attributes a, Path plugin) throws PluginLoadException {
        return a == null ? parse(null, null, null, plugin)
                : parse(a.getValue(VERSION), a.getValue(REQUIRES), a.getValue(EXPORTS), plugin);
    }

    static PluginManifest parse(String version, String requires, String exports, Path plugin) throws PluginLoadException {
        PluginVersion v;
        try {
            v = version == null || version.isBlank() ? PluginVersion.NONE : PluginVersion.parse(version);
        } catch (IllegalArgumentException e) {
            throw bad(plugin, VERSION, version, e.getMessage() + "; use numbers like 1.2.0");
        }
        List<Requirement> reqs = new ArrayList<>();
        Set<String> ids = new LinkedHashSet<>();
        for (String r : split(requires)) {
            int at = r.indexOf('@');
            String id = (at < 0 ? r : r.substring(0, at)).trim();
            if (!ID.matcher(id).matches()) {
                throw bad(plugin, REQUIRES, requires, "'" + id + "' is not a plugin id (1 to 64 letters, digits, '.', '_' or '-'); "
                        + "write ids with optional version ranges, like: greeter@[1.0,2.0), audit");
            }
            if (!ids.add(id)) {
                throw bad(plugin, REQUIRES, requires, "plugin " + id + " is named twice; name it once");
            }
            VersionRange range;
            try {
                range = at < 0 ? VersionRange.ANY : VersionRange.parse(r.substring(at + 1).trim());
            } catch (IllegalArgumentException e) {
                throw bad(plugin, REQUIRES, requires, e.getMessage());
            }
            reqs.add(new Requirement(id, range));
        }
        List<String> pkgs = new ArrayList<>();
        for (String p : split(exports)) {
            if (!PACKAGE.matcher(p).matches()) {
                throw bad(plugin, EXPORTS, exports, "'" + p + "' is not a package name; write package names like "
                        + "com.example.greeter.api, separated by commas (each exactly: list subpackages too)");
            }
            if (!pkgs.contains(p)) {
                pkgs.add(p);
            }
        }
        return new PluginManifest(v, reqs, pkgs);
    }

    private static PluginLoadException bad(Path plugin, String attribute, String value, String why) {
        return new PluginLoadException(plugin, "plugin " + plugin + " has an invalid manifest attribute " + attribute + ": "
                + value.trim() + ": " + why, null);
    }

    /** Splits at the commas outside brackets and parentheses; empty parts dropped. */
    private static List<String> split(String s) {
        List<String> parts = new ArrayList<>();
        if (s == null) {
            return parts;
        }
        int depth = 0;
        StringBuilder cur = new StringBuilder();
        for (char c : s.toCharArray()) {
            if (c == '[' || c == '(') {
                depth++;
            } else if (c == ']' || c == ')') {
                depth--;
            }
            if (c == ',' && depth <= 0) {
                parts.add(cur.toString().trim());
                cur.setLength(0);
            } else {
                cur.append(c);
            }
        }
        parts.add(cur.toString().trim());
        parts.removeIf(String::isEmpty);
        return parts;
    }
}
