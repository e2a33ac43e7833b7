package dev.unloadguard.it.entries;

import dev.unloadguard.it.support.JarManifests;
import dev.unloadguard.it.support.TestPlugins;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

/**
 * The purpose-built plugins of the entry-guard tests ({@code EntryGuardIT}, the PF4J side-by-side
 * in {@code Pf4jIT}, {@link EntryScenario}), compiled from the sources below against the host-side
 * types of this package and jarred under {@code target/test-plugins}.
 *
 * <p>The service plugin (package {@code it.entries.svc}) is one set of classes in two packagings:
 * a unloadguard driver ({@link #serviceJar()}, id {@value #SERVICE_ID}) and a PF4J plugin
 * ({@link #pf4jServiceJar()}, id {@value #PF4J_ID}). Its {@link Service} ({@code GatedService})
 * answers {@code "ping"} with {@code "pong"} using only classes loaded at init, and holds a request
 * starting with {@code "hold"} on the gate named after the request; after the gate it records
 * {@code "resumed <request>"} (classes already loaded) and then builds its answer with
 * {@code Reply}, a class no earlier code loaded: on a closed class loader that fails.
 */
public final class ServicePlugins {

    public static final String SERVICE_ID = "entries-svc";
    public static final String PF4J_ID = "entries-pf4j";
    public static final String PUMP_ID = "entries-pump";
    public static final String AUDIT_ID = "entries-audit";
    /** The readable name the weaver gives the service's entry method. */
    public static final String HANDLE = "it.entries.svc.GatedService.handle(java.lang.String)";

    private ServicePlugins() {
    }

    private static final String GATED_SERVICE = """
            package it.entries.svc;
            import dev.unloadguard.it.entries.EntryBus;
            import dev.unloadguard.it.entries.Service;
            /** A host service implemented by the plugin: handle() is an entry edge. */
            public final class GatedService implements Service {
                private final EntryBus bus;
                public GatedService(EntryBus bus) { this.bus = bus; }
                @Override
                public String handle(String request) {
                    if (request.startsWith("hold")) {
                        bus.pass(request);                  // the host's call is held here
                        bus.event("resumed", request);      // plugin code whose classes were loaded before
                        return new Reply(request).text();   // first use of Reply: loaded from the jar only now
                    }
                    return "pong";
                }
            }
            """;

    private static final String REPLY = """
            package it.entries.svc;
            final class Reply {
                private final String request;
                Reply(String request) { this.request = request; }
                String text() { return "reply to ".concat(request); }
            }
            """;

    /** Equal by id: a host that removes one from a hash set calls the plugin's hashCode and equals. */
    private static final String LISTENER = """
            package it.entries.svc;
            public final class Listener {
                private final String id;
                public Listener(String id) { this.id = id; }
                @Override public int hashCode() { return id.hashCode(); }
                @Override public boolean equals(Object o) { return o instanceof Listener && ((Listener) o).id.equals(id); }
                @Override public String toString() { return "listener ".concat(id); }
            }
            """;

    /** The service plugin as a unloadguard driver: hands the host its service and two equal listeners. */
    public static Path serviceJar() throws IOException {
        return TestPlugins.plugin().driver("it.entries.svc.ServiceDriver")
                .source("it.entries.svc.ServiceDriver", """
                        package it.entries.svc;
                        import dev.unloadguard.driver.*;
                        import dev.unloadguard.it.entries.EntryBus;
                        public final class ServiceDriver implements Driver {
                            public String id() { return "%s"; }
                            public void init(DriverContext ctx) {
                                EntryBus bus = ctx.service(EntryBus.class).orElseThrow();
                                bus.keep("service", new GatedService(bus));
                                bus.keep("listener", new Listener("l1"));
                                bus.keep("listener-key", new Listener("l1"));
                            }
                            public void exit() { }
                        }
                        """.formatted(SERVICE_ID))
                .source("it.entries.svc.GatedService", GATED_SERVICE)
                .source("it.entries.svc.Reply", REPLY)
                .source("it.entries.svc.Listener", LISTENER)
                .build("entries-svc");
    }

    /** The same service as a PF4J plugin (manifest descriptor), for PF4J's own loaders. */
    public static Path pf4jServiceJar() throws IOException {
        Path plain = TestPlugins.plugin()
                .source("it.entries.svc.SvcPf4jPlugin", """
                        package it.entries.svc;
                        import dev.unloadguard.it.entries.EntryBus;
                        import dev.unloadguard.it.entries.Service;
                        import dev.unloadguard.it.entries.ServicePlugin;
                        public final class SvcPf4jPlugin extends org.pf4j.Plugin implements ServicePlugin {
                            @Override
                            public Service service(EntryBus bus) { return new GatedService(bus); }
                        }
                        """)
                .source("it.entries.svc.GatedService", GATED_SERVICE)
                .source("it.entries.svc.Reply", REPLY)
                .build("entries-pf4j");
        return JarManifests.withEntries(plain, Map.of(
                "Plugin-Id", PF4J_ID,
                "Plugin-Version", "1.0.0",
                "Plugin-Class", "it.entries.svc.SvcPf4jPlugin"));
    }

    /**
     * The pump plugin (id {@value #PUMP_ID}): its driver starts a thread of its own running a
     * {@code Pump} (a plugin {@code Runnable}: its {@code run()} is an entry) named
     * {@code entries-pump-<generation>}, which loops until stopped, then loads a class no earlier
     * code loaded and records {@code "pump stopped: <report>"} (after passing the gate
     * {@code pump-tail}, which the host may hold). With config
     * {@code pump.stopInExit=true} (the default) the driver's {@code exit()} stops it; with
     * {@code false} it forgets to, and only the host's switch ({@link EntryBus#requestStop}) ends it.
     */
    public static Path pumpJar() throws IOException {
        return TestPlugins.plugin().driver("it.entries.pump.PumpDriver")
                .source("it.entries.pump.PumpDriver", """
                        package it.entries.pump;
                        import dev.unloadguard.driver.*;
                        import dev.unloadguard.it.entries.EntryBus;
                        public final class PumpDriver implements Driver {
                            private Pump pump;
                            private boolean stopInExit;
                            public String id() { return "%s"; }
                            public void init(DriverContext ctx) {
                                EntryBus bus = ctx.service(EntryBus.class).orElseThrow();
                                stopInExit = Boolean.parseBoolean(ctx.config("pump.stopInExit").orElse("true"));
                                pump = new Pump(bus, "entries-pump-".concat(Integer.toString(ctx.generation())));
                                Thread t = new Thread(pump, pump.name());
                                t.setDaemon(true);
                                t.start();
                            }
                            public void exit() {
                                if (stopInExit) {
                                    pump.stop();
                                }
                                pump = null;
                            }
                        }
                        """.formatted(PUMP_ID))
                .source("it.entries.pump.Pump", """
                        package it.entries.pump;
                        import dev.unloadguard.it.entries.EntryBus;
                        import java.util.concurrent.locks.LockSupport;
                        /** The plugin's own thread: an entry (Runnable.run) that stays inside until stopped. */
                        final class Pump implements Runnable {
                            private final EntryBus bus;
                            private final String name;
                            private volatile boolean stopped;
                            private volatile Thread thread;
                            Pump(EntryBus bus, String name) { this.bus = bus; this.name = name; }
                            String name() { return name; }
                            public void run() {
                                thread = Thread.currentThread();
                                bus.event("pump started", name);
                                while (!stopped && !bus.stopRequested(name)) {
                                    LockSupport.parkNanos(this, 5_000_000L);   // the pump's work: wait for the next tick
                                }
                                bus.pass("pump-tail");                                    // the host may hold the tail here
                                bus.event("pump stopped:", new PumpReport(name).text()); // first use: needs the loader open
                            }
                            void stop() {
                                stopped = true;
                                Thread t = thread;
                                if (t != null) {
                                    LockSupport.unpark(t);
                                }
                            }
                        }
                        """)
                .source("it.entries.pump.PumpReport", """
                        package it.entries.pump;
                        final class PumpReport {
                            private final String name;
                            PumpReport(String name) { this.name = name; }
                            String text() { return name; }
                        }
                        """)
                .build("entries-pump");
    }

    /**
     * The audit plugin (id {@value #AUDIT_ID}): a service whose {@code handle} carries
     * {@code @dev.unloadguard.epoch.Guarded}, the annotation the agent puts on what it wove. The
     * weaver believes it is woven already and leaves it alone: a frame the weaving missed, made on
     * purpose. {@code handle} passes the gate named after the request (or, for a request starting
     * with {@code "spin"}, spins until {@link EntryBus#openSpin}), then loads {@code Reply} without
     * running its code and answers {@code "loaded it.entries.audit.Reply"}: a closed loader would
     * make that fail.
     */
    public static Path auditJar() throws IOException {
        return TestPlugins.plugin().driver("it.entries.audit.AuditDriver")
                .source("it.entries.audit.AuditDriver", """
                        package it.entries.audit;
                        import dev.unloadguard.driver.*;
                        import dev.unloadguard.it.entries.EntryBus;
                        public final class AuditDriver implements Driver {
                            public String id() { return "%s"; }
                            public void init(DriverContext ctx) {
                                EntryBus bus = ctx.service(EntryBus.class).orElseThrow();
                                bus.keep("service", new Unwoven(bus));
                            }
                            public void exit() { }
                        }
                        """.formatted(AUDIT_ID))
                .source("it.entries.audit.Unwoven", """
                        package it.entries.audit;
                        import dev.unloadguard.epoch.Guarded;
                        import dev.unloadguard.it.entries.EntryBus;
                        import dev.unloadguard.it.entries.Service;
                        public final class Unwoven implements Service {
                            private final EntryBus bus;
                            public Unwoven(EntryBus bus) { this.bus = bus; }
                            @Guarded   // a lie: not woven, so no section covers this frame
                            @Override
                            public String handle(String request) {
                                if (request.startsWith("spin")) {
                                    bus.spin(request);          // stays mounted on a virtual thread's carrier
                                } else {
                                    bus.pass(request);          // parks (a virtual thread unmounts)
                                }
                                bus.event("resumed", request);
                                try {
                                    // loads a class no earlier code loaded (without running any of its code, which
                                    // would be a new entry, refused while GOING): fails if the loader was closed
                                    return "loaded ".concat(Class.forName("it.entries.audit.Reply", false,
                                            Unwoven.class.getClassLoader()).getName());
                                } catch (ClassNotFoundException e) {
                                    throw new IllegalStateException(e);
                                }
                            }
                        }
                        """)
                .source("it.entries.audit.Reply", REPLY.replace("package it.entries.svc;", "package it.entries.audit;"))
                .build("entries-audit");
    }
}
