package dev.unloadguard.loader;

import dev.unloadguard.device.internal.PluginDevices;
import dev.unloadguard.epoch.BarrierOutcome;
import java.lang.System.Logger.Level;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

/**
 * {@link PluginLoader}'s part in the {@link UnloadSequence} of one plugin generation: an unload,
 * or (forced) the rollback of a failed load. It reads the plugin's class loader, driver and
 * devices from the {@link Plugin} each time and keeps none of them: it must not keep the plugin
 * reachable while step 7 watches it being collected (the {@link CollectionWatcher} holds this
 * sequence until then).
 */
final class PluginUnload extends UnloadSequence {

    private static final System.Logger LOG = System.getLogger("dev.unloadguard.loader");

    private final PluginLoader owner;
    private final Plugin plugin;
    private final boolean rollback;
    /** Set by step 1 for step 2: the exit hook runs once, so not again when a failed unload is retried. */
    private boolean runExit;

    PluginUnload(PluginLoader owner, Plugin plugin, Duration timeout, Duration collectionTimeout, boolean rollback) {
        super(plugin.id(), plugin.generation(), "plugin " + plugin.id() + " generation " + plugin.generation(),
                plugin.epoch(), plugin.classLoaderRef(), plugin.collectedQueue(), plugin.classLoaderName(), owner.services,
                true, timeout, collectionTimeout, rollback, owner.closeAudit(), owner.collectionWatcher);
        this.owner = owner;
        this.plugin = plugin;
        this.rollback = rollback;
    }

    @Override
    void going() {
        // A retried unload finds the plugin GOING: its exit hook already ran. A failed load's driver
        // gets its exit hook only if its init made devices (for it to drop them).
        runExit = rollback ? plugin.liveDevices() > 0 : plugin.state() != PluginState.GOING;
        plugin.devices().beginGoing();
        plugin.state(PluginState.GOING);
    }

    @Override
    void exit() {
        if (!runExit) {
            return;
        }
        try {
            PluginLoader.callWithContextLoader(plugin.classLoader(), plugin.driver()::exit);
        } catch (Throwable t) {
            LOG.log(Level.WARNING, "the exit hook of " + plugin + " threw; unload goes on and waits for its devices", t);
        }
    }

    @Override
    boolean awaitNoLiveDevices(long deadline) throws InterruptedException {
        return plugin.devices().awaitNoLiveDevices(deadline);
    }

    @Override
    List<String> liveDevices() {
        return plugin.devices().liveDevices().stream()
                .map(d -> d + " with " + d.references() + " reference(s)"
                        + d.holders().stream().map(h -> "\n      " + h).collect(Collectors.joining()))
                .collect(Collectors.toList());
    }

    @Override
    boolean tracking() {
        return plugin.devices().tracking();
    }

    @Override
    UnloadReports.Kept close() {
        PluginDevices devices = plugin.devices();
        List<String> failures = new ArrayList<>();
        for (Object f : devices.releaseFailures()) { // usually none: no stream set up for nothing
            failures.add(f.toString());
        }
        UnloadReports.Kept kept = new UnloadReports.Kept(devices.createdCount(), failures);
        if (!rollback) {
            owner.beforeClose(plugin);
        }
        PluginClassLoader cl = plugin.forget();
        plugin.state(PluginState.UNLOADED);
        owner.discard(cl, plugin, plugin.copy());
        return kept;
    }

    @Override
    Plugin plugin() {
        return plugin;
    }

    @Override
    Object barrierStarted() {
        return owner.observability.barrierStarted();
    }

    @Override
    void barrierEnded(Object event, BarrierOutcome outcome) {
        owner.observability.barrierEnded(event, plugin, outcome);
    }

    @Override
    void timedOut(UnloadTimeoutException e) {
        owner.observability.timedOut(plugin, e.step(), e.liveDevices(), e.threadsInsideEpoch());
    }

    @Override
    void closed(UnloadReport report) {
        plugin.report(report);
        plugin.collectionPending(this);
    }

    @Override
    void finished(UnloadReport report) {
        plugin.report(report);
        plugin.state(report.outcome());
        owner.generations.forget(plugin);
        if (!rollback) {
            owner.observability.collectionChecked(plugin, report);
        }
        plugin.collectionChecked(report);
    }
}
