package dev.unloadguard.cli;

import dev.unloadguard.check.CheckException;
import dev.unloadguard.check.CheckReport;
import dev.unloadguard.check.UnloadCheck;
import java.io.PrintStream;
import java.nio.file.Path;

/**
 * {@code check [--json] [--release-paths] PLUGIN.jar}: the static unload-hazard check
 * ({@link UnloadCheck}), in the guard scope a plugin loader uses by default (every entry), or with
 * {@code --release-paths} in the narrower one (a plugin loaded with
 * {@code LoadOption.GUARD_RELEASE_PATHS_ONLY}). Exit status 0 without hazards, 1 with hazards, 2
 * for bad usage or a jar that cannot be read.
 */
final class Check {

    static final String USAGE = "check [--json] [--release-paths] PLUGIN.jar";

    private Check() {
    }

    static int run(String[] args, PrintStream out, PrintStream err) throws UsageException {
        boolean json = false;
        UnloadCheck.Scope scope = UnloadCheck.Scope.ENTRIES;
        String jar = null;
        for (String a : args) {
            if (a.equals("--json")) {
                json = true;
            } else if (a.equals("--release-paths")) {
                scope = UnloadCheck.Scope.RELEASE_PATHS;
            } else if (a.startsWith("-")) {
                throw new UsageException("unknown option '" + a + "'; usage: " + USAGE);
            } else if (jar != null) {
                throw new UsageException("one jar at a time, got '" + jar + "' and '" + a + "'; usage: " + USAGE);
            } else {
                jar = a;
            }
        }
        if (jar == null) {
            throw new UsageException("which jar? usage: " + USAGE);
        }
        CheckReport report;
        try {
            report = UnloadCheck.check(Path.of(jar), scope);
        } catch (CheckException e) {
            throw new UsageException(e.getMessage());
        } catch (java.nio.file.InvalidPathException e) {
            throw new UsageException("'" + jar + "' is not a valid path: " + e.getReason());
        }
        out.print(json ? report.toJson() : report.toText());
        out.flush();
        return report.exitStatus();
    }
}
