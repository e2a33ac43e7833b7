package dev.unloadguard.cli;

import java.io.PrintStream;
import java.util.Arrays;

/**
 * The command line: {@code java -jar unloadguard-cli.jar COMMAND [OPTIONS]}. Exit status 0 on
 * success, 1 when the command ran and found failures, 2 for bad usage.
 */
public final class Main {

    private Main() {
    }

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err));
    }

    /** Runs a command; returns the exit status. */
    public static int run(String[] args, PrintStream out, PrintStream err) {
        if (args.length == 0 || args[0].equals("help") || args[0].equals("--help") || args[0].equals("-h")) {
            usage(out);
            return args.length == 0 ? 2 : 0;
        }
        String[] rest = Arrays.copyOfRange(args, 1, args.length);
        try {
            switch (args[0]) {
                case "demo":
                    return Demo.run(Options.parse(rest, Demo.OPTIONS), out, err);
                case "check":
                    return Check.run(rest, out, err);
                case "attach":
                    return Attach.run(rest, out, err);
                case "status":
                    return Status.run(rest, out, err);
                case "run":
                    return Run.run(Options.parse(rest, Run.OPTIONS), out, err);
                default:
                    err.println("unknown command '" + args[0] + "'");
                    usage(err);
                    return 2;
            }
        } catch (UsageException e) {
            err.println("unloadguard " + args[0] + ": " + e.getMessage());
            return 2;
        }
    }

    private static void usage(PrintStream out) {
        out.println("usage: java -javaagent:unloadguard-agent.jar -jar unloadguard-cli.jar demo [options]");
        out.println();
        out.println("commands:");
        out.println("  demo   load the driver sample, let the helper sample drop its pagemaps from its worker");
        out.println("         thread while the host hot-unloads and reloads the plugin, and print a report");
        out.println("         options: --cycles N (default " + Demo.DEFAULT_CYCLES + "), --driver JAR, --helper JAR,");
        out.println("                  --timeout-ms N (per unload, default 10000), --unguarded (allow running");
        out.println("                  without -javaagent, to see what goes wrong), --quiet (no progress lines)");
        out.println("  attach PID [--agent JAR]");
        out.println("         load the agent into a running JVM started without it; plugin classes it already");
        out.println("         loaded are retransformed (guarded) at once; the agent jar is --agent, else");
        out.println("         unloadguard-agent.jar beside this jar (or the build's agent/target)");
        out.println("  status PID");
        out.println("         the plugins of a running JVM: id, generation, state, live devices, threads in the");
        out.println("         release epoch, late accesses, and the last unload report of each");
        out.println("  run --watch DIR");
        out.println("         host every jar in DIR and follow it: a new jar loads, a replaced jar loads as a new");
        out.println("         generation alongside the old one, which then drains and unloads; a removed jar unloads");
        out.println("         options: --host-classpath PATHS (libraries plugins see), --settle-ms N (default 500),");
        out.println("                  --unload-timeout-ms N (default 10000), --track-references, --unguarded");
        out.println("  " + Check.USAGE);
        out.println("         read a plugin jar without loading it; list the release callbacks the agent will guard");
        out.println("         and the unload hazards (threads, executors, timers, shutdown hooks, ThreadLocals, JDBC");
        out.println("         drivers, logging handlers, host/JDK static caches, native libraries) with class, method");
        out.println("         and line; exit 1 if there are hazards. --json prints one JSON object instead");
        out.println("  help   this text");
    }
}
