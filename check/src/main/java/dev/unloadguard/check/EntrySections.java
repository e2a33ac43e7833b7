package dev.unloadguard.check;

import java.util.List;
import java.util.Objects;

/**
 * The entry sections of one class in guard scope ENTRIES: how many of its methods the agent turns
 * into sections besides its release paths (which {@link CheckReport#guarded()} lists one by one).
 *
 * @param className binary name of the class
 * @param sections its entry sections: gated entries and clean-up methods
 * @param cleanup how many of them are clean-up methods ({@code hashCode}, {@code equals},
 *     {@code toString}, {@code compareTo}, {@code close}, {@code finalize}): waited for while the
 *     plugin unloads, never refused
 * @param notWoven methods the agent would leave outside any section (name followed by
 *     descriptor): constructors of a shape no Java compiler emits, methods too large to weave
 */
public record EntrySections(String className, int sections, int cleanup, List<String> notWoven) {

    public EntrySections {
        Objects.requireNonNull(className, "className");
        notWoven = List.copyOf(notWoven);
    }

    /** The gated entries: refused once the plugin is unloading, for a thread not already inside it. */
    public int gated() {
        return sections - cleanup;
    }
}
