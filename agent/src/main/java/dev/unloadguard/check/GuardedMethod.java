package dev.unloadguard.check;

import dev.unloadguard.agent.GuardPlan;
import java.util.Objects;

/**
 * A method the agent will guard (run inside the release epoch) once the plugin is loaded.
 *
 * @param className binary name of the declaring class
 * @param method name followed by descriptor
 * @param reason why, as decided by {@link GuardPlan}
 */
public record GuardedMethod(String className, String method, GuardPlan.Reason reason) {

    public GuardedMethod {
        Objects.requireNonNull(className, "className");
        Objects.requireNonNull(method, "method");
        Objects.requireNonNull(reason, "reason");
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
            case LAMBDA_BODY:
            default:
                return method.startsWith("lambda$")
                        ? "body of a lambda used as a release action or callback"
                        : "body of a method reference used as a release action or callback";
        }
    }
}
