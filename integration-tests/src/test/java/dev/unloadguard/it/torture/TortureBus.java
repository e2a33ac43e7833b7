package dev.unloadguard.it.torture;

import dev.unloadguard.device.Device;
import dev.unloadguard.driver.ReleaseCallback;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

/**
 * The host side of the torture plugin ({@link TorturePlugin}): a host service through which the
 * plugin's driver publishes, at init, its devices and a factory of release callbacks; and the
 * host hooks the plugin's release code calls, so the scenario can count what ran and its
 * independent detector can tell a release tail that still does work from one that has finished
 * it.
 *
 * <p>Everything here is host code (the application class loader): holding a {@link Device} or
 * calling {@link Device#tryAcquire()} never runs plugin code. Plugin code runs in
 * {@link CallbackFactory#make} (called while the caller holds a device reference, so the plugin
 * cannot get past the drain step of its unload), in release paths (callbacks, the driver's
 * release, managed actions), and in {@link Service#serve}, which host caller threads call at any
 * time, holding nothing: only the guard (every entry a section, the GOING gate) keeps those calls
 * from running on a closed loader.
 */
public final class TortureBus {

    /** Implemented by the plugin: wraps a device reference the caller holds into a release callback. */
    public interface CallbackFactory {
        /**
         * Returns a release callback that owns the caller's reference to {@code device}: its
         * {@code release()} drops that reference, then runs a tail of plugin code.
         *
         * @param index        the device's index in {@link Generation#devices()}
         * @param shape        0: a class implementing {@code ReleaseCallback}; 1: a lambda;
         *                     2: a method reference to a plain method
         * @param tailParkNanos how long the tail parks after dropping the reference (0: no park)
         * @param tailWork     iterations of arithmetic in the tail
         */
        ReleaseCallback make(Device device, int index, int shape, long tailParkNanos, int tailWork);
    }

    /**
     * A host service the plugin implements: host caller threads call it continuously, outside any
     * release path (with the guard scope ENTRIES every call is an entry into the plugin).
     */
    public interface Service {
        /** Plugin code: arithmetic, then, once the driver's exit ran, a park and a class first loaded there. */
        long serve(long x);
    }

    /** What one plugin generation published at init. */
    public record Generation(int generation, List<Device> devices, CallbackFactory factory, Service service) {
    }

    private static final LongAdder TAILS = new LongAdder();
    private static final LongAdder TAILS_DONE = new LongAdder();
    private static final LongAdder DRIVER_RELEASES = new LongAdder();
    private static final LongAdder ACTIONS = new LongAdder();
    private static final LongAdder SERVES = new LongAdder();
    /** Per caller thread: the number of its latest call (set by host code before the call). */
    private static final Map<Thread, Long> CALL_SEQ = new ConcurrentHashMap<>();
    /** Per caller thread: the number of its latest call whose body began ({@link #serveBegin()}). */
    private static final Map<Thread, Long> BEGUN_SEQ = new ConcurrentHashMap<>();
    /** Per thread: whether its current release tail has finished its work (see {@link #tailDone()}). */
    private static final Map<Thread, Boolean> TAIL_DONE = new ConcurrentHashMap<>();

    private static volatile long lastTailParkNanos;

    private volatile Generation current;

    /** Called by the plugin's driver at init. */
    public void attach(int generation, List<Device> devices, CallbackFactory factory, Service service) {
        current = new Generation(generation, List.copyOf(devices), factory, service);
    }

    /** Hands the host the generation the plugin published, and forgets it. */
    public Generation take() {
        Generation g = current;
        current = null;
        if (g == null) {
            throw new IllegalStateException("the torture plugin published nothing at init");
        }
        return g;
    }

    // ---- hooks called by plugin code ------------------------------------------------------

    /** First statement of every release tail (before the callback drops its device reference). */
    public static void tailBegin() {
        TAILS.increment();
        TAIL_DONE.put(Thread.currentThread(), Boolean.FALSE);
    }

    /**
     * Last statement of every release tail that completed: after it, only the callback's return
     * (and, with the agent, the woven epoch exit before it) is left of plugin code.
     */
    public static void tailDone() {
        TAIL_DONE.put(Thread.currentThread(), Boolean.TRUE);
        TAILS_DONE.increment();
    }

    /**
     * How long a tail that dropped its device's last reference parks before it loads that device's
     * retirement class: the window in which an unguarded unload closes the loader under it.
     */
    public static long lastTailParkNanos() {
        return lastTailParkNanos;
    }

    static void lastTailParkNanos(long nanos) {
        lastTailParkNanos = nanos;
    }

    /**
     * First statement of every service call's body: the thread's plugin work begins (it shares the
     * tails' per-thread marker, so the detector tells a finished call's epilogue the same way).
     */
    public static void serveBegin() {
        SERVES.increment();
        Thread t = Thread.currentThread();
        TAIL_DONE.put(t, Boolean.FALSE);
        Long seq = CALL_SEQ.get(t);
        if (seq != null) {
            BEGUN_SEQ.put(t, seq);
        }
    }

    /** Last statement of every service call that completed: only the return is left of plugin code. */
    public static void serveDone() {
        TAIL_DONE.put(Thread.currentThread(), Boolean.TRUE);
    }

    /** Called by the driver's {@code release(Device)}, inside the device's release sequence. */
    public static void driverReleased() {
        DRIVER_RELEASES.increment();
    }

    /** Called by the driver's managed release actions. */
    public static void actionRan() {
        ACTIONS.increment();
    }

    // ---- read by the scenario -------------------------------------------------------------

    static long tails() {
        return TAILS.sum();
    }

    static long tailsDone() {
        return TAILS_DONE.sum();
    }

    static long driverReleases() {
        return DRIVER_RELEASES.sum();
    }

    static long actions() {
        return ACTIONS.sum();
    }

    static long serves() {
        return SERVES.sum();
    }

    /** Host code, on a caller thread, just before its {@code seq}-th call into the service. */
    static void calling(long seq) {
        CALL_SEQ.put(Thread.currentThread(), seq);
    }

    /** The number of the caller's latest call (0: none, or not a caller). */
    static long callSeq(Thread t) {
        return CALL_SEQ.getOrDefault(t, 0L);
    }

    /** The number of the caller's latest call whose body began (0: none). */
    static long begunSeq(Thread t) {
        return BEGUN_SEQ.getOrDefault(t, 0L);
    }

    /** The threads whose latest release tail had finished its work when this was called. */
    static Set<Thread> threadsPastTheirTail() {
        Set<Thread> done = ConcurrentHashMap.newKeySet();
        TAIL_DONE.forEach((t, finished) -> {
            if (finished) {
                done.add(t);
            }
        });
        return done;
    }

    /** Forgets a thread that will run no more tails (it is about to end). */
    static void forget(Thread t) {
        TAIL_DONE.remove(t);
    }

    /**
     * Forgets a caller's call numbers: by the host, once the caller was joined. Not when the caller
     * ends: the detector may still be between its two reads of them (a caller refused ends at
     * once), and a caller seen refusing must still show the call it refused.
     */
    static void forgetCalls(Thread t) {
        CALL_SEQ.remove(t);
        BEGUN_SEQ.remove(t);
    }
}
