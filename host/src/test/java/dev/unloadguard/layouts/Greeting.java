package dev.unloadguard.layouts;

/** The host's version of a class a test plugin's library also has (which says "plugin"). */
public final class Greeting {

    private Greeting() {
    }

    public static String who() {
        return "host";
    }
}
