package dev.unloadguard.loader;

import java.util.List;

/**
 * Explains what keeps a LEAKED generation's class loader reachable, beyond the suspects unloadguard
 * finds by itself (threads, the host's services, kept throwables): typically the shortest chain of
 * strong references from a GC root, read from a heap dump. Off by default; a host opts in with
 * {@link PluginLoader.Builder#leakExplainer}. The optional {@code unloadguard-leaks} artifact has
 * one ({@code dev.unloadguard.leaks.HeapDumpLeakExplainer}); the host library itself reads no heap
 * dumps.
 *
 * <p>Called once per LEAKED generation, on the thread that ends its collection check (the
 * collection watcher's, or the caller of {@link Plugin#awaitCollectionCheck()}), while the class
 * loader is still reachable; on the watcher, other pending checks end after it returns. Its lines join the report's {@link UnloadReport#leakSuspects() leak
 * suspects}. What it throws is reported as one suspect line, never thrown from the unload.
 */
@FunctionalInterface
public interface LeakExplainer {

    /**
     * What holds {@code loader}, one line per finding (empty: nothing found).
     *
     * @param loader the generation's class loader, closed, still reachable
     * @throws Exception if it could not tell (the report then says so)
     */
    List<String> explain(ClassLoader loader) throws Exception;
}
