package dev.unloadguard.check;

import static dev.unloadguard.check.Fixtures.FIXTURE;
import static dev.unloadguard.check.Fixtures.GUARD;
import static dev.unloadguard.check.Fixtures.classAndNested;
import static dev.unloadguard.check.Fixtures.entries;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.weave.internal.GuardPlan;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The analyzer on fixture classes compiled with the tests (their bytes, read as jar entries;
 * nothing of them is loaded by the check). {@code HostRegistry} stands for a host class: it is
 * left out of the "jar", so its statics are host statics.
 */
class UnloadCheckTest {

    private static final String HAZARDS = FIXTURE + "Hazards";
    private static final String HAZARDS_CLASS = "dev.unloadguard.check.fixture.Hazards";
    private static final String GUARD_CLASS = "dev.unloadguard.check.fixture.guard.";

    /** A marker tag, the kind expected on its line, and the method holding it. */
    private record Expected(String tag, HazardKind kind, String method) {
    }

    private static final List<Expected> EXPECTED = List.of(
            new Expected("tl-static", HazardKind.THREAD_LOCAL, "<clinit>()V"),
            new Expected("tl-instance", HazardKind.THREAD_LOCAL, "<init>()V"),
            new Expected("thread", HazardKind.THREAD, "thread(Ljava/lang/Runnable;)V"),
            new Expected("worker", HazardKind.THREAD, "subclassThread()V"),
            new Expected("executors", HazardKind.EXECUTOR, "executors()V"),
            new Expected("stpe", HazardKind.EXECUTOR, "executors()V"),
            new Expected("fjp", HazardKind.EXECUTOR, "executors()V"),
            new Expected("mypool", HazardKind.EXECUTOR, "executors()V"),
            new Expected("timer", HazardKind.TIMER, "timer()V"),
            new Expected("hook", HazardKind.SHUTDOWN_HOOK, "hook(Ljava/lang/Thread;)V"),
            new Expected("jdbc", HazardKind.JDBC_DRIVER, "jdbc(Ljava/sql/Driver;)V"),
            new Expected("jul", HazardKind.LOGGING_HANDLER, "logging(Ljava/util/logging/Handler;)V"),
            new Expected("native", HazardKind.NATIVE_LIBRARY, "nativeLibrary()V"),
            new Expected("cache-put", HazardKind.STATIC_CACHE, "hostCache(Ljava/lang/String;)V"),
            new Expected("cache-ternary", HazardKind.STATIC_CACHE, "hostCacheTernary(Ljava/lang/String;ZJ)V"),
            new Expected("cache-add", HazardKind.STATIC_CACHE, "hostList()V"),
            new Expected("putstatic", HazardKind.STATIC_CACHE, "hostField()V"),
            new Expected("aastore", HazardKind.STATIC_CACHE, "hostArray(I)V"),
            new Expected("ueh", HazardKind.STATIC_CACHE, "jdkRegistry(Ljava/lang/Thread$UncaughtExceptionHandler;)V"));

    private static String key(HazardKind kind, String className, String method, int line) {
        return kind + " " + className + "." + method + " line " + line;
    }

    private static Set<String> keys(List<Hazard> hazards) {
        return hazards.stream().map(h -> key(h.kind(), h.className(), h.method(), h.line()))
                .collect(Collectors.toCollection(TreeSet::new));
    }

    @Test
    void eachHazardKindIsFoundWithItsMethodAndLineAndNothingElse() throws Exception {
        CheckReport report = UnloadCheck.analyze("fixtures.jar", entries(classAndNested(HAZARDS)));
        Map<String, Integer> lines = Fixtures.markers(HAZARDS + ".java");
        Set<String> expected = new TreeSet<>();
        for (Expected e : EXPECTED) {
            Integer line = lines.get(e.tag());
            assertTrue(line != null, "marker " + e.tag() + " missing from Hazards.java");
            expected.add(key(e.kind(), HAZARDS_CLASS, e.method(), line));
        }
        // A ThreadLocal field the class never assigns: reported as the field, without a line.
        expected.add(key(HazardKind.THREAD_LOCAL, HAZARDS_CLASS, "", -1));
        assertEquals(expected, keys(report.hazards()), report::toText);
        assertEquals(Set.of(key(HazardKind.CONTEXT_CLASS_LOADER, HAZARDS_CLASS, "contextLoader(Ljava/lang/ClassLoader;)V",
                lines.get("tccl"))), keys(report.warnings()), report::toText);
        assertEquals(3, report.classes(), "Hazards, Hazards$Worker, Hazards$MyPool");
        assertEquals(1, report.exitStatus());
        for (Hazard h : report.hazards()) {
            assertEquals(h.kind().hint(), h.hint());
            assertTrue(!h.detail().isBlank() && !h.hint().isBlank(), h::toString);
        }
        assertTrue(report.hazards().stream().anyMatch(h -> h.detail().contains("HostRegistry.CACHE")
                && h.detail().contains("put")), report::toText);
        assertTrue(report.hazards().stream().anyMatch(h -> h.detail().contains("field neverAssigned")), report::toText);
    }

    @Test
    void aCleanClassHasNoHazardsEvenNextToHostStatics() throws Exception {
        CheckReport report = UnloadCheck.analyze("clean.jar", entries(classAndNested(FIXTURE + "Clean")));
        assertEquals(List.of(), report.hazards(), report::toText);
        assertEquals(List.of(), report.warnings(), report::toText);
        assertEquals(List.of(), report.guarded());
        org.objectweb.asm.tree.ClassNode clean = new org.objectweb.asm.tree.ClassNode();
        new org.objectweb.asm.ClassReader(entries(classAndNested(FIXTURE + "Clean")).get(FIXTURE + "Clean.class")).accept(clean, 0);
        assertTrue(clean.methods.stream().allMatch(m -> (m.access & org.objectweb.asm.Opcodes.ACC_ABSTRACT) == 0));
        assertEquals(List.of(new EntrySections("dev.unloadguard.check.fixture.Clean", clean.methods.size(), 0, List.of())),
                report.entrySections(), "scope ENTRIES: every method is an entry section, none a release path");
        assertEquals(0, report.exitStatus());
        assertTrue(report.toText().contains("unload hazards: none"), report::toText);
    }

    @Test
    void staticsOfAClassInTheJarAreThePluginsOwn() throws Exception {
        CheckReport report = UnloadCheck.analyze("with-registry.jar", entries(classAndNested(HAZARDS, FIXTURE + "HostRegistry")));
        List<String> staticCaches = report.hazards().stream().filter(h -> h.kind() == HazardKind.STATIC_CACHE)
                .map(Hazard::method).collect(Collectors.toList());
        assertEquals(List.of("jdkRegistry(Ljava/lang/Thread$UncaughtExceptionHandler;)V"), staticCaches,
                "HostRegistry is in this jar: only the JDK registry is outside it\n" + report.toText());
    }

    @Test
    void guardedMethodsAreWhatGuardPlanDecidesIncludingAddedMethodsAndBodiesInOtherClasses() throws Exception {
        Map<String, byte[]> entries = entries(e -> e.startsWith(GUARD));
        CheckReport report = UnloadCheck.analyze("guard.jar", entries);
        Set<String> listed = report.guarded().stream()
                .map(g -> g.className().substring(g.className().lastIndexOf('.') + 1) + "." + g.method() + " " + g.reason()
                        + (g.calls().isEmpty() ? "" : " -> " + g.calls()))
                .collect(Collectors.toCollection(TreeSet::new));
        Set<String> lambdas = listed.stream().filter(s -> s.startsWith("Registrar.lambda$")).collect(Collectors.toSet());
        assertEquals(1, lambdas.size(), "one release lambda: " + listed);
        Set<String> expected = new TreeSet<>(Set.of(
                "Action.release(Ldev/unloadguard/device/Device;)V RELEASE_ACTION",
                "Annotated.stopWorkers()V ANNOTATED",
                "Cleanup.serialRun()V LAMBDA_BODY",
                "Inherits.release()V INHERITED_RELEASE -> dev.unloadguard.check.fixture.guard.PlainBase.release()V",
                "Registrar.unloadguard$ref$0()V METHOD_REFERENCE -> dev.unloadguard.check.fixture.guard.Cleanup.run()V",
                "Registrar.unmap(Ldev/unloadguard/device/Device;)V LAMBDA_BODY",
                "SubCallback.release()V RELEASE_CALLBACK"));
        expected.addAll(lambdas);
        assertTrue(lambdas.iterator().next().endsWith("(Ldev/unloadguard/device/Device;)V LAMBDA_BODY"), listed::toString);
        assertEquals(expected, listed, report::toText);

        // The same as GuardPlan class by class, plus the bodies other classes name by (serializable) reference.
        Set<String> fromPlans = new TreeSet<>();
        Map<String, List<String>> external = new HashMap<>();
        for (byte[] bytes : entries.values()) {
            GuardPlan plan = GuardPlan.of(bytes, getClass().getClassLoader());
            plan.targets().forEach(t -> fromPlans.add(t.owner().replace('/', '.') + "." + t.name() + t.descriptor() + " " + t.reason()
                    + (t.synthesized() ? " -> " + t.calls().replace('/', '.') : "")));
            plan.externalTargets().forEach(t -> external.computeIfAbsent(t.owner(), o -> new ArrayList<>()).add(t.name() + t.descriptor()));
        }
        external.forEach((owner, bodies) -> bodies.forEach(b -> fromPlans.add(owner.replace('/', '.') + "." + b + " LAMBDA_BODY")));
        Set<String> fromReport = report.guarded().stream().map(g -> g.className() + "." + g.method() + " " + g.reason()
                        + (g.synthesized() ? " -> " + g.calls() : ""))
                .collect(Collectors.toCollection(TreeSet::new));
        assertEquals(fromPlans, fromReport);
        assertEquals(List.of(), report.hazards(), report::toText);
    }

    @Test
    void addedMethodsAreExplainedInTextAndJsonWithWhatTheyCall() throws Exception {
        CheckReport report = UnloadCheck.analyze("added.jar",
                entries(classAndNested(GUARD + "Registrar", GUARD + "Cleanup", GUARD + "Inherits", GUARD + "PlainBase")));
        String text = report.toText();
        assertTrue(text.contains("  dev.unloadguard.check.fixture.guard.Registrar.unloadguard$ref$0()V\n"
                + "      METHOD_REFERENCE: added by the agent: the bridge through which the method reference to "
                + "dev.unloadguard.check.fixture.guard.Cleanup.run()V runs as a release action or callback\n"), text);
        assertTrue(text.contains("  dev.unloadguard.check.fixture.guard.Inherits.release()V\n"
                + "      INHERITED_RELEASE: added by the agent: overrides release to guard the body inherited from "
                + "dev.unloadguard.check.fixture.guard.PlainBase, which is not a release type itself\n"), text);
        assertTrue(text.contains("  dev.unloadguard.check.fixture.guard.Cleanup.serialRun()V\n"
                + "      LAMBDA_BODY: body of a method reference used as a release action or callback\n"), text);
        assertTrue(!text.contains("Cleanup.run()V\n"), () -> "bridged: the body itself is not guarded\n" + text);

        @SuppressWarnings("unchecked")
        Map<String, Object> json = (Map<String, Object>) MiniJson.parse(report.toJson());
        List<?> guarded = (List<?>) json.get("guarded");
        assertTrue(guarded.contains(Map.of("class", "dev.unloadguard.check.fixture.guard.Registrar", "method", "unloadguard$ref$0()V",
                "reason", "METHOD_REFERENCE", "calls", "dev.unloadguard.check.fixture.guard.Cleanup.run()V")), guarded::toString);
        assertTrue(guarded.contains(Map.of("class", "dev.unloadguard.check.fixture.guard.Inherits", "method", "release()V",
                "reason", "INHERITED_RELEASE", "calls", "dev.unloadguard.check.fixture.guard.PlainBase.release()V")), guarded::toString);
        assertTrue(guarded.contains(Map.of("class", "dev.unloadguard.check.fixture.guard.Cleanup", "method", "serialRun()V",
                "reason", "LAMBDA_BODY")), () -> "no calls key for methods of the jar: " + guarded);
    }

    @Test
    void theTextReportListsGuardedThenHazardsThenASummary() throws Exception {
        Map<String, byte[]> entries = entries(classAndNested(HAZARDS, GUARD + "SubCallback", GUARD + "BaseCallback"));
        String text = UnloadCheck.analyze("mixed.jar", entries).toText();
        int guarded = text.indexOf("guarded release callbacks (1):");
        int hazards = text.indexOf("unload hazards (20):");
        int warnings = text.indexOf("warnings (1):");
        int summary = text.indexOf("summary: 1 guarded release callback, 20 unload hazards, 1 warning");
        assertTrue(guarded >= 0 && hazards > guarded && warnings > hazards && summary > warnings, text);
        int line = Fixtures.markers(HAZARDS + ".java").get("hook");
        assertTrue(text.contains("  SHUTDOWN_HOOK  " + HAZARDS_CLASS + ".hook(Ljava/lang/Thread;)V line " + line + "\n"), text);
        assertTrue(text.contains("      fix: " + HazardKind.SHUTDOWN_HOOK.hint() + "\n"), text);
        assertTrue(text.contains("  dev.unloadguard.check.fixture.guard.SubCallback.release()V\n"
                + "      RELEASE_CALLBACK: implements ReleaseCallback.release()\n"), text);
    }

    @Test
    void theJsonReportParsesAndHoldsEveryFinding() throws Exception {
        CheckReport report = UnloadCheck.analyze("dir/\"quoted\"\\.jar",
                entries(classAndNested(HAZARDS, GUARD + "SubCallback", GUARD + "BaseCallback")));
        @SuppressWarnings("unchecked")
        Map<String, Object> json = (Map<String, Object>) MiniJson.parse(report.toJson());
        assertEquals(List.of("jar", "classes", "scope", "entrySections", "guarded", "hazards", "warnings"), new ArrayList<>(json.keySet()));
        assertEquals("ENTRIES", json.get("scope"));
        List<?> sections = (List<?>) json.get("entrySections");
        assertEquals(report.entrySections().size(), sections.size());
        assertTrue(sections.contains(Map.of("class", "dev.unloadguard.check.fixture.guard.SubCallback", "sections", 2L, "cleanup", 0L,
                "notWoven", List.of())), sections::toString);
        assertEquals("dir/\"quoted\"\\.jar", json.get("jar"));
        assertEquals(5L, json.get("classes"));
        assertEquals(List.of(Map.of("class", "dev.unloadguard.check.fixture.guard.SubCallback", "method", "release()V",
                "reason", "RELEASE_CALLBACK")), json.get("guarded"));
        List<?> hazards = (List<?>) json.get("hazards");
        assertEquals(report.hazards().size(), hazards.size());
        for (int i = 0; i < hazards.size(); i++) {
            Map<?, ?> h = (Map<?, ?>) hazards.get(i);
            Hazard expected = report.hazards().get(i);
            assertEquals(List.of("kind", "class", "method", "line", "detail", "hint"), new ArrayList<>(h.keySet()));
            assertEquals(expected.kind().name(), h.get("kind"));
            assertEquals(expected.className(), h.get("class"));
            assertEquals(expected.method(), h.get("method"));
            assertEquals((long) expected.line(), h.get("line"));
            assertEquals(expected.detail(), h.get("detail"));
            assertEquals(expected.hint(), h.get("hint"));
        }
        assertEquals(1, ((List<?>) json.get("warnings")).size());

        Object empty = MiniJson.parse(UnloadCheck.analyze("e.jar", Map.of()).toJson());
        assertEquals(Map.of("jar", "e.jar", "classes", 0L, "scope", "ENTRIES", "entrySections", List.of(), "guarded", List.of(),
                "hazards", List.of(), "warnings", List.of()), empty);
        Object releaseOnly = MiniJson.parse(UnloadCheck.analyze("e.jar", Map.of(), UnloadCheck.Scope.RELEASE_PATHS).toJson());
        assertEquals("RELEASE_PATHS", ((Map<?, ?>) releaseOnly).get("scope"));
    }

    @Test
    void scopeEntriesCountsEachClassesEntrySectionsAndListsTheReleasePathsAsScopeReleasePathsDoes() throws Exception {
        Map<String, byte[]> entries = entries(e -> e.startsWith(GUARD));
        CheckReport entriesScope = UnloadCheck.analyze("guard.jar", entries);
        CheckReport releaseOnly = UnloadCheck.analyze("guard.jar", entries, UnloadCheck.Scope.RELEASE_PATHS);
        assertEquals(UnloadCheck.Scope.ENTRIES, entriesScope.scope());
        assertEquals(UnloadCheck.Scope.RELEASE_PATHS, releaseOnly.scope());
        assertEquals(releaseOnly.guarded(), entriesScope.guarded(), "the same release paths in both scopes");
        assertEquals(List.of(), releaseOnly.entrySections());

        Map<String, EntrySections> byClass = new HashMap<>();
        entriesScope.entrySections().forEach(e -> byClass.put(e.className().substring(e.className().lastIndexOf('.') + 1), e));
        assertEquals(new EntrySections(GUARD_CLASS + "Cleanup", 3, 0, List.of()), byClass.get("Cleanup"),
                "<init>, run, notReferenced: serialRun is a release path, listed with the guarded ones");
        assertEquals(new EntrySections(GUARD_CLASS + "SubCallback", 2, 0, List.of()), byClass.get("SubCallback"),
                "<init> and release(int); release() is the release callback");
        assertEquals(new EntrySections(GUARD_CLASS + "Listener", 8, 6, List.of()), byClass.get("Listener"),
                "<init>, handle; hashCode, equals, toString, compareTo and its bridge, close");
        assertEquals(2, byClass.get("Listener").gated());
        assertTrue(byClass.values().stream().allMatch(e -> e.notWoven().isEmpty()), byClass::toString);
        // Every method of every class is a section: an entry section or a release path (abstract ones aside).
        for (Map.Entry<String, byte[]> e : entries.entrySet()) {
            GuardPlan plan = GuardPlan.of(e.getValue(), getClass().getClassLoader(), GuardPlan.Scope.ENTRIES);
            String name = plan.className().replace('/', '.');
            long releasePaths = entriesScope.guarded().stream().filter(g -> g.className().equals(name)).count();
            int sections = entriesScope.entrySections().stream().filter(s -> s.className().equals(name)).mapToInt(EntrySections::sections).sum();
            assertEquals(plan.targets().size(), sections + releasePaths, name);
        }

        String text = entriesScope.toText();
        assertTrue(text.contains("guard scope: ENTRIES (every method is a section"), text);
        assertTrue(text.contains("entry sections (" + entriesScope.entrySectionCount() + " in " + entriesScope.entrySections().size()
                + " classes: "), text);
        assertTrue(text.contains("\n  " + GUARD_CLASS + "Listener: 8 (6 clean-up)\n"), text);
        assertTrue(text.contains("\n  " + GUARD_CLASS + "Cleanup: 3\n"), text);
        assertTrue(text.indexOf("entry sections (") < text.indexOf("guarded release callbacks ("), "sections first, then the release paths");
        assertTrue(text.contains("summary: 8 guarded release callbacks, 0 unload hazards, 0 warnings, "
                + entriesScope.entrySectionCount() + " entry sections: nothing found"), text);
        String releaseText = releaseOnly.toText();
        assertTrue(releaseText.contains("guard scope: RELEASE_PATHS") && !releaseText.contains("entry section"), releaseText);
    }

    @Test
    void aConstructorTheAgentCannotWeaveIsNamed() throws Exception {
        // Two super() calls, one per branch: valid bytecode no Java compiler emits.
        org.objectweb.asm.ClassWriter cw = new org.objectweb.asm.ClassWriter(org.objectweb.asm.ClassWriter.COMPUTE_MAXS
                | org.objectweb.asm.ClassWriter.COMPUTE_FRAMES);
        cw.visit(org.objectweb.asm.Opcodes.V17, org.objectweb.asm.Opcodes.ACC_PUBLIC, "odd/TwoSupers", null, "java/lang/Object", null);
        org.objectweb.asm.MethodVisitor mv = cw.visitMethod(org.objectweb.asm.Opcodes.ACC_PUBLIC, "<init>", "(Z)V", null, null);
        mv.visitCode();
        org.objectweb.asm.Label other = new org.objectweb.asm.Label();
        org.objectweb.asm.Label join = new org.objectweb.asm.Label();
        mv.visitVarInsn(org.objectweb.asm.Opcodes.ILOAD, 1);
        mv.visitJumpInsn(org.objectweb.asm.Opcodes.IFEQ, other);
        mv.visitVarInsn(org.objectweb.asm.Opcodes.ALOAD, 0);
        mv.visitMethodInsn(org.objectweb.asm.Opcodes.INVOKESPECIAL, "java/lang/Object", "<init>", "()V", false);
        mv.visitJumpInsn(org.objectweb.asm.Opcodes.GOTO, join);
        mv.visitLabel(other);
        mv.visitVarInsn(org.objectweb.asm.Opcodes.ALOAD, 0);
        mv.visitMethodInsn(org.objectweb.asm.Opcodes.INVOKESPECIAL, "java/lang/Object", "<init>", "()V", false);
        mv.visitLabel(join);
        mv.visitInsn(org.objectweb.asm.Opcodes.RETURN);
        mv.visitMaxs(0, 0);
        mv.visitEnd();
        cw.visitEnd();
        CheckReport report = UnloadCheck.analyze("odd.jar", Map.of("odd/TwoSupers.class", cw.toByteArray()));
        assertEquals(List.of(new EntrySections("odd.TwoSupers", 1, 0, List.of("<init>(Z)V"))), report.entrySections());
        assertTrue(report.toText().contains("  odd.TwoSupers: 1; not a section, left as they are: <init>(Z)V\n"), report::toText);
        @SuppressWarnings("unchecked")
        Map<String, Object> json = (Map<String, Object>) MiniJson.parse(report.toJson());
        assertEquals(List.of(Map.of("class", "odd.TwoSupers", "sections", 1L, "cleanup", 0L, "notWoven", List.of("<init>(Z)V"))),
                json.get("entrySections"));
    }

    @Test
    void jsonStringsAreEscaped() {
        String nasty = "q\" b\\ n\n r\r t\t c\u0001 ls\u2028 ok\u00e9\ud83d\ude00 lone\ud800.";
        assertEquals("\"q\\\" b\\\\ n\\n r\\r t\\t c\\u0001 ls\\u2028 ok\u00e9\ud83d\ude00 lone\\ud800.\"", Json.string(nasty));
        assertEquals(nasty, MiniJson.parse(Json.string(nasty)));
    }

    @Test
    void aJarIsReadFromItsEntriesWithoutLoadingIt(@TempDir Path dir) throws Exception {
        Map<String, byte[]> entries = new HashMap<>(entries(classAndNested(HAZARDS)));
        entries.put("META-INF/services/java.sql.Driver", "# drivers\ncom.example.FakeDriver\n".getBytes(StandardCharsets.UTF_8));
        entries.put("README.txt", "not a class".getBytes(StandardCharsets.UTF_8));
        Path jar = Fixtures.jar(dir.resolve("hazards.jar"), entries);
        CheckReport fromJar = UnloadCheck.check(jar);
        CheckReport inMemory = UnloadCheck.analyze(jar.toString(), entries);
        assertEquals(inMemory, fromJar);
        assertEquals(jar.toString(), fromJar.jar());
        assertTrue(fromJar.warnings().stream().anyMatch(w -> w.kind() == HazardKind.JDBC_DRIVER_SERVICE
                && w.className().equals("com.example.FakeDriver") && w.line() == -1), fromJar::toText);
    }

    @Test
    void unreadableJarsAreNamedWithTheFix(@TempDir Path dir) throws Exception {
        Path missing = dir.resolve("nope.jar");
        CheckException e = assertThrows(CheckException.class, () -> UnloadCheck.check(missing));
        assertTrue(e.getMessage().startsWith(missing + " not found: pass the path of a plugin jar"), e.getMessage());

        e = assertThrows(CheckException.class, () -> UnloadCheck.check(dir));
        assertTrue(e.getMessage().contains("is a directory, not a jar"), e.getMessage());

        Path text = Files.writeString(dir.resolve("text.jar"), "hello, not a zip");
        e = assertThrows(CheckException.class, () -> UnloadCheck.check(text));
        assertTrue(e.getMessage().startsWith(text + " is not a jar ("), e.getMessage());

        Path badMagic = Fixtures.jar(dir.resolve("bad-magic.jar"), Map.of("a/Bad.class", "not a class file".getBytes(StandardCharsets.UTF_8)));
        e = assertThrows(CheckException.class, () -> UnloadCheck.check(badMagic));
        assertTrue(e.getMessage().contains("corrupt class entry 'a/Bad.class'") && e.getMessage().contains("rebuild the jar"),
                e.getMessage());

        byte[] good = entries(classAndNested(FIXTURE + "Clean")).values().iterator().next();
        byte[] truncated = java.util.Arrays.copyOf(good, good.length / 2);
        Path cut = Fixtures.jar(dir.resolve("cut.jar"), Map.of("a/Cut.class", truncated));
        e = assertThrows(CheckException.class, () -> UnloadCheck.check(cut));
        assertTrue(e.getMessage().contains("corrupt class entry 'a/Cut.class'"), e.getMessage());
    }
}
