package dev.unloadguard.device.internal;

import dev.unloadguard.device.Device;
import java.time.Instant;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * Opt-in reference tracking for one device, the twin of the kernel's {@code ref_tracker}: who
 * holds a reference and where they took it, and where the last reference was released. It costs
 * a stack walk per acquire and release, so it is off unless the host turns it on
 * ({@code PluginLoader.Builder.trackReferences}).
 *
 * <p>A holder is any object passed to {@link Device#acquire(Object)} / {@link Device#release(Object)};
 * references taken without one are anonymous. The tracker keeps a holder strongly only while it
 * holds a reference (the holder holds the device too, so this adds no leak), and stack frames as
 * {@link StackTraceElement}s (strings: they pin no class). All methods synchronize on the tracker:
 * it is a diagnostic, not a hot path.
 */
final class ReferenceTracker {

    private static final StackWalker WALKER = StackWalker.getInstance();
    private static final int MAX_FRAMES = 12;

    /** Where and when a reference was taken or dropped. */
    record Site(String thread, Instant when, List<StackTraceElement> frames) {
        static Site here() {
            List<StackTraceElement> frames = WALKER.walk(s -> s
                    .dropWhile(f -> f.getClassName().startsWith("dev.unloadguard.device."))
                    .limit(MAX_FRAMES)
                    .map(StackWalker.StackFrame::toStackTraceElement)
                    .collect(Collectors.toList()));
            return new Site(Thread.currentThread().getName(), Instant.now(), frames);
        }

        String describe(String indent) {
            StringBuilder sb = new StringBuilder();
            sb.append("on thread \"").append(thread).append("\" at ").append(when);
            for (StackTraceElement e : frames) {
                sb.append('\n').append(indent).append("at ").append(e);
            }
            return sb.toString();
        }
    }

    private final Map<Object, List<Site>> holders = new IdentityHashMap<>();
    private final List<Site> anonymous = new ArrayList<>();
    private Site lastRelease;

    synchronized void acquired(Object holder) {
        Site site = Site.here();
        if (holder == null) {
            anonymous.add(site);
        } else {
            holders.computeIfAbsent(holder, h -> new ArrayList<>(1)).add(site);
        }
    }

    synchronized void released(Object holder, boolean last) {
        List<Site> sites = holder == null ? null : holders.get(holder);
        if (sites != null) {
            sites.remove(sites.size() - 1);
            if (sites.isEmpty()) {
                holders.remove(holder);
            }
        } else if (!anonymous.isEmpty()) {
            anonymous.remove(anonymous.size() - 1);
        }
        if (last) {
            lastRelease = Site.here();
        }
    }

    /** Where the last reference was released, for errors about releasing or acquiring too late. */
    synchronized String lastReleaseSite() {
        return lastRelease == null ? null : lastRelease.describe("        ");
    }

    /** One line per outstanding reference: who holds it, and where it was taken. */
    synchronized List<String> holders() {
        List<String> out = new ArrayList<>();
        holders.forEach((holder, sites) -> {
            for (Site s : sites) {
                out.add("held by " + identity(holder) + ", acquired " + s.describe("          "));
            }
        });
        for (Site s : anonymous) {
            out.add("held without a named holder, acquired " + s.describe("          "));
        }
        return out;
    }

    static String identity(Object holder) {
        return holder.getClass().getName() + "@" + Integer.toHexString(System.identityHashCode(holder));
    }
}
