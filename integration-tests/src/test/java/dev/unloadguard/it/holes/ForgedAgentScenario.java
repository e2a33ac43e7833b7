package dev.unloadguard.it.holes;

import dev.unloadguard.loader.Plugin;
import dev.unloadguard.loader.PluginLoader;
import dev.unloadguard.loader.UnloadReport;
import java.nio.file.Path;
import java.time.Duration;

/**
 * Hole 4 of {@code GuardHolesIT}, run in a JVM started WITHOUT the agent: a plugin whose driver
 * init tries to declare the agent installed (unloadguard's internal {@code Epochs.agentInstalled}), then the host
 * looks at what it can see: whether its loader thinks the agent is active and whether
 * {@code unload} still refuses. Only public host API.
 *
 * <p>Arguments: the plugin jar. Prints {@code key=value} lines: agentBefore, plugin (what the
 * plugin reported), agentActive, unload ({@code refused: <message>}, {@code completed: <summary>}
 * or {@code threw: <exception>}).
 */
public final class ForgedAgentScenario {

    public static void main(String[] args) throws Exception {
        HoleBus bus = new HoleBus();
        PluginLoader loader = PluginLoader.builder().service(HoleBus.class, bus).collectionTimeout(Duration.ZERO).build();
        System.out.println("agentBefore=" + loader.agentActive());
        Plugin plugin = loader.load(Path.of(args[0]));
        System.out.println("plugin=" + String.join("; ", bus.events()));
        System.out.println("agentActive=" + loader.agentActive());
        String unload;
        try {
            UnloadReport report = loader.unload(plugin, Duration.ofSeconds(5));
            unload = "completed: " + report.summary();
        } catch (IllegalStateException e) {
            unload = "refused: " + e.getMessage();
        } catch (Throwable t) {
            unload = "threw: " + t;
        }
        System.out.println("unload=" + unload.replace('\n', ' '));
        System.out.flush();
        System.exit(0);
    }
}
