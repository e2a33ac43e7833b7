package dev.unloadguard.cli;

import com.sun.tools.attach.VirtualMachine;
import com.sun.tools.attach.VirtualMachineDescriptor;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.Properties;
import java.util.jar.Attributes;
import java.util.jar.JarFile;
import java.util.jar.Manifest;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A running JVM that {@code attach} and {@code status} talk to, through the JDK's attach API.
 *
 * <p>Before attaching, {@link #open} makes sure the process id names a JVM this user can attach
 * to (listed by {@link VirtualMachine#list()}, or on Linux a process that mapped {@code libjvm}),
 * so a wrong id fails at once with one line instead of the attach API's long wait for a socket
 * that never appears.
 *
 * <p>Whether the unloadguard agent is installed in the target is read from outside, without
 * loading anything into it: the agent's installer class {@value #AGENT_CLASS} is loaded exactly
 * when {@code premain}/{@code agentmain} ran ({@code jcmd PID VM.class_hierarchy CLASS}). The
 * version comes from the system property {@value #VERSION_PROPERTY} if the agent publishes one,
 * else from the {@code Implementation-Version} of the agent jar the target holds open (Linux) or
 * names in {@code -javaagent:}.
 */
final class TargetJvm implements AutoCloseable {

    static final String AGENT_CLASS = "dev.unloadguard.agent.internal.AgentInstaller";
    static final String VERSION_PROPERTY = "unloadguard.agent.version";
    private static final Pattern JAVAAGENT = Pattern.compile("-javaagent:([^=\\s]+\\.jar)");

    /** Whether the agent is installed in the target, and its version ({@code null} if unknown). */
    record AgentState(boolean attached, String version) {
        String describe() {
            return attached ? "attached (version " + (version == null ? "unknown" : version) + ")" : "not attached";
        }
    }

    private final String pid;
    private final VirtualMachine vm;

    private TargetJvm(String pid, VirtualMachine vm) {
        this.pid = pid;
        this.vm = vm;
    }

    /**
     * Checks {@code pidArgument} names another running JVM of this user and attaches to it.
     *
     * @param command the command name for messages ({@code attach}, {@code status})
     * @throws UsageException with one line saying what is wrong with the id
     * @throws IOException    if the attach itself fails (message is one line)
     */
    static TargetJvm open(String pidArgument, String command) throws UsageException, IOException {
        String usage = "usage: " + command + " PID (the process id of a running JVM, e.g. from 'jps -l')";
        if (!pidArgument.matches("[0-9]+")) {
            throw new UsageException("'" + pidArgument + "' is not a process id; " + usage);
        }
        long id;
        try {
            id = Long.parseLong(pidArgument);
        } catch (NumberFormatException e) {
            throw new UsageException("no process with PID " + pidArgument + " is running (list JVMs with 'jps -l')");
        }
        String pid = Long.toString(id);
        if (id == ProcessHandle.current().pid()) {
            throw new UsageException("PID " + pid + " is this process: pass the id of the JVM to " + command);
        }
        Optional<ProcessHandle> process = ProcessHandle.of(id);
        if (process.isEmpty() || !process.get().isAlive()) {
            throw new UsageException("no process with PID " + pid + " is running (list JVMs with 'jps -l')");
        }
        if (!isJvm(pid)) {
            String what = process.get().info().command().map(c -> " (" + Path.of(c).getFileName() + ")").orElse("");
            throw new UsageException("PID " + pid + what + " is not a JVM this user can attach to (list JVMs with 'jps -l')");
        }
        try {
            return new TargetJvm(pid, VirtualMachine.attach(pid));
        } catch (com.sun.tools.attach.AttachNotSupportedException | IOException e) {
            throw new IOException("cannot attach to JVM " + pid + ": " + oneLine(e)
                    + "; the target must be a HotSpot/OpenJ9 JVM run by the same user, started without -XX:+DisableAttachMechanism");
        }
    }

    /**
     * Whether {@code pid} is a JVM: listed by the attach API (it has an hsperfdata entry), or,
     * on Linux, a process that mapped {@code libjvm} (a JVM run with {@code -XX:-UsePerfData}).
     */
    static boolean isJvm(String pid) {
        for (VirtualMachineDescriptor d : VirtualMachine.list()) {
            if (d.id().equals(pid)) {
                return true;
            }
        }
        Path maps = Path.of("/proc", pid, "maps");
        if (Files.isDirectory(Path.of("/proc", pid))) {
            try {
                return Files.readString(maps, StandardCharsets.ISO_8859_1).contains("/libjvm.");
            } catch (IOException | RuntimeException e) {
                return false; // another user's process: not one we can attach to
            }
        }
        return true; // no /proc and not listed: let the attach API decide
    }

    String pid() {
        return pid;
    }

    VirtualMachine vm() {
        return vm;
    }

    Properties systemProperties() throws IOException {
        return vm.getSystemProperties();
    }

    /** The target's Java feature version (17, 21, 25...), or 0 if unknown. */
    int featureVersion() {
        try {
            String spec = systemProperties().getProperty("java.specification.version", "0");
            return Integer.parseInt(spec.startsWith("1.") ? spec.substring(2) : spec);
        } catch (IOException | RuntimeException e) {
            return 0;
        }
    }

    /** Whether the unloadguard agent is installed in the target; empty if that cannot be told. */
    Optional<AgentState> agentState() {
        Optional<String> hierarchy = jcmd("VM.class_hierarchy " + AGENT_CLASS);
        if (hierarchy.isEmpty()) {
            return Optional.empty();
        }
        boolean attached = hierarchy.get().lines().anyMatch(l -> l.contains(AGENT_CLASS + "/"));
        return Optional.of(new AgentState(attached, attached ? agentVersion() : null));
    }

    private String agentVersion() {
        try {
            String v = systemProperties().getProperty(VERSION_PROPERTY);
            if (v != null) {
                return v;
            }
        } catch (IOException | RuntimeException e) {
            // fall through to the jar
        }
        // Linux: the agent jar stays open in the class loader that loaded the agent.
        Path fds = Path.of("/proc", pid, "fd");
        if (Files.isDirectory(fds)) {
            try (DirectoryStream<Path> entries = Files.newDirectoryStream(fds)) {
                for (Path fd : entries) {
                    try {
                        Path file = Files.readSymbolicLink(fd);
                        if (file.toString().endsWith(".jar")) {
                            String v = agentJarVersion(file);
                            if (v != null) {
                                return v;
                            }
                        }
                    } catch (IOException | RuntimeException e) {
                        // closed meanwhile, or not a link: next one
                    }
                }
            } catch (IOException | RuntimeException e) {
                // fall through to the command line
            }
        }
        Optional<String> commandLine = jcmd("VM.command_line");
        if (commandLine.isPresent()) {
            Matcher m = JAVAAGENT.matcher(commandLine.get());
            while (m.find()) {
                String v = agentJarVersion(Path.of(m.group(1)));
                if (v != null) {
                    return v;
                }
            }
        }
        return null;
    }

    /** The Implementation-Version of {@code jar} if it is an unloadguard agent jar, else {@code null}. */
    static String agentJarVersion(Path jar) {
        try (JarFile j = new JarFile(jar.toFile(), false)) {
            if (j.getEntry(AGENT_CLASS.replace('.', '/') + ".class") == null) {
                return null;
            }
            Manifest m = j.getManifest();
            String v = m == null ? null : m.getMainAttributes().getValue(Attributes.Name.IMPLEMENTATION_VERSION);
            return v == null ? "unknown" : v;
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    /**
     * Runs a diagnostic command in the target, as {@code jcmd} does; empty if this JVM's attach
     * provider has none (not HotSpot) or {@code sun.tools.attach} is not exported to this jar
     * (the jar's manifest exports it when run with {@code java -jar}).
     */
    Optional<String> jcmd(String command) {
        try {
            Class<?> hotspot = Class.forName("sun.tools.attach.HotSpotVirtualMachine");
            if (!hotspot.isInstance(vm)) {
                return Optional.empty();
            }
            Method execute = hotspot.getMethod("executeJCmd", String.class);
            try (InputStream in = (InputStream) execute.invoke(vm, command)) {
                ByteArrayOutputStream bytes = new ByteArrayOutputStream();
                in.transferTo(bytes);
                return Optional.of(bytes.toString(StandardCharsets.UTF_8));
            }
        } catch (ReflectiveOperationException | IOException | RuntimeException e) {
            return Optional.empty();
        }
    }

    static String oneLine(Throwable e) {
        String m = e.getMessage();
        if (m == null || m.isBlank()) {
            m = e.getClass().getSimpleName();
        }
        return m.lines().findFirst().orElse(m).strip();
    }

    @Override
    public void close() {
        try {
            vm.detach();
        } catch (IOException e) {
            // the target may have exited; nothing to release on our side
        }
    }
}
