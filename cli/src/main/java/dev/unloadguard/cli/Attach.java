package dev.unloadguard.cli;

import com.sun.tools.attach.AgentInitializationException;
import com.sun.tools.attach.AgentLoadException;
import java.io.File;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.CodeSource;
import java.util.Optional;

/**
 * {@code attach PID [--agent JAR]}: loads the agent jar into a running JVM that was started
 * without it (its {@code agentmain} retransforms the plugin classes that JVM already loaded). The
 * agent jar is {@code --agent}, else {@code unloadguard-agent.jar} beside this jar, else the
 * build's {@code agent/target/unloadguard-agent.jar} next to this jar's module.
 *
 * <p>Uses the JDK's attach API ({@link TargetJvm}): an id that is not a JVM fails at once, a JVM
 * that already runs the agent is left alone (exit 0, one line), and a target on JDK 21 or newer
 * gets a note about the warning it prints for a dynamically loaded agent (JEP 451).
 */
final class Attach {

    static final String USAGE = "attach PID [--agent unloadguard-agent.jar] (PID: a running JVM, e.g. from 'jps -l')";

    private Attach() {
    }

    static int run(String[] args, PrintStream out, PrintStream err) throws UsageException {
        String agentOption = null;
        if (args.length == 3 && args[1].equals("--agent")) {
            agentOption = args[2];
        } else if (args.length != 1) {
            throw new UsageException("usage: " + USAGE);
        }
        File jar = agentJar(agentOption);
        try (TargetJvm target = TargetJvm.open(args[0], "attach")) {
            Optional<TargetJvm.AgentState> before = target.agentState();
            if (before.isPresent() && before.get().attached()) {
                out.println("JVM " + target.pid() + " already has the unloadguard agent " + before.get().describe()
                        + ": nothing to do");
                return 0;
            }
            int feature = target.featureVersion();
            // JEP 451: from JDK 21 the target warns about a dynamically loaded agent unless it was
            // started with -XX:+EnableDynamicAgentLoading (a non-default flag, listed by VM.flags)
            boolean warns = feature >= 21
                    && !target.jcmd("VM.flags").orElse("").contains("-XX:+EnableDynamicAgentLoading");
            try {
                target.vm().loadAgent(jar.getAbsolutePath());
            } catch (AgentLoadException | AgentInitializationException | IOException e) {
                err.println("unloadguard attach: could not load " + jar + " into JVM " + target.pid() + ": " + TargetJvm.oneLine(e));
                return 1;
            }
            out.println("attached " + jar + " to JVM " + target.pid() + ": plugin classes it already loaded are now guarded");
            if (warns) {
                out.println("note: JVM " + target.pid() + " runs Java " + feature + ", which prints \"WARNING: A Java agent has been"
                        + " loaded dynamically\" on its standard error for this attach; start it with"
                        + " -XX:+EnableDynamicAgentLoading to silence that (or with -javaagent:unloadguard-agent.jar to need no attach)");
            }
            return 0;
        } catch (IOException e) {
            err.println("unloadguard attach: " + e.getMessage());
            return 1;
        }
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
