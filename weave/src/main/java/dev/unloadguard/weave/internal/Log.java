package dev.unloadguard.weave.internal;

import java.util.function.Supplier;

/**
 * The agent's logging: {@link System.Logger} {@code dev.unloadguard.agent}, created on first use
 * so that an agent that has nothing to say never initializes a logging backend during premain
 * (applications that configure {@code java.util.logging} themselves need it untouched then).
 */
public final class Log {

    static final String NAME = "dev.unloadguard.agent";

    private Log() {
    }

    private static final class Holder {
        static final System.Logger LOGGER = System.getLogger(NAME);
    }

    public static void debug(Supplier<String> message) {
        System.Logger logger = Holder.LOGGER;
        if (logger.isLoggable(System.Logger.Level.DEBUG)) {
            logger.log(System.Logger.Level.DEBUG, message.get());
        }
    }

    public static void info(String message) {
        Holder.LOGGER.log(System.Logger.Level.INFO, message);
    }

    public static void warning(String message) {
        Holder.LOGGER.log(System.Logger.Level.WARNING, message);
    }

    public static void warning(String message, Throwable thrown) {
        Holder.LOGGER.log(System.Logger.Level.WARNING, message, thrown);
    }
}
