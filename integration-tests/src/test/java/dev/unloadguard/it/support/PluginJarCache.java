package dev.unloadguard.it.support;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/** Purpose-built plugin jars of one test class, each compiled once per test JVM, when a test first needs it. */
public final class PluginJarCache {

    /** Builds one jar (typically with {@link TestPlugins}). */
    public interface JarBuilder {
        Path build() throws IOException;
    }

    private final Map<String, Path> jars = new ConcurrentHashMap<>();

    /** The jar named {@code name}, built by {@code builder} the first time it is asked for. */
    public Path jar(String name, JarBuilder builder) throws IOException {
        Path p = jars.get(name);
        if (p == null) {
            p = builder.build();
            jars.put(name, p);
        }
        return p;
    }
}
