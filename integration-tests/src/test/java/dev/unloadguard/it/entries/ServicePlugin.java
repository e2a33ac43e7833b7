package dev.unloadguard.it.entries;

/**
 * Implemented by the PF4J flavour of the service plugin (next to extending {@code org.pf4j.Plugin}):
 * PF4J has no service registry of its own for plugins to publish to, so the host asks the plugin
 * object for its service.
 */
public interface ServicePlugin {

    Service service(EntryBus bus);
}
