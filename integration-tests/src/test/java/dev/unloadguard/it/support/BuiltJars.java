package dev.unloadguard.it.support;

import java.nio.file.Files;
import java.nio.file.Path;

/** The jars the build made, passed in by Failsafe as system properties. */
public final class BuiltJars {

    private BuiltJars() {
    }

    public static Path agent() {
        return jar("unloadguard.agentJar");
    }

    /** The command line's runnable jar ({@code java -jar unloadguard-cli.jar ...}). */
    public static Path cli() {
        return jar("unloadguard.cliJar");
    }

    /** What a host puts on its class path: the host library with the api and the runtime. */
    public static String hostClassPath() {
        String value = System.getProperty("unloadguard.hostClassPath");
        if (value == null) {
            throw new IllegalStateException("system property unloadguard.hostClassPath is not set: run the integration tests "
                    + "through Maven ('mvn -B verify')");
        }
        return value;
    }

    public static Path driverSample() {
        return jar("unloadguard.driverJar");
    }

    public static Path helperSample() {
        return jar("unloadguard.helperJar");
    }

    /** greeting-sample: a plugin with a library nested in lib/, exporting an API package. */
    public static Path greetingSample() {
        return jar("unloadguard.greetingJar");
    }

    /** welcome-sample: a plugin requiring greeting-sample's plugin. */
    public static Path welcomeSample() {
        return jar("unloadguard.welcomeJar");
    }

    private static Path jar(String property) {
        String value = System.getProperty(property);
        if (value == null) {
            throw new IllegalStateException("system property " + property + " is not set: run the integration tests through "
                    + "Maven ('mvn -B verify'), which passes the paths of the built jars");
        }
        Path p = Path.of(value);
        if (!Files.isRegularFile(p)) {
            throw new IllegalStateException(property + "=" + p + " is not a file: build the modules first ('mvn -B verify')");
        }
        return p;
    }
}
