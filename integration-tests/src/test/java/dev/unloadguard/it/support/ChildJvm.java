package dev.unloadguard.it.support;

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.awaitility.Awaitility;

/**
 * A JVM forked from this test: the same java, a class path of the built agent and helper jars
 * plus this module's test classes (never the driver's classes), with or without
 * {@code -javaagent}. Its output is collected line by line; it is killed on close.
 */
public final class ChildJvm implements AutoCloseable {

    /** How long {@link #close()} waits for the child to exit after SIGTERM. */
    private static final int GRACEFUL_EXIT_SECONDS = 10;

    private final Process process;
    private final List<String> lines = new CopyOnWriteArrayList<>();
    private final BufferedWriter stdin;
    private final Thread pump;

    private ChildJvm(Process process) {
        this.process = process;
        this.stdin = new BufferedWriter(new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8));
        this.pump = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                    lines.add(line);
                }
            } catch (IOException e) {
                lines.add("<output pump failed: " + e + ">");
            }
        }, "child-jvm-output");
        pump.setDaemon(true);
        pump.start();
    }

    /** Starts {@code mainClass} with the given JVM options (e.g. {@code -javaagent:...}) and arguments. */
    public static ChildJvm start(String javaHome, List<String> jvmOptions, String mainClass, String... args) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(javaHome, "bin", "java").toString());
        cmd.add("-Xmx256m");
        cmd.addAll(jvmOptions);
        cmd.add("-cp");
        cmd.add(classPath());
        cmd.add(mainClass);
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        return new ChildJvm(pb.start());
    }

    /** Starts {@code java} with exactly these arguments (for {@code -jar} runs). */
    public static ChildJvm java(List<String> arguments) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(arguments);
        return new ChildJvm(new ProcessBuilder(cmd).redirectErrorStream(true).start());
    }

    public static ChildJvm start(List<String> jvmOptions, String mainClass, String... args) throws IOException {
        return start(System.getProperty("java.home"), jvmOptions, mainClass, args);
    }

    /** The -javaagent option for the built agent jar. */
    public static String javaagent() {
        return "-javaagent:" + BuiltJars.agent();
    }

    /** The host library (with the api and runtime), the helper jar, and this module's test classes: what a host would have. */
    public static String classPath() {
        String testClasses = Path.of(ChildJvm.class.getProtectionDomain().getCodeSource().getLocation().getPath()).toString();
        return String.join(File.pathSeparator, BuiltJars.hostClassPath(), BuiltJars.helperSample().toString(), testClasses);
    }

    public long pid() {
        return process.pid();
    }

    public List<String> lines() {
        return List.copyOf(lines);
    }

    public String output() {
        return String.join("\n", lines);
    }

    /** Waits until a line matches, failing with the whole output if it does not in time. */
    public String awaitLine(Predicate<String> matcher, Duration atMost) {
        Awaitility.await("a line from the child JVM; its output so far:\n" + output())
                .atMost(atMost)
                .pollInterval(Duration.ofMillis(20))
                .until(() -> find(matcher).isPresent() || !process.isAlive() && find(matcher).isPresent());
        return find(matcher).orElseThrow();
    }

    public Optional<String> find(Predicate<String> matcher) {
        return lines.stream().filter(matcher).findFirst();
    }

    /** The value of the last {@code key=value} line for this key. */
    public Optional<String> value(String key) {
        String prefix = key + "=";
        String found = null;
        for (String l : lines) {
            if (l.startsWith(prefix)) {
                found = l.substring(prefix.length());
            }
        }
        return Optional.ofNullable(found);
    }

    public void send(String line) throws IOException {
        stdin.write(line);
        stdin.newLine();
        stdin.flush();
    }

    /** Waits for the child to exit and returns its status. */
    public int waitFor(Duration atMost) throws InterruptedException {
        if (!process.waitFor(atMost.toMillis(), TimeUnit.MILLISECONDS)) {
            process.destroyForcibly();
            throw new AssertionError("child JVM did not exit within " + atMost + "; output:\n" + output());
        }
        pump.join(TimeUnit.SECONDS.toMillis(10));
        return process.exitValue();
    }

    /**
     * Ends the child as an operator would (SIGTERM: its shutdown hooks run, so it deletes its
     * temporary plugin copies), and forcibly only if it has not exited after
     * {@value #GRACEFUL_EXIT_SECONDS} s. A forcible end runs no hook and would leave its
     * {@code unloadguard-plugins-*} directories behind.
     */
    @Override
    public void close() {
        process.destroy();
        try {
            if (process.waitFor(GRACEFUL_EXIT_SECONDS, TimeUnit.SECONDS)) {
                return;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        process.destroyForcibly();
    }

}
