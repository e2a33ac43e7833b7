package dev.unloadguard.observe;

/**
 * One plugin id of one {@code PluginLoader}, in JMX: registered as
 * {@code dev.unloadguard:type=Plugin,loader=N,id=ID} in the platform MBean server when the id is
 * first loaded; it follows the id's newest generation, and after an unload keeps showing it with
 * its report.
 */
public interface PluginMXBean {

    String getId();

    int getGeneration();

    /** LOADING, LIVE, GOING, UNLOADED, COLLECTED or LEAKED. */
    String getState();

    /** The newest generation's live-device count (0 once unloaded). */
    int getLiveDevices();

    /** Threads inside the shared release epoch now (all plugins share it). */
    int getReadersInEpoch();

    /** Loaded generations of this id (more than one during a hot reload). */
    int getLoadedGenerations();

    /** Late accesses to this id's unloaded generations, since the loader was created. */
    long getLateAccesses();

    /**
     * Calls from outside into this id's generations refused because the generation was unloading
     * or unloaded, since the loader was created.
     */
    long getRefusedEntries();

    /** The newest generation's guard scope: ENTRIES or RELEASE_PATHS. */
    String getGuardScope();

    String getJar();

    /** The newest generation's {@code Plugin-Version} ({@code 0} when it declares none). */
    String getVersion();

    /**
     * The plugins the newest generation was resolved against ({@code Plugin-Requires}), each as
     * {@code "ID generation N version V"}; empty for a plugin that requires none or is unloaded.
     */
    java.util.List<String> getDependencies();

    /**
     * The loaded plugins resolved against the newest generation, each as {@code "ID generation N"}:
     * while there are any, unloading it is refused unless the host cascades.
     */
    java.util.List<String> getDependents();

    /** The packages the newest generation exports to its dependents ({@code Plugin-Exports}). */
    java.util.List<String> getExports();

    /** The newest unload report of this id, or the empty string. */
    String getLastUnloadReport();
}
