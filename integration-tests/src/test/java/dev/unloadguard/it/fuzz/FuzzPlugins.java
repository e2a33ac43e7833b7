package dev.unloadguard.it.fuzz;

import dev.unloadguard.it.support.TestPlugins;
import java.io.IOException;
import java.nio.file.Path;

/**
 * The storage plugin of {@code UnloadFuzzIT}, compiled from the sources below and jarred under
 * {@code target/test-plugins}, in two versions that differ in what a session does while the
 * plugin exits:
 * <ul>
 * <li>{@link #wellBehaved()}: a session registers its flush callback with the host only while the
 *     storage is open, under the storage's lock, and the driver's {@code exit()} closes the storage
 *     and takes back the callbacks of the sessions still open. Whatever call is in flight when the
 *     unload starts, nothing of the plugin is left with the host.
 * <li>{@link #buggy()}: {@code write} registers the callback whatever the storage's state, and
 *     {@code exit()} discards open sessions without taking their callbacks back (it leaves that to
 *     {@code commit}). So an unload that starts at the {@code write} crossing (the call runs to its
 *     end, the {@code commit} after it is refused) leaves a plugin lambda in the host's registry:
 *     the generation LEAKS. An unload at {@code open} (the {@code write} after it is refused, nothing
 *     registered) or at {@code commit} (which takes the callback back) is clean, and so is the
 *     plain run: only one of the three crossings exposes the bug.
 * </ul>
 */
public final class FuzzPlugins {

    public static final String ID = "fuzz-storage";
    /** The readable name the weaver gives {@code write}, as the fuzzer's messages name the crossing. */
    public static final String WRITE = "it.fuzz.storage.PluginSession.write(java.lang.String)";

    private FuzzPlugins() {
    }

    private static final String DRIVER = """
            package it.fuzz.storage;
            import dev.unloadguard.driver.*;
            import dev.unloadguard.it.fuzz.FuzzBus;
            public final class StorageDriver implements Driver {
                private FuzzBus bus;
                private PluginStorage storage;
                public String id() { return "%s"; }
                public void init(DriverContext ctx) {
                    bus = ctx.service(FuzzBus.class).orElseThrow();
                    storage = new PluginStorage(bus);
                    bus.offer(storage);
                }
                public void exit() {
                    bus.withdraw(storage);
                    storage.closeAll();
                }
            }
            """.formatted(ID);

    private static final String STORAGE = """
            package it.fuzz.storage;
            import dev.unloadguard.it.fuzz.FuzzBus;
            import dev.unloadguard.it.fuzz.Session;
            import dev.unloadguard.it.fuzz.Storage;
            import java.util.HashSet;
            import java.util.Set;
            final class PluginStorage implements Storage {
                private final FuzzBus bus;
                private final Set<PluginSession> open = new HashSet<>();
                private boolean closed;
                PluginStorage(FuzzBus bus) { this.bus = bus; }
                @Override public synchronized Session open(String name) {
                    PluginSession s = new PluginSession(this, bus, name);
                    open.add(s);
                    return s;
                }
                synchronized boolean isClosed() { return closed; }
                synchronized void closed(PluginSession s) { open.remove(s); }
                synchronized void closeAll() {
                    closed = true;
                    for (PluginSession s : open) { s.discard(); }
                    open.clear();
                }
            }
            """;

    /** {@code %1$s}: how {@code write} registers; {@code %2$s}: what {@code discard} (at exit) does. */
    private static final String SESSION = """
            package it.fuzz.storage;
            import dev.unloadguard.it.fuzz.FuzzBus;
            import dev.unloadguard.it.fuzz.Session;
            final class PluginSession implements Session {
                private final PluginStorage storage;
                private final FuzzBus bus;
                private final String name;
                private final Runnable flusher = this::flush;
                private String buffer;
                PluginSession(PluginStorage storage, FuzzBus bus, String name) {
                    this.storage = storage;
                    this.bus = bus;
                    this.name = name;
                }
                @Override public void write(String data) {
                    %1$s
                }
                @Override public void commit() {
                    bus.removeFlush(flusher);
                    storage.closed(this);
                }
                void discard() {
                    %2$s
                }
                private void flush() { buffer = null; }
                @Override public String toString() { return "session ".concat(name); }
            }
            """;

    public static Path wellBehaved() throws IOException {
        return jar("fuzz-storage-good", """
                synchronized (storage) {                  // closeAll() holds it too: never after it
                            if (storage.isClosed()) { return; }
                            buffer = data;
                            bus.onFlush(flusher);
                        }""", "bus.removeFlush(flusher);");
    }

    public static Path buggy() throws IOException {
        return jar("fuzz-storage-buggy", """
                buffer = data;
                        bus.onFlush(flusher);                     // whatever the storage's state""",
                "buffer = null;                            // forgets the flush callback: left to commit()");
    }

    private static Path jar(String name, String write, String discard) throws IOException {
        return TestPlugins.plugin().driver("it.fuzz.storage.StorageDriver")
                .source("it.fuzz.storage.StorageDriver", DRIVER)
                .source("it.fuzz.storage.PluginStorage", STORAGE)
                .source("it.fuzz.storage.PluginSession", SESSION.formatted(write, discard))
                .build(name);
    }
}
