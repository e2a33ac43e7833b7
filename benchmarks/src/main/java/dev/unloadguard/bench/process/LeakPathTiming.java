package dev.unloadguard.bench.process;

import dev.unloadguard.leaks.LeakAnalysis;
import dev.unloadguard.leaks.LeakPaths;
import dev.unloadguard.leaks.LeakedLoader;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * How long the leak path takes (issue 13, point 1): dump this JVM's live heap and search it
 * ({@link LeakPaths#inThisJvm}) with {@code LIVE_MB} of live objects, for a class loader leaked
 * two ways: held near a root (a static field: the search stops after a few levels), and held
 * behind the whole live set (the last node of the last linked chunk: the search reads almost
 * every object). Run by {@code benchmarks/leak-path.sh}.
 *
 * <pre>LeakPathTiming LIVE_MB</pre>
 *
 * The live set is half small objects (24-byte nodes in 1,000 linked chunks) and half 1 KB byte
 * arrays, so its object count is that of a heap of ordinary objects, not of a few big arrays.
 */
public final class LeakPathTiming {

    /** The live set: kept to the end. */
    static final List<Object> LIVE = new ArrayList<>();
    /** The near leak: a static field. */
    static Object near;

    /** A small object of the live set. */
    static final class Node {
        Node next;
        Object payload;
        int value;

        Node(Node next, int value) {
            this.next = next;
            this.value = value;
        }
    }

    /** Defines {@code Leaked} itself under {@code name}, so its class pins this loader. */
    static final class LeakyLoader extends ClassLoader {
        LeakyLoader(String name) {
            super(name, LeakPathTiming.class.getClassLoader());
        }

        @Override
        protected Class<?> loadClass(String n, boolean resolve) throws ClassNotFoundException {
            if (!n.equals(Leaked.class.getName())) {
                return super.loadClass(n, resolve);
            }
            synchronized (getClassLoadingLock(n)) {
                Class<?> c = findLoadedClass(n);
                if (c != null) {
                    return c;
                }
                try (InputStream in = LeakPathTiming.class.getResourceAsStream("/" + n.replace('.', '/') + ".class")) {
                    byte[] b = in.readAllBytes();
                    return defineClass(n, b, 0, b.length);
                } catch (IOException e) {
                    throw new ClassNotFoundException(n, e);
                }
            }
        }
    }

    /** The leaked object: its class is defined by a {@link LeakyLoader}. */
    public static final class Leaked {
    }

    private LeakPathTiming() {
    }

    public static void main(String[] args) throws Exception {
        int liveMb = Integer.parseInt(args[0]);
        long nodes = liveMb * 1024L * 1024 / 2 / 24;
        int chunks = 1000;
        Node last = null;
        for (int c = 0; c < chunks; c++) {
            Node head = null;
            for (long i = 0; i < nodes / chunks; i++) {
                head = new Node(head, (int) i);
            }
            LIVE.add(head);
            last = head;
        }
        for (long i = 0; i < liveMb * 1024L / 2; i++) {
            LIVE.add(new byte[1024]);
        }
        while (last.next != null) {
            last = last.next; // the tail of the last chunk: the deepest node
        }
        Runtime rt = Runtime.getRuntime();
        System.gc();
        long used = rt.totalMemory() - rt.freeMemory();
        System.out.printf(Locale.ROOT, "live set: %d MB requested, %d MB used after a full GC, %d nodes, JDK %s%n",
                liveMb, used >> 20, nodes, Runtime.version());

        near = leaked("near-leak");
        report("near a root (static field)", "near-leak");
        near = null;

        last.payload = leaked("deep-leak");
        report("behind the whole live set", "deep-leak");
    }

    private static Object leaked(String name) throws Exception {
        return new LeakyLoader(name).loadClass(Leaked.class.getName()).getDeclaredConstructor().newInstance();
    }

    private static void report(String what, String loader) throws IOException {
        java.lang.management.ThreadMXBean threads = java.lang.management.ManagementFactory.getThreadMXBean();
        long cpu = threads.getCurrentThreadCpuTime();
        LeakAnalysis a = LeakPaths.inThisJvm(Set.of(loader), null);
        long cpuMs = (threads.getCurrentThreadCpuTime() - cpu) / 1_000_000; // the analysis runs on this thread, the dump on the VM's
        LeakedLoader l = a.loader(loader).orElseThrow(() -> new IllegalStateException("not found: " + a));
        System.out.printf(Locale.ROOT, "%s: %d objects in the dump, dump %d ms, analysis %d ms (this thread's CPU: %d ms), "
                + "path of %d steps; load %s%n", what, a.objects(), a.dumpTime().toMillis(), a.analysisTime().toMillis(), cpuMs,
                l.path().size(), String.format(Locale.ROOT, "%.1f",
                        java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage()));
    }
}
