package dev.unloadguard.loader;

import dev.unloadguard.epoch.BarrierOutcome;
import java.time.Duration;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * What one successful unload did: the time of each protocol step, whether the release barrier
 * had to wait for plugin code, what the close audit scanned, whether the class loader was
 * collected, and what went wrong along the way without stopping the unload (release callbacks
 * that threw, entries refused while the plugin was GOING).
 *
 * @param pluginId      the plugin id
 * @param generation    the generation that was unloaded
 * @param agentActive   whether the unloadguard agent guarded the plugin's release callbacks
 * @param stepTimes     the time of each step, in protocol order
 * @param barrier       how the release barrier ended ({@code IMMEDIATE} or {@code WAITED})
 * @param outcome       {@link PluginState#COLLECTED}, {@link PluginState#LEAKED}, or
 *                      {@link PluginState#UNLOADED} when collection was not checked, or not yet:
 *                      the report {@link PluginLoader#unload} returns by default, before the
 *                      collection check ended ({@link Plugin#collectionCheck()} gives the final one)
 * @param gcNudges      how many {@code System.gc()} calls the collection check made (in the
 *                      asynchronous check 0 or 1: the one nudge shared by every pending check)
 * @param devicesCreated devices the generation created over its life
 * @param releaseFailures release callbacks or actions that threw (the unload went on)
 * @param leakSuspects  when {@code LEAKED}: what probably keeps the class loader alive
 * @param guardScope    what the agent guarded in this generation (what the barrier waited for,
 *                      whether new entries were refused once GOING)
 * @param refusedEntries calls from outside into the plugin refused while it was GOING (0 in
 *                      {@link GuardScope#RELEASE_PATHS}, which refuses none)
 * @param audit         what the close audit (step 5) scanned
 * @param registrations the plugin's managed JDK registrations that step 2 undid after the exit
 *                      hook, newest first, leftovers included (empty if it registered nothing,
 *                      or with {@link LoadOption#UNMANAGED_REGISTRATIONS})
 */
public record UnloadReport(
        String pluginId,
        int generation,
        boolean agentActive,
        Map<UnloadStep, Duration> stepTimes,
        BarrierOutcome barrier,
        PluginState outcome,
        int gcNudges,
        long devicesCreated,
        List<String> releaseFailures,
        List<String> leakSuspects,
        GuardScope guardScope,
        long refusedEntries,
        CloseAudit audit,
        List<UndoneRegistration> registrations) {

    /** The text for a leak without suspects: what finds the holder then. */
    static final String NO_SUSPECTS = "none found (name the holder with a heap dump: java -jar unloadguard-cli.jar leaks PID, "
            + "see docs/troubleshooting.md)";

    public UnloadReport {
        stepTimes = java.util.Collections.unmodifiableMap(new EnumMap<>(stepTimes));
        releaseFailures = List.copyOf(releaseFailures);
        registrations = List.copyOf(registrations);
        leakSuspects = List.copyOf(leakSuspects);
        java.util.Objects.requireNonNull(guardScope, "guardScope");
        java.util.Objects.requireNonNull(audit, "audit");
    }

    /** A report without managed registrations (none recorded, or the host turned them off). */
    public UnloadReport(String pluginId, int generation, boolean agentActive, Map<UnloadStep, Duration> stepTimes,
                        BarrierOutcome barrier, PluginState outcome, int gcNudges, long devicesCreated,
                        List<String> releaseFailures, List<String> leakSuspects, GuardScope guardScope, long refusedEntries,
                        CloseAudit audit) {
        this(pluginId, generation, agentActive, stepTimes, barrier, outcome, gcNudges, devicesCreated, releaseFailures,
                leakSuspects, guardScope, refusedEntries, audit, List.of());
    }

    /** The managed registrations left over (not undone; see {@link UndoneRegistration.Outcome#LEFT_OVER}). */
    public List<UndoneRegistration> leftoverRegistrations() {
        return registrations.stream().filter(UndoneRegistration::leftOver).collect(java.util.stream.Collectors.toList());
    }

    /**
     * A report made outside an unload (tests, tools that replay reports): the guard scope
     * {@link GuardScope#RELEASE_PATHS}, no refused entries, no close audit.
     */
    public UnloadReport(String pluginId, int generation, boolean agentActive, Map<UnloadStep, Duration> stepTimes,
                        BarrierOutcome barrier, PluginState outcome, int gcNudges, long devicesCreated,
                        List<String> releaseFailures, List<String> leakSuspects) {
        this(pluginId, generation, agentActive, stepTimes, barrier, outcome, gcNudges, devicesCreated, releaseFailures,
                leakSuspects, GuardScope.RELEASE_PATHS, 0, CloseAudit.notRun("not an unload"), List.of());
    }

    /** The time of one step ({@link Duration#ZERO} for a step that did not run). */
    public Duration time(UnloadStep step) {
        return stepTimes.getOrDefault(step, Duration.ZERO);
    }

    /** Whether the release barrier found a release callback still running and waited for it. */
    public boolean barrierWaited() {
        return barrier == BarrierOutcome.WAITED;
    }

    /** Whether the plugin's class loader was confirmed collected. */
    public boolean collected() {
        return outcome == PluginState.COLLECTED;
    }

    /**
     * Total time from GOING to the end of the collection check (to the close, while the check is
     * pending; an asynchronous check's collect step lasts until a GC collected the class loader).
     */
    public Duration total() {
        return stepTimes.values().stream().reduce(Duration.ZERO, Duration::plus);
    }

    /**
     * A one-line summary: {@code xe gen 3: going 0.001 ms, exit ..., collect 4.100 ms; ENTRIES; barrier WAITED;
     * audit 12 platform + 0 virtual threads, ...; COLLECTED}.
     */
    public String summary() {
        StringBuilder sb = new StringBuilder();
        sb.append(pluginId).append(" gen ").append(generation).append(':');
        for (UnloadStep step : UnloadStep.values()) {
            sb.append(' ').append(step.label()).append(' ').append(millis(time(step))).append(" ms,");
        }
        sb.setLength(sb.length() - 1);
        sb.append("; ").append(guardScope).append("; barrier ").append(barrier).append("; audit ").append(audit.summary())
                .append("; ").append(outcome);
        if (refusedEntries > 0) {
            sb.append("; ").append(refusedEntries).append(" entr").append(refusedEntries == 1 ? "y" : "ies").append(" refused");
        }
        if (!registrations.isEmpty()) {
            int left = leftoverRegistrations().size();
            sb.append("; ").append(registrations.size() - left).append(" registration(s) undone");
            if (left > 0) {
                sb.append(", ").append(left).append(" LEFT OVER");
            }
        }
        if (!agentActive) {
            sb.append("; UNGUARDED (no agent)");
        }
        if (!releaseFailures.isEmpty()) {
            sb.append("; ").append(releaseFailures.size()).append(" release failure(s)");
        }
        return sb.toString();
    }

    private String scopeText() {
        return guardScope == GuardScope.ENTRIES ? "ENTRIES, every entry into the plugin" : "RELEASE_PATHS, release paths only";
    }

    static String millis(Duration d) {
        return String.format(Locale.ROOT, "%.3f", d.toNanos() / 1e6);
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder();
        sb.append("unload of plugin ").append(pluginId).append(" generation ").append(generation)
                .append(agentActive ? " (guarded by the agent: " + scopeText() + ")" : " (UNGUARDED: no agent)").append('\n');
        for (UnloadStep step : UnloadStep.values()) {
            sb.append(String.format(Locale.ROOT, "  %d. %-8s %10s ms%n", step.ordinal() + 1, step.label(), millis(time(step))));
        }
        if (!registrations.isEmpty()) {
            sb.append("  registrations undone after exit (newest first): ").append(registrations.size()).append('\n');
            for (UndoneRegistration r : registrations) {
                sb.append("    ").append(r.kind()).append(": ").append(r.toString().replace("\n", "\n    ")).append('\n');
            }
        }
        sb.append("  barrier: ").append(barrier).append('\n');
        sb.append("  close audit: ").append(audit.summary()).append('\n');
        if (audit.ran() && !audit.virtualThreadsVisible()) {
            sb.append("    ").append(audit.visibility()).append('\n');
        }
        sb.append("  entries refused while GOING: ").append(refusedEntries).append('\n');
        sb.append("  outcome: ").append(outcome);
        if (gcNudges > 0) {
            sb.append(" after ").append(gcNudges).append(" GC nudge(s)");
        }
        sb.append('\n');
        sb.append("  devices created: ").append(devicesCreated).append('\n');
        for (String f : releaseFailures) {
            sb.append("  release failure: ").append(f).append('\n');
        }
        if (outcome == PluginState.LEAKED) {
            sb.append("  leak suspects:").append(leakSuspects.isEmpty() ? " " + NO_SUSPECTS : "").append('\n');
            for (String s : leakSuspects) {
                sb.append("    ").append(s).append('\n');
            }
        }
        return sb.toString();
    }
}
