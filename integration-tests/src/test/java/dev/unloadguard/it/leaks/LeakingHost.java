package dev.unloadguard.it.leaks;

import dev.unloadguard.loader.Plugin;
import dev.unloadguard.loader.PluginLoader;
import dev.unloadguard.loader.UnloadReport;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;

/**
 * A host JVM for the {@code leaks PID} tests (forked, with the agent, without unloadguard-leaks):
 * loads the plugin jar given, unloads it, prints {@code outcome=...}; on "fix" forgets what the
 * plugin left and prints {@code fixed}; exits on "exit".
 */
public final class LeakingHost {

    private LeakingHost() {
    }

    public static void main(String[] args) throws Exception {
        // The host initializes its own classes: its pool thread, if the plugin's init started it, would
        // inherit the plugin's access control context (JDK 17-23), a second path to the plugin's loader.
        LeakHolders.pool();
        PluginLoader loader = PluginLoader.builder().collectionTimeout(Duration.ofSeconds(2)).awaitCollection(true).build();
        Plugin plugin = loader.load(Path.of(args[0]));
        UnloadReport report = loader.unload(plugin, Duration.ofSeconds(30));
        System.out.println("outcome=" + report.outcome());
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line; (line = in.readLine()) != null; ) {
            if (line.equals("fix")) {
                LeakHolders.forget(); // nothing holds the plugin now: the next live heap dump's full GC collects it
                System.out.println("fixed");
            } else if (line.equals("exit")) {
                return;
            }
        }
    }
}
