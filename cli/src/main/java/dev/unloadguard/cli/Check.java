package dev.unloadguard.cli;

import dev.unloadguard.check.CheckException;
import dev.unloadguard.check.CheckReport;
import dev.unloadguard.check.UnloadCheck;
import java.io.PrintStream;
import java.nio.file.Path;

/**
 * {@code check [--json] PLUGIN.jar}: the static unload-hazard check ({@link UnloadCheck}). Exit
 * status 0 without hazards, 1 with hazards, 2 for bad usage or a jar that cannot be read.
 */
final class Check {

    static final String USAGE = "check [--json] PLUGIN.jar";

    private Check() {
    }

    static int run(String[] args, PrintStream out, PrintStream err) throws UsageException {
        boolean json = false;
        String jar = null;
        for (String a : args) {
            if (a.equals("--json")) {
                json = true;
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
            report = UnloadCheck.check(Path.of(jar));
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
