package dev.unloadguard.cli;

import java.io.IOException;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import javax.management.MBeanServerConnection;
import javax.management.ObjectName;
import javax.management.remote.JMXConnector;
import javax.management.remote.JMXConnectorFactory;
import javax.management.remote.JMXServiceURL;

/**
 * {@code status PID}: the plugins of a running JVM, read from their {@code dev.unloadguard}
 * MXBeans over the JVM's local JMX agent (started on demand through the attach API; the target
 * must be run by the same user). The first line says whether the unloadguard agent is installed
 * there ({@link TargetJvm#agentState()}).
 */
final class Status {

    private Status() {
    }

    /**
     * The plugin's version and dependencies, one line ({@code version 1.0; requires a generation 2
     * version 1.0; required by b generation 3; exports com.example.api}), or empty when it has
     * none of them (or runs an unloadguard without these attributes).
     */
    static String dependencies(MBeanServerConnection server, ObjectName n) {
        List<String> parts = new ArrayList<>();
        try {
            String version = (String) server.getAttribute(n, "Version");
            String[] requires = (String[]) server.getAttribute(n, "Dependencies");
            String[] dependents = (String[]) server.getAttribute(n, "Dependents");
            String[] exports = (String[]) server.getAttribute(n, "Exports");
            if (requires.length + dependents.length + exports.length == 0 && "0".equals(version)) {
                return "";
            }
            parts.add("version " + version);
            if (requires.length > 0) {
                parts.add("requires " + String.join(", ", requires));
            }
            if (dependents.length > 0) {
                parts.add("required by " + String.join(", ", dependents));
            }
            if (exports.length > 0) {
                parts.add("exports " + String.join(", ", exports));
            }
        } catch (Exception e) {
            return "";
        }
        return String.join("; ", parts);
    }

    static int run(String[] args, PrintStream out, PrintStream err) throws UsageException {
        if (args.length != 1) {
            throw new UsageException("usage: status PID (the process id of a running JVM, e.g. from 'jps -l')");
        }
        String pid;
        String address;
        String agent;
        try (TargetJvm target = TargetJvm.open(args[0], "status")) {
            pid = target.pid();
            agent = target.agentState()
                    .map(a -> a.attached() ? a.describe() : a.describe() + " (attach it with: attach " + target.pid() + ")")
                    .orElse("unknown (this JVM cannot run diagnostic commands in it)");
            address = target.vm().startLocalManagementAgent();
        } catch (IOException e) {
            err.println("unloadguard status: " + e.getMessage());
            return 1;
        }
        out.println("JVM " + pid + ": unloadguard agent " + agent);
        try (JMXConnector connector = JMXConnectorFactory.connect(new JMXServiceURL(address))) {
            MBeanServerConnection server = connector.getMBeanServerConnection();
            Set<ObjectName> names = server.queryNames(new ObjectName("dev.unloadguard:type=Plugin,*"), null);
            if (names.isEmpty()) {
                out.println("JVM " + pid + ": no unloadguard plugin loader");
                return 0;
            }
            List<ObjectName> sorted = new ArrayList<>(names);
            sorted.sort((a, b) -> a.getCanonicalName().compareTo(b.getCanonicalName()));
            out.printf(Locale.ROOT, "JVM %s: %d plugin id(s)%n", pid, sorted.size());
            out.printf(Locale.ROOT, "%-7s %-16s %-10s %-10s %-8s %-8s %-6s %s%n",
                    "loader", "plugin", "generation", "state", "devices", "readers", "late", "jar");
            List<String> reports = new ArrayList<>();
            for (ObjectName n : sorted) {
                String id = (String) server.getAttribute(n, "Id");
                out.printf(Locale.ROOT, "%-7s %-16s %-10s %-10s %-8s %-8s %-6s %s%n",
                        n.getKeyProperty("loader"), id, server.getAttribute(n, "Generation"), server.getAttribute(n, "State"),
                        server.getAttribute(n, "LiveDevices"), server.getAttribute(n, "ReadersInEpoch"),
                        server.getAttribute(n, "LateAccesses"), server.getAttribute(n, "Jar"));
                String deps = dependencies(server, n);
                if (!deps.isEmpty()) {
                    out.println("        " + deps);
                }
                String report = (String) server.getAttribute(n, "LastUnloadReport");
                if (!report.isEmpty()) {
                    reports.add(report);
                }
            }
            for (String r : reports) {
                out.println();
                out.print(r);
            }
            return 0;
        } catch (Exception e) {
            err.println("unloadguard status: cannot read the plugins of JVM " + pid + " over JMX (" + address + "): " + e);
            return 1;
        }
    }
}
