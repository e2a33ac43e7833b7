package dev.unloadguard.epoch.internal;

import static dev.unloadguard.epoch.internal.ReleaseEpochTestSupport.BOUND;
import static dev.unloadguard.epoch.internal.ReleaseEpochTestSupport.assertStillWaiting;
import static dev.unloadguard.epoch.internal.ReleaseEpochTestSupport.awaitDone;
import static dev.unloadguard.epoch.internal.ReleaseEpochTestSupport.barrierAsync;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.epoch.BarrierOutcome;
import dev.unloadguard.epoch.ReleaseGuard;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

/**
 * The balanced sections that keep their cell ({@link ReleaseEpoch#enterCell()},
 * {@link ReleaseEpoch#exitCell(Object)}): the same counting as token sections, and a cell is
 * only ever accepted by the thread it belongs to, so a cell handed to another thread can neither
 * break the single-writer rule of its counters nor end a section that still runs.
 */
class ReleaseEpochCellTest extends TwoReaders {

    @Test
    void aCellHandedToAnotherThreadIsRefusedAndTheBarrierStillWaitsForItsSection() {
        Object cell = a.call(epoch::enterCell);
        int index = a.call(() -> epoch.readIndex());
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> b.call(() -> {
            ReleaseEpoch.exitCell(cell);
            return null;
        }));
        assertTrue(e.getMessage().contains("another thread's cell") && e.getMessage().contains("\"reader-b\"")
                && e.getMessage().contains("\"reader-a\""), e.getMessage());
        IllegalStateException viaHandler = assertThrows(IllegalStateException.class,
                () -> b.call(() -> ReleaseGuard.exitSectionThrowingCell(new RuntimeException("x"), cell)));
        assertTrue(viaHandler.getMessage().contains("another thread's cell"), viaHandler.getMessage());
        assertThrows(IllegalStateException.class, () -> b.call(() -> {
            ReleaseGuard.exitSectionCell(cell);
            return null;
        }));
        assertEquals(1, a.depth(), "the refused exits changed nothing");
        assertFalse(epoch.drained(index, null), "the section is still counted");

        CompletableFuture<BarrierOutcome> barrier = barrierAsync(epoch, BOUND.multipliedBy(2));
        assertStillWaiting(barrier);
        a.call(() -> {
            ReleaseEpoch.exitCell(cell);
            return null;
        });
        assertEquals(BarrierOutcome.WAITED, awaitDone(barrier));
        assertEquals(0, a.depth());
    }

    @Test
    void cellSectionsNestAndCountOnlyTheOutermostLikeTokenSections() {
        a.call(() -> {
            Object outer = epoch.enterCell();
            int index = epoch.readIndex();
            Object inner = epoch.enterEntryCell("Cell.nested()");
            assertSame(outer, inner, "one cell per thread and epoch");
            assertEquals(2, epoch.depth());
            int token = epoch.enter();
            assertEquals(3, token >>> 1, "token and cell sections share the depth");
            epoch.exit(token);
            ReleaseEpoch.exitCell(inner);
            assertEquals(1, epoch.depth());
            assertFalse(epoch.drained(index, null), "the outermost section is still counted");
            ReleaseEpoch.exitCell(outer);
            assertEquals(0, epoch.depth());
            assertTrue(epoch.drained(index, null), "its exit balanced the count");
            IllegalStateException twice = assertThrows(IllegalStateException.class, () -> ReleaseEpoch.exitCell(outer));
            assertTrue(twice.getMessage().contains("without an open section"), twice.getMessage());
            return null;
        });
        IllegalArgumentException notACell = assertThrows(IllegalArgumentException.class, () -> ReleaseEpoch.exitCell("cell"));
        assertTrue(notACell.getMessage().contains("java.lang.String"), notACell.getMessage());
        assertThrows(IllegalArgumentException.class, () -> ReleaseEpoch.exitCell(null));
        assertEquals(BarrierOutcome.IMMEDIATE, epoch.barrier(BOUND));
    }

    @Test
    void aRefusedGatedEntryReturnsNoCellAndLeavesNoSectionOpen() {
        epoch.closeGate("cells", 1, null);
        Throwable refused = a.call(() -> {
            try {
                epoch.enterEntryCell("Cell.late()");
                return null;
            } catch (NoClassDefFoundError e) {
                return e;
            }
        });
        assertNotNull(refused, "refused once the gate is closed");
        assertEquals(0, a.depth());
        assertEquals(1, epoch.refusedEntries());
        assertEquals(BarrierOutcome.IMMEDIATE, epoch.barrier(BOUND), "the refused entry left no section behind");
        Object cell = a.call(epoch::enterCell);                // release paths are never refused
        assertEquals(1, a.depth());
        a.call(() -> {
            ReleaseEpoch.exitCell(cell);
            return null;
        });
    }
}
