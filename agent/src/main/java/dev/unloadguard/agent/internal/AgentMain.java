package dev.unloadguard.agent.internal;

import dev.unloadguard.weave.internal.Log;
import java.lang.instrument.Instrumentation;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The agent's entry points ({@code -javaagent:unloadguard-agent.jar} and dynamic attach).
 *
 * <p>Deliberately tiny: it installs the one transformer ({@link AgentInstaller}) and nothing
 * else. Installing is once per JVM: a second {@code -javaagent} or an attach after premain logs
 * and returns.
 */
public final class AgentMain {

    private static final AtomicBoolean STARTED = new AtomicBoolean();

    private AgentMain() {
    }

    /**
     * {@code java -jar unloadguard-agent.jar}: this jar is only the agent; says where the command
     * line went and exits with status 2.
     */
    public static void main(String[] args) {
        System.err.println("unloadguard-agent.jar is the -javaagent jar and has no commands. The command line is "
                + "unloadguard-cli.jar:\n  java -jar unloadguard-cli.jar help\n"
                + "  java -javaagent:unloadguard-agent.jar -jar unloadguard-cli.jar demo");
        System.exit(2);
    }

    /** {@code -javaagent}: runs before {@code main}. */
    public static void premain(String args, Instrumentation inst) {
        start(args, inst, false);
    }

    /** Dynamic attach: also guards the plugin classes already loaded. */
    public static void agentmain(String args, Instrumentation inst) {
        start(args, inst, true);
    }

    private static void start(String args, Instrumentation inst, boolean lateAttach) {
        if (!STARTED.compareAndSet(false, true)) {
            Log.info("unloadguard agent already installed in this JVM; ignoring the second "
                    + (lateAttach ? "attach" : "-javaagent"));
            return;
        }
        AgentInstaller.install(inst, args, lateAttach);
    }
}
