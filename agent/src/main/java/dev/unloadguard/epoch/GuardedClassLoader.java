package dev.unloadguard.epoch;

/**
 * Marker for class loaders whose classes the agent guards: the plugin loader's own class loaders
 * implement it. The agent decides from the loader alone, before reading any class bytes, so a
 * class defined by any other loader costs it one type check. Hosts whose loaders cannot
 * implement it register them with {@link ReleaseGuard#registerPluginLoader(ClassLoader)}.
 */
public interface GuardedClassLoader {
}
