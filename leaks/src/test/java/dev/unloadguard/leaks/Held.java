package dev.unloadguard.leaks;

/** An object whose class a test's own class loader defines (see LeakPathsTest.Isolated). */
public final class Held {
}
