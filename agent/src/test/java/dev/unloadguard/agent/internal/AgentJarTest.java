package dev.unloadguard.agent.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.jar.Attributes;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The agent as a real agent jar in forked JVMs: premain (given twice), no bootstrap injection
 * unless a foreign loader that cannot see the runtime is registered (then the bootstrap bridge
 * serves it, under the platform loader), method references and inherited release bodies guarded
 * from their first call, the replay of added methods when such a class is retransformed, and a
 * late attach (twice) that retransforms loaded plugin classes and guards method-reference and
 * inherited bodies in their own classes (the fallback).
 *
 * <p>The jar is built here from the module's compiled classes ({@code dev/unloadguard/**}); ASM
 * comes from the forked JVM's class path, unshaded. The shaded jar the build ships is tested by
 * the integration tests.
 */
class AgentJarTest {

    @TempDir
    static Path tmp;
    private static Path agentJar;
    private static Path mainClasses;
    private static Path testClasses;

    @BeforeAll
    static void buildAgentJar() throws Exception {
        mainClasses = location(AgentMain.class);
        testClasses = location(AgentJarTest.class);
        agentJar = tmp.resolve("unloadguard-agent-test.jar");
        Manifest manifest = new Manifest();
        Attributes main = manifest.getMainAttributes();
        main.put(Attributes.Name.MANIFEST_VERSION, "1.0");
        main.putValue("Premain-Class", AgentMain.class.getName());
        main.putValue("Agent-Class", AgentMain.class.getName());
        main.putValue("Can-Retransform-Classes", "true");
        main.put(Attributes.Name.IMPLEMENTATION_VERSION, "test-1");
        try (OutputStream file = Files.newOutputStream(agentJar);
             JarOutputStream jar = new JarOutputStream(file, manifest);
             Stream<Path> classes = Files.walk(mainClasses.resolve("dev/unloadguard"))) {
            for (Path p : classes.filter(Files::isRegularFile).sorted().collect(Collectors.toList())) {
                jar.putNextEntry(new JarEntry(mainClasses.relativize(p).toString().replace(File.separatorChar, '/')));
                try (InputStream in = Files.newInputStream(p)) {
                    in.transferTo(jar);
                }
                jar.closeEntry();
            }
            copyBootBridge(jar);
        }
    }

    /**
     * The real agent jar bundles the runtime, and the agent appends the bootstrap bridge from it:
     * copy the bridge's classes ({@code dev/unloadguard/boot/}) from wherever the runtime module's
     * classes are on this class path (a directory or a jar).
     */
    private static void copyBootBridge(JarOutputStream jar) throws Exception {
        Path runtime = location(dev.unloadguard.epoch.ReleaseGuard.class);
        String prefix = "dev/unloadguard/boot/";
        if (Files.isDirectory(runtime)) {
            try (Stream<Path> boot = Files.walk(runtime.resolve(prefix))) {
                for (Path p : boot.filter(Files::isRegularFile).sorted().collect(Collectors.toList())) {
                    jar.putNextEntry(new JarEntry(runtime.relativize(p).toString().replace(File.separatorChar, '/')));
                    try (InputStream in = Files.newInputStream(p)) {
                        in.transferTo(jar);
                    }
                    jar.closeEntry();
                }
            }
            return;
        }
        try (java.util.jar.JarFile source = new java.util.jar.JarFile(runtime.toFile())) {
            for (JarEntry e : java.util.Collections.list(source.entries())) {
                if (e.getName().startsWith(prefix) && !e.isDirectory()) {
                    jar.putNextEntry(new JarEntry(e.getName()));
                    try (InputStream in = source.getInputStream(e)) {
                        in.transferTo(jar);
                    }
                    jar.closeEntry();
                }
            }
        }
    }

    private static Path location(Class<?> c) throws URISyntaxException {
        return Path.of(c.getProtectionDomain().getCodeSource().getLocation().toURI());
    }

    /** The test class path without the module's classes directory (they come from the agent jar). */
    private static String classPathWithoutMainClasses() {
        List<String> entries = new ArrayList<>();
        for (String e : System.getProperty("java.class.path").split(File.pathSeparator)) {
            if (!e.isEmpty() && !Path.of(e).toAbsolutePath().normalize().equals(mainClasses.toAbsolutePath().normalize())) {
                entries.add(e);
            }
        }
        return String.join(File.pathSeparator, entries);
    }

    private record Run(Map<String, String> values, String stdout, String stderr) {
        String get(String key) {
            return values.get(key);
        }

        @Override
        public String toString() {
            return "stdout:\n" + stdout + "\nstderr:\n" + stderr;
        }
    }

    private static Run fork(List<String> jvmArgs, List<String> mainArgs) throws Exception {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.add("-Xshare:auto");
        command.add("-XX:TieredStopAtLevel=1");
        command.addAll(jvmArgs);
        command.add(AgentProbeMain.class.getName());
        command.addAll(mainArgs);
        Path out = Files.createTempFile(tmp, "out", ".txt");
        Path err = Files.createTempFile(tmp, "err", ".txt");
        Process p = new ProcessBuilder(command).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("forked JVM did not finish: " + command);
        }
        String stdout = Files.readString(out, StandardCharsets.UTF_8);
        String stderr = Files.readString(err, StandardCharsets.UTF_8);
        Map<String, String> values = new HashMap<>();
        stdout.lines().filter(l -> l.contains("=")).forEach(l -> values.put(l.substring(0, l.indexOf('=')), l.substring(l.indexOf('=') + 1)));
        Run run = new Run(values, stdout, stderr);
        assertEquals(0, p.exitValue(), () -> "forked JVM failed\n" + run);
        return run;
    }

    @Test
    void premainGivenTwiceInjectsTheRuntimeAndGuardsPluginsWhateverTheirParent() throws Exception {
        Run run = fork(
                List.of("-cp", classPathWithoutMainClasses(), "-javaagent:" + agentJar, "-javaagent:" + agentJar),
                List.of("premain", testClasses.toString()));
        assertEquals("1", run.get("installed.transformers"), run::toString);
        assertTrue(run.stderr().contains("already installed"), run::toString);
        assertEquals("test-1", run.get("agent.version"), run::toString);
        assertTrue(run.get("epoch.loader").contains("AppClassLoader"), () -> "the runtime is not injected at start\n" + run);
        assertEquals("1", run.get("app.callback.depth"), run::toString);
        assertEquals("1", run.get("platform.marker.callback.depth"), run::toString);
        assertEquals("false", run.get("platform.sees.runtime"), run::toString);
        assertEquals("1", run.get("platform.callback.depth"), run::toString);
        assertEquals("null", run.get("platform.guard.loader"), run::toString);
        assertEquals("boom", run.get("platform.annotated.thrown"), run::toString);
        assertEquals("1", run.get("platform.annotated.depth"), run::toString);
        assertEquals("4", run.get("foreign.entries.handle"), () -> "scope ENTRIES through the bootstrap bridge\n" + run);
        assertTrue(run.get("foreign.entries.refused").startsWith("PluginUnloadedError: dev.unloadguard.agent.fixture.entries.Service.handle("),
                run::toString);
        assertEquals("2", run.get("foreign.entries.cleanup"), run::toString);
        assertEquals("0", run.get("foreign.entries.depth"), run::toString);
        assertEquals("1", run.get("methodref.depth"), () -> "guarded on the first call, without waiting\n" + run);
        assertEquals("false", run.get("methodref.owner.guarded"), () -> "the body's class is not retransformed\n" + run);
        assertEquals("true", run.get("methodref.bridge.guarded"), run::toString);
        assertEquals("1", run.get("inherited.depth"), run::toString);
        assertEquals("1", run.get("replay.serial.depth"), run::toString);
        assertEquals("1", run.get("replay.bridge.depth"), run::toString);
        assertTrue(!run.stderr().contains("could not"), () -> "every retransformation succeeded\n" + run);
        assertEquals("0", run.get("outside.depth"), run::toString);
        assertEquals("true", run.get("stats.transformed"), run::toString);
        assertEquals("[1, 1, 1, 2]", run.get("entries.depths"), () -> "scope ENTRIES: static initializer, constructor, handle, "
                + "the helper nested in it\n" + run);
        assertEquals("true", run.get("entries.ctor.guarded"), run::toString);
        assertTrue(run.get("entries.refused").startsWith("PluginUnloadedError: ")
                && run.get("entries.refused").contains("dev.unloadguard.agent.fixture.entries.Service.handle(java.lang.String)"), run::toString);
        assertEquals("2", run.get("entries.cleanup.after.gate"), () -> "hashCode is waited for, not refused\n" + run);
        assertEquals("hello proxied, true", run.get("entries.proxy"), () -> "a JDK proxy the plugin's loader defines is woven\n" + run);
    }

    @Test
    void withoutForeignLoadersNothingIsAppendedToTheBootstrapClassPath() throws Exception {
        Run run = fork(
                List.of("-cp", classPathWithoutMainClasses(), "-javaagent:" + agentJar),
                List.of("premain-app-only", testClasses.toString()));
        assertEquals("1", run.get("app.callback.depth"), run::toString);
        assertTrue(run.get("epoch.loader").contains("AppClassLoader"), run::toString);
        assertTrue(!run.stdout().contains("bootstrap classpath has been appended")
                && !run.stderr().contains("bootstrap classpath has been appended"),
                () -> "class-data sharing must stay on: no bootstrap append\n" + run);
    }

    @Test
    void lateAttachTwiceRetransformsLoadedPluginClassesOnce() throws Exception {
        Run run = fork(
                List.of("-Djdk.attach.allowAttachSelf=true",
                        "-cp", agentJar + File.pathSeparator + classPathWithoutMainClasses()),
                List.of("attach", testClasses.toString(), agentJar.toString()));
        assertEquals("0", run.get("before.depth"), run::toString);
        assertEquals("1", run.get("installed.transformers"), run::toString);
        assertTrue(run.stderr().contains("already installed"), run::toString);
        assertTrue(run.get("epoch.loader").contains("AppClassLoader"), run::toString);
        assertEquals("test-1", run.get("agent.version"), run::toString);
        assertEquals("1", run.get("after.depth"), run::toString);
        assertEquals("true", run.get("after.guarded"), run::toString);
        assertEquals("1", run.get("after.methodref.depth"), run::toString);
        assertEquals("1", run.get("after.inherited.depth"), run::toString);
        assertEquals("false", run.get("after.added"), () -> "a retransformation adds no methods\n" + run);
        assertEquals("[1, 2]", run.get("after.entries.depths"), () -> "scope ENTRIES, retransformed: handle, then the helper\n" + run);
        assertEquals("true", run.get("after.entries.ctor.guarded"), run::toString);
        assertTrue(!run.stderr().contains("could not"), () -> "every retransformation succeeded\n" + run);
        assertEquals("0", run.get("outside.depth"), run::toString);
    }

    /**
     * The woven-class cache on disk, through the real agent jar in two JVMs: the first weaves the
     * plugin's classes and writes them at exit; the second defines them from the file without
     * calling the weaver, and without loading the weaver's planning classes or ASM at all.
     */
    @Test
    void aSecondJvmDefinesTheStoredClassesWithoutLoadingTheWeaver() throws Exception {
        Path plugin = cachePluginJar();
        Path cache = tmp.resolve("woven-cache");
        List<Path> logs = List.of(tmp.resolve("classes-1.txt"), tmp.resolve("classes-2.txt"));
        List<Run> runs = new ArrayList<>();
        for (Path log : logs) {
            runs.add(fork(List.of("-cp", classPathWithoutMainClasses(), "-javaagent:" + agentJar + "=cacheDir=" + cache,
                    "-Xlog:class+load=info:file=" + log), List.of("cache", plugin.toString(), "p.Cb,p.Plain")));
        }
        assertEquals(cache.toRealPath().toString(), runs.get(0).get("cache.dir"), runs.get(0)::toString);
        assertEquals("2", runs.get(0).get("cache.woven"), runs.get(0)::toString);
        assertTrue(Files.readString(logs.get(0)).contains(" org.objectweb.asm.ClassReader "), "the first JVM weaves with ASM");
        assertEquals("0", runs.get(1).get("cache.woven"), () -> "the second JVM weaves nothing\n" + runs.get(1));
        assertEquals("2", runs.get(1).get("cache.diskHits"), runs.get(1)::toString);
        List<String> weaving = Files.readAllLines(logs.get(1)).stream()
                .filter(l -> l.contains(" org.objectweb.asm.") || l.contains("dev.unloadguard.weave.internal.GuardPlan "))
                .collect(Collectors.toList());
        assertEquals(List.of(), weaving, "neither ASM nor the planner is loaded on a full hit");
    }

    /** A cache directory that cannot be created: one INFO line, and the plugin's classes are woven as without a cache. */
    @Test
    void anUnusableCacheDirectoryIsOneLineAndThePluginStillLoads() throws Exception {
        Path plugin = cachePluginJar();
        Path file = Files.writeString(tmp.resolve("not-a-directory"), "x");
        Run run = fork(List.of("-cp", classPathWithoutMainClasses(), "-javaagent:" + agentJar + "=cacheDir=" + file.resolve("woven")),
                List.of("cache", plugin.toString(), "p.Cb,p.Plain"));
        assertEquals("2", run.get("cache.woven"), run::toString);
        assertEquals("0", run.get("cache.diskHits"), run::toString);
        assertEquals(1, run.stderr().split("woven-class cache is off", -1).length - 1, () -> "said once\n" + run);
    }

    /** Cb (a release callback) and Plain, compiled into a jar. */
    private static Path cachePluginJar() throws Exception {
        Path src = Files.createDirectories(tmp.resolve("cache-plugin-src/p"));
        Files.writeString(src.resolve("Cb.java"), "package p;\npublic class Cb implements dev.unloadguard.driver.ReleaseCallback {\n"
                + "    int n;\n    public void release() { n++; }\n}\n");
        Files.writeString(src.resolve("Plain.java"), "package p;\npublic final class Plain {\n    public int twice(int x) { return 2 * x; }\n}\n");
        Path classes = Files.createDirectories(tmp.resolve("cache-plugin-classes"));
        javax.tools.JavaCompiler javac = javax.tools.ToolProvider.getSystemJavaCompiler();
        assertEquals(0, javac.run(null, null, null, "--release", "17", "-proc:none", "-cp", System.getProperty("java.class.path"),
                "-d", classes.toString(), src.resolve("Cb.java").toString(), src.resolve("Plain.java").toString()));
        Path plugin = tmp.resolve("cache-plugin.jar");
        try (OutputStream file = Files.newOutputStream(plugin); JarOutputStream jar = new JarOutputStream(file)) {
            for (String c : List.of("p/Cb.class", "p/Plain.class")) {
                jar.putNextEntry(new JarEntry(c));
                jar.write(Files.readAllBytes(classes.resolve(c)));
                jar.closeEntry();
            }
        }
        return plugin;
    }
}
