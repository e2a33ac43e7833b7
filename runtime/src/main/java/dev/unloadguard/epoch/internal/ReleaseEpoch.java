package dev.unloadguard.epoch.internal;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.lang.ref.WeakReference;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import dev.unloadguard.epoch.BarrierOutcome;

/**
 * A release epoch: a sleepable read-copy-update (SRCU) domain, the JVM twin of the kernel's
 * {@code DEFINE_STATIC_SRCU(drm_dev_release_srcu)}. There is one per plugin generation (and one
 * per registered foreign plugin loader), made by the host, never by plugin code: this package is
 * internal and plugin class loaders do not delegate it. Readers bracket code that must not outlive
 * a plugin (its release callbacks) with {@link #enter()} and {@link #exit(int)}; the unloading
 * host calls {@link #barrier()} ({@code synchronize_srcu}) before it closes the plugin's class
 * loader:
 *
 * <pre> {@code
 * int token = epoch.enter();          // srcu_read_lock
 * try {
 *     callback.release(object);       // may block, may nest further enter/exit pairs
 * } finally {
 *     epoch.exit(token);              // srcu_read_unlock
 * }
 *
 * // unloading thread, after the plugin's live-device count reached zero:
 * epoch.barrier();                    // synchronize_srcu
 * loader.close();}</pre>
 *
 * <p><b>Guarantees.</b> (G1) A barrier returns only after every reader section whose
 * {@code enter()} happened-before the barrier's call has exited. (G2) Everything such a section
 * did happens-before the barrier returns, so the caller may tear down what the section used.
 * (G3) For any other reader section, racing with the barrier, either the barrier waits for it
 * too, or the section sees everything the caller did before calling the barrier (for example a
 * GOING state written before the barrier). (G4) Readers never starve a barrier: sections that
 * begin after the barrier began are not waited for. Sections nest, on one thread, to any depth;
 * they must be exited on the thread that entered them, innermost first, with the token its enter
 * returned.
 *
 * <p><b>Tokens.</b> A token names one section: {@code depth << 1 | index}, the nesting depth the
 * section opened at and the index the thread's outermost section counted on. {@code exit} accepts
 * only the token of the calling thread's innermost open section in this epoch; any other token
 * (used twice, from another thread, from another section, from another epoch, made up) is
 * rejected with {@link IllegalStateException} before any counter changes. So a section can only
 * be closed by the code that opened it (a plugin's woven code only ever reaches its own plugin's
 * epoch), and no mistake of one plugin can end another plugin's section.
 *
 * <p><b>Nesting: only the outermost section counts.</b> With the agent guarding every entry into a
 * plugin, every call from plugin code to plugin code is a nested section, so a nested section must
 * cost no more than a depth check: {@code enter} on a thread already inside ({@code depth > 0})
 * only increments the depth, and {@code exit} of a nested section only decrements it. No counter,
 * no fence. This is enough: the outermost section was counted on its index before any nested one
 * opened and is exited after all of them closed, so every barrier that must wait for a nested
 * section (G1) waits for the outermost one, and a barrier that began after the outermost one
 * entered need not wait for either (G4). The counters therefore count outermost sections, and a
 * cell's {@code unlock[i] <= lock[i]} (the unlocks-first argument below) still holds.
 *
 * <p><b>The gate (the kernel's {@code MODULE_STATE_GOING} for {@code try_module_get}).</b> An
 * entry into plugin code that the host may refuse ({@link #enterEntry}, woven into every method
 * of a plugin the agent guards completely) reads the gate after fence B of its outermost section;
 * the unloading host closes the gate ({@link #closeGate}) before its barrier. Store buffering
 * again, with B against the barrier's E and A: either the barrier counts the entry and waits for
 * it, or the entry sees the closed gate and is refused (its section is closed at once with an
 * unlock, so the barrier never waits for it). An entry is never both missed and let in. Nested
 * entries do not look at the gate: code already inside runs to its end. The unloading thread is
 * exempt (it calls the driver's {@code exit()}), and {@link #enter()} never looks at the gate:
 * release paths must run so devices can drain.
 *
 * <p><b>The crossing probe (the test kit's unload-point fuzzing).</b> A test may install a probe
 * ({@link #probeCrossings}) that counts <em>crossings</em>, the outermost gated entries from
 * outside into the plugin, and tells a listener each one's ordinal, so a test can start an unload
 * at exactly the k-th crossing. It costs nothing when unused: the probe is an open
 * {@code Gate} that carries it, stored in the same {@code gate} field, so an outermost gated entry
 * still reads the gate once and compares it with {@code null}; only a non-null gate (closed, or
 * probing) takes the out-of-line slow path, which tells the two apart. Nested entries and
 * {@link #enter()} never read the gate. The listener runs after fence B and the gate read, inside
 * the counted section: an unload it starts (on another thread) either waits for that section in
 * its barrier or, if the section has exited by then, refuses the entries that follow once it
 * closed the gate. Probes are installed and removed with a CAS from and to {@code null}, so a
 * probe never replaces a closed gate; closing the gate replaces the probing gate (the probe
 * ends: crossings after GOING are refusals, not crossings). {@link #gateClosed()} is false
 * while a probe is installed.
 *
 * <p><b>Data.</b> A flip counter whose low bit is the <em>active index</em>, and one
 * {@code Cell} per thread that ever entered (a {@link ThreadLocal} created on the thread's
 * first {@code enter()}, registered in the epoch's array of cells, which sweeps keep to the
 * threads that may be inside: see "Idle and dead threads"). A cell holds, for each of
 * the two indexes, an increment-only {@code lock} and {@code unlock} counter, plus its thread's
 * nesting depth, the index of its outermost open section, a weak reference to its thread and
 * the sweep's {@code detached} mark. Only the owner thread writes a cell's counters, so a
 * reader never writes a cache line another thread writes (cells are padded on both sides
 * against false sharing), and enter/exit take no lock and allocate nothing after the first
 * enter, except the first outermost enter after a sweep detached the thread's cell, which puts
 * it back under the cells lock (and publishes a new array view). This is {@code srcu_data}'s per-CPU {@code srcu_lock_count[2]}/{@code
 * srcu_unlock_count[2]}, per thread instead of per CPU: a thread cannot migrate between cells.
 *
 * <p><b>Finding the own cell.</b> A {@link ThreadLocal} lookup (a hash probe and a weak-reference
 * read, which the JIT cannot hoist or merge) costs more than the depth check it leads to, and
 * every enter and exit needs the cell. So each epoch also has a small direct-mapped table
 * {@code fast}, one slot per masked thread id ({@code id & FAST_MASK}), holding the cell of one
 * thread with that masked id. {@code enter} and {@code exit} first read the slot of the current
 * thread and use the cell found there only if its weak {@code owner} refers to
 * {@link Thread#currentThread()} ({@code Reference.refersTo}: an identity compare that, unlike
 * {@code get()}, does not keep the referent alive, so it needs no GC barrier). The id is only an
 * index: an id that lies (a subclass overriding {@code getId()}) or two ids that share a slot can
 * only cost a miss, never hand a thread another thread's cell. On a miss they take the
 * thread-local path as before. A registering thread takes its slot (the newest thread wins a
 * shared slot; the older one keeps working through its thread local), and a thread that missed
 * on an empty slot takes it with a CAS. The table holds cells, and cells hold their thread only
 * weakly, so a slot never keeps a thread reachable; dropping the cell of a thread that died
 * inside (race (iv)) also clears its slot with a CAS, so the cell goes too. A cell that a sweep
 * detached stays in its slot (it is its thread's, which may enter again), so each slot may keep
 * one dead thread's cell (not the thread) until another thread of that slot registers. The
 * table changes nothing the barrier reads: counters, fences, the index, the gate and the cell
 * array are as described below.
 *
 * <p><b>Balanced sections: the cell kept.</b> Code woven by the agent's byte-level weaver opens
 * one section per method body and exits it before every return and in a catch-all handler, so
 * its exit always closes the thread's innermost section and the cell its enter found is the one
 * the exit needs. {@link #enterCell()} and {@link #enterEntryCell(String)} return that cell (as an
 * {@code Object}: the class is private, plugin code can only pass it back), the woven code keeps
 * it in a local, and {@link #exitCell(Object)} takes it back: a nested section then finds its
 * cell once instead of twice. Every counter write, fence and pairing is that of {@code enter},
 * {@code enterEntry} and {@code exit}; the exit only skips the lookup. Two details are for the
 * JIT, which inlines enter and exit into the woven method: the depth is written once more after
 * the join of the outermost and the nested path (the outermost path wrote it already; writing
 * the same value again changes nothing), and {@code exitCell} writes it after its unlock rather
 * than before. A path with a fence or a release store ends what the compiled code may assume
 * about memory, so a depth written before such a join must be read back from memory by the next
 * exit or enter, a store-to-load chain on every nested call; written after the join, it reaches
 * the next read in a register. The depth is the owner's plain field, read by the barrier side
 * only in diagnostics ({@link #threadsInside()}, the dead-thread warning), which may see the old
 * value for that instant, as they may see any racy value. And the woven code's epoch constant
 * (a record, whose fields the JIT trusts) hands the enter the fast-path table too
 * ({@link #fastSlots()}), so the table and its length fold to constants. It does not skip the
 * owner check: a cell handed to another thread (never by the woven code; by hostile or buggy
 * code that got hold of the local's value) would let two threads write one cell's depth and
 * counters, and the single-writer rule is what lets every counter use a plain read and an
 * opaque or release store. So {@code exitCell} compares the cell's weak {@code owner} with
 * {@link Thread#currentThread()} ({@code refersTo}, an identity compare, no lookup) and refuses a
 * foreign cell with {@link IllegalStateException}, changing nothing (its cost, measured in
 * docs/performance.md, "Every entry guarded": a fraction of a nanosecond per nested call, within
 * the target). A cell can only reach plugin code through an enter of that plugin's own epoch,
 * so it gives plugin code no power over another plugin's epoch, and the sections it can close
 * with it are its own, as with {@code exit}.
 *
 * <ul>
 * <li>{@code enter()}, outermost: read the active index {@code i}; {@code lock[i]++} on the own
 *     cell; full fence <b>B</b>; if a sweep marked the cell {@code detached}, put it back into
 *     the array ("Idle and dead threads"); {@code depth = 1}, remember {@code i}; return
 *     {@code 1 << 1 | i}.
 *     Nested: {@code depth++}; return {@code depth << 1 | i}.
 * <li>{@code exit(t)}: check that {@code t} is the innermost section's token; {@code depth--};
 *     if that closed the outermost section, {@code unlock[i]++} on the own cell, a release store.
 * <li>{@code barrier()}: serialized by a lock. Fence <b>E</b>; sweep the cell array ("Idle and
 *     dead threads"). (1) Wait until the <em>inactive</em> index
 *     drains. (2) Flip: increment the flip counter, so new sections use the other index; full
 *     fence <b>D</b>. (3) Wait until the formerly active index drains.
 * <li><em>Drains</em> ({@code srcu_readers_active_idx_check}): take one snapshot of the cell
 *     array; {@code U} = sum of {@code unlock[i]} over it (acquire loads); full fence <b>A</b>;
 *     {@code L} = sum of {@code lock[i]} over it; drained iff {@code L == U}.
 * </ul>
 *
 * <p><b>Why the counters only grow, and why unlocks are summed first.</b> A drain check
 * cannot read all cells at one instant; it reads them one after another while readers come
 * and go. With a single up/down count per index, a check could count a section's {@code -1}
 * without its {@code +1} and see a false zero. With increment-only counters and the unlock sum
 * taken <em>before</em> the lock sum, a check never counts an exit without the matching enter:
 * the acquire load that sees a cell's {@code u}-th unlock increment synchronizes with the
 * release store that wrote it, and on the owner thread at least {@code u} lock increments on
 * that index preceded it ({@code exit} accepts only the innermost open section's token, so
 * {@code unlock[i] <= lock[i]} always holds in a cell); those increments happen-before the
 * check's later lock load, which must see them. So for every cell in the snapshot, the
 * {@code lock} value read is at least the {@code unlock} value read, and {@code L == U} holds
 * only if it holds cell by cell: each cell's thread had, at the moment of the last unlock the
 * check saw, exactly as many enters as exits on that index, that is, no open section on it.
 * Readers that enter between the two sums only make {@code L} larger, which can only make the
 * check fail (try again later), never succeed falsely. Summing locks first would break this: a
 * section entered after its cell's lock was read and exited before its unlock was read adds
 * one to {@code U} only, and can cancel out a section still inside elsewhere. (The kernel's
 * argument, for per-CPU counters that one section may increment on two different CPUs, is the
 * same with sums instead of cells; it needs the unlocks-first order for the same reason.)
 *
 * <p><b>Races.</b> The enter path reads the index and increments a counter as two separate
 * steps, and a barrier runs concurrently with any number of readers. There are four races.
 * <ol type="i">
 * <li><em>A stale index.</em> A reader reads index {@code i}, is descheduled, and increments
 *     {@code lock[i]} only after a barrier flipped the index to {@code j} and found {@code i}
 *     drained. That barrier rightly did not wait for it (its enter had not returned when the
 *     barrier checked, and by (G3), fences B and A, it sees what the barrier's caller wrote
 *     before). But the reader is now inside on the <em>inactive</em> index {@code i}. If the
 *     next barrier only flipped and waited for the then-active {@code j}, it would make
 *     {@code i} active again and return without waiting for this reader, even though it
 *     entered long before. This is why every barrier first waits for the inactive index to
 *     drain (step 1), as {@code srcu_gp_start}'s SCAN1 does: afterwards no section is open on
 *     it, so flipping it active is safe, and step 3 waits for everything else.
 * <li><em>Readers that never stop.</em> A stream of new sections cannot keep an index from
 *     draining: after the flip (a volatile write, then fence D) every enter that reads the
 *     index later in the synchronization order gets the other index. A thread that read the
 *     old index just before the flip adds at most one late section to it; fences B (after that
 *     late lock increment) and D (after the flip) form a store-buffering pair, so either the
 *     check sees the late increment and waits for its exit, or the thread's next enter sees
 *     the flip. So the old index only loses sections, and the barrier returns as soon as the
 *     sections that were already inside exit. Sections started after the flip are never waited
 *     for (G4).
 * <li><em>Cells registered, detached or put back during a check.</em> Each drain check takes one
 *     snapshot of the cell array (a volatile read) and sums both counters over that same
 *     snapshot. Two reads of the array could differ by cells registered or detached in between,
 *     and a cell counted in {@code U} but not in {@code L} would void the unlocks-first argument
 *     (a detached cell's unlocks would cancel a section still inside). A cell missing from the
 *     snapshot was published (a volatile write) after the snapshot's read in the synchronization
 *     order; its thread reads the index (a volatile read) after publishing its cell, so it reads it
 *     after the snapshot too: during step 1 it gets the active index (only this barrier can flip,
 *     and it has not yet), during step 3 the new index (the flip precedes the snapshot). Either
 *     way the missed thread has no section on the index being drained; it is a new reader (G4).
 *     A cell a sweep detached, or that is being put back, is the subject of "Idle and dead
 *     threads" below. Publishing never writes a slot of the array below a published size, so a
 *     snapshot's prefix never changes under a check.
 * <li><em>Threads that die.</em> Millions of short-lived (virtual) threads each leave a cell. A
 *     dead thread that exited all its sections left a balanced cell, which a sweep detaches like
 *     an idle thread's: the sweep need not know the thread is dead, and nothing else refers to the
 *     cell but (perhaps) its fast-path slot. A thread can only die <em>inside</em> a section if an
 *     enter was never matched by an exit (hand-written code without {@code finally}); its cell
 *     stays unbalanced, and would keep every later barrier waiting. A dead thread runs no more
 *     plugin code, so its sections are treated as exited: a sweep that finds an unbalanced cell
 *     whose thread is dead (the weak reference cleared, or {@code isAlive()} false, which
 *     happens-after everything the thread did) drops it from the array and logs a warning naming
 *     the thread. Barriers sweep when they start and every few parks while they wait, so a
 *     barrier waiting for a thread that dies inside returns soon after.
 * </ol>
 *
 * <p><b>Idle and dead threads: the sweep.</b> A barrier reads every cell of the array four
 * times (two checks of two sums), so its cost is the array's size, and most threads that ever
 * entered are idle (alive and outside: a pool thread between tasks, a parked virtual thread) or
 * dead. Their cells are <em>balanced</em>, {@code lock[i] == unlock[i]} on both indexes, and add
 * the same to {@code L} as to {@code U}: a check may leave them out, provided their threads
 * cannot enter unseen. A <em>sweep</em> (under the cells lock) takes them out of the array:
 * <ol>
 * <li>read each cell's unlocks (acquire), then its locks, as a check does; a cell whose two
 *     pairs are equal had no open section when its unlocks were read;
 * <li>mark each such cell {@code detached}; full fence <b>F</b>;
 * <li>read their locks again: a cell whose lock changed since step 1 has a thread that entered
 *     meanwhile; it is unmarked and stays. The others are left out of the new array, published
 *     as a registration publishes (never writing the old one).
 * </ol>
 * An outermost {@code enter} reads its own cell's mark after fence B; if it is set, the thread
 * puts its cell back before the section's first load ({@code attachAgain}: under the cells lock,
 * appended, published and unmarked; then a full fence <b>R</b>). Store buffering again, B against
 * F: either the sweep's re-read sees the enter's lock increment (the cell stays) or the enter sees
 * the mark (the cell comes back); never neither. It follows that (a) no sweep detaches a cell
 * while a section whose enter returned is open on it (if that enter read no mark, any sweep that
 * marks the cell later sees its lock increment on the re-read, by the pair B/F, whatever step 1
 * read; if it read a mark, it went through the cells lock after its increment, and every later
 * sweep, which takes that lock, sees the increment in step 1), and (b) every enter on a detached
 * cell, however much later, sees the mark.
 *
 * <p>Why the checks stay sound. The unlocks-first argument is cell by cell over one snapshot, so
 * it holds for any set of cells: {@code L == U} still says that no cell of the snapshot has a
 * section open on the index. What needs showing is that no section a barrier must wait for sits
 * in a cell the snapshot left out, and that the others see the caller's writes. (G1) A section
 * whose enter returned before the barrier was called: its cell was in the array when the enter
 * returned (a returning thread publishes its cell before its enter returns), cannot be detached
 * while the section is open (a), and so is in every snapshot the barrier takes; the check sees its
 * lock increment, which happened-before. (G3) A section whose cell a check left out, counted on
 * the drained index after the sweep: its thread published the cell again and then fenced (R)
 * before its first load, while the barrier's caller wrote, fenced (E) and then read the array; as
 * for a new registration (race (iii)), either the snapshot has the cell or the section sees the
 * caller's writes. Such a section may count on an index it read before its cell was back, even
 * the index a running barrier is draining, and that barrier may miss it: its enter had not
 * returned when the barrier was called, so G1 does not ask for it, and every barrier called after
 * its enter returned finds the cell, on both of its checks (race (i)). Race (ii) is unchanged: a
 * returning thread adds at most one late section to the old index, like any other.
 *
 * <p>No counts are moved anywhere (no retired totals), so none can be lost or counted twice: a
 * detached cell keeps its own counts, is balanced, and adds exactly 0 to {@code L - U} whether
 * a check's snapshot holds it (taken before the sweep published) or not; when it comes back its
 * counts come with it, still balanced but for the section that brought it back. Nothing scans
 * every cell to find dead threads (no {@code isAlive()} per cell, no {@link java.lang.ref.ReferenceQueue}):
 * a dead thread's balanced cell is just an idle cell that never comes back; {@code isDead()} is
 * asked only of unbalanced cells, the few whose threads are inside (race (iv)).
 *
 * <p>When sweeps run: when a barrier starts (after E), every {@code SWEEP_EVERY_PARKS} parks of a
 * waiting barrier, and when a registration (or a cell coming back) finds the array full. A
 * barrier sweeps only if the array is not empty and the cells lock is free ({@code tryLock}): it
 * never waits for a reader's slow path (a reader descheduled while it holds the lock would
 * otherwise add a scheduler quantum to the barrier), and a skipped sweep only leaves more cells to
 * read, which the next one takes out. A swept
 * array gets room for as many cells again as it kept (at least {@code MIN_CELL_CAPACITY}), so a
 * sweep of {@code n} cells follows at least {@code n / 2} appends: O(1) amortised per
 * registration, and the array's size follows the threads that were inside at the last sweep
 * (times two, plus 16), not the threads that ever entered, with or without barriers. A barrier
 * then reads only the cells of threads that were inside at the last sweep or entered since.
 * Readers pay nothing on nested enters and exits; an outermost enter reads its own cell's mark,
 * on the line it has just written (fence B has already made it wait for that store). A sweep
 * writes the mark of an idle thread's cell once per detach, and the thread takes the cells lock
 * once on its next outermost enter: at most once per sweep, that is per barrier or array fill.
 * Readers still never write a shared line on their fast path.
 *
 * <p><b>Memory ordering, access by access.</b>
 * <ul>
 * <li><em>Index read</em> in {@code enter} (volatile): part of the synchronization order, which
 *     race (iii) uses; a plain load on x86, {@code ldar} on AArch64.
 * <li><em>{@code lock[i]++}</em> in {@code enter}: single writer, so plain read plus an opaque
 *     store (atomic, never torn, but no ordering by itself); fence B orders it.
 * <li><em>Fence B</em> (full fence, {@code smp_mb()} B in {@code srcu_read_lock}): orders the
 *     lock increment before every load of the section. Pairs with fence A (and with D, race
 *     (ii), and with the fence that opens a barrier, E): store-buffering, so either the
 *     barrier's lock load sees the increment or the section's loads see the caller's writes
 *     from before the barrier (G3). A release store would not do: it does not order a store
 *     before later loads.
 * <li><em>{@code unlock[i]++}</em> in {@code exit}: a release store. The kernel needs
 *     {@code smp_mb()} C here; in the JMM a release store suffices because the barrier reads the
 *     unlock counters with acquire loads: the load that sees the increment synchronizes with
 *     it, so everything the section did (its loads and its stores) happens-before the barrier
 *     returns, and nothing the caller does after the barrier can be seen by the section (G2).
 * <li><em>Unlock loads</em> in the check: acquire, pairing with that release store.
 * <li><em>Fence A</em> (full fence, {@code smp_mb()} A in the check): orders the unlock loads
 *     before the lock loads (the unlocks-first argument needs the lock loads to come later) and
 *     pairs with B (G3). <em>Lock loads</em> after it are opaque: the fence orders them, and
 *     happens-before consistency forbids them to miss an increment that happened-before.
 * <li><em>Fence E</em> (full fence when a barrier starts, after it holds the lock): orders the
 *     caller's earlier writes before the barrier's first snapshot and counter loads. Pairs with
 *     B: a reader whose cell a check missed (race (iii)) published it before fence B, so it
 *     sees the caller's writes (G3).
 * <li><em>Flip</em> (a volatile add) then <em>fence D</em> ({@code smp_mb()} D after
 *     {@code srcu_flip}): the flip happens before every later check of step 3; pairs with B
 *     for race (ii) and (G3).
 * <li><em>E and D are belt and braces.</em> Fence A stands between every barrier-side store and
 *     the lock loads of every drain check, so with A in place removing E alone or D alone cannot
 *     produce a forbidden outcome (the litmus tests show the copies without only E or only D stay
 *     clean, and find the forbidden outcome once A goes too). They are kept because each states
 *     at its own place which store must be ordered before which loads, as the kernel's
 *     {@code srcu_flip} does, and because they cost nothing next to a barrier's parking.
 * <li><em>Sweep</em>: counters read as a check reads them (acquire unlocks, then opaque locks);
 *     the {@code detached} marks stored opaquely, then <em>fence F</em> (full): orders the marks
 *     before the locks' opaque re-reads and pairs with B (store buffering, "Idle and dead
 *     threads"). A plain or release store would not do, for the reason given for B; with F
 *     deleted, {@code ReleaseEpochSweepLitmusTest} finds a reader inside whose cell is out.
 * <li><em>Mark read</em> in an outermost {@code enter}: opaque, after B, which orders it after the
 *     lock increment. A stale 1 only costs the slow path, which reads the mark again under the
 *     cells lock, ordered after the sweep that wrote it; unmarking happens under that lock too.
 * <li><em>Gate read</em> in an outermost {@code enterEntry}: volatile, after fence B, which
 *     orders it after the section's lock increment; pairs with the unloading thread's volatile
 *     store of the closed gate, made before its barrier's fence E (see "The gate"). A probing gate
 *     is stored the same way (a CAS from {@code null}, removed by a CAS back to {@code null}, so
 *     neither can overwrite a closed gate, which is only ever replaced by another closed gate);
 *     its crossing counter is an atomic increment, so ordinals are distinct and gapless across
 *     threads. An entry that reads a probing gate is an open gate's entry: nothing is refused.
 * <li><em>Fence R</em> (full, after a cell is put back): orders the array's publication before
 *     the section's loads; pairs with E as a registration's publication does (race (iii)).
 * <li><em>Cell array</em>: published with a volatile store under a small lock, read with a
 *     volatile load per check; the slot written before the store is seen by every check that
 *     reads a size covering it.
 * <li><em>Fast-path slot</em> (an element of {@code fast}): read with a plain load, written with
 *     a release store (registration) or a CAS (a thread taking an empty slot, dropping a dead
 *     thread's cell). The plain load is enough because a cell found there is used only by its
 *     own thread: its {@code owner} (a final field) refers to the current thread only if the
 *     current thread created it, so everything the thread then reads in it (depth, index,
 *     counters) it wrote itself, in program order; any other cell it may read (stale, another
 *     thread's, {@code null}) fails the check and sends it to the thread-local path. The release
 *     store is not needed by that argument; it publishes the cell fully to any thread that loads
 *     the slot, so no reader ever looks at a cell under construction, and costs nothing on x86.
 * <li><em>{@code owner.refersTo}</em> in the check: final field, then the referent compared
 *     without a read barrier; a cleared reference (a dead thread) never matches a live thread.
 *     {@code exitCell} makes the same check on the cell it is given, so a cell it accepts is the
 *     calling thread's own, which it created and alone writes: the plain depth read and the
 *     release store of the unlock are then those of {@code exit}, paired the same way. The cell
 *     reaches the exit through a local of the same thread's frame, so no publication is
 *     involved. The table {@link #fastSlots()} hands out is {@code fast} itself, reached through a
 *     final field of the epoch constant instead of this epoch's: its slots are read and written
 *     as above.
 * <li><em>Depth</em>: plain, owner only; {@link #threadsInside()} reads other threads' depths
 *     with opaque loads, a racy diagnostic. Barrier state (the flip counter's value, whose
 *     writes are serialized) is guarded by the barrier lock.
 * </ul>
 *
 * <p><b>Waiting.</b> A barrier that finds its index not drained spins briefly with
 * {@link Thread#onSpinWait()} (sections are usually short), then yields a few times, then
 * parks with a backoff that grows to {@code PARK_MAX_NANOS} (500 µs: about 2,000 checks a second,
 * a few percent of one core), so it does not burn a core and still notices the last exit within a
 * millisecond (park overshoot included). No reader ever wakes a barrier:
 * that keeps {@code exit} to one store. A barrier that had to wait for the barrier lock (another
 * barrier of the same epoch was running) reports {@link BarrierOutcome#WAITED} too. The untimed {@link #barrier()} is not interruptible,
 * like {@code synchronize_srcu}: an interrupt neither ends it nor is lost (the thread's
 * interrupt status is set again when it returns). The timed {@link #barrier(Duration)} handles
 * interrupts the same way and is bounded by its timeout, which includes waiting for a barrier
 * already running on another thread. A timed barrier that times out leaves the epoch
 * consistent: it either did not flip, or it flipped and left sections open on the now inactive
 * index, which the next barrier's step 1 waits for, as in race (i).
 *
 * <p><b>Deadlock.</b> A barrier called by a thread inside this epoch would wait for itself
 * (what lockdep reports for {@code synchronize_srcu} inside its own read section): it throws
 * {@link IllegalStateException} instead. A thread that waits, inside the epoch, for another
 * thread's barrier still deadlocks that barrier; the timed barrier and
 * {@link #threadsInside()} are there to diagnose it.
 *
 * <p>Counters are {@code long}s: at a billion sections a second they wrap after centuries.
 *
 * @see <a href="https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git/tree/kernel/rcu/srcutree.c">kernel/rcu/srcutree.c</a>
 */
public final class ReleaseEpoch {

    /** Smallest capacity of the cell array; also the bound tests use for the array's size. */
    static final int MIN_CELL_CAPACITY = 16;
    /** Drain checks separated by {@link Thread#onSpinWait()} before a barrier yields. */
    private static final int SPINS = 256;
    /** Drain checks separated by {@link Thread#yield()} before a barrier parks. */
    private static final int YIELDS = 8;
    /** First park of a waiting barrier. */
    private static final long PARK_MIN_NANOS = 8_000L;
    /** Longest park of a waiting barrier: bounds how late it notices the last exit. */
    static final long PARK_MAX_NANOS = 500_000L;
    /** Slots of the fast path to a thread's own cell (a power of two): see "Finding the own cell". */
    static final int FAST_SLOTS = 128;
    static final int FAST_MASK = FAST_SLOTS - 1;
    /** A waiting barrier sweeps the cell array (idle and dead threads) every this many parks. */
    private static final int SWEEP_EVERY_PARKS = 8;

    /** Flip count: its low bit is the active index. Written by barriers (under the lock) only. */
    private volatile int flips;
    /** The cells of all threads that entered and were not found dead yet. */
    private volatile CellArray cellArray = new CellArray(new Cell[MIN_CELL_CAPACITY], 0);
    /** This thread's cell; {@code null} until its first enter. */
    private final ThreadLocal<Cell> myCell = new ThreadLocal<>();
    /**
     * The fast path to this thread's cell ("Finding the own cell"): slot {@code id & FAST_MASK}
     * holds the cell of a thread with that masked id, a hint checked with {@code owner.refersTo}.
     * Slots are written with a release store or a CAS, read plainly.
     */
    private final Cell[] fast = new Cell[FAST_SLOTS];
    /** Serializes barriers. */
    private final ReentrantLock barrierLock = new ReentrantLock();
    /** Serializes changes of the cell array (registration, dropping dead cells). */
    private final ReentrantLock cellsLock = new ReentrantLock();

    private static final VarHandle FLIPS;
    private static final VarHandle CELL_ARRAY;
    private static final VarHandle GATE;
    private static final VarHandle LOCK0;
    private static final VarHandle LOCK1;
    private static final VarHandle UNLOCK0;
    private static final VarHandle UNLOCK1;
    private static final VarHandle DEPTH;
    private static final VarHandle DETACHED;
    private static final VarHandle FAST = MethodHandles.arrayElementVarHandle(Cell[].class);

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            FLIPS = l.findVarHandle(ReleaseEpoch.class, "flips", int.class);
            CELL_ARRAY = l.findVarHandle(ReleaseEpoch.class, "cellArray", CellArray.class);
            GATE = l.findVarHandle(ReleaseEpoch.class, "gate", Gate.class);
            LOCK0 = l.findVarHandle(CellFields.class, "lock0", long.class);
            LOCK1 = l.findVarHandle(CellFields.class, "lock1", long.class);
            UNLOCK0 = l.findVarHandle(CellFields.class, "unlock0", long.class);
            UNLOCK1 = l.findVarHandle(CellFields.class, "unlock1", long.class);
            DEPTH = l.findVarHandle(CellFields.class, "depth", int.class);
            DETACHED = l.findVarHandle(CellFields.class, "detached", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** What this epoch belongs to, for reports: {@code "plugin xe generation 3"}. */
    private volatile String name;
    /** Whether the agent weaves every entry into the plugin into this epoch, not only release paths. */
    private final boolean guardsEntries;
    /**
     * {@code null} while the plugin takes new entries and no crossing probe is installed; a
     * closed gate once its unload starts (GOING), replaced, never cleared, by a retry or when it
     * is unloaded. An open gate with a {@link Gate#probe} while a probe counts crossings
     * ({@link #probeCrossings}), until the probe is removed or the gate closes. Volatile: read by
     * {@link #enterEntry} after fence B, written by the unloading thread before its barrier;
     * probes are installed and removed with a CAS, so they never replace a closed gate.
     */
    private volatile Gate gate;
    private final AtomicLong refused = new AtomicLong();
    private volatile Consumer<String> refusalListener;

    /**
     * A closed gate: whose plugin, since when, which thread may still enter (the unloader),
     * unloaded when. Or an open gate that only carries a crossing probe ({@link #probe} not null,
     * the other fields unused): every gated outermost entry passes and is counted.
     */
    private static final class Gate {
        final String pluginId;
        final int generation;
        final Thread unloader;
        final Instant since;
        final Instant unloadedAt;
        /** Non-null only in an open probing gate. */
        final Probe probe;

        Gate(String pluginId, int generation, Thread unloader, Instant since, Instant unloadedAt) {
            this.pluginId = pluginId;
            this.generation = generation;
            this.unloader = unloader;
            this.since = since;
            this.unloadedAt = unloadedAt;
            this.probe = null;
        }

        Gate(Probe probe) {
            this.pluginId = null;
            this.generation = 0;
            this.unloader = null;
            this.since = null;
            this.unloadedAt = null;
            this.probe = probe;
        }

        /** This gate if it is closed, {@code null} if it is open (a probing gate is open). */
        static Gate closed(Gate g) {
            return g == null || g.probe != null ? null : g;
        }
    }

    /**
     * Told about each crossing while a probe is installed ({@link #probeCrossings}): an outermost
     * gated entry ({@link #enterEntry}) from outside the plugin, that is, non-plugin code (a host
     * thread, another plugin, a thread outside any section of this epoch) entering this plugin's
     * code through a method the agent guards as an entry.
     */
    @FunctionalInterface
    public interface CrossingListener {
        /**
         * Called on the crossing thread, inside the section the entry just opened (counted, after
         * fence B and the gate read: a barrier that starts now waits for it), before any of the
         * entered method's code runs. It must not call this epoch's barrier (the thread is inside:
         * the barrier throws) nor wait for one; to unload the plugin at this crossing, start the
         * unload on another thread. What it throws is logged and ignored: the entry goes on.
         *
         * @param ordinal 1 for the first crossing since the probe was installed, then 2, 3, ...
         *     (across all threads: one counter per probe)
         * @param method the method entered, as refusals name it
         */
        void crossed(long ordinal, String method);
    }

    /** A crossing probe: its counter and listener. */
    private static final class Probe {
        final AtomicLong crossings = new AtomicLong();
        final CrossingListener listener;

        Probe(CrossingListener listener) {
            this.listener = listener;
        }
    }

    /** An epoch named {@code "release epoch"} (tests, benchmarks), release paths only. */
    public ReleaseEpoch() {
        this("release epoch");
    }

    /** An epoch for {@code name}: what it belongs to, as reports should say it. Release paths only. */
    public ReleaseEpoch(String name) {
        this(name, false);
    }

    /**
     * An epoch for {@code name}.
     *
     * @param guardsEntries whether the agent weaves every entry into the plugin's code into this
     *     epoch (and the gate refuses new ones once the plugin is GOING), not only its release paths
     */
    public ReleaseEpoch(String name, boolean guardsEntries) {
        this.name = Objects.requireNonNull(name, "name");
        this.guardsEntries = guardsEntries;
    }

    /** Whether every entry into the plugin is a section of this epoch, not only its release paths. */
    public boolean guardsEntries() {
        return guardsEntries;
    }

    /**
     * Closes the gate: the plugin is GOING. From now on an outermost {@link #enterEntry} on any
     * thread but {@code unloader} is refused; sections already open run to their end, and
     * {@link #enter()} (release paths, clean-up entries) is never refused. Idempotent; a retried
     * unload passes its own thread, and {@code null} drops the exemption (an unload that failed
     * and left the plugin GOING). The caller's barrier, which comes later, pairs with the entry's
     * fence B: an entry either sees the closed gate or is waited for.
     */
    public void closeGate(String pluginId, int generation, Thread unloader) {
        Objects.requireNonNull(pluginId, "pluginId");
        Gate g = Gate.closed(gate);                      // a probing gate is open: it is replaced, its probe ends
        gate = new Gate(pluginId, generation, unloader, g == null ? Instant.now() : g.since, null);
    }

    /** Records that the plugin's class loader was closed at {@code at}: refusals say "was unloaded". No exemption. */
    public void markUnloaded(Instant at) {
        Objects.requireNonNull(at, "at");
        Gate g = Gate.closed(gate);
        gate = g == null ? new Gate(name, 0, null, at, at) : new Gate(g.pluginId, g.generation, null, g.since, at);
    }

    /** Whether the gate is closed (the plugin is GOING or unloaded). */
    public boolean gateClosed() {
        return Gate.closed(gate) != null;
    }

    /**
     * Installs a crossing probe: from now until {@link #stopProbing()} or the gate closes
     * ({@link #closeGate}, which replaces the probing gate), every crossing into the plugin (an
     * outermost {@link #enterEntry} on any thread, see {@link CrossingListener}) is counted and
     * reported to {@code listener} with its ordinal. For tests (the test kit's unload-point
     * fuzzing): the probe lives in the gate field that every outermost gated entry reads anyway,
     * so an epoch without a probe pays nothing for it (the entry's fast path stays one read of
     * the gate and a null check); with one, each outermost gated entry takes the slow path (a
     * counter increment and the listener). Nested entries and {@link #enter()} never see it.
     *
     * @throws IllegalStateException if the gate is closed (the plugin is unloading or unloaded),
     *     or a probe is installed already
     */
    public void probeCrossings(CrossingListener listener) {
        Objects.requireNonNull(listener, "listener");
        Gate probing = new Gate(new Probe(listener));
        if (!GATE.compareAndSet(this, (Gate) null, probing)) { // never replaces a closed gate, nor another probe
            Gate g = gate;
            throw new IllegalStateException(g != null && g.probe != null
                    ? "the " + this + " has a crossing probe already: stop it first"
                    : "the gate of the " + this + " is closed (the plugin is unloading or unloaded): no crossings to probe");
        }
    }

    /**
     * Removes the crossing probe, if one is installed and the gate is still open; a closed gate
     * stays closed.
     *
     * @return the crossings the probe counted, or -1 if no probe was installed (or the gate closed)
     */
    public long stopProbing() {
        Gate g = gate;
        if (g != null && g.probe != null && GATE.compareAndSet(this, g, (Gate) null)) {
            return g.probe.crossings.get();
        }
        return -1L;
    }

    /** The crossings the installed probe counted so far, or -1 if none is installed (or the gate closed). */
    public long crossings() {
        Gate g = gate;
        return g != null && g.probe != null ? g.probe.crossings.get() : -1L;
    }

    /** How many entries the gate refused. */
    public long refusedEntries() {
        return refused.get();
    }

    /**
     * Tells {@code listener} about every refused entry (with the method's name), on the refusing
     * thread, after counting it and before throwing. What the listener throws is ignored.
     */
    public void onRefusedEntry(Consumer<String> listener) {
        this.refusalListener = listener;
    }

    /** Counts a refused entry, tells the listener, and makes the error to throw. */
    private Error refuse(Gate g, String method) {
        refused.incrementAndGet();
        Consumer<String> listener = refusalListener;
        if (listener != null) {
            try {
                listener.accept(method);
            } catch (RuntimeException | Error e) {
                System.getLogger(ReleaseEpoch.class.getName()).log(System.Logger.Level.WARNING,
                        "the refused-entry listener of the " + this + " threw; ignored", e);
            }
        }
        return RefusedEntries.error(method, g.pluginId, g.generation, g.unloadedAt == null ? g.since : g.unloadedAt,
                g.unloadedAt != null);
    }

    /** What this epoch belongs to. */
    public String name() {
        return name;
    }

    /** Renames the epoch once what it belongs to is known (a plugin's id is known after its loader exists). */
    public void describeAs(String newName) {
        this.name = Objects.requireNonNull(newName, "name");
    }

    @Override
    public String toString() {
        return "release epoch of " + name;
    }

    /**
     * Enters a read section ({@code srcu_read_lock}) that is never refused: a release path, the
     * host's device core, a clean-up entry such as {@code hashCode}. Never blocks (except, once per
     * thread, briefly to register the thread's cell) and allocates nothing after the thread's first
     * enter. Sections nest; a nested section costs a depth check (see "Nesting").
     *
     * @return the token to pass to {@link #exit(int)}: the section's depth and index
     */
    public int enter() {
        Cell c = ownCell();
        int d = c.depth;
        if (d > 0) {
            return nest(c, d);
        }
        return enterOuter(c, readIndex());
    }

    /**
     * Enters a read section for an entry into plugin code that the gate may refuse: once the
     * gate is closed ({@link #closeGate}), an outermost entry (the thread is not inside this
     * epoch yet) on any thread but the unloading one throws {@code PluginUnloadedError} naming
     * {@code method}, counts it ({@link #refusedEntries()}), tells the listener
     * ({@link #onRefusedEntry}), and leaves no section open. A nested entry (the thread is already
     * inside: a call from plugin code to plugin code, or back into the plugin from a host callback
     * it made) is never refused and costs a depth check.
     *
     * @param method the method entered, as error messages should name it
     * @return the token to pass to {@link #exit(int)}
     */
    public int enterEntry(String method) {
        Cell c = ownCell();
        int d = c.depth;
        if (d > 0) {
            return nest(c, d);
        }
        int token = enterOuter(c, readIndex());
        Gate g = gate;                                   // volatile, after fence B: pairs with the barrier's E/A (G3)
        if (g != null) {                                 // closed, or probing: the fast path is this null check
            passGate(g, c, token, method);
        }
        return token;
    }

    /**
     * The slow path of an outermost gated entry through a gate that is not {@code null}: a
     * probing gate counts the crossing and tells its listener; a closed one refuses every thread
     * but the unloader. Out of line, so {@link #enterEntry} stays small enough to inline.
     */
    private void passGate(Gate g, Cell c, int token, String method) {
        Probe p = g.probe;
        if (p != null) {
            crossed(p, method != null ? method : RefusedEntries.enteredMethod());
            return;
        }
        if (g.unloader != Thread.currentThread()) {
            leaveRefused(c, token & 1);
            throw refuse(g, method != null ? method : RefusedEntries.enteredMethod());
        }
    }

    /** Counts a crossing and tells the probe's listener; never throws out (the section is open). */
    private void crossed(Probe p, String method) {
        long ordinal = p.crossings.incrementAndGet();
        try {
            p.listener.crossed(ordinal, method);
        } catch (RuntimeException | Error e) {
            System.getLogger(ReleaseEpoch.class.getName()).log(System.Logger.Level.WARNING,
                    "the crossing listener of the " + this + " threw at crossing " + ordinal + "; ignored", e);
        }
    }

    /**
     * This thread's cell, registered on its first enter: from its fast-path slot if the slot holds
     * it (see "Finding the own cell"), else from the thread local.
     */
    private Cell ownCell() {
        return ownCell(fast);
    }

    /** {@link #ownCell()} through {@code table}, which is {@link #fast} (see {@link #fastSlots()}). */
    private Cell ownCell(Cell[] table) {
        Thread t = Thread.currentThread();
        int i = slot(t);
        Cell c = table[i];                               // plain: a hint, checked on the next line
        return c != null && c.owner.refersTo(t) ? c : ownCellSlow(i);
    }

    /**
     * The fast-path table ({@code fast}, "Finding the own cell"), as an opaque object for
     * {@link #enterCell(Object)} and {@link #enterEntryCell(Object, String)}: a holder whose field
     * the JIT trusts as a constant (the woven code's epoch constant, a record) keeps it next to the
     * epoch, so the JIT folds the table and its length instead of loading both on every enter
     * (this class's final fields are not trusted).
     */
    public Object fastSlots() {
        return fast;
    }

    /** {@code t}'s cell if its fast-path slot holds it, else {@code null}. */
    private Cell slotCell(Thread t) {
        Cell c = fast[slot(t)];                          // plain: a hint, checked on the next line
        return c != null && c.owner.refersTo(t) ? c : null; // identity, not the id: only the own cell matches
    }

    /** This thread's cell if it has one (never registers): from its fast-path slot, else the thread local. */
    private Cell registeredCell() {
        Cell c = slotCell(Thread.currentThread());
        return c != null ? c : myCell.get();             // the slot holds another thread's cell, or none
    }

    /** {@link #ownCell()} when the slot held another thread's cell or none: takes an empty slot. */
    private Cell ownCellSlow(int i) {
        Cell c = cell();
        if (fast[i] == null) {
            FAST.compareAndSet(fast, i, (Cell) null, c); // a CAS: never evicts a cell just put there
        }
        return c;
    }

    /** This thread's cell, registered on its first enter (published before the index read: race (iii)). */
    private Cell cell() {
        Cell c = myCell.get();
        return c != null ? c : register();
    }

    /** The fast-path slot of {@code t}: its id, masked. The id is only an index, never trusted. */
    static int slot(Thread t) {
        return (int) id(t) & FAST_MASK;
    }

    @SuppressWarnings("deprecation")                     // threadId() from Java 19 on; getId() is the same value
    private static long id(Thread t) {
        return t.getId();
    }

    /** Whether {@code t}'s fast-path slot holds {@code t}'s cell: for tests. */
    boolean slotHoldsCellOf(Thread t) {
        Cell c = (Cell) FAST.getVolatile(fast, slot(t));
        return c != null && c.owner.get() == t;
    }

    /** The active index: the first half of {@code enter}. Volatile: race (iii), (G3). */
    int readIndex() {
        return (int) FLIPS.getVolatile(this) & 1;
    }

    /**
     * The second half of {@code enter} with an index read earlier: tests call it with a stale
     * index to put a reader exactly into race (i) (descheduled between the two halves). Nested
     * sections ignore the index, as {@code enter} does.
     */
    int enterWithIndex(int idx) {
        Cell c = cell();
        int d = c.depth;
        if (d > 0) {
            return nest(c, d);
        }
        return enterOuter(c, idx & 1);
    }

    /** An outermost section: count it on {@code idx}, fence B, attached again if idle-detached, depth 1. */
    private int enterOuter(Cell c, int idx) {
        if (idx == 0) {
            LOCK0.setOpaque(c, c.lock0 + 1L);            // single writer: no read-modify-write needed
        } else {
            LOCK1.setOpaque(c, c.lock1 + 1L);
        }
        VarHandle.fullFence();                           // B: pairs with A, D, E and the detach fence F
        if ((int) DETACHED.getOpaque(c) != 0) {         // after B: either F's re-read saw our lock or we see this
            attachAgain(c, idx);
        }
        c.outerIndex = idx;
        c.depth = 1;
        return 1 << 1 | idx;
    }

    /** A nested section: the outermost one already keeps every barrier that must wait waiting. */
    private static int nest(Cell c, int d) {
        if (d >= MAX_DEPTH) {
            throw tooDeep();
        }
        c.depth = d + 1;
        return (d + 1) << 1 | c.outerIndex;
    }

    private static IllegalStateException tooDeep() {
        return new IllegalStateException("release epoch sections nested " + MAX_DEPTH + " deep on thread \""
                + Thread.currentThread().getName() + "\": runaway recursion or enter without exit");
    }

    /** Closes an outermost section the gate refused (it never ran code): balanced by an unlock, never a decrement. */
    private static void leaveRefused(Cell c, int idx) {
        c.depth = 0;
        if (idx == 0) {
            UNLOCK0.setRelease(c, c.unlock0 + 1L);
        } else {
            UNLOCK1.setRelease(c, c.unlock1 + 1L);
        }
    }

    /**
     * Exits the calling thread's innermost open section in this epoch
     * ({@code srcu_read_unlock}); {@code token} is what its {@code enter()} returned. Never
     * blocks.
     *
     * @throws IllegalStateException if {@code token} is not the token of this thread's innermost
     *         open section in this epoch (exited twice, from another thread or another epoch, or
     *         out of order); nothing is changed then
     */
    public void exit(int token) {
        Cell c = registeredCell();
        int d = c == null ? 0 : c.depth;
        if (d == 0 || (token >>> 1) != d || c.outerIndex != (token & 1)) {
            throw notInnermost(token, d, c);
        }
        c.depth = d - 1;
        if (d > 1) {
            return;                                      // nested: only the outermost section counts
        }
        if ((token & 1) == 0) {
            UNLOCK0.setRelease(c, c.unlock0 + 1L);       // pairs with the acquire unlock loads of drained()
        } else {
            UNLOCK1.setRelease(c, c.unlock1 + 1L);
        }
    }

    /*
     * Sections that keep the cell ("Balanced sections" in the class comment): the byte-level
     * weaver's sections are balanced by construction (one section per method body, exited before
     * every return and in a catch-all handler that covers the rest of the body), so the section a
     * body's exit closes is always the thread's innermost one and the cell its enter found is the
     * one the exit needs: the enter returns it and the woven code keeps it in a local until its
     * exits hand it back, so a section finds the thread's cell once, not twice. The cell is typed
     * Object outside this class: Cell is private, so plugin code can hold one but do nothing with
     * it but pass it back.
     */

    /**
     * {@link #enter()} for a balanced section that keeps its cell: the same effect, fences and
     * pairings; returns the calling thread's cell of this epoch, to be passed to
     * {@link #exitCell(Object)} by every exit of the section.
     */
    public Object enterCell() {
        return enterCell(fast);
    }

    /**
     * {@link #enterCell()} with the fast-path table passed in: {@code slots} must be this epoch's
     * {@link #fastSlots()}.
     */
    public Object enterCell(Object slots) {
        Cell c = ownCell((Cell[]) slots);
        int d = c.depth;
        if (d == 0) {
            enterOuter(c, readIndex());
        } else if (d >= MAX_DEPTH) {
            throw tooDeep();
        }
        c.depth = d + 1;                                 // again after the join: see "Balanced sections"
        return c;
    }

    /**
     * {@link #enterEntry(String)} for a balanced section that keeps its cell: the same effect,
     * gate, fences and pairings; returns the calling thread's cell as {@link #enterCell()} does.
     * A refused entry throws and returns no cell (its section is already closed).
     */
    public Object enterEntryCell(String method) {
        return enterEntryCell(fast, method);
    }

    /**
     * {@link #enterEntryCell(String)} with the fast-path table passed in: {@code slots} must be
     * this epoch's {@link #fastSlots()}. A {@code null} {@code method} (the epoch class's gated
     * enter, which woven classes call without a name) is named, when the gate refuses the entry
     * or a probe counts it, from the stack at that point ({@code RefusedEntries.enteredMethod}).
     */
    public Object enterEntryCell(Object slots, String method) {
        Cell c = ownCell((Cell[]) slots);
        int d = c.depth;
        if (d == 0) {
            int token = enterOuter(c, readIndex());
            Gate g = gate;                               // volatile, after fence B: pairs with the barrier's E/A (G3), as in enterEntry
            if (g != null) {
                passGate(g, c, token, method);
            }
        } else if (d >= MAX_DEPTH) {
            throw tooDeep();
        }
        c.depth = d + 1;                                 // again after the join: see "Balanced sections"
        return c;
    }

    /**
     * Exits the innermost open section of the thread whose cell {@code cell} is
     * ({@link #enterCell()} returned it): the same effect, fences and pairings as
     * {@link #exit(int)} with that section's token, without looking the cell up. The cell must be
     * the calling thread's: a cell handed to another thread (by buggy or hostile code: the woven
     * code never does) would let two threads write one cell's depth and counters, breaking the
     * single-writer rule every counter's access mode relies on; so the exit checks
     * {@code owner.refersTo(Thread.currentThread())} first (an identity compare, no lookup) and
     * refuses any other cell.
     *
     * @throws IllegalArgumentException if {@code cell} is not a cell of a release epoch
     * @throws IllegalStateException if it is another thread's cell, or its thread has no open
     *         section in its epoch; nothing is changed then
     */
    public static void exitCell(Object cell) {
        Cell c = ownedCell(cell);
        int d = c.depth;
        if (d <= 1) {
            if (d == 0) {
                throw exitWithoutSection(c);
            }
            if (c.outerIndex == 0) {
                UNLOCK0.setRelease(c, c.unlock0 + 1L);   // as in exit(int): pairs with the acquire unlock loads of drained()
            } else {
                UNLOCK1.setRelease(c, c.unlock1 + 1L);
            }
        }
        c.depth = d - 1;                                 // after the join: see "Balanced sections"
    }

    /**
     * The catch-all exit of a balanced section that does not pass its cell: finds the calling
     * thread's cell in this epoch (registered: its section entered), unpins {@code t} if it leaves
     * the thread's outermost section ({@link Throwables#unpin}), then exits as
     * {@link #exitCell(Object)} with that cell (the same effect, fences and pairings).
     *
     * @throws IllegalStateException if the calling thread has no open section in this epoch;
     *         nothing is changed then
     */
    public void exitCellThrowing(Throwable t) {
        Cell c = registeredCell();
        if (c == null || c.depth == 0) {
            throw new IllegalStateException("release epoch exit without an open section: thread \""
                    + Thread.currentThread().getName() + "\" is not inside the " + this + "; was it exited twice?");
        }
        if (c.depth == 1) {
            Throwables.unpin(t);
        }
        exitCell(c);
    }

    /**
     * The depth, in its epoch, of the thread whose cell {@code cell} is: for the catch-all exit,
     * which unpins an exception leaving the outermost section. Checked as {@link #exitCell}.
     */
    public static int cellDepth(Object cell) {
        return ownedCell(cell).depth;
    }

    /** {@code cell} as a cell of the calling thread: the owner check of {@link #exitCell}. */
    private static Cell ownedCell(Object cell) {
        if (!(cell instanceof Cell)) {
            throw new IllegalArgumentException("not a release epoch cell: "
                    + (cell == null ? "null" : "an instance of " + cell.getClass().getName())
                    + "; pass back what the section's enter returned");
        }
        Cell c = (Cell) cell;
        if (!c.owner.refersTo(Thread.currentThread())) { // identity: single writer, only the owner may exit with it
            throw new IllegalStateException("release epoch exit with another thread's cell: thread \""
                    + Thread.currentThread().getName() + "\" passed the cell of thread \"" + c.ownerName + "\" in the "
                    + c.epoch + "; a section exits on the thread that entered it; nothing was changed");
        }
        return c;
    }

    private static IllegalStateException exitWithoutSection(Cell c) {
        return new IllegalStateException("release epoch exit without an open section: thread \""
                + Thread.currentThread().getName() + "\" is not inside the " + c.epoch + "; was it exited twice?");
    }

    private IllegalStateException notInnermost(int token, int depth, Cell c) {
        String thread = "thread \"" + Thread.currentThread().getName() + "\"";
        if (depth == 0) {
            return new IllegalStateException("release epoch exit without an open section: " + thread + " is not inside the "
                    + this + " (token " + describe(token) + "); was it exited twice, or entered on another thread or epoch?");
        }
        return new IllegalStateException("release epoch token " + describe(token) + " is not the innermost open section of "
                + thread + " in the " + this + " (that is " + describe(depth << 1 | c.outerIndex) + "): sections exit "
                + "innermost first, each with its own token; nothing was changed");
    }

    private static String describe(int token) {
        return "[depth " + (token >>> 1) + ", index " + (token & 1) + "]";
    }

    /** The current thread's nesting depth in this epoch (0 when outside). */
    public int depth() {
        Cell c = myCell.get();
        return c == null ? 0 : c.depth;
    }

    /** Whether the current thread is inside this epoch: {@code depth() > 0}. */
    public boolean isInside() {
        return depth() > 0;
    }

    /**
     * A racy snapshot of the live threads that are inside this epoch, for diagnostics (timeout
     * reports): a thread may have entered or exited by the time the list is returned.
     */
    public List<Thread> threadsInside() {
        CellArray snapshot = (CellArray) CELL_ARRAY.getVolatile(this);
        List<Thread> inside = new ArrayList<>();
        for (int i = 0; i < snapshot.size; i++) {
            Cell c = snapshot.cells[i];
            if ((int) DEPTH.getOpaque(c) > 0) {
                Thread t = c.owner.get();
                if (t != null && t.isAlive()) {
                    inside.add(t);
                }
            }
        }
        return Collections.unmodifiableList(inside);
    }

    /**
     * Waits until every read section that was entered before this call has exited
     * ({@code synchronize_srcu}). Sections entered after it began are not waited for. Not
     * interruptible: an interrupt is kept and set again on return.
     *
     * @throws IllegalStateException if the current thread is inside this epoch: the barrier
     *         would wait for itself
     */
    public void barrier() {
        checkNotInside();
        Waiter w = new Waiter(false, 0L);
        if (!barrierLock.tryLock()) {
            w.waited = true;
            barrierLock.lock();
        }
        try {
            runBarrier(w);
        } finally {
            barrierLock.unlock();
            w.restoreInterrupt();
        }
    }

    /**
     * Like {@link #barrier()}, but gives up once {@code timeout} has elapsed (which includes
     * waiting for a barrier running on another thread). A zero or negative timeout checks once.
     * Not interruptible: an interrupt is kept and set again on return. After
     * {@link BarrierOutcome#TIMED_OUT} the epoch is consistent and a later barrier is correct.
     *
     * @return {@link BarrierOutcome#IMMEDIATE} if no earlier section was still inside,
     *         {@link BarrierOutcome#WAITED} if the barrier waited for one to exit,
     *         {@link BarrierOutcome#TIMED_OUT} if the timeout elapsed first
     * @throws NullPointerException if {@code timeout} is {@code null}
     * @throws IllegalStateException if the current thread is inside this epoch
     */
    public BarrierOutcome barrier(Duration timeout) {
        Objects.requireNonNull(timeout, "timeout is null: pass a Duration, or call barrier() to wait without a bound");
        checkNotInside();
        Waiter w = new Waiter(true, saturatedNanos(timeout));
        try {
            if (!w.acquire(barrierLock)) {
                return BarrierOutcome.TIMED_OUT;
            }
            // acquire() set w.waited if another barrier held the lock: this one waited too.
            try {
                return runBarrier(w);
            } finally {
                barrierLock.unlock();
            }
        } finally {
            w.restoreInterrupt();
        }
    }

    /** How many threads wait for the barrier lock (a racy estimate): for tests. */
    int barrierLockQueueLength() {
        return barrierLock.getQueueLength();
    }

    /** The number of cells in the array (threads that may be inside: not found idle or dead by a sweep yet): for tests. */
    int cellCount() {
        return ((CellArray) CELL_ARRAY.getVolatile(this)).size;
    }

    private void checkNotInside() {
        Cell c = myCell.get();
        if (c != null && c.depth > 0) {
            throw new IllegalStateException("release barrier called inside the release epoch on the same thread: it would wait "
                    + "for itself (thread \"" + Thread.currentThread().getName() + "\", depth " + c.depth + ")");
        }
    }

    private static long saturatedNanos(Duration timeout) {
        try {
            return timeout.toNanos();
        } catch (ArithmeticException e) {
            return timeout.isNegative() ? Long.MIN_VALUE : Long.MAX_VALUE;
        }
    }

    /** Steps 1-3 of the class comment. Caller holds {@link #barrierLock}. */
    private BarrierOutcome runBarrier(Waiter w) {
        VarHandle.fullFence();                           // E: the caller's writes before our loads; pairs with B
        sweepCells();                                    // only cells that may be inside stay: "Idle and dead threads"
        int active = (int) FLIPS.getOpaque(this) & 1;   // only barriers write it, and we hold their lock
        if (!awaitDrained(active ^ 1, w)) {              // step 1: race (i)
            return BarrierOutcome.TIMED_OUT;
        }
        FLIPS.getAndAdd(this, 1);                       // step 2: new sections use the other index
        VarHandle.fullFence();                           // D: pairs with B, race (ii)
        if (!awaitDrained(active, w)) {                  // step 3
            return BarrierOutcome.TIMED_OUT;
        }
        return w.waited ? BarrierOutcome.WAITED : BarrierOutcome.IMMEDIATE;
    }

    /** Waits until {@code idx} drains: spin, yield, then park with backoff. False on timeout. */
    private boolean awaitDrained(int idx, Waiter w) {
        if (drained(idx)) {
            return true;
        }
        w.waited = true;
        if (w.expired()) {
            return false;
        }
        for (int i = 1; i <= SPINS; i++) {
            Thread.onSpinWait();
            if (drained(idx)) {
                return true;
            }
            if ((i & 31) == 0 && w.expired()) {
                return false;
            }
        }
        for (int i = 0; i < YIELDS; i++) {
            Thread.yield();
            if (drained(idx)) {
                return true;
            }
            if (w.expired()) {
                return false;
            }
        }
        long park = PARK_MIN_NANOS;
        for (int parks = 1; ; parks++) {
            long nanos = park;
            if (w.timed) {
                long remaining = w.remaining();
                if (remaining <= 0L) {
                    return false;
                }
                nanos = Math.min(nanos, remaining);
            }
            LockSupport.parkNanos(this, nanos);
            if (Thread.interrupted()) {                  // else park returns at once, forever
                w.interrupted = true;
            }
            if (parks % SWEEP_EVERY_PARKS == 0) {
                sweepCells();                            // a thread may have died inside: race (iv)
            }
            if (drained(idx)) {
                return true;
            }
            park = Math.min(park << 1, PARK_MAX_NANOS);
        }
    }

    /**
     * One check ({@code srcu_readers_active_idx_check}): whether no section is open on
     * {@code idx}, summing unlocks before locks over one snapshot of the cells.
     */
    private boolean drained(int idx) {
        return drained(idx, null);
    }

    /**
     * {@link #drained(int)}, running {@code betweenSums} (if not null) between the two sums:
     * lets a test put a whole section into the window the unlocks-first order is about.
     */
    boolean drained(int idx, Runnable betweenSums) {
        CellArray snapshot = (CellArray) CELL_ARRAY.getVolatile(this);  // one snapshot: race (iii)
        Cell[] cells = snapshot.cells;
        int n = snapshot.size;
        long unlocks = 0L;
        long locks = 0L;
        if (idx == 0) {
            for (int i = 0; i < n; i++) {
                unlocks += (long) UNLOCK0.getAcquire(cells[i]);         // pairs with exit's release store
            }
            VarHandle.fullFence();                                       // A: pairs with B
            if (betweenSums != null) {
                betweenSums.run();
            }
            for (int i = 0; i < n; i++) {
                locks += (long) LOCK0.getOpaque(cells[i]);
            }
        } else {
            for (int i = 0; i < n; i++) {
                unlocks += (long) UNLOCK1.getAcquire(cells[i]);
            }
            VarHandle.fullFence();                                       // A
            if (betweenSums != null) {
                betweenSums.run();
            }
            for (int i = 0; i < n; i++) {
                locks += (long) LOCK1.getOpaque(cells[i]);
            }
        }
        return locks == unlocks;
    }

    /** Creates, publishes and installs the current thread's cell (its first enter). */
    private Cell register() {
        Cell c = new Cell(Thread.currentThread(), this);
        cellsLock.lock();
        try {
            append(c);
        } finally {
            cellsLock.unlock();
        }
        myCell.set(c);
        FAST.setRelease(fast, slot(Thread.currentThread()), c);  // the newest thread takes a shared slot
        return c;
    }

    /**
     * Publishes {@code c} at the end of the cell array; a full array is first swept
     * ({@link #sweep}), so the array's size follows the threads that may be inside, not the
     * threads that ever entered, even if no barrier ever runs. Caller holds {@link #cellsLock}.
     */
    private void append(Cell c) {
        CellArray current = cellArray;
        if (current.size == current.cells.length) {
            current = sweep(current, 1);
        }
        // The slot is beyond every published size: no check reads it before the store below.
        current.cells[current.size] = c;
        CELL_ARRAY.setVolatile(this, new CellArray(current.cells, current.size + 1));
    }

    /**
     * The slow path of an outermost enter whose cell a sweep detached while the thread was idle:
     * puts the cell back into the array before the section's first load ("Idle and dead
     * threads"). The section's lock increment is already done; if attaching fails (an
     * {@link OutOfMemoryError} growing the array) it is balanced with an unlock, so the cell stays
     * idle and the section never opened.
     */
    private void attachAgain(Cell c, int idx) {
        try {
            cellsLock.lock();
            try {
                if ((int) DETACHED.getOpaque(c) != 0) {  // under the lock: the sweep's final word
                    append(c);
                    DETACHED.setOpaque(c, 0);
                }
            } finally {
                cellsLock.unlock();
            }
        } catch (RuntimeException | Error e) {
            leaveRefused(c, idx);
            throw e;
        }
        VarHandle.fullFence();                           // R: the publication before the section's loads; pairs with E (G3)
    }

    /**
     * A barrier's sweep of the cell array ({@link #sweep(CellArray, int)}), unless the array is
     * empty or the cells lock is taken (a registration, a thread putting its cell back, or its
     * sweep): a barrier never waits for a reader's slow path, and the sweep is only there to
     * make the checks cheaper (and to find threads that died inside, which the next one does).
     */
    private void sweepCells() {
        if (((CellArray) CELL_ARRAY.getVolatile(this)).size == 0 || !cellsLock.tryLock()) {
            return;
        }
        try {
            sweepLocked(null);
        } finally {
            cellsLock.unlock();
        }
    }

    /**
     * A sweep that waits for the cells lock and runs {@code beforeMark} (if not null) after it read
     * the counters and before it marks the idle cells: lets a test enter a section in that window.
     */
    void sweepCells(Runnable beforeMark) {
        cellsLock.lock();
        try {
            sweepLocked(beforeMark);
        } finally {
            cellsLock.unlock();
        }
    }

    /** Sweeps and publishes the result. Caller holds {@link #cellsLock}. */
    private void sweepLocked(Runnable beforeMark) {
        CellArray current = cellArray;
        CellArray swept = sweep(current, 0, beforeMark);
        if (swept != current) {
            CELL_ARRAY.setVolatile(this, swept);
        }
    }

    private CellArray sweep(CellArray current, int room) {
        return sweep(current, room, null);
    }

    /**
     * Detaches the cells of idle threads and drops those of threads that died inside ("Idle and
     * dead threads"): returns a new array with the other cells and room for {@code room} more
     * and then as many again, or {@code current} itself if nothing changed and no room was asked
     * for. Caller holds {@link #cellsLock}. Never writes {@code current}'s array.
     */
    private CellArray sweep(CellArray current, int room, Runnable beforeMark) {
        int n = current.size;
        if (n == 0 && room == 0) {
            return current;
        }
        Cell[] cells = current.cells;
        Cell[] kept = new Cell[n];
        int k = 0;
        Cell[] idle = new Cell[n];
        long[] seenLocks = new long[2 * n];
        int m = 0;
        for (int i = 0; i < n; i++) {
            Cell c = cells[i];
            long u0 = (long) UNLOCK0.getAcquire(c);      // unlocks first, as in drained()
            long u1 = (long) UNLOCK1.getAcquire(c);
            long l0 = (long) LOCK0.getOpaque(c);
            long l1 = (long) LOCK1.getOpaque(c);
            if (l0 == u0 && l1 == u1) {
                idle[m] = c;
                seenLocks[2 * m] = l0;
                seenLocks[2 * m + 1] = l1;
                m++;
            } else if (c.isDead()) {
                c.retired();                             // died inside: its sections are treated as exited
                FAST.compareAndSet(fast, (int) c.ownerId & FAST_MASK, c, (Cell) null);
            } else {
                kept[k++] = c;
            }
        }
        if (m > 0) {
            if (beforeMark != null) {
                beforeMark.run();
            }
            for (int j = 0; j < m; j++) {
                DETACHED.setOpaque(idle[j], 1);
            }
            VarHandle.fullFence();                       // F: the marks before the re-reads; pairs with B
            for (int j = 0; j < m; j++) {
                Cell c = idle[j];
                if ((long) LOCK0.getOpaque(c) != seenLocks[2 * j] || (long) LOCK1.getOpaque(c) != seenLocks[2 * j + 1]) {
                    DETACHED.setOpaque(c, 0);            // its thread entered meanwhile: it stays
                    kept[k++] = c;
                }
            }
        }
        if (k == n && room == 0) {
            return current;
        }
        int capacity = Math.max(MIN_CELL_CAPACITY, 2 * (k + room));
        return new CellArray(Arrays.copyOf(kept, capacity), k);
    }

    /** What a barrier needs to know while it waits. */
    private static final class Waiter {
        final boolean timed;
        final long timeoutNanos;
        final long start = System.nanoTime();
        boolean waited;
        boolean interrupted;

        Waiter(boolean timed, long timeoutNanos) {
            this.timed = timed;
            this.timeoutNanos = timeoutNanos;
        }

        long remaining() {
            return timeoutNanos - (System.nanoTime() - start);
        }

        boolean expired() {
            return timed && remaining() <= 0L;
        }

        /** Takes the barrier lock within the timeout, not interruptibly; notes if it waited. */
        boolean acquire(ReentrantLock lock) {
            if (lock.tryLock()) {
                return true;
            }
            waited = true;
            for (;;) {
                long remaining = remaining();
                if (remaining <= 0L) {
                    return false;
                }
                try {
                    if (lock.tryLock(remaining, TimeUnit.NANOSECONDS)) {
                        return true;
                    }
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        }

        void restoreInterrupt() {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** A published view of the cell array: slots {@code [0, size)} never change. */
    private static final class CellArray {
        final Cell[] cells;
        final int size;

        CellArray(Cell[] cells, int size) {
            this.cells = cells;
            this.size = size;
        }
    }

    /** Deepest nesting accepted: a bound against runaway recursion, far above any real use. */
    static final int MAX_DEPTH = 1 << 20;

    /** Padding before a cell's fields: another object's fields never share their cache line. */
    @SuppressWarnings("unused")
    private static class CellPad0 {
        long p01, p02, p03, p04, p05, p06, p07;
    }

    /** A thread's counters: written by the owner only, read by barriers. */
    private static class CellFields extends CellPad0 {
        long lock0;
        long lock1;
        long unlock0;
        long unlock1;
        /** Nesting depth: owner only, read opaquely by {@link #threadsInside()}. */
        int depth;
        /** The index the thread's outermost open section counted on: owner only. */
        int outerIndex;
        /**
         * 1 while a sweep has taken the cell out of the array (its thread was idle), else 0.
         * Written under the cells lock (by a sweep, and by the owner putting it back); read
         * opaquely by the owner after fence B of each outermost enter.
         */
        int detached;
        /** Weak: a cell never keeps its thread alive. */
        final WeakReference<Thread> owner;
        /** The owner's id, for its fast-path slot (only an index: a hit is checked with {@code owner.refersTo}). */
        final long ownerId;
        /** For the warning if the thread dies inside. */
        final String ownerName;
        /** The epoch the cell counts for: for the messages of exits that get the cell, not the epoch. */
        final ReleaseEpoch epoch;

        CellFields(Thread t, ReleaseEpoch epoch) {
            this.epoch = epoch;
            owner = new WeakReference<>(t);
            ownerId = id(t);
            ownerName = t.getName();
        }

    }

    /** Padding after a cell's fields. */
    @SuppressWarnings("unused")
    private static final class Cell extends CellFields {
        long q01, q02, q03, q04, q05, q06, q07;

        Cell(Thread t, ReleaseEpoch epoch) {
            super(t, epoch);
        }

        /**
         * Whether the owner is dead. {@code isAlive()} returning false happens-after all the
         * thread did (JLS 17.4.4), so the counters are final; a cleared weak reference means no
         * one can ever run or unpark the thread again.
         */
        boolean isDead() {
            Thread t = owner.get();
            return t == null || !t.isAlive();
        }

        /** Called once when a dead thread's cell is dropped. */
        void retired() {
            int d = (int) DEPTH.getOpaque(this);
            if (d > 0) {
                System.getLogger(ReleaseEpoch.class.getName()).log(System.Logger.Level.WARNING,
                        "thread \"{0}\" terminated inside the release epoch (depth {1}) without exiting: an enter "
                                + "without a matching exit; its sections are treated as exited", ownerName, d);
            }
        }
    }
}
