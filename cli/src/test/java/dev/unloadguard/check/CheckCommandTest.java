package dev.unloadguard.check;

import static dev.unloadguard.check.Fixtures.FIXTURE;
import static dev.unloadguard.check.Fixtures.classAndNested;
import static dev.unloadguard.check.Fixtures.entries;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.cli.Main;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code check} through the command line's entry point: exit status, text and JSON, errors. */
class CheckCommandTest {

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();

    private int run(String... args) {
        return Main.run(args, new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
    }

    private String out() {
        return out.toString(StandardCharsets.UTF_8);
    }

    private String err() {
        return err.toString(StandardCharsets.UTF_8);
    }

    @Test
    void hazardsExitOneCleanJarsExitZero(@TempDir Path dir) throws Exception {
        Path hazardous = Fixtures.jar(dir.resolve("hazards.jar"), entries(classAndNested(FIXTURE + "Hazards")));
        assertEquals(1, run("check", hazardous.toString()), err());
        assertTrue(out().startsWith("unloadguard check: " + hazardous + " (3 classes"), out());
        assertTrue(out().contains("summary: 0 guarded release callbacks, 20 unload hazards, 1 warning"), out());
        out.reset();

        Path clean = Fixtures.jar(dir.resolve("clean.jar"), entries(classAndNested(FIXTURE + "Clean")));
        assertEquals(0, run("check", clean.toString()), err());
        assertTrue(out().contains("unload hazards: none"), out());
        assertEquals("", err());
    }

    @Test
    void jsonOutputIsOneObject(@TempDir Path dir) throws Exception {
        Path hazardous = Fixtures.jar(dir.resolve("hazards.jar"), entries(classAndNested(FIXTURE + "Hazards")));
        assertEquals(1, run("check", "--json", hazardous.toString()), err());
        Map<?, ?> json = (Map<?, ?>) MiniJson.parse(out());
        assertEquals(hazardous.toString(), json.get("jar"));
        assertEquals(20, ((java.util.List<?>) json.get("hazards")).size());
    }

    @Test
    void methodsTheAgentAddsAreListedWithWhatTheyCall(@TempDir Path dir) throws Exception {
        Path jar = Fixtures.jar(dir.resolve("added.jar"), entries(classAndNested(Fixtures.GUARD + "Registrar",
                Fixtures.GUARD + "Cleanup", Fixtures.GUARD + "Inherits", Fixtures.GUARD + "PlainBase")));
        assertEquals(0, run("check", jar.toString()), err());
        assertTrue(out().contains("  dev.unloadguard.check.fixture.guard.Registrar.unloadguard$ref$0()V\n      METHOD_REFERENCE: "
                + "added by the agent: the bridge through which the method reference to dev.unloadguard.check.fixture.guard.Cleanup.run()V"),
                out());
        assertTrue(out().contains("  dev.unloadguard.check.fixture.guard.Inherits.release()V\n      INHERITED_RELEASE: "
                + "added by the agent: overrides release to guard the body inherited from dev.unloadguard.check.fixture.guard.PlainBase"),
                out());
        assertTrue(out().contains("summary: 5 guarded release callbacks, 0 unload hazards"), out());
        out.reset();

        assertEquals(0, run("check", "--json", jar.toString()), err());
        Map<?, ?> json = (Map<?, ?>) MiniJson.parse(out());
        java.util.List<?> guarded = (java.util.List<?>) json.get("guarded");
        assertTrue(guarded.contains(Map.of("class", "dev.unloadguard.check.fixture.guard.Inherits", "method", "release()V",
                "reason", "INHERITED_RELEASE", "calls", "dev.unloadguard.check.fixture.guard.PlainBase.release()V")), guarded::toString);
        assertTrue(guarded.contains(Map.of("class", "dev.unloadguard.check.fixture.guard.Registrar", "method", "unloadguard$ref$0()V",
                "reason", "METHOD_REFERENCE", "calls", "dev.unloadguard.check.fixture.guard.Cleanup.run()V")), guarded::toString);
    }

    /** The default scope is the plugin loader's default (every entry); --release-paths checks the narrower one. */
    @Test
    void theScopeIsEntriesUnlessReleasePathsIsAsked(@TempDir Path dir) throws Exception {
        Path clean = Fixtures.jar(dir.resolve("clean.jar"), entries(classAndNested(FIXTURE + "Clean")));
        assertEquals(0, run("check", clean.toString()), err());
        assertTrue(out().contains("guard scope: ENTRIES") && out().contains("entry sections"), out());
        out.reset();
        assertEquals(0, run("check", "--release-paths", clean.toString()), err());
        assertTrue(out().contains("guard scope: RELEASE_PATHS") && !out().contains("entry sections"), out());
    }

    @Test
    void badUsageAndUnreadableJarsExitTwoWithAMessage(@TempDir Path dir) {
        assertEquals(2, run("check"));
        assertTrue(err().contains("unloadguard check: which jar? usage: check [--json] [--release-paths] PLUGIN.jar"), err());
        err.reset();
        assertEquals(2, run("check", "--yaml", "x.jar"));
        assertTrue(err().contains("unknown option '--yaml'"), err());
        err.reset();
        assertEquals(2, run("check", "a.jar", "b.jar"));
        assertTrue(err().contains("one jar at a time"), err());
        err.reset();
        Path missing = dir.resolve("missing.jar");
        assertEquals(2, run("check", missing.toString()));
        assertTrue(err().contains("unloadguard check: " + missing + " not found: pass the path of a plugin jar"), err());
        assertEquals("", out());
    }
}
