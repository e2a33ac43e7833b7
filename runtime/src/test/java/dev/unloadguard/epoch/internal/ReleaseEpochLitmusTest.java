package dev.unloadguard.epoch.internal;

import static dev.unloadguard.epoch.internal.BrokenEpoch.Fault.FLIP_BY_STORE;
import static dev.unloadguard.epoch.internal.BrokenEpoch.Fault.LOCKS_SUMMED_FIRST;
import static dev.unloadguard.epoch.internal.BrokenEpoch.Fault.NO_FENCE_A;
import static dev.unloadguard.epoch.internal.BrokenEpoch.Fault.NO_FENCE_B;
import static dev.unloadguard.epoch.internal.BrokenEpoch.Fault.NO_FENCE_D;
import static dev.unloadguard.epoch.internal.BrokenEpoch.Fault.NO_FENCE_E;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.epoch.internal.EpochLitmusScenarios.CheckVsReader;
import dev.unloadguard.epoch.internal.EpochLitmusScenarios.OldIndexReaderVsFlip;
import dev.unloadguard.epoch.internal.EpochLitmusScenarios.SectionDuringCheck;
import dev.unloadguard.epoch.internal.EpochLitmusScenarios.StaleReaderVsBarrier;
import java.time.Duration;
import java.util.function.Function;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * Litmus tests for the release epoch's memory ordering: for each fence of the class comment a
 * scenario whose forbidden outcome is the reordering the fence rules out. Each scenario runs
 * against the real {@link ReleaseEpoch}, which must never show the forbidden outcome, and
 * against a {@link BrokenEpoch} copy lacking the fence, on which the test searches for the
 * outcome and stops at the first one.
 *
 * <p><b>What the scenarios found about the fences.</b> The barrier side's fences overlap: fence
 * A sits between every barrier-side write and the lock loads of every drain check, so removing
 * E alone or D alone cannot produce a forbidden outcome (on any platform: A is a full fence in the
 * JMM), and the copies without only E or only D are run as clean runs that must stay at zero;
 * for the same reason no test fails when E or D alone is removed from {@code ReleaseEpoch}.
 * Each of E and D shows once A is removed as well; A shows alone with a drain check run right
 * after the caller's write (the kernel's "A and B act like the store buffering pattern"). B,
 * the only reader-side fence, shows alone. On x86 the real barrier has two more full fences of
 * its own: taking the barrier lock (a {@code lock cmpxchg}) before E, and the flip (a
 * {@code lock xadd}) before D, so the copies run the barrier's steps without the lock
 * ({@link BrokenEpoch#barrierSteps}) and, for D, flip with a plain release store
 * ({@code FLIP_BY_STORE}); see {@link BrokenEpoch.Fault}.
 *
 * <p>The barrier-side faults show rarely on x86: the reader side keeps its fence B, and a
 * one-sided store-buffering window is short. The scenarios widen it the way real callers do,
 * with {@link EpochLitmusScenarios.CallerWrites other writes before GOING}; still, the searches
 * for E and D find their outcome in most 20 s runs on this machine but not in all, so they run
 * only in the long mode ({@code -Dunloadguard.litmus.seconds=60}).
 *
 * <p>The clean runs of the real epoch are what guards {@code ReleaseEpoch} itself: with fence B
 * removed from it, all three store-buffering scenarios fail within their 3 s; with fence A
 * removed, {@code CheckVsReader}; with the locks summed first, {@code SectionDuringCheck} and
 * {@code CheckVsReader}; without step 1, {@code StaleReaderVsBarrier}.
 *
 * <p>Runs: the real epoch for {@link Litmus#cleanRun()} (3 s, or the long mode's seconds; up to
 * twice that if the actors rarely overlapped), the copies that must stay clean for a third of
 * that, the searches up to {@link Litmus#searchBound()} (20 s). A search that did not find its
 * outcome fails if the two actors really ran together for long enough, and is reported as
 * skipped (not failed) if the machine was too busy to run them at the same time (two shared
 * cores).
 */
class ReleaseEpochLitmusTest {

    /**
     * A clean run goes on past its duration (up to twice that) until it saw this many overlapping
     * iterations: on a busy machine the actors may spend a while time-sliced on one core.
     */
    private static final long MIN_OVERLAPS = 100;
    /**
     * A search that found nothing concludes (fails) only after this many overlapping iterations
     * (or, for a scenario that cannot tell overlaps, this many iterations times 100); with fewer,
     * the machine did not run the two actors together enough to prove anything, and the test is
     * reported as skipped. A search on two free cores sees far more within its bound.
     */
    private static final long MIN_OVERLAPS_TO_CONCLUDE = 20_000;

    // ---- Fences A and B: a drain check against a reader (G3) ---------------------------------

    @Test
    void checkVsReader_realEpoch_neverMissesAReaderThatMissedGoing() {
        assertClean(CheckVsReader::new, EpochUnderTest.real(), Litmus.cleanRun());
    }

    @Test
    void checkVsReader_withoutFenceB_missesAReaderThatMissedGoing() {
        assertFound(CheckVsReader::new, BrokenEpoch.without(NO_FENCE_B));
    }

    @Test
    void checkVsReader_withoutFenceA_missesAReaderThatMissedGoing() {
        assertFound(CheckVsReader::new, BrokenEpoch.without(NO_FENCE_A));
    }

    // ---- The order of the sums (what fence A orders, with the acquire unlock loads) ----------

    @Test
    void sectionDuringCheck_realEpoch_neverReportsAnOpenSectionDrained() {
        assertClean(SectionDuringCheck::new, EpochUnderTest.real(), Litmus.cleanRun());
    }

    @Test
    void sectionDuringCheck_withLocksSummedFirst_reportsAnOpenSectionDrained() {
        assertFound(SectionDuringCheck::new, BrokenEpoch.without(LOCKS_SUMMED_FIRST));
    }

    // ---- Fence E: the barrier's step 1 against race (i)'s stale reader -----------------------

    @Test
    void staleReader_realEpoch_neverMissedByStep1UnlessItSawGoing() {
        assertClean(StaleReaderVsBarrier::new, EpochUnderTest.real(), Litmus.cleanRun());
    }

    @Test
    void staleReader_withoutFenceE_isStillCoveredByFenceA() {
        assertClean(StaleReaderVsBarrier::new, BrokenEpoch.without(NO_FENCE_E), shortClean());
    }

    /** Long mode only: on this 2-core x86 machine found in most 20 s runs, but not reliably. */
    @Test
    void staleReader_withoutFencesEAndA_isMissedByStep1AndMissesGoing() {
        assumeLongMode();
        assertFound(StaleReaderVsBarrier::new, BrokenEpoch.without(NO_FENCE_E, NO_FENCE_A));
    }

    // ---- Fence D: the flip and step 3 against race (ii)'s reader of the old index -------------

    @Test
    void oldIndexReader_realEpoch_neverMissedByStep3UnlessItSawTheFlip() {
        assertClean(OldIndexReaderVsFlip::new, EpochUnderTest.real(), Litmus.cleanRun());
    }

    @Test
    void oldIndexReader_withoutFenceD_isStillCoveredByFenceA() {
        assertClean(OldIndexReaderVsFlip::new, BrokenEpoch.without(NO_FENCE_D, FLIP_BY_STORE), shortClean());
    }

    /** Long mode only: on this 2-core x86 machine found in most 20 s runs, but not reliably. */
    @Test
    void oldIndexReader_withoutFencesDAndA_isMissedByStep3AndMissesTheFlip() {
        assumeLongMode();
        assertFound(OldIndexReaderVsFlip::new, BrokenEpoch.without(NO_FENCE_D, NO_FENCE_A, FLIP_BY_STORE));
    }

    // ---- The copy is faithful: without faults it is as clean as the real epoch ----------------

    @Test
    void theCopyWithoutFaultsNeverShowsAForbiddenOutcome() {
        assertClean(CheckVsReader::new, BrokenEpoch.without(), shortClean());
        assertClean(SectionDuringCheck::new, BrokenEpoch.without(), shortClean());
        assertClean(StaleReaderVsBarrier::new, BrokenEpoch.without(), shortClean());
        assertClean(OldIndexReaderVsFlip::new, BrokenEpoch.without(), shortClean());
    }

    private static void assumeLongMode() {
        Assumptions.assumeTrue(Litmus.longMode(), "runs only with -D" + Litmus.SECONDS_PROPERTY + "=N (the long mode)");
    }

    private static Duration shortClean() {
        return Litmus.cleanRun().dividedBy(3);
    }

    private static void assertClean(Function<EpochUnderTest, Litmus.Scenario> scenario, EpochUnderTest epoch,
            Duration duration) {
        Litmus.Scenario s = scenario.apply(epoch);
        Litmus.Result r = Litmus.run(s.getClass().getSimpleName() + " / " + epoch.name(), s, duration,
                s.tellsOverlaps() ? MIN_OVERLAPS : 0, duration.multipliedBy(2), false);
        assertEquals(0, r.forbidden, () -> r.summary(s));
        assertTrue(r.iterations > 0, () -> r.summary(s));
    }

    private static void assertFound(Function<EpochUnderTest, Litmus.Scenario> scenario, EpochUnderTest epoch) {
        Litmus.Scenario s = scenario.apply(epoch);
        Litmus.Result r = Litmus.run(s.getClass().getSimpleName() + " / " + epoch.name(), s, Litmus.searchBound(), true);
        if (r.forbidden == 0) {
            boolean enough = s.tellsOverlaps() ? r.overlaps >= MIN_OVERLAPS_TO_CONCLUDE
                    : r.iterations >= 100 * MIN_OVERLAPS_TO_CONCLUDE;
            Assumptions.assumeTrue(enough, () -> "machine too busy to conclude: " + r.summary(s));
        }
        assertTrue(r.forbidden > 0, () -> "the broken copy was not caught: " + r.summary(s));
    }
}
