package dev.unloadguard.maven;

import java.nio.file.Path;
import java.util.regex.Pattern;

/**
 * The argLine arithmetic of {@code prepare-agent}, kept free of Maven types so it can be tested
 * alone: the agent option is prepended to what the property already holds, so a user's own JVM
 * arguments ({@code <argLine>-Xmx512m</argLine>} as a project property, or another agent's
 * option set earlier) are kept.
 */
final class ArgLines {

    private ArgLines() {
    }

    /**
     * {@code -javaagent:PATH}, in double quotes when the path holds a space or a quote (Surefire
     * splits its argLine on spaces, honoring quotes).
     */
    static String agentOption(Path agentJar) {
        String option = "-javaagent:" + agentJar.toAbsolutePath();
        if (option.indexOf(' ') >= 0 || option.indexOf('"') >= 0 || option.indexOf('\t') >= 0) {
            return '"' + option.replace("\\", "\\\\").replace("\"", "\\\"") + '"';
        }
        return option;
    }

    /**
     * {@code option} followed by {@code existing}: the agent starts before anything else the line
     * asks for. An occurrence of {@code option} already in {@code existing} (a second execution of
     * {@code prepare-agent}) is removed first, so the agent is never installed twice.
     *
     * @param existing the property's current value; {@code null} or blank for none
     */
    static String prepend(String existing, String option) {
        if (existing == null || existing.isBlank()) {
            return option;
        }
        // Whole occurrences only (bounded by whitespace or the ends); the rest is kept as written,
        // spacing inside the user's quotes included.
        String rest = existing.replaceAll("(^|\\s)" + Pattern.quote(option) + "(?=\\s|$)", "").trim();
        return rest.isEmpty() ? option : option + " " + rest;
    }
}
