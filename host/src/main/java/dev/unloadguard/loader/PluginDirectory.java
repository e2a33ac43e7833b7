package dev.unloadguard.loader;

import java.io.IOException;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.jar.JarFile;

/**
 * Hosts every plugin in a directory and follows it. A plugin is a {@code *.jar}, a {@code *.zip}
 * or a subdirectory in the PF4J layout (one with {@code classes/} or {@code lib/}), in any of the
 * layouts {@link PluginLoader#load} takes. A new plugin is loaded; a replaced one is loaded as a
 * new generation <em>alongside</em> the old one, which then unloads (it drains while the new one
 * already takes new devices); a removed one is unloaded. Plugins of the directory that depend on
 * a replaced one are reloaded too, against its new generation, and their old generations unload
 * first. Removing a plugin others depend on unloads those dependents first (a cascade, as
 * {@link PluginLoader#unloadWithDependents}); a dependent whose file stays loads again when its
 * dependency comes back. A cascade is not atomic: when one of its unloads times out, the plugins
 * unloaded before it stay unloaded, it (GOING, intact) and the rest stay loaded, and the event
 * line names them; the unload is retried. Plugins load in any order: one whose load failed is
 * tried again whenever another loads (it may be the dependency it lacked), its failure reported
 * once per message. Writes are debounced: a plugin is acted on only once its size and
 * modification time (for a directory: of every file in it) have stayed the same for the settle
 * time and a jar or zip opens as one, so a half-copied plugin is never loaded.
 *
 * <p>One watcher thread polls a {@link WatchService} (and rescans the directory every settle
 * period, so a missed or overflowed event only delays a change); unloads run on one background
 * thread so a long drain never blocks the watcher. An unload that times out is retried until it
 * succeeds or the directory is closed; the old generation stays GOING and intact meanwhile.
 * Everything that happens is reported as one line to the event listener; the outcome of an
 * unload's collection check, which ends after the unload, is a later line
 * ({@code collection check of xe generation 1: COLLECTED after ...}), unless the directory was
 * closed first.
 */
public final class PluginDirectory implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger("dev.unloadguard.loader");

    private final PluginLoader loader;
    private final Path directory;
    private final Duration settle;
    private final Duration unloadTimeout;
    private final Consumer<String> events;
    private final WatchService watcher;
    private final Thread thread;
    private final ExecutorService unloader;

    /** Watcher-thread state: what each jar looked like when last seen, and what it hosts. */
    private final Map<Path, Seen> seen = new HashMap<>();
    private final Map<Path, Plugin> hosted = new HashMap<>(); // also read by hosted(), guarded by this
    /** Hosted jars seen missing, since when: a removal must settle too (a replace may delete first). */
    private final Map<Path, Long> missingSince = new HashMap<>();
    /** Generations unloading per jar; a new generation of the same jar loads alongside them. */
    private final Map<Path, java.util.Set<Plugin>> draining = new java.util.concurrent.ConcurrentHashMap<>();
    /**
     * Watcher-thread state: settled jars whose last load failed, with the error reported: tried
     * again whenever another jar loads (it may be the dependency they lacked); a failure is
     * reported again only if its message changed.
     */
    private final Map<Path, String> lastFailure = new HashMap<>();
    private volatile boolean closed;

    private record Seen(long size, FileTime modified, long since) {
    }

    private PluginDirectory(PluginLoader loader, Path directory, Duration settle, Duration unloadTimeout,
                            Consumer<String> events) throws IOException {
        this.loader = loader;
        this.directory = directory;
        this.settle = settle;
        this.unloadTimeout = unloadTimeout;
        this.events = events;
        this.watcher = FileSystems.getDefault().newWatchService();
        directory.register(watcher, StandardWatchEventKinds.ENTRY_CREATE, StandardWatchEventKinds.ENTRY_MODIFY,
                StandardWatchEventKinds.ENTRY_DELETE);
        this.unloader = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "unloadguard-directory-unloader");
            t.setDaemon(true);
            return t;
        });
        this.thread = new Thread(this::watch, "unloadguard-directory-watcher " + directory.getFileName());
        this.thread.setDaemon(true);
    }

    /**
     * Starts hosting {@code directory}: its plugins (jars, zips, PF4J-layout directories) are
     * loaded once they settle, and it is followed
     * until {@link #close()}.
     *
     * @param settle        how long a plugin must stay unchanged before it is acted on
     * @param unloadTimeout the timeout of each unload attempt
     * @param events        receives one line per thing that happened (loaded, reloaded, unloaded, failed)
     */
    public static PluginDirectory watch(PluginLoader loader, Path directory, Duration settle, Duration unloadTimeout,
                                        Consumer<String> events) throws IOException {
        Objects.requireNonNull(loader, "loader");
        if (!Files.isDirectory(directory)) {
            throw new IllegalArgumentException(directory + " is not a directory: pass the directory that holds the plugins");
        }
        PluginDirectory d = new PluginDirectory(loader, directory.toAbsolutePath().normalize(), settle, unloadTimeout, events);
        d.thread.start();
        return d;
    }

    /** The plugin each jar of the directory hosts now (its newest generation). */
    public synchronized Map<Path, Plugin> hosted() {
        return Map.copyOf(hosted);
    }

    private void watch() {
        long pollMillis = Math.max(10, settle.toMillis() / 4);
        while (!closed) {
            try {
                WatchKey key = watcher.poll(pollMillis, TimeUnit.MILLISECONDS);
                if (key != null) {
                    key.pollEvents(); // which file changed does not matter: the rescan looks at all
                    key.reset();
                }
                rescan();
            } catch (ClosedWatchServiceException | InterruptedException e) {
                return;
            } catch (RuntimeException e) {
                event("watcher error: " + e);
                LOG.log(System.Logger.Level.WARNING, "plugin directory " + directory, e);
            }
        }
    }

    private void rescan() {
        long now = System.nanoTime();
        Map<Path, Seen> present = new HashMap<>();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(directory)) {
            for (Path entry : entries) {
                Seen now0 = look(entry, now);
                if (now0 != null) {
                    present.put(entry, now0);
                }
            }
        } catch (IOException e) {
            event("cannot list " + directory + ": " + e);
            return;
        }
        missingSince.keySet().removeIf(present::containsKey);
        for (Path jar : List.copyOf(hostedPaths())) {
            if (present.containsKey(jar)) {
                continue;
            }
            long since = missingSince.computeIfAbsent(jar, j -> now);
            if (now - since < settle.toNanos()) {
                continue; // maybe a replace that deletes first: wait for the removal to settle
            }
            missingSince.remove(jar);
            seen.remove(jar);
            Plugin old;
            synchronized (this) {
                old = hosted.remove(jar);
            }
            removed(jar, old);
        }
        List<Path> settled = new java.util.ArrayList<>();
        present.forEach((jar, attrs) -> {
            Seen before = seen.get(jar);
            if (before == null || before.size() != attrs.size() || !before.modified().equals(attrs.modified())) {
                seen.put(jar, attrs); // changed: settle again
                return;
            }
            if (before.since() == Long.MIN_VALUE || now - before.since() < settle.toNanos()) {
                return; // acted on already, or still settling
            }
            seen.put(jar, new Seen(before.size(), before.modified(), Long.MIN_VALUE));
            settled.add(jar);
        });
        lastFailure.keySet().removeIf(jar -> !present.containsKey(jar));
        if (settled.isEmpty()) {
            return;
        }
        // Jars load in any order: one that failed (maybe for a dependency among the others, or
        // one that settles later) is tried again whenever another loads; only a failure that
        // remains is reported, and only once per message.
        Map<Path, PluginLoadException> failed = new java.util.LinkedHashMap<>();
        java.util.Set<Path> tried = new java.util.LinkedHashSet<>(settled);
        boolean loaded = false;
        for (Path jar : settled) {
            loaded |= apply(jar, failed);
        }
        java.util.Set<Path> waiting = new java.util.LinkedHashSet<>(lastFailure.keySet());
        waiting.removeAll(settled);
        while (loaded && !(failed.isEmpty() && waiting.isEmpty())) { // each round loads one more jar at least, or ends
            java.util.Set<Path> again = new java.util.LinkedHashSet<>(failed.keySet());
            again.addAll(waiting);
            waiting.clear();
            tried.addAll(again);
            failed = new java.util.LinkedHashMap<>();
            loaded = false;
            for (Path jar : again) {
                loaded |= apply(jar, failed);
            }
        }
        for (Path jar : tried) {
            if (!failed.containsKey(jar)) {
                lastFailure.remove(jar);
            }
        }
        failed.forEach((jar, e) -> {
            if (e.getMessage().equals(lastFailure.put(jar, e.getMessage()))) {
                return; // reported already
            }
            Plugin old;
            synchronized (this) {
                old = hosted.get(jar);
            }
            event("failed to load " + jar.getFileName() + (old == null ? "" : " (" + describe(old) + " stays)") + ": " + e.getMessage());
        });
    }

    /**
     * What a directory entry looks like now if it is a plugin: a regular {@code *.jar} or
     * {@code *.zip} (its size and modification time), or a directory with {@code classes/} or
     * {@code lib/} (a digest of the size and path of every file in it, and the newest
     * modification time among them and their folders); {@code null} for anything else, or an
     * entry that vanished while being looked at (the next scan sees it again, or gone).
     */
    private static Seen look(Path entry, long now) {
        String name = entry.getFileName().toString();
        if (name.startsWith(".")) {
            return null;
        }
        try {
            BasicFileAttributes a = Files.readAttributes(entry, BasicFileAttributes.class);
            if (a.isRegularFile()) {
                return name.endsWith(".jar") || name.endsWith(".zip") ? new Seen(a.size(), a.lastModifiedTime(), now) : null;
            }
            if (!a.isDirectory() || !Files.isDirectory(entry.resolve("classes")) && !Files.isDirectory(entry.resolve("lib"))) {
                return null;
            }
            long[] digest = {0};
            FileTime[] newest = {a.lastModifiedTime()};
            Files.walkFileTree(entry, new java.nio.file.SimpleFileVisitor<>() {
                @Override
                public java.nio.file.FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) {
                    newer(attrs.lastModifiedTime());
                    return java.nio.file.FileVisitResult.CONTINUE;
                }

                @Override
                public java.nio.file.FileVisitResult visitFile(Path file, BasicFileAttributes attrs) {
                    digest[0] = digest[0] * 31 + entry.relativize(file).toString().hashCode() * 17L + attrs.size();
                    newer(attrs.lastModifiedTime());
                    return java.nio.file.FileVisitResult.CONTINUE;
                }

                private void newer(FileTime t) {
                    if (t.compareTo(newest[0]) > 0) {
                        newest[0] = t;
                    }
                }
            });
            return new Seen(digest[0], newest[0], now);
        } catch (IOException gone) {
            return null; // removed or changing while listed: the next scan sees it again
        }
    }

    /**
     * A hosted plugin's file is gone: unload it and, first, the plugins of this directory that
     * depend on it (their files may stay: each is then tried again whenever another plugin loads,
     * so it comes back with its dependency).
     */
    private void removed(Path jar, Plugin old) {
        if (old == null) {
            return;
        }
        List<Plugin> dependents = hostedDependents(old, "removed");
        List<Plugin> order = new java.util.ArrayList<>(dependents);
        order.add(old);
        StringBuilder line = new StringBuilder("removed " + jar.getFileName() + ": unloading " + describe(old));
        if (!dependents.isEmpty()) {
            line.append(" and, first, the plugins that depend on it: ").append(describeAll(dependents));
        }
        for (Plugin d : dependents) {
            Path dj = d.jar();
            synchronized (this) {
                hosted.remove(dj);
            }
            if (Files.exists(dj)) {
                lastFailure.put(dj, "needs " + old.id() + ", which was removed");
                line.append("; ").append(dj.getFileName()).append(" stays and loads again when ").append(old.id()).append(" does");
            }
        }
        event(line.toString());
        unloadCascade(jar.getFileName() + " removed", order);
    }

    /**
     * The plugins of this directory that depend on {@code plugin}, directly or not, in the order to
     * unload them; those this directory does not host are named in an event and left out (the
     * plugin's own unload is then refused, naming them), those already queued for unloading are
     * left out silently (the one unloader thread runs them first).
     */
    private List<Plugin> hostedDependents(Plugin plugin, String why) {
        List<Plugin> out = new java.util.ArrayList<>();
        for (Plugin d : loader.dependentsInUnloadOrder(plugin)) {
            if (draining.getOrDefault(d.jar(), java.util.Set.of()).contains(d)) {
                continue; // its unload is queued already (its file went too): it runs before this one's
            }
            Plugin current;
            synchronized (this) {
                current = hosted.get(d.jar());
            }
            if (current == d) {
                out.add(d);
            } else {
                event("not unloading " + describe(d) + ", which depends on " + describe(plugin) + " (" + why + "): this directory "
                        + "does not host it; unload it to let " + describe(plugin) + " unload");
            }
        }
        return out;
    }

    private static String describeAll(List<Plugin> plugins) {
        List<String> names = new java.util.ArrayList<>();
        for (Plugin p : plugins) {
            names.add(describe(p));
        }
        return String.join(", ", names);
    }

    private synchronized List<Path> hostedPaths() {
        return List.copyOf(hosted.keySet());
    }

    /**
     * The jar settled: load it, or load its new content alongside the old generation (and reload
     * the old generation's dependents against the new one); a failed load goes into {@code failed}.
     *
     * @return whether it loaded a new generation
     */
    private boolean apply(Path jar, Map<Path, PluginLoadException> failed) {
        if (!Files.isDirectory(jar)) {
            try (JarFile ignored = new JarFile(jar.toFile())) {
                // a complete jar or zip
            } catch (IOException e) {
                event("not loading " + jar.getFileName() + ": not a complete " + (jar.toString().endsWith(".zip") ? "zip" : "jar")
                        + " yet (" + e.getMessage() + "); waiting for it to change");
                return false;
            }
        }
        Plugin old;
        synchronized (this) {
            old = hosted.get(jar);
        }
        boolean alongside = old != null || !draining.getOrDefault(jar, java.util.Set.of()).isEmpty();
        try {
            Plugin fresh = alongside ? loader.load(jar, LoadOption.ALONGSIDE_LOADED_GENERATIONS) : loader.load(jar);
            synchronized (this) {
                hosted.put(jar, fresh);
            }
            if (old == null) {
                event("loaded " + describe(fresh) + " from " + jar.getFileName());
            } else {
                event("reloaded " + jar.getFileName() + ": " + describe(fresh) + " is live, " + describe(old) + " unloading");
                List<Plugin> order = new java.util.ArrayList<>(reloadDependents(old));
                order.add(old); // dependents first
                unloadCascade(jar.getFileName() + " replaced", order);
            }
            return true;
        } catch (PluginLoadException e) {
            failed.put(jar, e);
            return false;
        }
    }

    /**
     * Loads a new generation of every plugin of this directory that depends on {@code old}
     * (dependencies first, so each resolves against the new generations); returns the old
     * generations reloaded, in the order to unload them. A dependent not hosted here, or whose
     * new generation fails to load, stays on {@code old}, whose unload is then refused naming it.
     */
    private List<Plugin> reloadDependents(Plugin old) {
        List<Plugin> unloadOrder = loader.dependentsInUnloadOrder(old);
        List<Plugin> reloaded = new java.util.ArrayList<>();
        for (int i = unloadOrder.size() - 1; i >= 0; i--) {
            Plugin d = unloadOrder.get(i);
            Path dj = d.jar();
            Plugin current;
            synchronized (this) {
                current = hosted.get(dj);
            }
            if (current != d) {
                event("not reloading " + describe(d) + ", which depends on " + describe(old) + ": this directory does not host it;"
                        + " unload it to let " + describe(old) + " unload");
                continue;
            }
            try {
                Plugin fresh = loader.load(dj, LoadOption.ALONGSIDE_LOADED_GENERATIONS);
                synchronized (this) {
                    hosted.put(dj, fresh);
                }
                reloaded.add(0, d);
                event("reloaded " + dj.getFileName() + " (depends on " + old.id() + "): " + describe(fresh) + " is live, "
                        + describe(d) + " unloading");
            } catch (PluginLoadException e) {
                event("failed to reload " + dj.getFileName() + ", which depends on " + old.id() + " (" + describe(d)
                        + " stays, and keeps " + describe(old) + " loaded): " + e.getMessage());
            }
        }
        return reloaded;
    }

    /**
     * Unloads {@code order} on the unloader thread, one after the other (dependents before their
     * dependencies). An unload that times out is retried until it succeeds or the directory is
     * closed; each timeout's line says, for a cascade of several, which of them are unloaded and
     * which are still loaded (the cascade is not atomic: the plugin that timed out stays GOING and
     * intact, the rest as they were). An unload refused for another reason (a dependent this
     * directory does not host) ends the cascade, naming what stays loaded.
     */
    private void unloadCascade(String cause, List<Plugin> order) {
        for (Plugin p : order) {
            draining.computeIfAbsent(p.jar(), j -> java.util.concurrent.ConcurrentHashMap.newKeySet()).add(p);
        }
        unloader.execute(() -> {
            for (int i = 0; i < order.size(); i++) {
                Plugin plugin = order.get(i);
                if (!unloadOne(cause, order, i)) {
                    return;
                }
                draining.get(plugin.jar()).remove(plugin);
            }
        });
    }

    /** Unloads {@code order.get(i)}, retrying timeouts; whether it is unloaded. */
    private boolean unloadOne(String cause, List<Plugin> order, int i) {
        Plugin plugin = order.get(i);
        while (!closed) {
            try {
                UnloadReport r = loader.unload(plugin, unloadTimeout);
                event("unloaded " + describe(plugin) + ": " + r.summary());
                if (r.outcome() == PluginState.UNLOADED) {
                    // The check goes on without blocking this thread; its line is written on it, not the watcher's.
                    plugin.collectionCheck().thenAcceptAsync(this::collectionChecked, unloader);
                }
                return true;
            } catch (UnloadTimeoutException e) {
                event("unload of " + describe(plugin) + " timed out, retrying: " + e.getMessage().lines().findFirst().orElse("")
                        + cascadeState(cause, order, i));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            } catch (RuntimeException e) {
                event("unload of " + describe(plugin) + " failed: " + e.getMessage() + cascadeState(cause, order, i));
                return false;
            }
        }
        return false;
    }

    /** For a cascade of several plugins: what it unloaded and what is still loaded; empty for one plugin. */
    private static String cascadeState(String cause, List<Plugin> order, int stuck) {
        if (order.size() < 2) {
            return "";
        }
        List<Plugin> done = order.subList(0, stuck);
        List<String> still = new java.util.ArrayList<>();
        for (Plugin p : order.subList(stuck, order.size())) {
            still.add(describe(p) + " (" + p.state() + ")");
        }
        return "; the cascade for " + cause + " is not atomic: unloaded so far " + (done.isEmpty() ? "none" : describeAll(done))
                + "; still loaded " + String.join(", ", still);
    }

    private void collectionChecked(UnloadReport r) {
        if (r.outcome() != PluginState.UNLOADED) {
            event("collection check of " + r.pluginId() + " generation " + r.generation() + ": " + r.outcome()
                    + " after " + UnloadReport.millis(r.time(UnloadStep.COLLECT)) + " ms, " + r.gcNudges() + " GC nudge(s)"
                    + (r.outcome() == PluginState.LEAKED ? "; leak suspects: " + (r.leakSuspects().isEmpty()
                    ? UnloadReport.NO_SUSPECTS : String.join("; ", r.leakSuspects())) : ""));
        }
    }

    private static String describe(Plugin p) {
        return p == null ? "nothing" : p.id() + " generation " + p.generation();
    }

    private void event(String line) {
        try {
            events.accept(line);
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "plugin directory event listener threw", e);
        }
    }

    /**
     * Stops following the directory. Hosted plugins stay loaded (unload them with the
     * {@link PluginLoader}, e.g. {@link PluginLoader#close()}); pending unloads are abandoned
     * (their plugins stay GOING).
     */
    @Override
    public void close() throws InterruptedException {
        closed = true;
        try {
            watcher.close();
        } catch (IOException e) {
            LOG.log(System.Logger.Level.DEBUG, "closing the watch service", e);
        }
        thread.interrupt();
        thread.join(TimeUnit.SECONDS.toMillis(10));
        unloader.shutdownNow();
        unloader.awaitTermination(10, TimeUnit.SECONDS);
    }
}
