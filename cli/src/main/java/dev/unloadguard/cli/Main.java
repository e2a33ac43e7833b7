package dev.unloadguard.cli;

import java.io.PrintStream;
import java.util.Arrays;

/**
 * The command line: {@code java -jar unloadguard-cli.jar COMMAND [OPTIONS]}. Exit status 0 on
 * success, 1 when the command ran and found failures (or could not reach its target), 2 for bad
 * usage; {@code help} lists them.
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
        if (args[0].equals("version") || args[0].equals("--version")) {
            if (args.length != 1) {
                err.println("unloadguard " + args[0] + ": takes no arguments");
                return 2;
            }
            out.println("unloadguard " + version());
            return 0;
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
                case "analyze":
                    return Analyze.run(rest, out, err);
                case "leaks":
                    return Leaks.run(rest, out, err);
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

    /**
     * The {@code Implementation-Version} of this jar's manifest (read from the jar itself: the
     * package may have been defined from another class path entry), or {@code "dev"} outside a jar.
     */
    static String version() {
        String v = null;
        try {
            java.security.CodeSource source = Main.class.getProtectionDomain().getCodeSource();
            if (source != null && "file".equals(source.getLocation().getProtocol())) {
                java.nio.file.Path self = java.nio.file.Path.of(source.getLocation().toURI());
                if (java.nio.file.Files.isRegularFile(self)) {
                    try (java.util.jar.JarFile jar = new java.util.jar.JarFile(self.toFile(), false)) {
                        java.util.jar.Manifest m = jar.getManifest();
                        v = m == null ? null : m.getMainAttributes().getValue(java.util.jar.Attributes.Name.IMPLEMENTATION_VERSION);
                    }
                }
            }
        } catch (java.io.IOException | java.net.URISyntaxException | RuntimeException e) {
            v = null;
        }
        if (v == null) {
            v = Main.class.getPackage().getImplementationVersion();
        }
        return v == null ? "dev" : v;
    }

    private static void usage(PrintStream out) {
        out.println("usage: java [-javaagent:unloadguard-agent.jar] -jar unloadguard-cli.jar COMMAND [options]");
        out.println("       (demo and run need the -javaagent; the other commands do not)");
        out.println();
        out.println("commands:");
        out.println("  demo   load the driver sample, let the helper sample drop its pagemaps from its worker");
        out.println("         thread while the host hot-unloads and reloads the plugin, and print a report");
        out.println("         options: --cycles N (default " + Demo.DEFAULT_CYCLES + "), --driver JAR, --helper JAR,");
        out.println("                  --timeout-ms N (per unload, default 10000), --unguarded (allow running");
        out.println("                  without -javaagent, to see what goes wrong), --quiet (no progress lines)");
        out.println("         --dependencies: a plugin with a library and one depending on it, reloaded together");
        out.println("                  (--greeting JAR, --welcome JAR; --cycles default " + DependencyDemo.DEFAULT_CYCLES + ")");
        out.println("  attach PID [--agent JAR]");
        out.println("         load the agent into a running JVM started without it; plugin classes it already");
        out.println("         loaded are retransformed (guarded) at once; the agent jar is --agent, else");
        out.println("         unloadguard-agent.jar beside this jar (or the build's agent/target). A JVM that");
        out.println("         already runs the agent is left alone (exit 0). JDK 21+ targets print a warning for a");
        out.println("         dynamically loaded agent: start them with -XX:+EnableDynamicAgentLoading to silence it");
        out.println("  status PID");
        out.println("         whether the agent is attached in a running JVM (and its version), and its plugins: id,");
        out.println("         generation, state, live devices, threads in the release epoch, late accesses, and");
        out.println("         the last unload report of each");
        out.println("  run --watch DIR [options]");
        out.println("         host every jar in DIR and follow it: a new jar loads, a replaced jar loads as a new");
        out.println("         generation alongside the old one, which then drains and unloads; a removed jar unloads");
        out.println("         options: --host-classpath PATHS (libraries plugins see; ':'-separated, ';' on Windows),");
        out.println("                  --config KEY=VALUE (what plugins read with ctx.config(KEY); repeatable),");
        out.println("                  --service TYPE=CLASS (new CLASS() from the host class path, offered to plugins");
        out.println("                  as ctx.service(TYPE.class); --service CLASS registers it under its own type;");
        out.println("                  repeatable; closed on stop if AutoCloseable), --settle-ms N (default 500),");
        out.println("                  --unload-timeout-ms N (default 10000), --track-references, --unguarded");
        out.println("  " + Leaks.USAGE);
        out.println("         ask a running JVM to dump its live heap (as jcmd GC.heap_dump does; it needs neither");
        out.println("         the agent nor unloadguard-leaks), then print for each leaked plugin generation the");
        out.println("         shortest chain of strong references from a GC root to its class loader; the dump is");
        out.println("         deleted unless --keep names a file for it; exit 1 if a generation leaked");
        out.println("  " + Analyze.USAGE);
        out.println("         the same for a heap dump taken earlier (jcmd PID GC.heap_dump FILE.hprof)");
        out.println("  " + Check.USAGE);
        out.println("         read a plugin jar without loading it; list the release callbacks the agent will guard");
        out.println("         and the unload hazards (threads, executors, timers, shutdown hooks, ThreadLocals, JDBC");
        out.println("         drivers, logging handlers, host/JDK static caches, native libraries) with class, method");
        out.println("         and line; exit 1 if there are hazards. --json prints one JSON object instead");
        out.println("  version, --version");
        out.println("         print this jar's version");
        out.println("  help, --help, -h");
        out.println("         this text");
        out.println();
        out.println("exit status:");
        out.println("  0  success: demo without failures, check without hazards, attach done (or the agent was");
        out.println("     already there), status printed, run stopped cleanly");
        out.println("  1  the command ran and found a problem: demo failures, check hazards, a JVM that could");
        out.println("     not be attached to or read");
        out.println("  2  bad usage: unknown command or option, bad value, missing or wrong jar, a PID that is");
        out.println("     not a running JVM, demo or run without the agent");
    }
}
