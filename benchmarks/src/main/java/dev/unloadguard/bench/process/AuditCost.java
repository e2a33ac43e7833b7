package dev.unloadguard.bench.process;

import dev.unloadguard.epoch.internal.ThreadFrames;
import java.lang.management.ManagementFactory;
import java.lang.management.OperatingSystemMXBean;
import java.lang.management.ThreadMXBean;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * The close audit's cost (issue 10: at most 5 ms with 100 platform threads, 500 ms with 10,000
 * virtual threads): one JVM with {@code platform} extra platform threads and {@code virtual}
 * virtual threads (half started with the {@code Thread} API, half in a virtual-thread-per-task
 * executor; all parked a few frames deep, so unmounted), then {@code rounds} audits of a loader
 * name no frame carries (a clean audit: one full scan, no grace). Prints {@code key=value} lines:
 * the threads each audit scanned, median / p90 / max wall time, the auditing thread's CPU time per
 * audit, the machine's load average and processors.
 *
 * <pre>
 * mvn -B -o -q package -pl benchmarks -am -DskipTests
 * java -javaagent:agent/target/unloadguard-agent-0.1.0-SNAPSHOT.jar \
 *      -cp benchmarks/target/benchmarks.jar dev.unloadguard.bench.process.AuditCost 100 0 50
 * /usr/lib/jvm/temurin-25-jdk-amd64/bin/java -javaagent:agent/target/unloadguard-agent-0.1.0-SNAPSHOT.jar \
 *      -cp benchmarks/target/benchmarks.jar dev.unloadguard.bench.process.AuditCost 100 10000 30
 * </pre>
 * The agent opens {@code jdk.internal.vm} so the audit sees the virtual threads; without it the
 * audit scans platform threads only (and says so).
 */
public final class AuditCost {

    private AuditCost() {
    }

    public static void main(String[] args) throws Exception {
        int platform = Integer.parseInt(args[0]);
        int virtual = Integer.parseInt(args[1]);
        int rounds = Integer.parseInt(args[2]);
        CountDownLatch started = new CountDownLatch(platform + virtual);
        CountDownLatch done = new CountDownLatch(1);
        Runnable parked = () -> deep(5, started, done);
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < platform; i++) {
            Thread t = new Thread(parked, "platform-" + i);
            t.setDaemon(true);
            t.start();
            threads.add(t);
        }
        ExecutorService executor = null;
        if (virtual > 0) {
            if (Runtime.version().feature() < 21) {
                throw new IllegalArgumentException("virtual threads need JDK 21+");
            }
            java.lang.reflect.Method start = Thread.class.getMethod("startVirtualThread", Runnable.class);
            for (int i = 0; i < virtual / 2; i++) {
                threads.add((Thread) start.invoke(null, parked));
            }
            executor = (ExecutorService) Executors.class.getMethod("newVirtualThreadPerTaskExecutor").invoke(null);
            for (int i = virtual / 2; i < virtual; i++) {
                executor.submit(parked);
            }
        }
        started.await();
        ThreadMXBean cpu = ManagementFactory.getThreadMXBean();
        long[] wall = new long[rounds];
        long[] cpuNanos = new long[rounds];
        ThreadFrames.Audit last = null;
        for (int w = 0; w < 5; w++) { // warm-up: first calls link the reflection and compile the loops
            last = ThreadFrames.audit("audit-cost#none", Duration.ZERO);
        }
        for (int i = 0; i < rounds; i++) {
            long c0 = cpu.getCurrentThreadCpuTime();
            long t0 = System.nanoTime();
            last = ThreadFrames.audit("audit-cost#none", Duration.ZERO);
            wall[i] = System.nanoTime() - t0;
            cpuNanos[i] = cpu.getCurrentThreadCpuTime() - c0;
        }
        OperatingSystemMXBean os = ManagementFactory.getOperatingSystemMXBean();
        Arrays.sort(wall);
        Arrays.sort(cpuNanos);
        System.out.println("java=" + Runtime.version());
        System.out.println("processors=" + os.getAvailableProcessors());
        System.out.printf(Locale.ROOT, "loadavg=%.2f%n", os.getSystemLoadAverage());
        System.out.println("scanned.platform=" + last.platformThreads());
        System.out.println("scanned.virtual=" + last.virtualThreads());
        System.out.println("virtual.visible=" + last.virtualThreadsVisible() + " (" + last.visibility() + ")");
        System.out.println("rounds=" + rounds);
        System.out.printf(Locale.ROOT, "wall.ms.median=%.3f%nwall.ms.p90=%.3f%nwall.ms.max=%.3f%n",
                wall[rounds / 2] / 1e6, wall[(int) (rounds * 0.9)] / 1e6, wall[rounds - 1] / 1e6);
        System.out.printf(Locale.ROOT, "cpu.ms.median=%.3f%n", cpuNanos[rounds / 2] / 1e6);
        done.countDown();
        if (executor != null) {
            executor.shutdown();
        }
        for (Thread t : threads) {
            t.join();
        }
    }

    /** A few frames deep, then parked until {@code done}: what a real thread's stack looks like, a little. */
    private static void deep(int n, CountDownLatch started, CountDownLatch done) {
        if (n > 0) {
            deep(n - 1, started, done);
            return;
        }
        started.countDown();
        try {
            done.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
