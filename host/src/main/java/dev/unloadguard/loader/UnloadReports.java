package dev.unloadguard.loader;

import dev.unloadguard.epoch.BarrierOutcome;
import dev.unloadguard.epoch.internal.Epochs;
import java.time.Duration;
import java.util.List;
import java.util.stream.Collectors;

/**
 * The one place that writes what an unload tells its caller, for both hosts: the report of an
 * unload that finished, and the timeout report (the exception's message) of one that did not.
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
                                 CollectionResult collection, List<String> leakSuspects) {
        return new UnloadReport(id, generation, Epochs.agentActive(), clock.times(), barrier, collection.outcome(),
                collection.nudges(), kept.devicesCreated(), kept.releaseFailures(), collection.leaked() ? leakSuspects : List.of());
    }

    /**
     * The timeout report.
     *
     * @param plugin     the plugin, which stays GOING and intact (named with its state); {@code null}
     *                   for a foreign host's
     * @param name       names the plugin and its release epoch ({@code plugin xe generation 3})
     * @param liveDevices the live devices with their references; {@code null} without a device count
     * @param suggestTracking whether to say how to turn reference tracking on (it is off)
     */
    static UnloadTimeoutException timeout(Plugin plugin, String name, UnloadStep step, Duration timeout,
                                          List<String> liveDevices, boolean suggestTracking, List<Thread> inside) {
        StringBuilder sb = new StringBuilder();
        sb.append("unload of ").append(plugin != null ? plugin : name).append(" timed out after ").append(timeout.toMillis()).append(" ms in step ")
                .append(step.ordinal() + 1).append(" (").append(step.label()).append(")")
                .append(step == UnloadStep.DRAIN ? ": devices are still held" : ": a release callback is still running").append('\n');
        if (liveDevices != null) {
            sb.append("  live devices: ").append(liveDevices.isEmpty() ? "none" : "").append('\n');
            liveDevices.forEach(d -> sb.append("    ").append(d).append('\n'));
        }
        sb.append("  threads inside the release epoch of ").append(name).append(": ").append(inside.isEmpty() ? "none" : "").append('\n');
        for (Thread th : inside) {
            sb.append("    \"").append(th.getName()).append("\" (").append(th.getState()).append(")\n");
            for (StackTraceElement e : th.getStackTrace()) {
                sb.append("        at ").append(e).append('\n');
            }
        }
        if (suggestTracking && step == UnloadStep.DRAIN) {
            sb.append("  (turn reference tracking on to see who holds each device and where they acquired it:\n"
                    + "   PluginLoader.builder().trackReferences(true) or -Dunloadguard.trackReferences=true)\n");
        }
        sb.append("  nothing was closed: ").append(plugin != null ? "the plugin stays GOING and intact"
                : "the plugin is stopped and its class loader open").append("; call unload again to retry");
        List<String> threads = inside.stream().map(Thread::getName).collect(Collectors.toList());
        return new UnloadTimeoutException(plugin, step, sb.toString(), liveDevices == null ? List.of() : liveDevices, threads);
    }
}
