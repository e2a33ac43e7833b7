package dev.unloadguard.epoch.internal;

import java.util.function.Consumer;

/**
 * Plugin code for {@link HostOnlyTest}: defined again in a plugin loader (it depends on JDK
 * classes only), it runs what it is given from its own frame.
 */
public final class PluginCallsBack implements Consumer<Runnable> {

    @Override
    public void accept(Runnable r) {
        r.run();
    }
}
