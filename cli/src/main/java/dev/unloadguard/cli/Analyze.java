package dev.unloadguard.cli;

import dev.unloadguard.leaks.LeakAnalysis;
import dev.unloadguard.leaks.LeakPaths;
import dev.unloadguard.leaks.LeakedLoader;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Collectors;

/**
 * {@code analyze FILE.hprof}: reads a heap dump and prints, for each unloaded plugin generation
 * still in it, the shortest chain of strong references from a GC root to its class loader.
 * Exit 0 if none is reachable, 1 if some leaked (or the file could not be read), 2 for bad usage.
 */
final class Analyze {

    static final String USAGE = "analyze FILE.hprof";

    private Analyze() {
    }

    static int run(String[] args, PrintStream out, PrintStream err) throws UsageException {
        if (args.length != 1 || args[0].startsWith("-")) {
            throw new UsageException("usage: " + USAGE + " (a heap dump, e.g. from 'jcmd PID GC.heap_dump FILE.hprof')");
        }
        Path file = Path.of(args[0]);
        LeakAnalysis a;
        try {
            a = LeakPaths.analyze(file);
        } catch (NoSuchFileException e) {
            throw new UsageException("no such file: " + file + " (pass a heap dump, e.g. from 'jcmd PID GC.heap_dump FILE.hprof')");
        } catch (IOException e) {
            err.println("unloadguard analyze: " + e.getMessage());
            return 1;
        }
        return print(a, "heap dump " + file, false, out);
    }

    /**
     * Prints what {@code a} found; returns 1 if a leaked generation is reachable, else 0.
     *
     * @param liveDump whether the dump holds live objects only ({@code leaks PID} takes one so: the
     *                 JVM ran a full GC first). An unloaded generation in such a dump that no strong
     *                 path from a root of the dump reaches is held by a root the HPROF format does
     *                 not record (the JIT-compiled code of a running thread) or only softly. It
     *                 leaked, and counts as such.
     */
    static int print(LeakAnalysis a, String what, boolean liveDump, PrintStream out) {
        out.println(what + ": " + a.objects() + " objects, read and searched in " + a.analysisTime().toMillis() + " ms"
                + (a.dumpTime().isZero() ? "" : " (the dump took " + a.dumpTime().toMillis() + " ms)"));
        List<LeakedLoader> reachable = a.leaked().stream().filter(LeakedLoader::reachable).collect(Collectors.toList());
        List<LeakedLoader> garbage = a.leaked().stream().filter(l -> !l.reachable()).collect(Collectors.toList());
        if (liveDump && !garbage.isEmpty()) {
            out.println(garbage.size() + " unloaded generation(s) survived the full GC before this dump of live objects, "
                    + "though no strong path from a root the dump records reaches them: the JIT-compiled code of a running "
                    + "thread holds them (see \"LEAKED with no suspects and no path in a heap dump\" in docs/troubleshooting.md; "
                    + "-XX:-UseOnStackReplacement confirms it), or only a SoftReference does (cleared under memory pressure):");
            for (LeakedLoader l : garbage) {
                out.println("  " + l.loaderName() + " (" + l.loaderClass() + ")");
            }
        }
        if (reachable.isEmpty()) {
            out.println("no leaked plugin generations found: no unloaded unloadguard plugin class loader is reachable"
                    + (garbage.isEmpty() ? " (none is in the dump)" : liveDump ? " from a root the dump records"
                    : " (" + garbage.size() + " in the dump are garbage not collected yet)"));
            return liveDump && !garbage.isEmpty() ? 1 : 0;
        }
        out.println(reachable.size() + " leaked plugin generation(s):");
        for (LeakedLoader l : reachable) {
            out.println("  " + l.toString().replace("\n", "\n  "));
        }
        if (!garbage.isEmpty() && !liveDump) {
            out.println(garbage.size() + " other unloaded generation(s) in the dump are garbage not collected yet (no GC root reaches them)");
        }
        return 1;
    }
}
