package dev.unloadguard.loader;

import java.time.Duration;
import java.util.Locale;

/**
 * What the close audit (step 5 of an unload) saw: just before the class loader is closed, every
 * platform thread and, on JDK 21+, every virtual thread (mounted or not) is scanned for frames of
 * the generation's class loader ({@link StackTraceElement#getClassLoaderName()} equal to
 * {@link Plugin#classLoaderName()}). A thread seen inside is re-scanned over a short grace (up to
 * 100 ms); one still inside at its end fails the unload with {@link CloseAuditException}, and
 * nothing is closed.
 *
 * @param platformThreads       platform threads scanned
 * @param virtualThreads        virtual threads scanned
 * @param virtualThreadsVisible whether every virtual thread was scanned (always true on JDK 17,
 *                              which has none; false on JDK 21+ without the unloadguard agent,
 *                              which opens the JDK's thread containers to the audit)
 * @param visibility            which threads were visible, and why not all if not
 * @param framesFound           frames of the generation the first scan saw (threads that left
 *                              during the grace included); 0 in the usual case
 * @param scans                 the full scan plus its re-scans; 0 if the audit did not run
 * @param time                  how long the audit took
 */
public record CloseAudit(int platformThreads, int virtualThreads, boolean virtualThreadsVisible, String visibility,
                         int framesFound, int scans, Duration time) {

    /** The audit did not run, for {@code why}. */
    static CloseAudit notRun(String why) {
        return new CloseAudit(0, 0, false, why, 0, 0, Duration.ZERO);
    }

    /** Whether the audit ran (a loader without a name cannot be audited: its frames carry no name). */
    public boolean ran() {
        return scans > 0;
    }

    /** {@code 23 platform + 10000 virtual threads, 0 frames, 1 scan, 41.2 ms}, or why it did not run. */
    public String summary() {
        if (!ran()) {
            return "not run: " + visibility;
        }
        return String.format(Locale.ROOT, "%d platform + %d virtual threads%s, %d frame(s), %d scan(s), %s ms",
                platformThreads, virtualThreads, virtualThreadsVisible ? "" : " (virtual threads NOT all visible)",
                framesFound, scans, UnloadReport.millis(time));
    }
}
