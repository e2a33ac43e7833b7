package dev.unloadguard.observe;

import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;
import jdk.jfr.Timespan;

/**
 * The JFR events unloadguard records, all under the category "unloadguard" and named
 * {@code dev.unloadguard.*}: enable them in a recording with e.g.
 * {@code -XX:StartFlightRecording:settings=default,+dev.unloadguard.PluginUnload#enabled=true}
 * or {@code jfr configure}, or programmatically with {@code Recording.enable("dev.unloadguard.PluginUnload")}.
 * They cost nothing when no recording enables them.
 */
public final class UnloadguardEvents {

    private UnloadguardEvents() {
    }

    @Name("dev.unloadguard.PluginLoad")
    @Label("Plugin Load")
    @Category("unloadguard")
    @Description("A plugin jar was loaded (its driver's init ran); the duration is the whole load")
    @StackTrace(false)
    public static final class PluginLoad extends Event {
        @Label("Plugin Id")
        public String pluginId;
        @Label("Generation")
        public int generation;
        @Label("Jar")
        public String jar;
        @Label("Class Loader")
        public String classLoader;
        @Label("Version")
        @Description("The plugin's Plugin-Version (0 when it declares none)")
        public String version;
        @Label("Dependencies")
        @Description("The plugin generations the load was resolved against (Plugin-Requires), as 'ID generation N version V', "
                + "comma-separated; empty when it requires none")
        public String dependencies;
    }

    @Name("dev.unloadguard.PluginUnload")
    @Label("Plugin Unload")
    @Category("unloadguard")
    @Description("A plugin was unloaded with the seven-step protocol; the duration is the whole unload")
    @StackTrace(false)
    public static final class PluginUnload extends Event {
        @Label("Plugin Id")
        public String pluginId;
        @Label("Generation")
        public int generation;
        @Label("Outcome")
        @Description("COLLECTED or LEAKED when the unload awaited its collection check; UNLOADED when the check "
                + "goes on after the unload (the default; a CollectionCheck event follows) or was off")
        public String outcome;
        @Label("Barrier")
        @Description("IMMEDIATE or WAITED")
        public String barrier;
        @Label("Going")
        @Timespan(Timespan.NANOSECONDS)
        public long going;
        @Label("Exit")
        @Timespan(Timespan.NANOSECONDS)
        public long exit;
        @Label("Drain")
        @Timespan(Timespan.NANOSECONDS)
        public long drain;
        @Label("Release Barrier")
        @Timespan(Timespan.NANOSECONDS)
        public long releaseBarrier;
        @Label("Close Audit")
        @Timespan(Timespan.NANOSECONDS)
        public long audit;
        @Label("Close")
        @Timespan(Timespan.NANOSECONDS)
        public long close;
        @Label("Collect")
        @Timespan(Timespan.NANOSECONDS)
        public long collect;
        @Label("Agent Active")
        public boolean agentActive;
        @Label("Guard Scope")
        @Description("ENTRIES (every entry into the plugin) or RELEASE_PATHS")
        public String guardScope;
        @Label("Refused Entries")
        @Description("Calls from outside refused while the plugin was GOING")
        public long refusedEntries;
        @Label("Audit Platform Threads")
        public int auditPlatformThreads;
        @Label("Audit Virtual Threads")
        public int auditVirtualThreads;
        @Label("Audit Saw Virtual Threads")
        @Description("Whether the close audit could scan every virtual thread (true on JDK 17, which has none)")
        public boolean auditVirtualThreadsVisible;
    }

    @Name("dev.unloadguard.BarrierWait")
    @Label("Release Barrier Wait")
    @Category("unloadguard")
    @Description("An unload's release barrier found a release callback still running and waited for it (or timed out)")
    @StackTrace(false)
    public static final class BarrierWait extends Event {
        @Label("Plugin Id")
        public String pluginId;
        @Label("Generation")
        public int generation;
        @Label("Outcome")
        public String outcome;
    }

    @Name("dev.unloadguard.EntryRefused")
    @Label("Entry Refused")
    @Category("unloadguard")
    @Description("A call from outside into a plugin that is unloading (GOING) or unloaded was refused with "
            + "PluginUnloadedError; the event's thread and stack trace are the caller's")
    public static final class EntryRefused extends Event {
        @Label("Plugin Id")
        public String pluginId;
        @Label("Generation")
        public int generation;
        @Label("Method")
        @Description("The plugin method, constructor or static initializer entered")
        public String method;
    }

    @Name("dev.unloadguard.UnloadTimeout")
    @Label("Unload Timeout")
    @Category("unloadguard")
    @Description("An unload timed out, or its close audit (step AUDIT) found plugin frames; the plugin stays GOING and intact")
    @StackTrace(false)
    public static final class UnloadTimeout extends Event {
        @Label("Plugin Id")
        public String pluginId;
        @Label("Generation")
        public int generation;
        @Label("Step")
        public String step;
        @Label("Live Devices")
        public String liveDevices;
        @Label("Threads Inside The Epoch")
        @Description("For step AUDIT: the threads with frames of the plugin's class loader")
        public String threadsInsideEpoch;
    }

    @Name("dev.unloadguard.CollectionCheck")
    @Label("Collection Check")
    @Category("unloadguard")
    @Description("The collection check of an unloaded plugin ended: its class loader was collected, or leaked")
    @StackTrace(false)
    public static final class CollectionCheck extends Event {
        @Label("Plugin Id")
        public String pluginId;
        @Label("Generation")
        public int generation;
        @Label("Outcome")
        @Description("COLLECTED or LEAKED")
        public String outcome;
        @Label("GC Nudges")
        @Description("System.gc() calls made while the check was pending (asynchronous: 0 or 1, shared by every pending check)")
        public int gcNudges;
        @Label("Collect")
        @Description("From the close of the class loader to the end of the check")
        @Timespan(Timespan.NANOSECONDS)
        public long collect;
    }

    @Name("dev.unloadguard.LeakDetected")
    @Label("Leak Detected")
    @Category("unloadguard")
    @Description("An unloaded plugin's class loader was not collected within the bound")
    @StackTrace(false)
    public static final class LeakDetected extends Event {
        @Label("Plugin Id")
        public String pluginId;
        @Label("Generation")
        public int generation;
        @Label("Suspects")
        public String suspects;
    }

    @Name("dev.unloadguard.LateAccess")
    @Label("Late Access")
    @Category("unloadguard")
    @Description("Code still running in an unloaded plugin asked its closed class loader for a class")
    public static final class LateAccess extends Event {
        @Label("Plugin Id")
        public String pluginId;
        @Label("Generation")
        public int generation;
        @Label("Class")
        public String className;
    }
}
