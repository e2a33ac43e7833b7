package dev.unloadguard.it.torture;

import dev.unloadguard.it.support.JarManifests;
import dev.unloadguard.it.support.TestPlugins;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

/**
 * The two plugins of the torture test's dependency chain ({@link TortureChainScenario}), compiled
 * at test time against the host's {@link ChainBus} and loaded by path:
 * <ul>
 * <li>{@code chain-a} ({@code Plugin-Version: 1.0}, {@code Plugin-Exports: it.chain.a.api}):
 *     {@code Greeting.greet} (arithmetic, a park, and, once chain-a's driver exit ran, another
 *     park and a class loaded only then, {@code it.chain.a.impl.LateGreet}) and
 *     {@code Greeting.tail}, a {@link Runnable} of chain-a's own code whose {@code run} parks,
 *     then loads {@code it.chain.a.impl.TailNote} (and, once the exit ran, after a park of at least a millisecond, {@code LateTail});</li>
 * <li>{@code chain-b} ({@code Plugin-Requires: chain-a@[1.0,2.0)}): offers the host a
 *     {@link ChainBus.Service} whose calls go through chain-a's export; once its own exit ran
 *     a call loads {@code it.chain.b.LateCall} after chain-a's part returned.</li>
 * </ul>
 * Every late class is loaded by the first call of its generation that sees the exit: code still
 * running when its loader is closed fails there.
 */
final class TortureChain {

    static final String A_ID = "chain-a";
    static final String B_ID = "chain-b";

    private TortureChain() {
    }

    /** Builds both jars under {@code target/test-plugins}: {@code [chain-a, chain-b]}. */
    static Path[] build() throws IOException {
        Path aJar = TestPlugins.plugin().driver("it.chain.a.ADriver")
                .source("it.chain.a.ADriver", """
                        package it.chain.a;
                        import dev.unloadguard.driver.*;
                        public final class ADriver implements Driver {
                            /** Set first thing in exit(): code that sees it lingers, then loads a class. */
                            public static volatile boolean exiting;
                            public String id() { return "chain-a"; }
                            public void init(DriverContext ctx) { }
                            public void exit() { exiting = true; }
                        }
                        """)
                .source("it.chain.a.api.Greeting", """
                        package it.chain.a.api;
                        import java.util.concurrent.locks.LockSupport;
                        public final class Greeting {
                            /** How long code that saw the exit lingers (at least) before loading its late class. */
                            public static final long LINGER_NANOS = 1_000_000;
                            private Greeting() { }
                            public static String greet(long seq, long parkNanos) {
                                long h = seq;
                                for (int i = 0; i < 64; i++) {
                                    h = h * 31 + i;
                                }
                                LockSupport.parkNanos(parkNanos);
                                if (it.chain.a.ADriver.exiting) {
                                    LockSupport.parkNanos(LINGER_NANOS + parkNanos);
                                    return it.chain.a.impl.LateGreet.note(h);
                                }
                                return "a" + (h & 1);
                            }
                            public static Runnable tail(long seq, long parkNanos) {
                                return new it.chain.a.impl.Tail(seq, parkNanos);
                            }
                        }
                        """)
                .source("it.chain.a.impl.LateGreet", """
                        package it.chain.a.impl;
                        public final class LateGreet {
                            public static String note(long h) {
                                dev.unloadguard.it.torture.ChainBus.lateNote();
                                return "a-late" + (h & 1);
                            }
                        }
                        """)
                .source("it.chain.a.impl.Tail", """
                        package it.chain.a.impl;
                        import java.util.concurrent.locks.LockSupport;
                        public final class Tail implements Runnable {
                            private final long seq;
                            private final long parkNanos;
                            public Tail(long seq, long parkNanos) { this.seq = seq; this.parkNanos = parkNanos; }
                            public void run() {
                                LockSupport.parkNanos(parkNanos);
                                TailNote.note(seq);
                                if (it.chain.a.ADriver.exiting) {
                                    LockSupport.parkNanos(it.chain.a.api.Greeting.LINGER_NANOS + parkNanos);
                                    LateTail.note(seq);
                                }
                                dev.unloadguard.it.torture.ChainBus.tailRan();
                            }
                        }
                        """)
                .source("it.chain.a.impl.TailNote", """
                        package it.chain.a.impl;
                        final class TailNote { static long note(long seq) { return seq * 7; } }
                        """)
                .source("it.chain.a.impl.LateTail", """
                        package it.chain.a.impl;
                        final class LateTail { static void note(long seq) { dev.unloadguard.it.torture.ChainBus.lateNote(); } }
                        """)
                .build("chain-a");
        Path a = JarManifests.withEntries(aJar, Map.of("Plugin-Version", "1.0", "Plugin-Exports", "it.chain.a.api"));
        Path bJar = TestPlugins.plugin().classPath(aJar).driver("it.chain.b.BDriver")
                .source("it.chain.b.BDriver", """
                        package it.chain.b;
                        import dev.unloadguard.driver.*;
                        import dev.unloadguard.it.torture.ChainBus;
                        public final class BDriver implements Driver {
                            static volatile boolean exiting;
                            public String id() { return "chain-b"; }
                            public void init(DriverContext ctx) {
                                ctx.service(ChainBus.class).orElseThrow(() -> new IllegalStateException("no ChainBus"))
                                        .offer(new BService());
                            }
                            public void exit() { exiting = true; }
                        }
                        """)
                .source("it.chain.b.BService", """
                        package it.chain.b;
                        import dev.unloadguard.it.torture.ChainBus;
                        import it.chain.a.api.Greeting;
                        final class BService implements ChainBus.Service {
                            public String call(long seq, long parkNanos) {
                                String a = Greeting.greet(seq, parkNanos);
                                if (BDriver.exiting) {
                                    return LateCall.note(a);
                                }
                                return "b:" + a;
                            }
                            public Runnable tail(long seq, long parkNanos) {
                                return Greeting.tail(seq, parkNanos);
                            }
                        }
                        """)
                .source("it.chain.b.LateCall", """
                        package it.chain.b;
                        final class LateCall {
                            static String note(String a) {
                                dev.unloadguard.it.torture.ChainBus.lateNote();
                                return "b-late:" + a;
                            }
                        }
                        """)
                .build("chain-b");
        Path b = JarManifests.withEntries(bJar, Map.of("Plugin-Version", "1.0", "Plugin-Requires", "chain-a@[1.0,2.0)"));
        return new Path[] {a, b};
    }
}
