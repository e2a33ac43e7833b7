package dev.unloadguard.it.docs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import javax.tools.Diagnostic;
import javax.tools.DiagnosticCollector;
import javax.tools.JavaCompiler;
import javax.tools.JavaFileObject;
import javax.tools.SimpleJavaFileObject;
import javax.tools.StandardJavaFileManager;
import javax.tools.StandardLocation;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * Every Java snippet in README.md and docs/*.md compiles as shown: each {@code ```java} block is
 * one whole compilation unit (imports included), compiled with the JDK's compiler against what a
 * user has (the api, host, runtime, test kit, PF4J adapter, helper sample, JUnit). So no snippet can
 * rot. Examples that are not Java, or output, use {@code ```text} or {@code ```sh}.
 */
class DocSnippetsIT {

    private static final Pattern JAVA_BLOCK = Pattern.compile("```java\\n(.*?)```", Pattern.DOTALL);
    private static final Pattern TYPE = Pattern.compile("(?m)^(?:public\\s+)?(?:final\\s+|abstract\\s+)*(?:class|interface|record|enum)\\s+(\\w+)");
    private static final Pattern PUBLIC_TYPE = Pattern.compile("(?m)^public\\s+(?:final\\s+|abstract\\s+)*(?:class|interface|record|enum)\\s+(\\w+)");

    /** The repository root: the integration tests run in their module's directory. */
    private static Path root() {
        return Path.of("").toAbsolutePath().getParent();
    }

    private static List<Path> documents() throws IOException {
        List<Path> docs = new ArrayList<>();
        docs.add(root().resolve("README.md"));
        try (Stream<Path> s = Files.list(root().resolve("docs"))) {
            docs.addAll(s.filter(p -> p.toString().endsWith(".md")).sorted().collect(Collectors.toList()));
        }
        return docs;
    }

    static List<String> snippets(Path doc) throws IOException {
        List<String> out = new ArrayList<>();
        Matcher m = JAVA_BLOCK.matcher(Files.readString(doc, StandardCharsets.UTF_8));
        while (m.find()) {
            out.add(m.group(1));
        }
        return out;
    }

    @Test
    void theReadmeShowsAHostAndAPluginSnippet() throws IOException {
        List<String> readme = snippets(root().resolve("README.md"));
        assertEquals(2, readme.size(), "README.md: one host snippet and one plugin snippet");
        assertTrue(readme.get(0).contains("PluginLoader"), readme.get(0));
        assertTrue(readme.get(1).contains("implements Driver"), readme.get(1));
    }

    @TestFactory
    Stream<DynamicTest> everyJavaSnippetCompilesAsShown() throws IOException {
        List<DynamicTest> tests = new ArrayList<>();
        for (Path doc : documents()) {
            List<String> blocks = snippets(doc);
            for (int i = 0; i < blocks.size(); i++) {
                String code = blocks.get(i);
                String where = root().relativize(doc) + " snippet " + (i + 1);
                tests.add(DynamicTest.dynamicTest(where, () -> compile(where, code)));
            }
        }
        assertTrue(tests.size() >= 5, "expected the README and the guides to hold Java snippets, found " + tests.size());
        return tests.stream();
    }

    private static void compile(String where, String code) throws IOException {
        Matcher publicType = PUBLIC_TYPE.matcher(code);
        Matcher anyType = TYPE.matcher(code);
        String name = publicType.find() ? publicType.group(1) : anyType.find() ? anyType.group(1) : null;
        assertTrue(name != null, where + " is not a compilation unit (no class, interface, record or enum): use ```text "
                + "for fragments");
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        DiagnosticCollector<JavaFileObject> diagnostics = new DiagnosticCollector<>();
        Path out = Files.createTempDirectory("doc-snippet");
        try (StandardJavaFileManager files = javac.getStandardFileManager(diagnostics, null, StandardCharsets.UTF_8)) {
            files.setLocation(StandardLocation.CLASS_OUTPUT, List.of(out.toFile()));
            JavaFileObject unit = new SimpleJavaFileObject(URI.create("string:///" + name + ".java"), JavaFileObject.Kind.SOURCE) {
                @Override
                public CharSequence getCharContent(boolean ignoreEncodingErrors) {
                    return code;
                }
            };
            boolean ok = javac.getTask(null, files, diagnostics,
                    List.of("--release", "17", "-proc:none", "-cp", System.getProperty("java.class.path")), null, List.of(unit)).call();
            StringBuilder sb = new StringBuilder(where + " does not compile as shown:\n");
            for (Diagnostic<? extends JavaFileObject> d : diagnostics.getDiagnostics()) {
                sb.append("  line ").append(d.getLineNumber()).append(": ").append(d.getMessage(null)).append('\n');
            }
            assertTrue(ok, sb::toString);
        } finally {
            try (Stream<Path> walk = Files.walk(out)) {
                walk.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }
}
