package dev.unloadguard.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.it.support.BuiltJars;
import dev.unloadguard.it.support.ChildJvm;
import dev.unloadguard.it.support.TestPlugins;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * {@code java -jar unloadguard-agent.jar check PLUGIN.jar}, run as a user runs it, on the built
 * driver sample and on purpose-built hazardous jars: nothing of the checked jars is loaded.
 */
public class CheckIT { // public: the hazardous test plugin compiles against Registry below

    /** A host-side static registry the hazardous plugin below stores itself into. */
    public static final class Registry {
        public static final Map<String, Object> PLUGINS = new ConcurrentHashMap<>();

        private Registry() {
        }
    }

    private static final String DRIVER = "dev.unloadguard.sample.driver.XeDriver.";

    private static ChildJvm check(String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("-jar", BuiltJars.cli().toString(), "check"));
        cmd.addAll(List.of(args));
        return ChildJvm.java(cmd);
    }

    @Test
    void theDriverSampleListsItsGuardedReleaseCallbacksAndNoHazards() throws Exception {
        String jar = BuiltJars.driverSample().toString();
        try (ChildJvm jvm = check(jar)) {
            assertEquals(0, jvm.waitFor(Duration.ofMinutes(1)), jvm::output);
            String out = jvm.output();
            assertTrue(out.startsWith("unloadguard check: " + jar + " (3 classes, read without loading them)"), out);
            assertTrue(out.contains("guarded release callbacks (4):"), out);
            assertTrue(out.contains("  dev.unloadguard.sample.driver.XePagemap.release()V\n"
                    + "      RELEASE_CALLBACK: implements ReleaseCallback.release()"), out);
            assertTrue(out.contains("  " + DRIVER + "release(Ldev/unloadguard/device/Device;)V\n"
                    + "      DRIVER_RELEASE: implements Driver.release(Device)"), out);
            assertTrue(out.contains("  " + DRIVER + "unmapDoorbells(Ldev/unloadguard/device/Device;)V\n"
                    + "      LAMBDA_BODY: body of a method reference"), out);
            assertTrue(out.lines().anyMatch(l -> l.matches("  " + DRIVER.replace(".", "\\.").replace("$", "\\$")
                    + "lambda\\$init\\$\\d+\\(.*Ldev/unloadguard/device/Device;\\)V")), out);
            assertTrue(out.contains("LAMBDA_BODY: body of a lambda used as a release action or callback"), out);
            assertTrue(out.contains("\nunload hazards: none\n"), out);
            assertTrue(out.contains("summary: 4 guarded release callbacks, 0 unload hazards, 0 warnings"), out);
        }
        try (ChildJvm jvm = check("--json", jar)) {
            assertEquals(0, jvm.waitFor(Duration.ofMinutes(1)), jvm::output);
            Map<?, ?> json = (Map<?, ?>) Json.parse(jvm.output());
            assertEquals(jar, json.get("jar"));
            assertEquals(List.of(), json.get("hazards"));
            assertEquals(List.of(), json.get("warnings"));
            List<String> guarded = ((List<?>) json.get("guarded")).stream().map(g -> (Map<?, ?>) g)
                    .map(g -> g.get("class") + "." + g.get("method") + " " + g.get("reason"))
                    .collect(Collectors.toList());
            assertEquals(4, guarded.size(), guarded::toString);
            assertTrue(guarded.contains("dev.unloadguard.sample.driver.XePagemap.release()V RELEASE_CALLBACK"), guarded::toString);
            assertTrue(guarded.contains(DRIVER + "release(Ldev/unloadguard/device/Device;)V DRIVER_RELEASE"), guarded::toString);
            assertTrue(guarded.contains(DRIVER + "unmapDoorbells(Ldev/unloadguard/device/Device;)V LAMBDA_BODY"), guarded::toString);
            assertTrue(guarded.stream().anyMatch(g -> g.startsWith(DRIVER + "lambda$init$") && g.endsWith(" LAMBDA_BODY")),
                    guarded::toString);
        }
    }

    private static final String LEAKY = """
            package it.leaky;

            import dev.unloadguard.driver.Driver;
            import dev.unloadguard.driver.DriverContext;
            import dev.unloadguard.it.CheckIT;
            import java.sql.DriverManager;
            import java.sql.SQLException;
            import java.util.concurrent.ExecutorService;
            import java.util.concurrent.Executors;

            public final class LeakyDriver implements Driver {
                private static final ThreadLocal<byte[]> SCRATCH = ThreadLocal.withInitial(() -> new byte[64]); // hazard:tl
                private ExecutorService pool;

                public String id() {
                    return "leaky";
                }

                public void init(DriverContext context) throws Exception {
                    Thread poller = new Thread(this::poll, "leaky-poller");
                    poller.setDaemon(true);
                    poller.start(); // hazard:thread
                    Runtime.getRuntime().addShutdownHook(new Thread(this::poll)); // hazard:hook
                    pool = Executors.newSingleThreadExecutor(); // hazard:executor
                    CheckIT.Registry.PLUGINS.put(id(), this); // hazard:cache
                    context.createDevice("card0").addReleaseAction(device -> SCRATCH.remove());
                    context.service(LeakyMap.class).ifPresent(LeakyMap::release);
                }

                static void register(java.sql.Driver jdbc) throws SQLException {
                    DriverManager.registerDriver(jdbc); // hazard:jdbc
                }

                public void exit() {
                }

                private void poll() {
                }
            }
            """;

    /** Guarded only if its supertype is resolved from the jar's own entries. */
    private static final String BASE_MAP = """
            package it.leaky;
            public abstract class BaseMap implements dev.unloadguard.driver.ReleaseCallback {
            }
            """;

    private static final String LEAKY_MAP = """
            package it.leaky;
            public final class LeakyMap extends BaseMap {
                public void release() {
                }
            }
            """;

    /** The line of each {@code // hazard:TAG} marker in {@code source}. */
    private static Map<String, Integer> markers(String source) {
        Map<String, Integer> lines = new LinkedHashMap<>();
        List<String> all = source.lines().collect(Collectors.toList());
        for (int i = 0; i < all.size(); i++) {
            int at = all.get(i).indexOf("// hazard:");
            if (at >= 0) {
                lines.put(all.get(i).substring(at + "// hazard:".length()).trim(), i + 1);
            }
        }
        return lines;
    }

    @Test
    void aHazardousJarExitsOneAndNamesEachHazardWithClassMethodAndLine() throws Exception {
        Path jar = TestPlugins.plugin().driver("it.leaky.LeakyDriver")
                .source("it.leaky.LeakyDriver", LEAKY)
                .source("it.leaky.BaseMap", BASE_MAP)
                .source("it.leaky.LeakyMap", LEAKY_MAP)
                .build("leaky");
        Map<String, Integer> line = markers(LEAKY);
        String init = "it.leaky.LeakyDriver.init(Ldev/unloadguard/driver/DriverContext;)V line ";
        Map<String, String> expected = new LinkedHashMap<>();
        expected.put("THREAD", init + line.get("thread"));
        expected.put("SHUTDOWN_HOOK", init + line.get("hook"));
        expected.put("EXECUTOR", init + line.get("executor"));
        expected.put("STATIC_CACHE", init + line.get("cache"));
        expected.put("JDBC_DRIVER", "it.leaky.LeakyDriver.register(Ljava/sql/Driver;)V line " + line.get("jdbc"));
        expected.put("THREAD_LOCAL", "it.leaky.LeakyDriver.<clinit>()V line " + line.get("tl"));

        try (ChildJvm jvm = check(jar.toString())) {
            assertEquals(1, jvm.waitFor(Duration.ofMinutes(1)), jvm::output);
            String out = jvm.output();
            assertTrue(out.contains("unload hazards (6):"), out);
            expected.forEach((kind, where) -> assertTrue(out.contains("\n  " + kind + "  " + where + "\n"), () -> kind + " at " + where + ":\n" + out));
            assertTrue(out.contains("dev.unloadguard.it.CheckIT$Registry.PLUGINS"), out);
            assertTrue(out.contains("fix: stop it in Driver.exit()"), out);
            assertTrue(out.contains("  it.leaky.LeakyMap.release()V\n      RELEASE_CALLBACK"),
                    () -> "LeakyMap's supertype is resolved from the jar:\n" + out);
            assertTrue(out.lines().anyMatch(l -> l.startsWith("  it.leaky.LeakyDriver.lambda$init$")), out);
            assertTrue(out.contains("summary: 2 guarded release callbacks, 6 unload hazards, 0 warnings"), out);
        }
        try (ChildJvm jvm = check("--json", jar.toString())) {
            assertEquals(1, jvm.waitFor(Duration.ofMinutes(1)), jvm::output);
            Map<?, ?> json = (Map<?, ?>) Json.parse(jvm.output());
            assertEquals(List.of("jar", "classes", "scope", "entrySections", "guarded", "hazards", "warnings"),
                    new ArrayList<>(json.keySet()));
            assertEquals(3L, json.get("classes"));
            assertEquals("ENTRIES", json.get("scope"), "the agent's default guard scope");
            List<String> sectioned = ((List<?>) json.get("entrySections")).stream().map(o -> (String) ((Map<?, ?>) o).get("class"))
                    .sorted().collect(java.util.stream.Collectors.toList());
            assertEquals(List.of("it.leaky.BaseMap", "it.leaky.LeakyDriver", "it.leaky.LeakyMap"), sectioned,
                    "in scope ENTRIES every class has entry sections");
            Map<String, String> found = new LinkedHashMap<>();
            for (Object o : (List<?>) json.get("hazards")) {
                Map<?, ?> h = (Map<?, ?>) o;
                assertTrue(h.keySet().containsAll(List.of("kind", "class", "method", "line", "hint")), h::toString);
                assertTrue(!((String) h.get("hint")).isBlank(), h::toString);
                found.put((String) h.get("kind"), h.get("class") + "." + h.get("method") + " line " + h.get("line"));
            }
            assertEquals(expected, sortedLike(expected, found));
        }
        try (ChildJvm jvm = check("--json", "--release-paths", jar.toString())) {
            assertEquals(1, jvm.waitFor(Duration.ofMinutes(1)), jvm::output);
            Map<?, ?> json = (Map<?, ?>) Json.parse(jvm.output());
            assertEquals("RELEASE_PATHS", json.get("scope"));
            assertEquals(List.of(), json.get("entrySections"), "release paths only: no entry sections");
        }
    }

    private static Map<String, String> sortedLike(Map<String, String> order, Map<String, String> found) {
        Map<String, String> sorted = new LinkedHashMap<>();
        order.keySet().forEach(k -> {
            if (found.containsKey(k)) {
                sorted.put(k, found.get(k));
            }
        });
        found.forEach(sorted::putIfAbsent);
        return sorted;
    }

    @Test
    void badUsageAndUnreadableJarsExitTwoWithAMessageNamingTheFile() throws Exception {
        try (ChildJvm jvm = check("/nonexistent/plugin.jar")) {
            assertEquals(2, jvm.waitFor(Duration.ofMinutes(1)), jvm::output);
            assertTrue(jvm.output().contains("unloadguard check: /nonexistent/plugin.jar not found: pass the path of a plugin jar"),
                    jvm::output);
        }
        Path notAJar = Files.writeString(Files.createTempFile(Path.of("target"), "not-a-jar", ".jar").toAbsolutePath(), "plain text");
        try (ChildJvm jvm = check(notAJar.toString())) {
            assertEquals(2, jvm.waitFor(Duration.ofMinutes(1)), jvm::output);
            assertTrue(jvm.output().contains("unloadguard check: " + notAJar + " is not a jar"), jvm::output);
        }
        try (ChildJvm jvm = check()) {
            assertEquals(2, jvm.waitFor(Duration.ofMinutes(1)), jvm::output);
            assertTrue(jvm.output().contains("usage: check [--json] [--release-paths] PLUGIN.jar"), jvm::output);
        }
    }

    /** A strict little JSON reader: objects, arrays, strings, integers, true/false/null. */
    private static final class Json {
        private final String s;
        private int i;

        private Json(String s) {
            this.s = s;
        }

        static Object parse(String text) {
            Json p = new Json(text);
            Object v = p.value();
            p.ws();
            if (p.i != text.length()) {
                throw new IllegalArgumentException("trailing text at " + p.i + ":\n" + text);
            }
            return v;
        }

        private Object value() {
            ws();
            char c = s.charAt(i);
            if (c == '{') {
                Map<String, Object> m = new LinkedHashMap<>();
                i++;
                for (ws(); s.charAt(i) != '}'; ws()) {
                    String k = string();
                    ws();
                    expect(':');
                    m.put(k, value());
                    ws();
                    if (s.charAt(i) == ',') {
                        i++;
                        ws();
                    }
                }
                i++;
                return m;
            }
            if (c == '[') {
                List<Object> l = new ArrayList<>();
                i++;
                for (ws(); s.charAt(i) != ']'; ws()) {
                    l.add(value());
                    ws();
                    if (s.charAt(i) == ',') {
                        i++;
                    }
                }
                i++;
                return l;
            }
            if (c == '"') {
                return string();
            }
            for (String word : List.of("true", "false", "null")) {
                if (s.startsWith(word, i)) {
                    i += word.length();
                    return word.equals("null") ? null : Boolean.valueOf(word);
                }
            }
            int start = i;
            if (c == '-') {
                i++;
            }
            while (i < s.length() && Character.isDigit(s.charAt(i))) {
                i++;
            }
            if (start == i) {
                throw new IllegalArgumentException("unexpected '" + c + "' at " + i + ":\n" + s);
            }
            return Long.parseLong(s.substring(start, i));
        }

        private String string() {
            expect('"');
            StringBuilder sb = new StringBuilder();
            for (char c; (c = s.charAt(i++)) != '"'; ) {
                if (c < 0x20) {
                    throw new IllegalArgumentException("raw control character in a string at " + i);
                }
                if (c != '\\') {
                    sb.append(c);
                    continue;
                }
                char e = s.charAt(i++);
                switch (e) {
                    case 'n' -> sb.append('\n');
                    case 'r' -> sb.append('\r');
                    case 't' -> sb.append('\t');
                    case 'b' -> sb.append('\b');
                    case 'f' -> sb.append('\f');
                    case 'u' -> {
                        sb.append((char) Integer.parseInt(s.substring(i, i + 4), 16));
                        i += 4;
                    }
                    case '"', '\\', '/' -> sb.append(e);
                    default -> throw new IllegalArgumentException("bad escape at " + i);
                }
            }
            return sb.toString();
        }

        private void ws() {
            while (i < s.length() && Character.isWhitespace(s.charAt(i))) {
                i++;
            }
        }

        private void expect(char c) {
            if (s.charAt(i) != c) {
                throw new IllegalArgumentException("expected '" + c + "' at " + i + ":\n" + s);
            }
            i++;
        }
    }
}
