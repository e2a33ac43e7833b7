package dev.unloadguard.it.leaks;

import dev.unloadguard.it.support.TestPlugins;
import java.io.IOException;
import java.nio.file.Path;

/**
 * Purpose-built leaking plugins, one per kind of holder: each leaves one of its objects where the
 * host or the JDK keeps it after unload.
 */
public final class LeakingPlugins {

    private LeakingPlugins() {
    }

    /** Adds a listener to {@link LeakHolders#LISTENERS}, a static field of a host class. */
    public static Path staticField() throws IOException {
        return TestPlugins.plugin().driver("it.staticleak.StaticLeakDriver")
                .source("it.staticleak.StaticLeakDriver", """
                        package it.staticleak;
                        import dev.unloadguard.driver.*;
                        import dev.unloadguard.it.leaks.LeakHolders;
                        public final class StaticLeakDriver implements Driver {
                            public String id() { return "staticleak"; }
                            public void init(DriverContext ctx) { LeakHolders.LISTENERS.add(new Listener()); }
                            public void exit() { } // forgets to remove its listener
                        }
                        """)
                .source("it.staticleak.Listener", """
                        package it.staticleak;
                        public final class Listener { }
                        """)
                .build("staticleak");
    }

    /** Adds a java.util.logging handler to the root logger: a JDK-wide registry. */
    public static Path jdkRegistry() throws IOException {
        return TestPlugins.plugin().driver("it.logleak.LogLeakDriver")
                .source("it.logleak.LogLeakDriver", """
                        package it.logleak;
                        import dev.unloadguard.driver.*;
                        import java.util.logging.Logger;
                        public final class LogLeakDriver implements Driver {
                            public String id() { return "logleak"; }
                            public void init(DriverContext ctx) { Logger.getLogger("").addHandler(new PluginHandler()); }
                            public void exit() { } // forgets to remove its handler
                        }
                        """)
                .source("it.logleak.PluginHandler", """
                        package it.logleak;
                        import java.util.logging.*;
                        public final class PluginHandler extends Handler {
                            public void publish(LogRecord r) { }
                            public void flush() { }
                            public void close() { }
                        }
                        """)
                .build("logleak");
    }

    /** Sets a ThreadLocal of its own on the host's pool thread ({@link LeakHolders#pool()}) and never removes it. */
    public static Path threadLocal() throws IOException {
        return TestPlugins.plugin().driver("it.tlleak.ThreadLocalLeakDriver")
                .source("it.tlleak.ThreadLocalLeakDriver", """
                        package it.tlleak;
                        import dev.unloadguard.driver.*;
                        import dev.unloadguard.it.leaks.LeakHolders;
                        public final class ThreadLocalLeakDriver implements Driver {
                            static final ThreadLocal<Session> SESSION = new ThreadLocal<>();
                            public String id() { return "tlleak"; }
                            public void init(DriverContext ctx) {
                                try {
                                    LeakHolders.pool().submit(() -> SESSION.set(new Session())).get();
                                } catch (Exception e) {
                                    throw new IllegalStateException(e);
                                }
                            }
                            public void exit() { } // forgets SESSION.remove() on the pool thread
                        }
                        """)
                .source("it.tlleak.Session", """
                        package it.tlleak;
                        public final class Session { }
                        """)
                .build("tlleak");
    }

    /** Reports an error thrown by its own code to the host, which keeps the throwable ({@link LeakHolders#report}). */
    public static Path keptException() throws IOException {
        return TestPlugins.plugin().driver("it.excleak.ExceptionLeakDriver")
                .source("it.excleak.ExceptionLeakDriver", """
                        package it.excleak;
                        import dev.unloadguard.driver.*;
                        import dev.unloadguard.it.leaks.LeakHolders;
                        public final class ExceptionLeakDriver implements Driver {
                            public String id() { return "excleak"; }
                            public void init(DriverContext ctx) {
                                try {
                                    Parser.parse("bad input");
                                } catch (RuntimeException e) {
                                    LeakHolders.report(e); // the host keeps it: its backtrace names Parser
                                }
                            }
                            public void exit() { }
                        }
                        """)
                .source("it.excleak.Parser", """
                        package it.excleak;
                        final class Parser {
                            static void parse(String s) { throw new IllegalArgumentException("cannot parse " + s); }
                        }
                        """)
                .build("excleak");
    }
}
