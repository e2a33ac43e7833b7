package dev.unloadguard.bench.process;

import java.text.MessageFormat;
import java.util.ResourceBundle;

/**
 * The {@link System.LoggerFinder} of the benchmark JVMs: prints WARNING and ERROR records as one
 * line on stderr and drops the rest, without initializing {@code java.util.logging}. Without it,
 * the startup baseline (no agent, unguarded unloads allowed) would pay for initializing JUL to
 * print its two warnings, a cost the run with the agent does not have, and the agent's startup
 * ratio would look better than it is.
 */
public final class QuietLoggerFinder extends System.LoggerFinder {

    @Override
    public System.Logger getLogger(String name, Module module) {
        return new Quiet(name);
    }

    private static final class Quiet implements System.Logger {
        private final String name;

        Quiet(String name) {
            this.name = name;
        }

        @Override
        public String getName() {
            return name;
        }

        @Override
        public boolean isLoggable(Level level) {
            return level.getSeverity() >= Level.WARNING.getSeverity();
        }

        @Override
        public void log(Level level, ResourceBundle bundle, String msg, Throwable thrown) {
            if (isLoggable(level)) {
                System.err.println(level + " " + name + ": " + msg + (thrown == null ? "" : " " + thrown));
            }
        }

        @Override
        public void log(Level level, ResourceBundle bundle, String format, Object... params) {
            if (isLoggable(level)) {
                System.err.println(level + " " + name + ": " + (params == null || params.length == 0 ? format
                        : MessageFormat.format(format, params)));
            }
        }
    }
}
