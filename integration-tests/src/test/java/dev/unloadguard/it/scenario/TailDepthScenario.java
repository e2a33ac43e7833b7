package dev.unloadguard.it.scenario;

import dev.unloadguard.it.support.RecordingTailHook;
import dev.unloadguard.loader.Plugin;
import dev.unloadguard.loader.PluginLoader;
import dev.unloadguard.sample.helper.PagemapCache;
import dev.unloadguard.sample.helper.ReleaseTailHook;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.file.Path;
import java.time.Duration;

/**
 * Loads driver-sample, optionally waits for a line on stdin (so a test can attach the agent to
 * this running JVM), then lets the helper drop the pagemaps and prints the release-epoch depth
 * seen inside each release tail: 1 when the agent guards the callback, 0 without, 2 if it were
 * guarded twice. Arguments: driver jar, {@code wait} or {@code go}.
 */
public final class TailDepthScenario {

    public static void main(String[] args) throws Exception {
        Path driverJar = Path.of(args[0]);
        boolean wait = args[1].equals("wait");
        RecordingTailHook hook = new RecordingTailHook();
        try (PagemapCache cache = new PagemapCache("pagemap-cache-worker")) {
            PluginLoader loader = PluginLoader.builder()
                    .service(PagemapCache.class, cache)
                    .service(ReleaseTailHook.class, hook)
                    .config("xe.devices", "1")
                    .allowUnguardedUnload(true)
                    .awaitCollection(true).build();
            Plugin plugin = loader.load(driverJar);
            System.out.println("loaded=" + plugin.generation());
            System.out.flush();
            if (wait) {
                String line = new BufferedReader(new InputStreamReader(System.in)).readLine();
                System.out.println("resumed=" + line);
            }
            cache.dropAllLater();
            var report = loader.unload(plugin, Duration.ofSeconds(30));
            System.out.println("agent=" + loader.agentActive());
            System.out.println("depths=" + hook.depths());
            System.out.println("failures=" + cache.failures().size());
            System.out.println("outcome=" + report.outcome());
        }
        System.out.flush();
        System.exit(0);
    }
}
