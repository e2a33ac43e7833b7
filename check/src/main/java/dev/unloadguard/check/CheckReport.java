package dev.unloadguard.check;

import dev.unloadguard.weave.internal.GuardPlan;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * What {@link UnloadCheck} found in one plugin jar: the guard scope it was checked in, the entry
 * sections per class (scope ENTRIES), the release paths the agent will guard, the unload hazards,
 * and warnings (listed, not failing).
 *
 * @param jar the jar as named by the user
 * @param classes class entries read
 * @param scope the guard scope the jar was checked in
 * @param guarded the release paths the agent will guard, by class name then declaration order
 * @param entrySections scope ENTRIES: the classes with entry sections, by class name; empty in
 *     scope RELEASE_PATHS
 * @param hazards hazards, by class name then position in the class file
 * @param warnings warning-level findings, in the same order
 */
public record CheckReport(String jar, int classes, UnloadCheck.Scope scope, List<GuardedMethod> guarded,
        List<EntrySections> entrySections, List<Hazard> hazards, List<Hazard> warnings) {

    public CheckReport {
        Objects.requireNonNull(scope, "scope");
        guarded = List.copyOf(guarded);
        entrySections = List.copyOf(entrySections);
        hazards = List.copyOf(hazards);
        warnings = List.copyOf(warnings);
    }

    /** All entry sections of the jar. */
    public int entrySectionCount() {
        return entrySections.stream().mapToInt(EntrySections::sections).sum();
    }

    /** 0 without hazards, 1 with (warnings do not count). */
    public int exitStatus() {
        return hazards.isEmpty() ? 0 : 1;
    }

    /** The readable report, lines ending in {@code \n}. */
    public String toText() {
        StringBuilder sb = new StringBuilder();
        sb.append("unloadguard check: ").append(jar).append(" (").append(classes)
                .append(classes == 1 ? " class" : " classes").append(", read without loading them)\n\n");
        entrySectionsText(sb);
        if (guarded.isEmpty()) {
            sb.append("guarded release callbacks: none (nothing here runs inside the release epoch)\n");
        } else {
            sb.append("guarded release callbacks (").append(guarded.size()).append("):\n");
            for (GuardedMethod g : guarded) {
                sb.append("  ").append(g.className()).append('.').append(g.method()).append('\n');
                sb.append("      ").append(g.reason()).append(": ").append(g.explanation()).append('\n');
            }
        }
        sb.append('\n');
        list(sb, "unload hazards", hazards);
        if (!warnings.isEmpty()) {
            sb.append('\n');
            list(sb, "warnings", warnings);
        }
        int sections = entrySectionCount();
        sb.append('\n').append(String.format(Locale.ROOT, "summary: %d guarded release callback%s, %d unload hazard%s, %d warning%s%s%s%n",
                guarded.size(), guarded.size() == 1 ? "" : "s",
                hazards.size(), hazards.size() == 1 ? "" : "s",
                warnings.size(), warnings.size() == 1 ? "" : "s",
                scope == UnloadCheck.Scope.ENTRIES ? ", " + sections + (sections == 1 ? " entry section" : " entry sections") : "",
                hazards.isEmpty() ? ": nothing found that outlives an unload" : ": fix them before hot-unloading this plugin"));
        return sb.toString();
    }

    /** The scope line and, in scope ENTRIES, one line per class with entry sections. */
    private void entrySectionsText(StringBuilder sb) {
        if (scope == UnloadCheck.Scope.RELEASE_PATHS) {
            sb.append("guard scope: RELEASE_PATHS (only the release callbacks below run inside the plugin's epoch)\n\n");
            return;
        }
        int sections = entrySectionCount();
        int cleanup = entrySections.stream().mapToInt(EntrySections::cleanup).sum();
        sb.append("guard scope: ENTRIES (every method is a section: an unload waits for all plugin code, and once it starts,\n")
                .append("  new calls from outside are refused; clean-up methods and release callbacks are only waited for)\n");
        if (entrySections.isEmpty()) {
            sb.append("entry sections: none\n\n");
            return;
        }
        sb.append("entry sections (").append(sections).append(" in ").append(entrySections.size())
                .append(entrySections.size() == 1 ? " class" : " classes").append(": ").append(sections - cleanup)
                .append(" refused once unloading, ").append(cleanup).append(" clean-up only waited for):\n");
        for (EntrySections e : entrySections) {
            sb.append("  ").append(e.className()).append(": ").append(e.sections());
            if (e.cleanup() > 0) {
                sb.append(" (").append(e.cleanup()).append(" clean-up)");
            }
            if (!e.notWoven().isEmpty()) {
                sb.append("; not a section, left as they are: ").append(String.join(", ", e.notWoven()));
            }
            sb.append('\n');
        }
        sb.append('\n');
    }

    private static void list(StringBuilder sb, String title, List<Hazard> items) {
        if (items.isEmpty()) {
            sb.append(title).append(": none\n");
            return;
        }
        sb.append(title).append(" (").append(items.size()).append("):\n");
        for (Hazard h : items) {
            sb.append("  ").append(h.kind()).append("  ").append(h.className());
            if (!h.method().isEmpty()) {
                sb.append('.').append(h.method());
            }
            sb.append(h.line() >= 0 ? " line " + h.line() : " (no line)").append('\n');
            sb.append("      ").append(h.detail()).append('\n');
            sb.append("      fix: ").append(h.hint()).append('\n');
        }
    }

    /**
     * One JSON object: {@code jar}, {@code classes}, {@code scope} ({@code ENTRIES} or
     * {@code RELEASE_PATHS}), {@code entrySections} [{class, sections, cleanup, notWoven: [method]}]
     * (empty in scope RELEASE_PATHS), {@code guarded} [{class, method, reason}, plus
     * {@code calls} for the methods the agent adds (reasons {@code METHOD_REFERENCE} and
     * {@code INHERITED_RELEASE}): the method they call and guard], {@code hazards} and
     * {@code warnings} [{kind, class, method, line, detail, hint}].
     */
    public String toJson() {
        StringBuilder sb = new StringBuilder();
        sb.append("{\n");
        sb.append("  \"jar\": ").append(Json.string(jar)).append(",\n");
        sb.append("  \"classes\": ").append(classes).append(",\n");
        sb.append("  \"scope\": ").append(Json.string(scope.name())).append(",\n");
        sb.append("  \"entrySections\": [");
        for (int i = 0; i < entrySections.size(); i++) {
            EntrySections e = entrySections.get(i);
            sb.append(i == 0 ? "\n" : ",\n").append("    {\"class\": ").append(Json.string(e.className()))
                    .append(", \"sections\": ").append(e.sections())
                    .append(", \"cleanup\": ").append(e.cleanup())
                    .append(", \"notWoven\": [");
            for (int j = 0; j < e.notWoven().size(); j++) {
                sb.append(j == 0 ? "" : ", ").append(Json.string(e.notWoven().get(j)));
            }
            sb.append("]}");
        }
        sb.append(entrySections.isEmpty() ? "],\n" : "\n  ],\n");
        sb.append("  \"guarded\": [");
        for (int i = 0; i < guarded.size(); i++) {
            GuardedMethod g = guarded.get(i);
            sb.append(i == 0 ? "\n" : ",\n").append("    {\"class\": ").append(Json.string(g.className()))
                    .append(", \"method\": ").append(Json.string(g.method()))
                    .append(", \"reason\": ").append(Json.string(g.reason().name()));
            if (g.synthesized()) {
                sb.append(", \"calls\": ").append(Json.string(g.calls()));
            }
            sb.append('}');
        }
        sb.append(guarded.isEmpty() ? "],\n" : "\n  ],\n");
        jsonList(sb, "hazards", hazards);
        sb.append(",\n");
        jsonList(sb, "warnings", warnings);
        sb.append("\n}\n");
        return sb.toString();
    }

    private static void jsonList(StringBuilder sb, String name, List<Hazard> items) {
        sb.append("  \"").append(name).append("\": [");
        for (int i = 0; i < items.size(); i++) {
            Hazard h = items.get(i);
            sb.append(i == 0 ? "\n" : ",\n").append("    {\"kind\": ").append(Json.string(h.kind().name()))
                    .append(", \"class\": ").append(Json.string(h.className()))
                    .append(", \"method\": ").append(Json.string(h.method()))
                    .append(", \"line\": ").append(h.line())
                    .append(", \"detail\": ").append(Json.string(h.detail()))
                    .append(", \"hint\": ").append(Json.string(h.hint())).append('}');
        }
        sb.append(items.isEmpty() ? "]" : "\n  ]");
    }
}
