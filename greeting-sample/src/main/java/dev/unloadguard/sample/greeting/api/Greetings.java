package dev.unloadguard.sample.greeting.api;

import dev.unloadguard.sample.textlib.Titles;

/**
 * The greeting plugin's exported API ({@code Plugin-Exports: dev.unloadguard.sample.greeting.api}):
 * what a plugin that requires {@code greeting} sees of it, and nothing else. It uses the plugin's
 * own library ({@code lib/textlib-sample.jar}), which dependents do not see.
 */
public final class Greetings {

    private Greetings() {
    }

    /** {@code "Hello, Name"}, title-cased by the plugin's library. */
    public static String greet(String name) {
        return Titles.titleCase("hello, " + name);
    }

    /** The class loader that defined this API class (the greeting generation's). */
    public static String loadedBy() {
        return Greetings.class.getClassLoader().getName();
    }

    /** The class loader that defined the plugin's library class (the same one: the library is the plugin's). */
    public static String libraryLoadedBy() {
        return Titles.loadedBy();
    }
}
