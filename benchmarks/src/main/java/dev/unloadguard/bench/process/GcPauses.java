package dev.unloadguard.bench.process;

import dev.unloadguard.epoch.ReleaseGuard;
import dev.unloadguard.loader.Plugin;
import dev.unloadguard.loader.PluginLoader;
import dev.unloadguard.loader.PluginState;
import dev.unloadguard.loader.UnloadReport;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The host's GC pauses during {@code n} unloads with a live heap (issue 11, target 1): one JVM per
 * collector and mode, started by {@code benchmarks/gc-pauses.sh} with {@code -Xlog:gc,gc+phases}
 * to a file, which this reads back at the end.
 *
 * <pre>GcPauses async|sync N LIVE_MB WORK_DIR GC_LOG</pre>
 *
 * The plugin is generated in {@code WORK_DIR} ({@link PluginJars}, 50 classes: a small plugin).
 * It builds {@code LIVE_MB} of live objects (1 KB byte arrays, kept to the end), warms the load
 * and unload paths up (collection check off), collects once (the live set is then old), then runs {@code N} load + unload cycles, each
 * allocating 8 MB of garbage as a working host would (so young GCs happen), with the collection
 * check as the mode says: {@code async} the default (unload returns at the close, the shared
 * watcher confirms later, at most one nudge for all pending unloads), {@code sync}
 * {@code awaitCollection(true)} (the check nudges {@code System.gc()} in every unload until the
 * loader is collected). The measured window runs from the first cycle to the end of the last
 * collection check. Prints {@code key=value} lines: the longest pause, the longest young pause, the
 * pause count and sum, full GCs, GCs caused by {@code System.gc()}, the outcomes. The collection
 * timeout (the deadline) is 5 s, the default, unless {@code -Dunloadguard.bench.collectionTimeoutSeconds=S}.
 */
public final class GcPauses {

    /** A unified-logging line: {@code [12.345s][info][gc...] GC(7) ... Pause ... 1.234ms}. */
    private static final Pattern LINE = Pattern.compile("^\\[(\\d+(?:\\.\\d+)?)s\\]\\[[a-z]+\\s*\\]\\[([a-z,]+)\\s*\\]\\s*(.*)$");
    private static final Pattern PAUSE_MS = Pattern.compile("\\bPause\\b.*?(\\d+(?:\\.\\d+)?)ms\\s*$");

    private GcPauses() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 5 || !(args[0].equals("async") || args[0].equals("sync"))) {
            System.err.println("usage: GcPauses async|sync N LIVE_MB WORK_DIR GC_LOG");
            System.exit(2);
        }
        boolean sync = args[0].equals("sync");
        int n = Integer.parseInt(args[1]);
        int liveMb = Integer.parseInt(args[2]);
        Path jar = PluginJars.generate(Files.createDirectories(Path.of(args[3])), "gcpauses", 50,
                System.getProperty("java.class.path"));
        Path log = Path.of(args[4]);

        byte[][] live = new byte[liveMb * 1024][];
        for (int i = 0; i < live.length; i++) {
            live[i] = new byte[1000];
        }
        PluginLoader warm = builder().collectionTimeout(Duration.ZERO).build();
        for (int i = 0; i < 20; i++) {
            warm.unload(warm.load(jar), Duration.ofSeconds(10));
        }
        warm.close();
        System.gc(); // before the window: the live set moves to the old generation, the warm-up loaders go
        Thread.sleep(500);

        Duration deadline = Duration.ofSeconds(Long.getLong("unloadguard.bench.collectionTimeoutSeconds", 5));
        PluginLoader loader = builder().collectionTimeout(deadline).awaitCollection(sync).build();
        List<CompletableFuture<UnloadReport>> checks = new ArrayList<>(n);
        long sink = 0;
        double start = uptimeSeconds();
        long t0 = System.nanoTime();
        for (int i = 0; i < n; i++) {
            Plugin p = loader.load(jar);
            for (int k = 0; k < 8 * 64; k++) {
                sink += new byte[16 * 1024].length; // 8 MB of garbage per cycle
            }
            loader.unload(p, Duration.ofSeconds(10));
            checks.add(p.collectionCheck());
        }
        long unloadsNanos = System.nanoTime() - t0;
        int collected = 0;
        int leaked = 0;
        for (CompletableFuture<UnloadReport> c : checks) {
            PluginState outcome = c.get(2, TimeUnit.MINUTES).outcome();
            collected += outcome == PluginState.COLLECTED ? 1 : 0;
            leaked += outcome == PluginState.LEAKED ? 1 : 0;
        }
        long checksNanos = System.nanoTime() - t0;
        double end = uptimeSeconds();
        loader.close();

        List<Double> pauses = new ArrayList<>();
        double maxYoung = 0;
        String longest = "";
        int fullGcs = 0;
        int systemGcs = 0;
        for (String line : Files.readAllLines(log)) {
            Matcher m = LINE.matcher(line);
            if (!m.matches()) {
                continue;
            }
            double at = Double.parseDouble(m.group(1));
            if (at < start || at > end + 0.001) {
                continue;
            }
            String tags = m.group(2);
            String text = m.group(3);
            if (tags.equals("gc") && text.contains("System.gc()") && !text.contains("Pause Remark") && !text.contains("Pause Cleanup")) {
                systemGcs++;
            }
            if (tags.equals("gc") && text.contains("Pause Full")) {
                fullGcs++;
            }
            Matcher p = PAUSE_MS.matcher(text);
            if (p.find() && (tags.equals("gc") || tags.equals("gc,phases"))) {
                double ms = Double.parseDouble(p.group(1));
                pauses.add(ms);
                if (text.contains("Pause Young")) {
                    maxYoung = Math.max(maxYoung, ms);
                }
                if (ms >= pauses.stream().mapToDouble(Double::doubleValue).max().orElse(0)) {
                    longest = text;
                }
            }
        }
        out("mode", sync ? "sync" : "async");
        out("collector", ManagementFactory.getGarbageCollectorMXBeans().get(0).getName());
        out("java", System.getProperty("java.version"));
        out("agent", ReleaseGuard.agentActive());
        out("n", n);
        out("collectionTimeout.s", deadline.toSeconds());
        out("liveMb", liveMb);
        out("unloads.s", fmt(unloadsNanos / 1e9));
        out("checks.s", fmt(checksNanos / 1e9));
        out("collected", collected);
        out("leaked", leaked);
        out("pauses", pauses.size());
        out("pause.max.ms", fmt(pauses.stream().mapToDouble(Double::doubleValue).max().orElse(0)));
        out("pause.sum.ms", fmt(pauses.stream().mapToDouble(Double::doubleValue).sum()));
        out("pause.young.max.ms", fmt(maxYoung));
        out("fullGcs", fullGcs);
        out("systemGcs", systemGcs);
        out("longest", longest);
        out("sink", sink > 0);
        System.out.flush();
        if (live.length > 0 && live[live.length - 1].length != 1000) {
            throw new AssertionError(); // keeps the live set reachable to the end
        }
    }

    private static PluginLoader.Builder builder() {
        return PluginLoader.builder().allowUnguardedUnload(!ReleaseGuard.agentActive());
    }

    private static double uptimeSeconds() {
        return ManagementFactory.getRuntimeMXBean().getUptime() / 1000.0;
    }

    private static String fmt(double d) {
        return String.format(Locale.ROOT, "%.3f", d);
    }

    private static void out(String key, Object value) {
        System.out.println(key + "=" + value);
    }
}
