package dev.unloadguard.driver;

/**
 * A release callback a driver hands to someone else (a helper library, the host) who will call
 * it later, possibly from its own thread, to drop a driver-provided object. Its body is plugin
 * code: with the agent attached, every implementation of {@link #release()} in a plugin class
 * (including lambdas) runs inside the release epoch, so the host's release barrier waits for it
 * to return before the plugin's class loader is closed.
 */
@FunctionalInterface
public interface ReleaseCallback {
    void release();
}
