package dev.unloadguard.bench;

import dev.unloadguard.driver.Driver;
import dev.unloadguard.driver.DriverContext;

/** A driver that does nothing: the owner of the benchmarked devices. */
public final class NoopDriver implements Driver {
    @Override
    public String id() {
        return "bench";
    }

    @Override
    public void init(DriverContext context) {
    }

    @Override
    public void exit() {
    }
}
