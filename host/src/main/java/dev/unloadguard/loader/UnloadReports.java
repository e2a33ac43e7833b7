package dev.unloadguard.loader;

import dev.unloadguard.epoch.BarrierOutcome;
import dev.unloadguard.epoch.internal.Epochs;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * The one place that writes what an unload tells its caller, for both hosts: the report of an
 * unload that finished, the timeout report (the exception's message) of one that did not, and the
 * report of a close audit that found plugin code still running.
 */
final class UnloadReports {

    private UnloadReports() {
    }

    /** What the report keeps of a plugin, read before its close forgets it. */
    record Kept(long devicesCreated, List<String> releaseFailures) {
        /** A foreign host's plugin: no devices, no release failures. */
        static final Kept NOTHING = new Kept(0, List.of());
    }

    static UnloadReport unloaded(String id, int generation, StepClock clock, BarrierOutcome barrier, Kept kept,
                                 CollectionResult collection, List<String> leakSuspects, GuardScope scope,
                                 long refusedEntries, CloseAudit audit) {
        return unloaded(id, generation, clock.times(), barrier, kept, collection, leakSuspects, scope, refusedEntries, audit);
    }

    static UnloadReport unloaded(String id, int generation, Map<UnloadStep, Duration> stepTimes, BarrierOutcome barrier,
                                 Kept kept, CollectionResult collection, List<String> leakSuspects, GuardScope scope,
                                 long refusedEntries, CloseAudit audit) {
        return unloaded(id, generation, stepTimes, barrier, kept, collection, leakSuspects, scope, refusedEntries, audit,
                List.of());
    }

    static UnloadReport unloaded(String id, int generation, Map<UnloadStep, Duration> stepTimes, BarrierOutcome barrier,
                                 Kept kept, CollectionResult collection, List<String> leakSuspects, GuardScope scope,
                                 long refusedEntries, CloseAudit audit, List<UndoneRegistration> registrations) {
        return new UnloadReport(id, generation, Epochs.agentActive(), stepTimes, barrier, collection.outcome(),
                collection.nudges(), kept.devicesCreated(), kept.releaseFailures(), collection.leaked() ? leakSuspects : List.of(),
                scope, refusedEntries, audit, registrations);
    }

    /**
     * Appends the managed registrations step 2 could not undo, each with the stack that registered
     * it, to a timeout or audit report: a thread that would not stop is usually why it waited.
     */
    static String withLeftovers(String message, List<UndoneRegistration> registrations) {
        StringBuilder sb = new StringBuilder(message);
        boolean any = false;
        for (UndoneRegistration r : registrations) {
            if (r.leftOver()) {
                if (!any) {
                    sb.append("\n  registrations the unload could not undo after the exit hook:");
                    any = true;
                }
                sb.append("\n    ").append(r.kind()).append(": ").append(r.toString().replace("\n", "\n    "));
            }
        }
        return sb.toString();
    }

    /**
     * The timeout report.
     *
     * @param plugin     the plugin, which stays GOING and intact (named with its state); {@code null}
     *                   for a foreign host's
     * @param name       names the plugin and its release epoch ({@code plugin xe generation 3})
     * @param scope      what the release epoch covers, so what the barrier waits for
     * @param liveDevices the live devices with their references; {@code null} without a device count
     * @param suggestTracking whether to say how to turn reference tracking on (it is off)
     */
    static UnloadTimeoutException timeout(Plugin plugin, String name, GuardScope scope, UnloadStep step, Duration timeout,
                                          List<String> liveDevices, boolean suggestTracking, List<Thread> inside) {
        return timeout(plugin, name, scope, step, timeout, liveDevices, suggestTracking, inside, List.of());
    }

    /** The timeout report, naming the registrations step 2 left over ({@link #withLeftovers}). */
    static UnloadTimeoutException timeout(Plugin plugin, String name, GuardScope scope, UnloadStep step, Duration timeout,
                                          List<String> liveDevices, boolean suggestTracking, List<Thread> inside,
                                          List<UndoneRegistration> registrations) {
        StringBuilder sb = new StringBuilder();
        sb.append("unload of ").append(plugin != null ? plugin : name).append(" timed out after ").append(timeout.toMillis()).append(" ms in step ")
                .append(step.ordinal() + 1).append(" (").append(step.label()).append(")")
                .append(step == UnloadStep.DRAIN ? ": devices are still held"
                        : scope == GuardScope.ENTRIES ? ": a release callback is still running, or other plugin code (a call into "
                        + "the plugin, a plugin thread)"
                        : ": a release callback is still running").append('\n');
        if (liveDevices != null) {
            sb.append("  live devices: ").append(liveDevices.isEmpty() ? "none" : "").append('\n');
            liveDevices.forEach(d -> sb.append("    ").append(d).append('\n'));
        }
        sb.append("  threads inside the release epoch of ").append(name).append(" (guard scope ").append(scope).append("): ")
                .append(inside.isEmpty() ? "none" : "").append('\n');
        for (Thread th : inside) {
            appendThread(sb, th.getName(), th.getState(), th.getStackTrace());
        }
        if (step == UnloadStep.BARRIER && scope == GuardScope.ENTRIES && !inside.isEmpty()) {
            sb.append("  (a thread the plugin started runs inside it until it returns: stop the plugin's threads in its exit "
                    + "hook, or the unload waits for them until it times out)\n");
        }
        if (suggestTracking && step == UnloadStep.DRAIN) {
            sb.append("  (turn reference tracking on to see who holds each device and where they acquired it:\n"
                    + "   PluginLoader.builder().trackReferences(true) or -Dunloadguard.trackReferences=true)\n");
        }
        sb.append("  ").append(nothingClosed(plugin));
        List<String> threads = inside.stream().map(Thread::getName).collect(Collectors.toList());
        return new UnloadTimeoutException(plugin, step, withLeftovers(sb.toString(), registrations), liveDevices == null ? List.of() : liveDevices, threads);
    }

    /**
     * The report of a close audit that found threads still running code of the plugin's class
     * loader: each thread with its stack.
     */
    static CloseAuditException auditFailed(Plugin plugin, String name, GuardScope scope, String loaderName,
                                           Map<Thread, StackTraceElement[]> inside, CloseAudit audit) {
        return auditFailed(plugin, name, scope, loaderName, inside, audit, List.of());
    }

    /** The audit's report, naming the registrations step 2 left over ({@link #withLeftovers}). */
    static CloseAuditException auditFailed(Plugin plugin, String name, GuardScope scope, String loaderName,
                                           Map<Thread, StackTraceElement[]> inside, CloseAudit audit,
                                           List<UndoneRegistration> registrations) {
        StringBuilder sb = new StringBuilder();
        sb.append("unload of ").append(plugin != null ? plugin : name).append(" failed its close audit (step ")
                .append(UnloadStep.AUDIT.ordinal() + 1).append(", ").append(UnloadStep.AUDIT.label()).append("): ")
                .append(inside.size()).append(inside.size() == 1 ? " thread still runs" : " threads still run")
                .append(" code of its class loader ").append(loaderName).append(" after the release barrier\n");
        List<String> threads = new ArrayList<>();
        for (Map.Entry<Thread, StackTraceElement[]> e : inside.entrySet()) {
            Thread th = e.getKey();
            threads.add(th.getName());
            appendThread(sb, th.getName() + (th == Thread.currentThread() ? " (the thread running this unload)" : "")
                    + (isVirtual(th) ? " (virtual)" : ""), th.getState(), e.getValue());
        }
        sb.append("  scanned: ").append(audit.summary()).append("; ").append(audit.visibility()).append('\n');
        sb.append(scope == GuardScope.ENTRIES
                ? "  (every entry into the plugin is guarded, so this is code the guard did not cover: a class defined before "
                + "the agent attached and not retransformed, or a frame the weaving missed; the barrier could not wait for it)\n"
                : "  (only release paths are guarded (RELEASE_PATHS): stop the plugin's threads and calls in its exit hook, or "
                + "load it with GuardScope.ENTRIES so the unload waits for them)\n");
        sb.append("  ").append(nothingClosed(plugin)).append(" once those threads left");
        return new CloseAuditException(plugin, withLeftovers(sb.toString(), registrations), threads, audit);
    }

    private static void appendThread(StringBuilder sb, String name, Thread.State state, StackTraceElement[] stack) {
        sb.append("    \"").append(name).append("\" (").append(state).append(")\n");
        for (StackTraceElement e : stack) {
            sb.append("        at ").append(e).append('\n');
        }
    }

    private static String nothingClosed(Plugin plugin) {
        return "nothing was closed: " + (plugin != null ? "the plugin stays GOING and intact"
                : "the plugin is stopped and its class loader open") + "; call unload again to retry";
    }

    private static boolean isVirtual(Thread t) {
        return t.getClass().getName().equals("java.lang.VirtualThread");
    }
}
