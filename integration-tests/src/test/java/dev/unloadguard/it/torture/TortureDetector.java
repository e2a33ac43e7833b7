package dev.unloadguard.it.torture;

import dev.unloadguard.driver.PluginUnloadedError;
import dev.unloadguard.loader.Plugin;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * The torture test's independent detector, run as the loader's {@code beforeClose} observer:
 * in step 5 of every unload, after the release barrier and just before the plugin's class loader
 * is closed, it looks at every thread's stack for frames of that plugin generation (frames whose
 * {@link StackTraceElement#getClassLoaderName()} is the generation's unique
 * {@link Plugin#classLoaderName()}). It does not ask the release epoch anything: it checks the
 * epoch's promise from outside.
 *
 * <p>Which threads: {@link Thread#getAllStackTraces()} (every platform thread: the helper's worker,
 * platform workers) plus, one by one, the virtual threads the scenario started and registered
 * with {@link #track}: {@code getAllStackTraces} does not list virtual threads, and a carrier
 * thread's stack does not show the frames of the virtual thread mounted on it.
 *
 * <p>What counts: a thread with a frame of the plugin is a <b>violation</b> — some thread still
 * runs that plugin's code while its loader is about to be closed — with one exception, counted
 * apart as an <b>epilogue</b>: a thread that had already run the last statement of its release
 * tail ({@link TortureBus#tailDone()}) <em>before</em> this scan began, and whose plugin frames
 * are all on the callback path ({@link TorturePlugin#isCallbackPath}). Such a thread has nothing
 * left of plugin code but the callback's return instruction (with the agent, the woven epoch exit
 * comes just before it, so a thread descheduled between the two can be seen there): it loads no
 * class and touches no plugin state. The order matters: the tail markers are read first, the
 * stacks after, so a thread still inside its tail when the scan began is a violation even if it
 * finished before its stack was taken. After the drain step no thread can start new plugin code
 * of this generation (every entry into it needs a device reference, or, for the host's service
 * calls, passes the GOING gate), so a finished marker cannot belong to an older tail than the
 * frames seen. The service's {@code serve} shares the tails' marker ({@link TortureBus#serveBegin()},
 * {@link TortureBus#serveDone()}).
 *
 * <p>A second exception, counted apart as <b>refusing</b>: a host caller thread seen in a call
 * whose body had not begun. Once GOING, a new call into the service is refused at its entry (the
 * woven prologue throws {@code PluginUnloadedError}); between the throw and the unwinding of the
 * {@code serve} frame the thread shows that frame without running any of its code. The caller's
 * host code numbers its calls ({@link TortureBus#calling}), the body's first statement records the
 * number it began ({@link TortureBus#serveBegin()}); the scan reads the caller's call number
 * before the stacks and again after: if it is the same call and that call's body had not begun by
 * the second read, it had not begun when the stack was taken either. A caller that moved on to the
 * next call meanwhile (call number {@code n} before, {@code n + 1} after) is exempt only if its
 * stack shows it refusing (a {@code PluginUnloadedError} being made, or the epoch's refusal, above
 * the {@code serve} frame) and call {@code n + 1}'s body had not begun by the second read: a caller
 * starts call {@code n + 1} only after call {@code n} returned normally (it stops at the first
 * failure), so a refusal on its stack belongs to call {@code n + 1}, not to call {@code n}. (A CI
 * run reported one violation of this shape, a caller refusing whose other frames the report had
 * cut; a local run caught one whole: a caller not yet at its first call at the first read, and
 * refusing call 1 on its stack: call number 0 before, 1 after.) The call numbers are kept until the
 * host joined the caller, so a caller that ended right after its refusal still shows them. Anything
 * else is a violation (conservative).
 *
 * <p>Never throws (the loader would log and ignore it): a failure of the scan itself is counted
 * in {@link #errors()}.
 */
final class TortureDetector implements Consumer<Plugin> {

    private static final int KEPT_REPORTS = 5;
    private static final int FRAMES_PER_REPORT = 64;
    /** The package of the epoch's refusal path (internal: named, not imported). */
    private static final String EPOCH = "dev.unloadguard.epoch.internal.";
    /** The epoch class a plugin loader defines (see {@link #plugins}). */
    static final String EPOCH_CLASS = "dev.unloadguard.epoch.woven.PluginEpoch";

    private final Set<Thread> tracked = ConcurrentHashMap.newKeySet();
    private final AtomicLong scans = new AtomicLong();
    private final AtomicLong violations = new AtomicLong();
    private final AtomicLong epilogues = new AtomicLong();
    private final AtomicLong refusing = new AtomicLong();
    private final AtomicLong serviceViolations = new AtomicLong();
    private final AtomicLong errors = new AtomicLong();
    private final List<String> reports = new CopyOnWriteArrayList<>();

    /** Registers a virtual thread the scan must look at explicitly. */
    void track(Thread t) {
        tracked.add(t);
    }

    void untrack(Thread t) {
        tracked.remove(t);
    }

    @Override
    public void accept(Plugin plugin) {
        try {
            scan(plugin);
        } catch (Throwable t) {
            errors.incrementAndGet();
            keep("detector failed on " + plugin + ": " + t);
        }
    }

    private void scan(Plugin plugin) {
        scans.incrementAndGet();
        String loaderName = plugin.classLoaderName();
        Set<Thread> pastTheirTail = TortureBus.threadsPastTheirTail();    // first the markers,
        Map<Thread, Long> callsBefore = new HashMap<>();
        for (Thread t : tracked) {
            callsBefore.put(t, TortureBus.callSeq(t));
        }
        Map<Thread, StackTraceElement[]> stacks = new HashMap<>(Thread.getAllStackTraces()); // then the stacks
        for (Thread t : tracked) {
            if (!stacks.containsKey(t)) {
                stacks.put(t, t.getStackTrace());
            }
        }
        for (Map.Entry<Thread, StackTraceElement[]> e : stacks.entrySet()) {
            List<StackTraceElement> mine = plugins(e.getValue(), loaderName);
            if (mine.isEmpty()) {
                continue;
            }
            if (pastTheirTail.contains(e.getKey()) && mine.stream().allMatch(TorturePlugin::isCallbackPath)) {
                epilogues.incrementAndGet();
                continue;
            }
            if (refusedBeforeItsBody(e.getKey(), e.getValue(), mine, callsBefore)) {
                refusing.incrementAndGet();
                continue;
            }
            violations.incrementAndGet();
            if (mine.stream().anyMatch(f -> f.getClassName().equals(TorturePlugin.PACKAGE + ".TortureService"))) {
                serviceViolations.incrementAndGet();
            }
            keep(describe(plugin, e.getKey(), e.getValue(), callsBefore.get(e.getKey())));
        }
    }

    /**
     * The frames of the plugin on {@code stack}: those of the generation's loader but the epoch
     * class's ({@code dev.unloadguard.epoch.woven.PluginEpoch}, unloadguard's code that the loader
     * defines, whose frame sits right above the woven method that calls it: {@code b} refusing an
     * entry, {@code c} exiting).
     */
    static List<StackTraceElement> plugins(StackTraceElement[] stack, String loaderName) {
        List<StackTraceElement> mine = new ArrayList<>();
        for (StackTraceElement f : stack) {
            if (loaderName.equals(f.getClassLoaderName()) && !f.getClassName().equals(EPOCH_CLASS)) {
                mine.add(f);
            }
        }
        return mine;
    }

    /** A caller thread whose only plugin frame is {@code serve}, in a call whose body had not begun (see above). */
    private static boolean refusedBeforeItsBody(Thread t, StackTraceElement[] stack, List<StackTraceElement> mine,
            Map<Thread, Long> callsBefore) {
        Long before = callsBefore.get(t);
        if (before == null) {
            return false;
        }
        long begun = TortureBus.begunSeq(t);   // read before the second call number: a body that began
        long after = TortureBus.callSeq(t);    // of this call is seen, a new call is seen too
        return refusedBeforeItsBody(stack, mine, before, begun, after);
    }

    /**
     * The rule above, on what was read: the caller's call number {@code before} the stacks, then
     * the number of its latest call whose body had {@code begun}, then its call number
     * {@code after}; {@code stack} is its stack and {@code mine} the plugin's frames on it.
     */
    static boolean refusedBeforeItsBody(StackTraceElement[] stack, List<StackTraceElement> mine, long before, long begun, long after) {
        if (mine.size() != 1 || !isServe(mine.get(0))) {
            return false;
        }
        if (after == before) {
            return begun < before;
        }
        return after == before + 1 && begun < after && refusingAboveServe(stack);
    }

    private static boolean isServe(StackTraceElement f) {
        return f.getClassName().equals(TorturePlugin.PACKAGE + ".TortureService") && f.getMethodName().equals("serve");
    }

    /** Whether a frame above {@code serve} is the refusal: the epoch refusing, or the error being made. */
    private static boolean refusingAboveServe(StackTraceElement[] stack) {
        for (StackTraceElement f : stack) {
            if (isServe(f)) {
                return false;
            }
            String c = f.getClassName();
            if (c.equals(PluginUnloadedError.class.getName()) || c.equals(EPOCH + "RefusedEntries")
                    || c.equals(EPOCH + "ReleaseEpoch") && (f.getMethodName().equals("refuse") || f.getMethodName().equals("leaveRefused"))) {
                return true;
            }
        }
        return false;
    }

    private void keep(String report) {
        if (reports.size() < KEPT_REPORTS) {
            reports.add(report);
        }
    }

    private static String describe(Plugin plugin, Thread t, StackTraceElement[] frames, Long callBefore) {
        StringBuilder sb = new StringBuilder();
        sb.append(plugin).append(" (").append(plugin.classLoaderName()).append(") about to be closed while thread \"")
                .append(t.getName()).append("\" (").append(t.getState()).append(") runs its code");
        if (callBefore != null) {   // a caller: its call numbers, for the refusal exemption above
            sb.append(" [call before the stacks ").append(callBefore).append(", now ").append(TortureBus.callSeq(t))
                    .append(", body begun ").append(TortureBus.begunSeq(t)).append(']');
        }
        sb.append(':');
        for (int i = 0; i < Math.min(frames.length, FRAMES_PER_REPORT); i++) {
            sb.append(i == 0 ? " at " : " <- ").append(frames[i]);
        }
        if (frames.length > FRAMES_PER_REPORT) {
            sb.append(" <- ...");
        }
        return sb.toString();
    }

    long scans() {
        return scans.get();
    }

    long violations() {
        return violations.get();
    }

    long epilogues() {
        return epilogues.get();
    }

    /** Violations in a host service call (frames of {@code TortureService}). */
    long serviceViolations() {
        return serviceViolations.get();
    }

    long refusing() {
        return refusing.get();
    }

    long errors() {
        return errors.get();
    }

    List<String> reports() {
        return List.copyOf(reports);
    }
}
