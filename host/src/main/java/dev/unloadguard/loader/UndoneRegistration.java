package dev.unloadguard.loader;

import java.util.List;
import java.util.Objects;

/**
 * One managed JDK registration of the plugin that its unload undid, or could not undo: the twin
 * of a kernel devres entry. Recorded where plugin code made it (the agent rewrites those calls),
 * undone newest first right after the driver's exit hook (see {@link UnloadReport#registrations()}).
 *
 * @param kind         what was registered: {@code thread}, {@code executor}, {@code timer},
 *                     {@code shutdown hook}, {@code JDBC driver}, {@code MBean},
 *                     {@code ThreadLocal value}, {@code logging handler}, {@code security provider},
 *                     {@code context class loader}, {@code system property}
 * @param what         the registered thing, as {@code thread "poller"} or {@code system property a.b=c}
 * @param registeredAt the plugin's call site that registered it ({@code a.b.C.m(C.java:12)}); for a
 *                     context class loader, {@code (set by plugin code)} or {@code (found at unload)}
 *                     (inherited, or set where it was not recorded)
 * @param outcome      how the undo ended
 * @param note         what was done ({@code interrupted and joined}), or why it could not be
 * @param stack        for a {@link Outcome#LEFT_OVER}: the stack that registered it; else empty
 */
public record UndoneRegistration(String kind, String what, String registeredAt, Outcome outcome, String note,
                                 List<StackTraceElement> stack) {

    /** How an undo ended. */
    public enum Outcome {
        /** Undone at this unload. */
        UNDONE,
        /** Nothing was left to undo: the plugin's exit hook undid it, the thread had ended, the value changed since. */
        ALREADY_GONE,
        /**
         * Could not be undone within the bound (a thread that does not stop when interrupted, a pool
         * whose task ignores interrupts), or not safely (a {@code ThreadLocal} value on another live
         * thread): it may keep the plugin's class loader alive.
         */
        LEFT_OVER
    }

    public UndoneRegistration {
        Objects.requireNonNull(kind, "kind");
        Objects.requireNonNull(what, "what");
        Objects.requireNonNull(registeredAt, "registeredAt");
        Objects.requireNonNull(outcome, "outcome");
        Objects.requireNonNull(note, "note");
        stack = List.copyOf(stack);
    }

    /** Whether it was left over (see {@link Outcome#LEFT_OVER}). */
    public boolean leftOver() {
        return outcome == Outcome.LEFT_OVER;
    }

    /** {@code thread "poller" (registered at a.b.C.m(C.java:12)): interrupted and joined}, and the stack of a leftover. */
    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder();
        sb.append(kind.equals("context class loader") ? "context class loader of " : "").append(what)
                .append(registeredAt.startsWith("(") ? " " + registeredAt : " (registered at " + registeredAt + ")").append(": ")
                .append(outcome == Outcome.LEFT_OVER ? "LEFT OVER, " : "").append(note);
        for (StackTraceElement e : stack) {
            sb.append("\n        at ").append(e);
        }
        return sb.toString();
    }
}
