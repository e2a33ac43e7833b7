package dev.unloadguard.it.fuzz;

/** A host service interface the fuzzing test plugins implement: the host opens sessions on it. */
public interface Storage {

    Session open(String name);
}
