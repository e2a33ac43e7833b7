package dev.unloadguard.sample.textlib;

/**
 * A plain library a plugin carries inside its own jar ({@code lib/textlib-sample.jar} in
 * greeting-sample): nothing of unloadguard, and not on the host's class path. Loaded by the
 * plugin's generation class loader, it is unloaded with the plugin.
 */
public final class Titles {

    private Titles() {
    }

    /** {@code "hello, demo host"} becomes {@code "Hello, Demo Host"}. */
    public static String titleCase(String text) {
        StringBuilder sb = new StringBuilder(text.length());
        boolean start = true;
        for (char c : text.toCharArray()) {
            sb.append(start ? Character.toUpperCase(c) : c);
            start = Character.isWhitespace(c);
        }
        return sb.toString();
    }

    /** The name of the class loader that defined this library (a plugin generation's, in the demo). */
    public static String loadedBy() {
        ClassLoader cl = Titles.class.getClassLoader();
        return cl == null ? "the boot loader" : cl.getName() != null ? cl.getName() : cl.toString();
    }
}
