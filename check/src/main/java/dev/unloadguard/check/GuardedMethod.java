package dev.unloadguard.check;

import dev.unloadguard.weave.internal.GuardPlan;
import java.util.Objects;

/**
 * A release path the agent will guard (run inside the plugin's epoch) once the plugin is loaded.
 *
 * @param className binary name of the declaring class
 * @param method name followed by descriptor
 * @param reason why, as decided by {@link GuardPlan}
 * @param calls for a method the agent adds to the class ({@link GuardPlan.Reason#METHOD_REFERENCE},
 *     {@link GuardPlan.Reason#INHERITED_RELEASE}): the method it calls and guards, as
 *     {@code a.b.Owner.name(descriptor)} (for an inherited body, {@code a.b.Owner} is the
 *     supertype declaring it); {@code ""} for a method of the jar
 */
public record GuardedMethod(String className, String method, GuardPlan.Reason reason, String calls) {

    public GuardedMethod {
        Objects.requireNonNull(className, "className");
        Objects.requireNonNull(method, "method");
        Objects.requireNonNull(reason, "reason");
        Objects.requireNonNull(calls, "calls");
    }

    /** A method of the jar itself. */
    public GuardedMethod(String className, String method, GuardPlan.Reason reason) {
        this(className, method, reason, "");
    }

    /** Whether the agent adds this method (it is not in the jar). */
    public boolean synthesized() {
        return !calls.isEmpty();
    }

    /** Why, for people. */
    public String explanation() {
        switch (reason) {
            case RELEASE_CALLBACK:
                return "implements ReleaseCallback.release()";
            case RELEASE_ACTION:
                return "implements ReleaseAction.release(Device)";
            case DRIVER_RELEASE:
                return "implements Driver.release(Device)";
            case ANNOTATED:
                return "annotated @GuardedRelease";
            case METHOD_REFERENCE:
                return "added by the agent: the bridge through which the method reference to " + calls
                        + " runs as a release action or callback";
            case INHERITED_RELEASE:
                return calls.isEmpty()
                        ? "inherited as a release method by a class that could not be given an override"
                        : "added by the agent: overrides release to guard the body inherited from "
                                + calls.substring(0, calls.lastIndexOf('.', calls.indexOf('(')))
                                + ", which is not a release type itself";
            case CLEANUP:
                return "a clean-up method (hashCode, equals, toString, compareTo, close, finalize): "
                        + "a section waited for while the plugin unloads, never refused";
            case ENTRY:
                return "an entry into the plugin: a section, refused once the plugin is unloading";
            case LAMBDA_BODY:
            default:
                return method.startsWith("lambda$")
                        ? "body of a lambda used as a release action or callback"
                        : "body of a method reference used as a release action or callback";
        }
    }
}
