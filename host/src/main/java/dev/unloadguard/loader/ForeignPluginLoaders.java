package dev.unloadguard.loader;

import dev.unloadguard.epoch.internal.Epochs;
import dev.unloadguard.epoch.internal.ReleaseEpoch;
import java.lang.System.Logger.Level;
import java.lang.ref.ReferenceQueue;
import java.lang.ref.WeakReference;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Supplier;

/**
 * The release guard and the safe unload sequence for the class loaders of plugin hosts that
 * unloadguard did not write (PF4J, an application's own {@code URLClassLoader}s, ...). Two calls:
 *
 * <pre> {@code
 * // when the host creates a plugin's class loader, before it loads any class of the plugin:
 * ClassLoader cl = ForeignPluginLoaders.guard(new URLClassLoader(urls, parent));
 *
 * // when the host unloads the plugin:
 * UnloadReport report = ForeignPluginLoaders.unload("my-host plugin " + id,
 *         () -> loaders.get(id),          // looked up here: no caller frame keeps it alive
 *         () -> plugins.get(id).stop(),   // 1. the host's own stop / exit of the plugin
 *         () -> closeAndForget(id),       // 3. the host closes the loader and drops its references
 *         Duration.ofSeconds(10));}</pre>
 *
 * <p><b>{@link #guard}</b> registers the loader with the agent
 * (with a release epoch of its own): classes it defines from then on have their release
 * callbacks woven into that loader's epoch (unloading one foreign plugin never waits for
 * another's), and with {@link #guard(ClassLoader, GuardScope) guard(loader, GuardScope.ENTRIES)}
 * every entry into their code. Call it before the loader defines the plugin's classes: classes it
 * already defined are not guarded. A loader that cannot see unloadguard's runtime (for example one
 * whose parent is the platform loader) is given the bootstrap bridge automatically. The loader is
 * held weakly.
 *
 * <p><b>The guard scope of a foreign loader</b> is {@link GuardScope#RELEASE_PATHS} unless the
 * host asks for {@link GuardScope#ENTRIES} (the opposite of {@link PluginLoader}'s default): a
 * foreign host keeps calling into its plugins in ways unloadguard does not see (its own threads,
 * its extension registries), and registering a loader must not start failing such calls once an
 * unload begins. A host that routes every call through its own code, and wants late calls to fail
 * at the call and the unload to wait for calls in flight, chooses ENTRIES.
 *
 * <p><b>{@link #unload}</b> runs the unload sequence {@link PluginLoader#unload} runs
 * ({@link UnloadSequence}), without the step that needs a device count (DRAIN), in order:
 * <ol>
 *   <li>GOING: the loader's gate closes. In {@link GuardScope#ENTRIES} every new call from
 *       outside into the plugin's code fails from now on with
 *       {@link dev.unloadguard.driver.PluginUnloadedError}, except on the thread running the
 *       unload (it runs {@code stop}); in RELEASE_PATHS nothing is refused;</li>
 *   <li>{@code stop}: the host's own stop or exit of the plugin (it stops the plugin's threads and
 *       drops the plugin's own references);</li>
 *   <li>the release barrier ({@link ReleaseEpoch#barrier(Duration)} on the loader's epoch): every
 *       guarded section that started before it has returned. If it times out, plugin code is still
 *       running: nothing is closed, {@link UnloadTimeoutException} names the threads inside the
 *       release epoch with their stacks, and the unload can be retried (make {@code stop}
 *       idempotent: it runs again);</li>
 *   <li>the close audit, if the loader has a name (frames carry it: give each plugin loader a
 *       unique one, e.g. {@code new URLClassLoader("my-host plugin x#3", urls, parent)}): no
 *       platform or virtual thread has a frame of the loader, else {@link CloseAuditException},
 *       nothing closed, retryable;</li>
 *   <li>{@code close}: the host closes the class loader and drops every strong reference it keeps
 *       to the plugin;</li>
 *   <li>confirm collection: a weak reference and bounded {@code System.gc()} nudges; not
 *       collected means {@link PluginState#LEAKED}, with suspects (threads whose context loader or
 *       class is the plugin's, threads still running its code when its loader is named).</li>
 * </ol>
 *
 * <p><b>What a foreign host does not get.</b> There is no device count: unloadguard cannot know
 * which of the plugin's objects helpers still hold, so there is no drain step; the barrier covers
 * the sections that had <em>started</em>, and a helper that calls a plugin callback after the
 * barrier is a late access (in ENTRIES it is refused at the call). In RELEASE_PATHS the host must
 * make sure that, after {@code stop}, nobody hands out new calls into the plugin. In
 * RELEASE_PATHS only guarded release paths are waited for: implementations of
 * {@link dev.unloadguard.driver.ReleaseCallback} and {@link dev.unloadguard.device.ReleaseAction},
 * methods annotated {@link dev.unloadguard.driver.GuardedRelease}, and lambdas or method
 * references passed as a {@code ReleaseAction} or {@code ReleaseCallback}. Any other plugin code
 * still running (a thread the plugin started, a host callback interface unloadguard does not
 * know) is not waited for: stop it in {@code stop}, or mark it {@code @GuardedRelease}.
 *
 * <p>The report is an ordinary {@link UnloadReport}: its plugin id is the name given to
 * {@link #unload}, its generation and devices-created count are 0, and the step a foreign host
 * has no counterpart for (DRAIN) takes zero time; EXIT is the host's {@code stop}. Without
 * the agent the sequence still runs, but release callbacks are not guarded: a warning is logged
 * and the report says UNGUARDED.
 */
public final class ForeignPluginLoaders {

    private static final System.Logger LOG = System.getLogger("dev.unloadguard.loader");
    private static final Duration DEFAULT_COLLECTION_TIMEOUT = Duration.ofSeconds(5);

    private ForeignPluginLoaders() {
    }

    /**
     * Makes the agent guard the release callbacks of every class {@code loader} defines from now
     * on. Call it right after creating the loader, before it loads the plugin's classes.
     *
     * @return {@code loader}, for {@code return ForeignPluginLoaders.guard(new ...ClassLoader(...))}
     * @throws IllegalArgumentException if {@code loader} is {@code null} (the bootstrap loader)
     */
    public static <L extends ClassLoader> L guard(L loader) {
        return guard(loader, GuardScope.RELEASE_PATHS);
    }

    /**
     * Makes the agent guard what {@code scope} says in every class {@code loader} defines from now
     * on: release paths only, or every entry into the plugin's code (then {@link #unload} refuses
     * new calls from outside once it starts and waits for the calls in flight). Call it right after
     * creating the loader, before it loads the plugin's classes. A loader registered before keeps
     * the scope it was registered with.
     *
     * @return {@code loader}
     * @throws IllegalArgumentException if {@code loader} is {@code null} (the bootstrap loader)
     */
    public static <L extends ClassLoader> L guard(L loader, GuardScope scope) {
        Objects.requireNonNull(scope, "scope");
        Epochs.registerForeign(loader, "foreign plugin loader " + loader, scope == GuardScope.ENTRIES);
        return loader;
    }

    /**
     * A racy snapshot of the threads inside the release epoch of a loader registered with
     * {@link #guard} (empty for any other loader): for diagnostics and tests.
     */
    public static List<Thread> threadsInside(ClassLoader loader) {
        ReleaseEpoch epoch = Epochs.of(loader);
        return epoch == null ? List.of() : epoch.threadsInside();
    }

    /**
     * The safe unload sequence with a 5 s bound on the collection check: stop, release barrier,
     * close, confirm collection. See the class comment.
     *
     * @see #unload(String, Supplier, Runnable, Runnable, Duration, Duration)
     */
    public static UnloadReport unload(String pluginName, Supplier<? extends ClassLoader> loader, Runnable stop,
                                      Runnable close, Duration timeout) throws UnloadTimeoutException {
        return unload(pluginName, loader, stop, close, timeout, DEFAULT_COLLECTION_TIMEOUT);
    }

    /**
     * The safe unload sequence: the gate, {@code stop}, the release barrier, the close audit,
     * {@code close}, and the collection check. What {@code stop} or {@code close} throw
     * propagates: after {@code stop} threw nothing was closed.
     *
     * @param pluginName        names the plugin in the report and in messages
     * @param loader            returns the plugin's class loader (called once, before
     *                          {@code stop}); pass a lookup, not a captured loader, and capture
     *                          the loader in neither {@code stop} nor {@code close}, or the
     *                          collection check finds it reachable
     * @param stop              the host's own stop or exit of the plugin
     * @param close             closes the loader and drops the host's references to the plugin
     * @param timeout           bounds {@code stop} and the barrier together ({@code stop} itself
     *                          is not interrupted; the barrier gets what is left)
     * @param collectionTimeout how long to nudge the GC for the loader's collection;
     *                          {@link Duration#ZERO} skips the check (the report then says
     *                          UNLOADED). An interrupt ends the check early, with the same result
     *                          and the interrupt status set.
     * @return the report: barrier outcome, step times, COLLECTED or LEAKED with suspects
     * @throws UnloadTimeoutException if guarded plugin code was still running when the timeout
     *         elapsed, or ({@link CloseAuditException}) the close audit found a thread with frames
     *         of the loader; its message names the threads and their stacks; nothing was closed
     * @throws IllegalStateException if called from inside a release callback (the barrier would
     *         wait for its own caller), or if {@code loader} returns {@code null}
     */
    public static UnloadReport unload(String pluginName, Supplier<? extends ClassLoader> loader, Runnable stop,
                                      Runnable close, Duration timeout, Duration collectionTimeout)
            throws UnloadTimeoutException {
        Objects.requireNonNull(pluginName, "pluginName");
        Objects.requireNonNull(loader, "loader");
        Objects.requireNonNull(stop, "stop");
        Objects.requireNonNull(close, "close");
        Objects.requireNonNull(timeout, "timeout");
        if (Objects.requireNonNull(collectionTimeout, "collectionTimeout").isNegative()) {
            throw new IllegalArgumentException("collection timeout is negative: " + collectionTimeout);
        }
        boolean guarded = Epochs.agentActive();
        if (!guarded) {
            LOG.log(Level.WARNING, "unloading " + pluginName + " WITHOUT the unloadguard agent: its release callbacks are not "
                    + "guarded, so the release barrier does not wait for them; start the JVM with -javaagent:unloadguard-agent.jar");
        }
        ReferenceQueue<ClassLoader> collected = new ReferenceQueue<>();
        ReleaseEpoch epoch;
        WeakReference<ClassLoader> ref;
        String loaderName;
        {
            ClassLoader cl = loader.get();
            if (cl == null) {
                throw new IllegalStateException("no class loader for " + pluginName + ": is it loaded?");
            }
            ref = new WeakReference<>(cl, collected);
            loaderName = cl.getName();
            ReleaseEpoch registered = Epochs.of(cl);
            if (registered == null) {
                // Never registered: nothing of it is guarded, so its own (empty) epoch has nothing to wait for.
                registered = new ReleaseEpoch(pluginName);
                if (guarded) {
                    LOG.log(Level.WARNING, "the class loader of " + pluginName + " (" + cl + ") was never registered with "
                            + "ForeignPluginLoaders.guard: its release callbacks are not guarded");
                }
            }
            registered.describeAs(pluginName);
            epoch = registered;
            cl = null; // no strong reference to the loader in this frame from here on (interpreted frames too)
        }
        UnloadSequence sequence = new UnloadSequence(pluginName, 0, pluginName, epoch, ref, collected, loaderName, Map.of(),
                false, timeout, collectionTimeout, false, true, CollectionWatcher.SHARED) {
            @Override
            void exit() {
                stop.run();
            }

            @Override
            UnloadReports.Kept close() {
                close.run();
                return UnloadReports.Kept.NOTHING;
            }
        };
        sequence.refuseFromInside();
        try {
            return sequence.run(true); // a foreign host has no handle to hang a later outcome on: step 7 now
        } catch (InterruptedException e) {
            throw new AssertionError("without a device count nothing waits interruptibly before the close", e);
        }
    }
}
