package dev.unloadguard.check;

import java.util.Objects;

/**
 * One unload hazard found in a plugin jar.
 *
 * @param kind what it is
 * @param className binary name of the class holding it ({@code a.b.C$D})
 * @param method name followed by descriptor of the method holding it; {@code ""} when it is not
 *     in a method (a field never assigned in its class, a service entry)
 * @param line source line from the class file's line number table, or -1 if unknown
 * @param detail what exactly was found, one line
 */
public record Hazard(HazardKind kind, String className, String method, int line, String detail) {

    public Hazard {
        Objects.requireNonNull(kind, "kind");
        Objects.requireNonNull(className, "className");
        Objects.requireNonNull(method, "method");
        Objects.requireNonNull(detail, "detail");
    }

    /** How to fix it. */
    public String hint() {
        return kind.hint();
    }
}
