package dev.unloadguard.sample.greeting;

import dev.unloadguard.driver.Driver;
import dev.unloadguard.driver.DriverContext;

/**
 * The greeting plugin: its driver does nothing but exist; what it offers is its exported API
 * ({@link dev.unloadguard.sample.greeting.api.Greetings}), which other plugins use by declaring
 * {@code Plugin-Requires: greeting@[1.0,2.0)}.
 */
public final class GreetingDriver implements Driver {

    @Override
    public String id() {
        return "greeting";
    }

    @Override
    public void init(DriverContext ctx) {
        // nothing to set up: the API is static
    }

    @Override
    public void exit() {
        // nothing to drop
    }
}
