package dev.unloadguard.cli;

import java.io.File;
import java.io.PrintStream;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.CodeSource;
import net.bytebuddy.agent.ByteBuddyAgent;

/**
 * {@code attach PID}: loads this jar as an agent into a running JVM that was started without it
 * (its {@code agentmain} retransforms the plugin classes that JVM already loaded). Byte Buddy's
 * attach code does the work: the JDK attach API when this JVM has it, else a helper process.
 */
final class Attach {

    private Attach() {
    }

    static int run(String[] args, PrintStream out, PrintStream err) throws UsageException {
        if (args.length != 1 || !args[0].matches("[0-9]+")) {
            throw new UsageException("usage: attach PID (the process id of a running JVM, e.g. from 'jps')");
        }
        String pid = args[0];
        if (pid.equals(Long.toString(ProcessHandle.current().pid()))) {
            throw new UsageException("PID " + pid + " is this process: pass the id of the JVM to attach to");
        }
        if (ProcessHandle.of(Long.parseLong(pid)).isEmpty()) {
            throw new UsageException("no process with PID " + pid + " is running (list JVMs with 'jps -l')");
        }
        File jar = agentJar();
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

    private static File agentJar() throws UsageException {
        CodeSource source = Attach.class.getProtectionDomain().getCodeSource();
        try {
            Path p = source == null ? null : Path.of(source.getLocation().toURI());
            if (p == null || !Files.isRegularFile(p)) {
                throw new UsageException("attach must run from the agent jar: java -jar unloadguard-agent.jar attach PID");
            }
            return p.toFile();
        } catch (URISyntaxException e) {
            throw new UsageException("cannot locate the agent jar: " + e.getMessage());
        }
    }
}
