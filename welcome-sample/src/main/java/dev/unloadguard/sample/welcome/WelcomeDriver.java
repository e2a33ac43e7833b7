package dev.unloadguard.sample.welcome;

import dev.unloadguard.driver.Driver;
import dev.unloadguard.driver.DriverContext;
import dev.unloadguard.sample.greeting.api.Greetings;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * The welcome plugin: requires the greeting plugin ({@code Plugin-Requires: greeting@[1.0,2.0)})
 * and offers the host a welcome that calls greeting's exported API. The host hands it a
 * {@code Consumer<Supplier<String>>} service (a JDK type both sides share) to receive it, if it
 * offers one.
 */
public final class WelcomeDriver implements Driver {

    @Override
    public String id() {
        return "welcome";
    }

    @Override
    public void init(DriverContext ctx) {
        @SuppressWarnings("unchecked")
        Consumer<Supplier<String>> host = ctx.service(Consumer.class).orElse(null);
        if (host != null) { // a host without one (run --watch) just hosts the plugin
            host.accept(WelcomeDriver::welcome);
        }
        welcome(); // resolves greeting's API and library now: a missing one fails the load, not a later call
    }

    /** A welcome through greeting's API, naming the class loaders of its API and of its library. */
    static String welcome() {
        return Greetings.greet("demo host") + " | greeting API from " + Greetings.loadedBy() + ", its library from "
                + Greetings.libraryLoadedBy();
    }

    @Override
    public void exit() {
        // nothing to drop: the host forgets the welcome when the plugin unloads
    }
}
