package dev.unloadguard.loader;

import java.lang.System.Logger.Level;
import java.lang.ref.Reference;
import java.lang.ref.ReferenceQueue;
import java.lang.ref.WeakReference;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Set;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.IntFunction;
import java.util.function.Predicate;
import java.util.stream.Collectors;

/**
 * The registry of one {@link PluginLoader}: every generation per id, oldest first, from its
 * registration until its unload sequence ends, or, if it LEAKED, until it is collected; the last
 * generation number per id; every class loader made, until collected. Which generations are
 * loaded (LOADING, LIVE, GOING) and which leaked is not stored: it is read from their states.
 *
 * <p>Its monitor guards all of it and is held for a few map operations only, never around a call
 * into plugin or host code or a class loader's {@code close()}.
 */
final class Generations {

    private static final System.Logger LOG = System.getLogger("dev.unloadguard.loader");

    private final Map<String, List<Plugin>> byId = new LinkedHashMap<>();
    private final Map<String, Integer> lastGeneration = new HashMap<>();
    /**
     * Every class loader made and not collected yet. A collected one's reference arrives on
     * {@link #collectedLoaders} and is dropped at the next {@link #made}: constant work per load,
     * where a scan of the whole set grew with every generation not yet collected (class loaders
     * are collected only by a full GC or a concurrent cycle, so thousands pile up between them).
     */
    private final Set<Reference<ClassLoader>> madeLoaders = new HashSet<>();
    private final ReferenceQueue<ClassLoader> collectedLoaders = new ReferenceQueue<>();

    static boolean loaded(Plugin p) {
        return p.state().compareTo(PluginState.GOING) <= 0;
    }

    private static boolean leaked(Plugin p) {
        return p.state() == PluginState.LEAKED;
    }

    synchronized void made(ClassLoader cl) {
        for (Reference<? extends ClassLoader> r; (r = collectedLoaders.poll()) != null; ) {
            madeLoaders.remove(r);
        }
        madeLoaders.add(new WeakReference<>(cl, collectedLoaders));
    }

    /** Exact (a cleared reference may not be enqueued yet): scans them all; a diagnostic. */
    synchronized int notCollected() {
        madeLoaders.removeIf(r -> r.refersTo(null));
        return madeLoaders.size();
    }

    /** The loaded generations, in load order. */
    synchronized List<Plugin> loaded() {
        List<Plugin> out = new ArrayList<>();                // a loop, not a stream: it runs at every load and unload
        for (List<Plugin> generations : byId.values()) {
            for (Plugin p : generations) {
                if (loaded(p)) {
                    out.add(p);
                }
            }
        }
        return Collections.unmodifiableList(out);
    }

    synchronized Optional<Plugin> newestLoaded(String id) {
        return newest(id, Generations::loaded);
    }

    private Optional<Plugin> newest(String id, Predicate<Plugin> which) {
        List<Plugin> generations = byId.getOrDefault(id, List.of());
        for (int i = generations.size() - 1; i >= 0; i--) {
            if (which.test(generations.get(i))) {
                return Optional.of(generations.get(i));
            }
        }
        return Optional.empty();
    }

    /**
     * Registers the next generation of {@code id}, made by {@code make} from its number (which must
     * only construct), unless an earlier generation is still loaded, or leaked and not collected yet,
     * and {@code options} do not allow that. Checking and adding are one step: two concurrent loads
     * of one id cannot both pass the check.
     */
    synchronized Plugin register(String id, Path path, List<LoadOption> options, IntFunction<Plugin> make)
            throws PluginLoadException {
        List<Plugin> known = byId.get(id);
        if (known != null && known.removeIf(p -> leaked(p) && p.classLoaderRef().refersTo(null)) && known.isEmpty()) {
            byId.remove(id);
        }
        Optional<Plugin> leaked = newest(id, Generations::leaked);
        if (leaked.isPresent() && options.contains(LoadOption.IGNORE_LEAKED_GENERATIONS)) {
            LOG.log(Level.WARNING, "loading plugin " + id + " again although earlier generation(s) are still reachable: "
                    + byId.get(id).stream().filter(Generations::leaked).collect(Collectors.toList()));
        } else if (leaked.isPresent()) {
            Plugin g = leaked.get();
            throw new PluginLoadException(path, "plugin id '" + id + "' (from " + path + "): generation " + g.generation()
                    + " was unloaded but is still reachable (LEAKED), so loading it again would leak another class loader. "
                    + "Suspects: " + g.unloadReport().map(r -> r.leakSuspects().isEmpty() ? UnloadReport.NO_SUSPECTS
                            : String.join("; ", r.leakSuspects())).orElse("unknown")
                    + ". Fix the leak, or load anyway with LoadOption.IGNORE_LEAKED_GENERATIONS", null);
        }
        Optional<Plugin> previous = newest(id, Generations::loaded);
        if (previous.isPresent() && !options.contains(LoadOption.ALONGSIDE_LOADED_GENERATIONS)) {
            Plugin p = previous.get();
            throw new PluginLoadException(path, "plugin id '" + id + "' (from " + path + ") is already loaded as generation "
                    + p.generation() + " from " + p.jar() + " (" + p.state() + "): unload it first"
                    + (p.state() == PluginState.GOING ? " (its unload is still waiting: retry it, or see its timeout report)" : "")
                    + ", or load the new generation alongside it with LoadOption.ALONGSIDE_LOADED_GENERATIONS", null);
        }
        Plugin plugin = make.apply(lastGeneration.merge(id, 1, Integer::sum));
        byId.computeIfAbsent(id, k -> new ArrayList<>(1)).add(plugin);
        return plugin;
    }

    /** Its unload sequence ended: keeps the generation only if it LEAKED, until it is collected. */
    synchronized void forget(Plugin plugin) {
        List<Plugin> gens = byId.get(plugin.id());
        if (gens != null && !leaked(plugin) && gens.remove(plugin) && gens.isEmpty()) {
            byId.remove(plugin.id());
        }
    }
}
