package dev.unloadguard.cli;

import dev.unloadguard.leaks.LeakAnalysis;
import dev.unloadguard.leaks.LeakPaths;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * {@code leaks PID [--keep FILE.hprof]}: asks a running JVM to dump its live heap (as
 * {@code jcmd PID GC.heap_dump FILE} does, through the attach API: the target needs neither the
 * leaks module nor the agent), analyses the dump here as {@code analyze} does, and deletes it
 * unless {@code --keep} names where to keep it.
 */
final class Leaks {

    static final String USAGE = "leaks PID [--keep FILE.hprof]";

    private Leaks() {
    }

    static int run(String[] args, PrintStream out, PrintStream err) throws UsageException {
        String pid = null;
        Path keep = null;
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--keep")) {
                if (i + 1 >= args.length) {
                    throw new UsageException("--keep needs a file name ending in .hprof; usage: " + USAGE);
                }
                keep = Path.of(args[++i]).toAbsolutePath();
                if (!keep.getFileName().toString().endsWith(".hprof")) {
                    throw new UsageException("--keep " + keep + ": the file name must end in .hprof");
                }
                if (Files.exists(keep)) {
                    throw new UsageException("--keep " + keep + " exists already: name a new file");
                }
            } else if (args[i].startsWith("-") || pid != null) {
                throw new UsageException("unexpected argument '" + args[i] + "'; usage: " + USAGE);
            } else {
                pid = args[i];
            }
        }
        if (pid == null) {
            throw new UsageException("usage: " + USAGE + " (PID: a running JVM, e.g. from 'jps -l')");
        }
        Path file;
        try {
            file = keep != null ? keep : tempFile();
        } catch (IOException e) {
            err.println("unloadguard leaks: cannot make a temporary file for the heap dump: " + e.getMessage());
            return 1;
        }
        try (TargetJvm target = TargetJvm.open(pid, "leaks")) {
            long start = System.nanoTime();
            Optional<String> said = target.jcmd("GC.heap_dump " + file);
            if (said.isEmpty()) {
                err.println("unloadguard leaks: JVM " + pid + " cannot be asked for a heap dump through the attach API "
                        + "(not HotSpot, or run this jar with java -jar so it may use jdk.attach's sun.tools.attach); "
                        + "take one with 'jcmd " + pid + " GC.heap_dump FILE.hprof' and run 'analyze FILE.hprof'");
                return 1;
            }
            if (!Files.isRegularFile(file)) {
                err.println("unloadguard leaks: JVM " + pid + " did not write the heap dump " + file + ": "
                        + said.get().strip());
                return 1;
            }
            long dumped = System.nanoTime();
            out.println("JVM " + pid + " dumped its live heap to " + file + " (" + Files.size(file) / (1024 * 1024) + " MB) in "
                    + (dumped - start) / 1_000_000 + " ms" + (keep != null ? "; kept" : "; deleted after the analysis"));
            LeakAnalysis a = LeakPaths.analyze(file);
            return Analyze.print(a, "JVM " + pid, true, out);
        } catch (IOException e) {
            err.println("unloadguard leaks: " + e.getMessage());
            return 1;
        } finally {
            if (keep == null) {
                try {
                    Files.deleteIfExists(file);
                } catch (IOException e) {
                    err.println("unloadguard leaks: could not delete the heap dump " + file + ": " + e.getMessage());
                }
            }
        }
    }

    private static Path tempFile() throws IOException {
        Path tmp = Files.createTempFile("unloadguard-leaks-", ".hprof");
        Files.delete(tmp); // the target refuses to overwrite a file
        return tmp;
    }
}
