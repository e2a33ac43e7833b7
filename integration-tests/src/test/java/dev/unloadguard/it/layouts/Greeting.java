package dev.unloadguard.it.layouts;

/**
 * The host's version of a library class that LayoutsIT's test library also has, with the same
 * name and another answer: which one a plugin sees says which isolation policy it runs under.
 */
public final class Greeting {

    private Greeting() {
    }

    public static String who() {
        return "host";
    }
}
