package dev.unloadguard.bench.process;

import dev.unloadguard.epoch.internal.ReleaseEpoch;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;

/**
 * Memory per registered thread of a release epoch (issue 11, target 3), measured as the heap
 * after a full GC: {@code n} threads (virtual on Java 21+ with {@code virtual}, else platform) are
 * started and parked; the heap is measured; then each enters and exits the epoch once (or, in the
 * control round, does nothing) and parks again; the heap is measured again. The epoch round's
 * growth minus the control round's, divided by {@code n}, is what one thread's first enter keeps:
 * its cell, the cell's weak reference to the thread, the thread-local entry (and the thread's
 * thread-local map, if the epoch is its first thread local) and its share of the cell array.
 * Then the threads end and the heap is measured once more: what the epoch keeps of dead threads.
 * Prints {@code key=value} lines.
 *
 * <pre>
 * mvn -B -o -q package -DskipTests
 * /usr/lib/jvm/temurin-25-jdk-amd64/bin/java -cp benchmarks/target/benchmarks.jar \
 *      dev.unloadguard.bench.process.CellMemory 100000 virtual
 * java -cp benchmarks/target/benchmarks.jar dev.unloadguard.bench.process.CellMemory 10000 platform
 * </pre>
 */
public final class CellMemory {

    private CellMemory() {
    }

    public static void main(String[] args) throws Exception {
        int n = args.length > 0 ? Integer.parseInt(args[0]) : 10_000;
        boolean virtual = args.length > 1 && args[1].equals("virtual");
        for (int warm = 0; warm < 2; warm++) {
            round(n / 10, virtual, true, false);
            round(n / 10, virtual, false, false);
        }
        round(n, virtual, false, true);
        round(n, virtual, true, true);
        round(n, virtual, false, true);
        round(n, virtual, true, true);
    }

    /** One round; prints its figures if {@code print}. */
    private static void round(int n, boolean virtual, boolean enter, boolean print) throws Exception {
        ReleaseEpoch epoch = new ReleaseEpoch();
        CountDownLatch go = new CountDownLatch(1);
        CountDownLatch entered = new CountDownLatch(n);
        CountDownLatch end = new CountDownLatch(1);
        CountDownLatch parked = new CountDownLatch(n);
        Runnable body = () -> {
            try {
                parked.countDown();
                go.await();
                if (enter) {
                    epoch.exit(epoch.enter());
                }
                entered.countDown();
                end.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        };
        List<Thread> threads = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            threads.add(virtual ? CrowdThreads.startVirtual(body, "measure virtual threads with a newer java") : CrowdThreads.startPlatform(body, "cell-memory"));
        }
        parked.await();
        long before = heapAfterGc();
        go.countDown();
        entered.await();
        long after = heapAfterGc();
        end.countDown();
        for (Thread t : threads) {
            t.join();
        }
        threads.clear();
        long dead = heapAfterGc();
        if (print) {
            String what = (virtual ? "virtual" : "platform") + (enter ? ".epoch" : ".control");
            System.out.printf(Locale.ROOT, "%s.threads=%d%n", what, n);
            System.out.printf(Locale.ROOT, "%s.bytesPerThreadAlive=%.1f%n", what, (after - before) / (double) n);
            System.out.printf(Locale.ROOT, "%s.bytesPerThreadAfterTheyEnded=%.1f%n", what, (dead - before) / (double) n);
        }
        epoch.barrier();                                 // keeps the epoch reachable up to here
    }

    private static long heapAfterGc() throws InterruptedException {
        MemoryMXBean memory = ManagementFactory.getMemoryMXBean();
        long used = Long.MAX_VALUE;
        for (int i = 0; i < 4; i++) {
            System.gc();
            Thread.sleep(50);                            // lets reference processing finish between collections
            used = Math.min(used, memory.getHeapMemoryUsage().getUsed());
        }
        return used;
    }
}
