package dev.unloadguard.cli;

import java.io.File;
import java.io.PrintStream;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.CodeSource;
import net.bytebuddy.agent.ByteBuddyAgent;

/**
 * {@code attach PID [--agent JAR]}: loads the agent jar into a running JVM that was started
 * without it (its {@code agentmain} retransforms the plugin classes that JVM already loaded). The
 * agent jar is {@code --agent}, else {@code unloadguard-agent.jar} beside this jar, else the
 * build's {@code agent/target/unloadguard-agent.jar} next to this jar's module. Byte Buddy's
 * attach code does the work: the JDK attach API when this JVM has it, else a helper process.
 */
final class Attach {

    private Attach() {
    }

    static int run(String[] args, PrintStream out, PrintStream err) throws UsageException {
        String agentOption = null;
        if (args.length == 3 && args[1].equals("--agent")) {
            agentOption = args[2];
        } else if (args.length != 1) {
            throw new UsageException("usage: attach PID [--agent unloadguard-agent.jar] (PID: a running JVM, e.g. from 'jps')");
        }
        if (!args[0].matches("[0-9]+")) {
            throw new UsageException("usage: attach PID [--agent unloadguard-agent.jar] (PID: a running JVM, e.g. from 'jps')");
        }
        String pid = args[0];
        if (pid.equals(Long.toString(ProcessHandle.current().pid()))) {
            throw new UsageException("PID " + pid + " is this process: pass the id of the JVM to attach to");
        }
        if (ProcessHandle.of(Long.parseLong(pid)).isEmpty()) {
            throw new UsageException("no process with PID " + pid + " is running (list JVMs with 'jps -l')");
        }
        File jar = agentJar(agentOption);
        try {
            ByteBuddyAgent.attach(jar, pid);
        } catch (RuntimeException e) {
            err.println("unloadguard attach: could not attach to PID " + pid + ": " + e.getMessage()
                    + (e.getCause() == null ? "" : " (" + e.getCause() + ")"));
            err.println("  the target must be a HotSpot/OpenJ9 JVM run by the same user, started without"
                    + " -XX:+DisableAttachMechanism");
            return 1;
        }
        out.println("attached " + jar + " to JVM " + pid + ": plugin classes it already loaded are now guarded");
        return 0;
    }

    private static File agentJar(String option) throws UsageException {
        if (option != null) {
            Path p = Path.of(option);
            if (!Files.isRegularFile(p)) {
                throw new UsageException("--agent " + option + ": no such file (pass the path of unloadguard-agent.jar)");
            }
            return p.toFile();
        }
        CodeSource source = Attach.class.getProtectionDomain().getCodeSource();
        try {
            Path self = source == null ? null : Path.of(source.getLocation().toURI());
            if (self != null && Files.isRegularFile(self)) {
                Path dir = self.toAbsolutePath().getParent();
                for (Path candidate : new Path[] {dir.resolve("unloadguard-agent.jar"),
                        dir.resolve("../../agent/target/unloadguard-agent.jar").normalize()}) {
                    if (Files.isRegularFile(candidate)) {
                        return candidate.toFile();
                    }
                }
            }
        } catch (URISyntaxException | RuntimeException e) {
            // fall through to the usage error
        }
        throw new UsageException("cannot find unloadguard-agent.jar beside this jar: pass it with attach PID --agent PATH");
    }
}
