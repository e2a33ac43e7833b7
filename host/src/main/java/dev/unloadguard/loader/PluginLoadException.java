package dev.unloadguard.loader;

import java.nio.file.Path;

/**
 * A plugin jar could not be loaded. The message names the jar, what is wrong and how to fix it.
 * A failed load leaves nothing behind: its class loader is closed and forgotten.
 */
public final class PluginLoadException extends Exception {

    private static final long serialVersionUID = 1L;

    private final transient Path jar;

    PluginLoadException(Path jar, String message, Throwable cause) {
        super(message, cause);
        this.jar = jar;
    }

    /** The jar the host asked to load. */
    public Path jar() {
        return jar;
    }
}
