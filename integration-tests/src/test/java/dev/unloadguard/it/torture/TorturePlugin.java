package dev.unloadguard.it.torture;

import dev.unloadguard.it.support.TestPlugins;
import java.io.IOException;
import java.nio.file.Path;

/**
 * The purpose-built torture plugin (package {@code it.torture}, driver id {@code torture}),
 * compiled at test time against the built agent jar and {@link TortureBus}, loaded by path.
 *
 * <p>At init its driver creates {@code torture.devices} devices (1 to {@value #MAX_DEVICES}), each
 * with two managed release actions (a lambda, and a method reference whose body loads a class
 * the first time it runs), and publishes them with a {@link TortureBus.CallbackFactory} on the
 * host's {@link TortureBus}. The factory wraps a device reference the caller holds into a release
 * callback of one of three shapes the agent must recognise: a class implementing
 * {@code ReleaseCallback}, a lambda, and a bound method reference to a plain method. All three
 * run the same tail ({@code Tails.run}): drop the device reference (maybe the last one: the
 * device's release sequence runs and the plugin's live-device count may reach zero), then keep
 * running plugin code: arithmetic, a park, a class loaded on the first tail of the generation
 * ({@code TailNote}), and, if the reference was the device's last, another park
 * ({@link TortureBus#lastTailParkNanos()}) and a class loaded only there, one per device
 * ({@code Retire0}, {@code Retire1}, ...): every device's last tail loads a class no earlier code
 * loaded, so a loader closed under it fails with {@link NoClassDefFoundError}.
 *
 * <p>It also implements a host service ({@link TortureBus.Service}, {@code TortureService}), which
 * host caller threads call continuously, holding no device reference: arithmetic, a class loaded on
 * the generation's first call ({@code ServeNote}), and, once the driver's {@code exit()} ran, a park
 * and a class loaded by the first call that saw it ({@code LateServe}). Only the entry guard keeps
 * these calls off a closed loader: those inside when the unload begins are waited for, later ones
 * are refused at the call.
 */
final class TorturePlugin {

    static final int MAX_DEVICES = 8;
    static final String PACKAGE = "it.torture";

    /**
     * The plugin methods a thread is in, and only in, between the tail's last statement
     * ({@link TortureBus#tailDone()}) and the callback's return: {@code Class#method} of the
     * tail itself and of the three callback shapes (a lambda body's method name starts with
     * {@code lambda$}); and the service's {@code serve}, between {@link TortureBus#serveDone()}
     * and its return.
     */
    static boolean isCallbackPath(StackTraceElement e) {
        String c = e.getClassName();
        String m = e.getMethodName();
        return c.equals(PACKAGE + ".Tails") && m.equals("run")
                || c.equals(PACKAGE + ".TortureCallback") && m.equals("release")
                || c.equals(PACKAGE + ".Pending") && m.equals("fire")
                || c.equals(PACKAGE + ".TortureFactory") && m.startsWith("lambda$")
                || c.equals(PACKAGE + ".TortureService") && m.equals("serve");
    }

    private TorturePlugin() {
    }

    /** Compiles the plugin and writes its jar under {@code target/test-plugins}. */
    static Path build() throws IOException {
        TestPlugins p = TestPlugins.plugin().driver(PACKAGE + ".TortureDriver")
                .source(PACKAGE + ".TortureDriver", """
                        package it.torture;

                        import dev.unloadguard.device.Device;
                        import dev.unloadguard.driver.Driver;
                        import dev.unloadguard.driver.DriverContext;
                        import dev.unloadguard.it.torture.TortureBus;
                        import java.util.ArrayList;
                        import java.util.List;

                        public final class TortureDriver implements Driver {
                            static final int MAX_DEVICES = %d;
                            /** Set first thing in exit(): service calls that see it linger, then load a class. */
                            static volatile boolean exiting;
                            private final List<Device> devices = new ArrayList<>();

                            public String id() {
                                return "torture";
                            }

                            public void init(DriverContext ctx) {
                                TortureBus bus = ctx.service(TortureBus.class)
                                        .orElseThrow(() -> new IllegalStateException("the host registered no TortureBus"));
                                int n = Integer.parseInt(ctx.config("torture.devices").orElse("4"));
                                if (n < 1 || n > MAX_DEVICES) {
                                    throw new IllegalArgumentException("torture.devices=" + n + ": use 1 to " + MAX_DEVICES);
                                }
                                for (int i = 0; i < n; i++) {
                                    Device d = ctx.createDevice("tdev" + i);
                                    d.addReleaseAction(dev -> TortureBus.actionRan()); // managed action: a lambda
                                    d.addReleaseAction(this::quiesce);                  // managed action: a method reference
                                    devices.add(d);
                                }
                                bus.attach(ctx.generation(), devices, new TortureFactory(), new TortureService());
                            }

                            public void exit() {
                                exiting = true;
                                for (Device d : devices) {
                                    d.release();
                                }
                                devices.clear();
                            }

                            public void release(Device device) {
                                TortureBus.driverReleased();
                            }

                            private void quiesce(Device device) {
                                ActionNote.note(device.name());
                                TortureBus.actionRan();
                            }
                        }
                        """.formatted(MAX_DEVICES))
                .source(PACKAGE + ".TortureFactory", """
                        package it.torture;

                        import dev.unloadguard.device.Device;
                        import dev.unloadguard.driver.ReleaseCallback;
                        import dev.unloadguard.it.torture.TortureBus;

                        final class TortureFactory implements TortureBus.CallbackFactory {
                            public ReleaseCallback make(Device device, int index, int shape, long park, int work) {
                                switch (shape) {
                                    case 1:
                                        return () -> Tails.run(device, index, park, work);   // a lambda
                                    case 2:
                                        return new Pending(device, index, park, work)::fire; // a method reference
                                    default:
                                        return new TortureCallback(device, index, park, work);
                                }
                            }
                        }
                        """)
                .source(PACKAGE + ".TortureCallback", """
                        package it.torture;

                        import dev.unloadguard.device.Device;
                        import dev.unloadguard.driver.ReleaseCallback;

                        final class TortureCallback implements ReleaseCallback {
                            private final Device device;
                            private final int index;
                            private final long park;
                            private final int work;

                            TortureCallback(Device device, int index, long park, int work) {
                                this.device = device;
                                this.index = index;
                                this.park = park;
                                this.work = work;
                            }

                            public void release() {
                                Tails.run(device, index, park, work);
                            }
                        }
                        """)
                .source(PACKAGE + ".Pending", """
                        package it.torture;

                        import dev.unloadguard.device.Device;

                        /** Not a ReleaseCallback: fire() is guarded only because it is passed as one. */
                        final class Pending {
                            private final Device device;
                            private final int index;
                            private final long park;
                            private final int work;

                            Pending(Device device, int index, long park, int work) {
                                this.device = device;
                                this.index = index;
                                this.park = park;
                                this.work = work;
                            }

                            void fire() {
                                Tails.run(device, index, park, work);
                            }
                        }
                        """)
                .source(PACKAGE + ".TortureService", """
                        package it.torture;

                        import dev.unloadguard.it.torture.TortureBus;
                        import java.util.concurrent.locks.LockSupport;

                        /** A host service: host threads call it at any time, holding nothing of the plugin. */
                        final class TortureService implements TortureBus.Service {
                            public long serve(long x) {
                                TortureBus.serveBegin();
                                long sum = x;
                                for (int i = 0; i < 200; i++) {
                                    sum = sum * 31 + i;
                                }
                                ServeNote.note(sum);                 // loaded by the generation's first call
                                if (TortureDriver.exiting) {         // the unload has begun
                                    long linger = TortureBus.lastTailParkNanos();
                                    if (linger > 0) {
                                        LockSupport.parkNanos(linger);
                                    }
                                    LateServe.note(sum);             // loaded by the first call that saw the exit
                                }
                                TortureBus.serveDone();
                                return sum;
                            }
                        }
                        """)
                .source(PACKAGE + ".ServeNote", note("ServeNote", "long", "value"))
                .source(PACKAGE + ".LateServe", note("LateServe", "long", "value"))
                .source(PACKAGE + ".Tails", tails())
                .source(PACKAGE + ".TailNote", note("TailNote", "long", "value"))
                .source(PACKAGE + ".ActionNote", note("ActionNote", "String", "value.length()"));
        for (int i = 0; i < MAX_DEVICES; i++) {
            p.source(PACKAGE + ".Retire" + i, note("Retire" + i, "long", "value"));
        }
        return p.build("torture");
    }

    /**
     * Compiles the bystander plugin Y (package {@code it.bystander}, driver id
     * {@value TortureBystander#ID}; see {@link TortureBystander}) and writes its jar. It creates no
     * devices. At init it hands the host's {@link TortureBystander} two release callbacks whose
     * guarded {@code release()} parks on the host's gate, and a {@code Runnable} (plain plugin
     * code, not guarded: its {@code run()} carries {@code @Guarded}, so the agent leaves it alone in
     * every guard scope) that enters its own plugin's release epoch through
     * {@code ReleaseGuard.handle(MethodHandles.lookup(), "enter", ...)} and never exits.
     */
    static Path buildBystander() throws IOException {
        return TestPlugins.plugin().driver("it.bystander.BystanderDriver")
                .source("it.bystander.BystanderDriver", """
                        package it.bystander;

                        import dev.unloadguard.driver.Driver;
                        import dev.unloadguard.driver.DriverContext;
                        import dev.unloadguard.it.torture.TortureBystander;

                        public final class BystanderDriver implements Driver {
                            public String id() {
                                return "%s";
                            }

                            public void init(DriverContext ctx) {
                                TortureBystander host = ctx.service(TortureBystander.class)
                                        .orElseThrow(() -> new IllegalStateException("the host registered no TortureBystander"));
                                host.attach(new Parked(host), new Parked(host), new Unbalanced());
                            }

                            public void exit() {
                            }
                        }
                        """.formatted(TortureBystander.ID))
                .source("it.bystander.Parked", """
                        package it.bystander;

                        import dev.unloadguard.driver.ReleaseCallback;
                        import dev.unloadguard.it.torture.TortureBystander;

                        /** Guarded by the agent: parks inside this plugin's release epoch until the host's gate opens. */
                        final class Parked implements ReleaseCallback {
                            private final TortureBystander host;

                            Parked(TortureBystander host) {
                                this.host = host;
                            }

                            public void release() {
                                host.parkInside();
                            }
                        }
                        """)
                .source("it.bystander.Unbalanced", """
                        package it.bystander;

                        import dev.unloadguard.epoch.ReleaseGuard;
                        import java.lang.invoke.MethodHandle;
                        import java.lang.invoke.MethodHandles;
                        import java.lang.invoke.MethodType;

                        /**
                         * Not guarded: enters this plugin's release epoch by hand and never exits. Marked as woven
                         * already ({@code @Guarded}), so the agent leaves run() alone even where it guards every entry
                         * (an entry section around it would find the hand-made section innermost at its exit).
                         */
                        final class Unbalanced implements Runnable {
                            private static final MethodHandle ENTER = ReleaseGuard.handle(MethodHandles.lookup(), "enter",
                                    MethodType.methodType(int.class));

                            @dev.unloadguard.epoch.Guarded
                            public void run() {
                                try {
                                    int token = (int) ENTER.invokeExact();  // a section of this plugin's epoch, left open
                                } catch (Throwable t) {
                                    throw new IllegalStateException(t);
                                }
                            }
                        }
                        """)
                .build("bystander");
    }

    private static String tails() {
        StringBuilder cases = new StringBuilder();
        for (int i = 0; i < MAX_DEVICES; i++) {
            cases.append("            case ").append(i).append(": Retire").append(i).append(".note(sum); break;\n");
        }
        return """
                package it.torture;

                import dev.unloadguard.device.Device;
                import dev.unloadguard.it.torture.TortureBus;
                import java.util.concurrent.locks.LockSupport;

                /** The release tail every callback shape runs. */
                final class Tails {
                    static void run(Device device, int index, long park, int work) {
                        TortureBus.tailBegin();
                        boolean last = device.release();   // maybe the last reference: live devices may now be 0
                        long sum = index;                  // the tail: still plugin code
                        for (int i = 0; i < work; i++) {
                            sum = sum * 31 + i;
                        }
                        if (park > 0) {
                            LockSupport.parkNanos(park);
                        }
                        TailNote.note(sum);                // loaded by the generation's first tail
                        if (last) {
                            long linger = TortureBus.lastTailParkNanos();
                            if (linger > 0) {
                                LockSupport.parkNanos(linger); // the device is gone, the plugin may be draining
                            }
                            retire(index, sum);            // loaded by this device's last tail only
                        }
                        TortureBus.tailDone();
                    }

                    private static void retire(int index, long sum) {
                        switch (index) {
                %s            default: throw new IllegalArgumentException("device index " + index);
                        }
                    }
                }
                """.formatted(cases);
    }

    private static String note(String name, String type, String amount) {
        return """
                package it.torture;

                final class %s {
                    private static final java.util.concurrent.atomic.AtomicLong SEEN = new java.util.concurrent.atomic.AtomicLong();

                    static void note(%s value) {
                        SEEN.addAndGet(%s);
                    }
                }
                """.formatted(name, type, amount);
    }
}
