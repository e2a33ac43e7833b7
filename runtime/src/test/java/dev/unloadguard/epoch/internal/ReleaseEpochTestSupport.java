package dev.unloadguard.epoch.internal;

import dev.unloadguard.epoch.BarrierOutcome;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

/** Threads the release epoch tests drive step by step. Not a test class. */
final class ReleaseEpochTestSupport {

    /** Upper bound for something that must happen; never a timing assertion. */
    static final Duration BOUND = Duration.ofSeconds(20);
    /** How long "still waiting" must hold. */
    static final Duration STILL = Duration.ofMillis(300);

    private ReleaseEpochTestSupport() {
    }

    /** Runs each call on a fresh daemon thread. */
    static final Executor NEW_THREAD = r -> {
        Thread t = new Thread(r, "barrier-caller");
        t.setDaemon(true);
        t.start();
    };

    /** Starts {@code epoch.barrier(timeout)} on another thread. */
    static CompletableFuture<BarrierOutcome> barrierAsync(ReleaseEpoch epoch, Duration timeout) {
        return CompletableFuture.supplyAsync(() -> epoch.barrier(timeout), NEW_THREAD);
    }

    /** Starts the untimed {@code epoch.barrier()} on another thread. */
    static CompletableFuture<Void> untimedBarrierAsync(ReleaseEpoch epoch) {
        return CompletableFuture.runAsync(epoch::barrier, NEW_THREAD);
    }

    /** Proves that {@code f} stays not done for a while (it is blocked, not just slow to start). */
    static void assertStillWaiting(Future<?> f) {
        await().during(STILL).atMost(STILL.plus(BOUND)).until(() -> !f.isDone());
    }

    /** Waits until {@code f} is done and returns its value. */
    static <T> T awaitDone(CompletableFuture<T> f) {
        await().atMost(BOUND).until(f::isDone);
        return f.join();
    }

    /**
     * A platform thread that runs one command at a time, so a test can keep it inside the
     * epoch between commands and make it enter, nest and exit exactly when it wants.
     */
    static final class Reader implements AutoCloseable {
        final ReleaseEpoch epoch;
        final Thread thread;
        private final ExecutorService executor;

        /** A reader thread for commands that name their epoch themselves (enter, exit, depth need one). */
        Reader(String name) {
            this(null, name);
        }

        Reader(ReleaseEpoch epoch, String name) {
            this.epoch = epoch;
            AtomicReference<Thread> created = new AtomicReference<>();
            this.executor = Executors.newSingleThreadExecutor(r -> {
                Thread t = new Thread(r, name);
                t.setDaemon(true);
                created.set(t);
                return t;
            });
            call(() -> null);
            this.thread = created.get();
        }

        <T> T call(Callable<T> command) {
            try {
                return executor.submit(command).get(BOUND.toMillis(), TimeUnit.MILLISECONDS);
            } catch (ExecutionException e) {
                if (e.getCause() instanceof RuntimeException) {
                    throw (RuntimeException) e.getCause();
                }
                throw new AssertionError(e.getCause());
            } catch (InterruptedException | TimeoutException e) {
                throw new AssertionError(e);
            }
        }

        int enter() {
            return call(epoch::enter);
        }

        void exit(int token) {
            call(() -> {
                epoch.exit(token);
                return null;
            });
        }

        int depth() {
            return call(epoch::depth);
        }

        /**
         * A gated entry ({@link ReleaseEpoch#enterEntry}) on this thread, exited at once if let in:
         * the refusal it threw, or {@code null}. (The api's {@code PluginUnloadedError} is not on
         * this module's class path: the runtime's stand-in, a {@link NoClassDefFoundError} with the
         * same message, is what is thrown here.)
         */
        Throwable gatedEntry(String method) {
            return call(() -> {
                try {
                    epoch.exit(epoch.enterEntry(method));
                    return null;
                } catch (NoClassDefFoundError e) {
                    return e;
                }
            });
        }

        /**
         * Enters, nested if already inside, until {@code enter()} returns a token whose index
         * differs from {@code token}'s, that is, until a barrier has flipped the index; probes
         * that got the same index are exited again (they are the innermost section). Returns the
         * new token; that section stays open.
         */
        int enterOtherIndexThan(int token) {
            AtomicInteger got = new AtomicInteger(-1);
            await().atMost(BOUND).until(() -> call(() -> {
                int t = epoch.enter();
                if ((t & 1) == (token & 1)) {
                    epoch.exit(t);
                    return false;
                }
                got.set(t);
                return true;
            }));
            return got.get();
        }

        @Override
        public void close() {
            executor.shutdownNow();
        }
    }
}
