package dev.unloadguard.epoch.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URL;
import java.net.URLClassLoader;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Test;

/**
 * The undo's context class loader reset finds a thread that has the generation's loader as its
 * context class loader although no plugin code set it ("found at unload": host code set it, or
 * the thread inherited it), in any thread group, and lists threads without stopping them for a
 * stack dump.
 */
class RegistrationsContextLoaderTest {

    @Test
    void aThreadHoldingTheLoaderAsContextLoaderIsFoundAndReset() throws Exception {
        URLClassLoader generation = new URLClassLoader("test-generation", new URL[0], getClass().getClassLoader());
        Registrations.manage(generation, "test generation");
        CountDownLatch end = new CountDownLatch(1);
        ThreadGroup nested = new ThreadGroup(new ThreadGroup("outer-group"), "inner-group");
        List<Thread> threads = new ArrayList<>();
        try {
            for (ThreadGroup g : new ThreadGroup[] {Thread.currentThread().getThreadGroup(), nested}) {
                Thread t = new Thread(g, () -> {
                    try {
                        end.await();
                    } catch (InterruptedException e) {
                        // ends
                    }
                }, "holder in " + g.getName());
                t.setContextClassLoader(generation); // host code: nothing is recorded
                t.start();
                threads.add(t);
            }
            List<Registrations.Undone> undone = Registrations.undo(generation, System.nanoTime() + 1_000_000_000L);
            assertEquals(2, undone.size(), undone::toString);
            for (Registrations.Undone u : undone) {
                assertEquals(Registrations.Kind.CONTEXT_CLASS_LOADER, u.kind(), u::toString);
                assertEquals("(found at unload)", u.site(), u::toString);
                assertEquals(Registrations.Outcome.UNDONE, u.outcome(), u::toString);
            }
            for (Thread t : threads) {
                assertSame(getClass().getClassLoader(), t.getContextClassLoader(), "reset to the loader's parent: " + t);
            }
        } finally {
            end.countDown();
            for (Thread t : threads) {
                t.join();
            }
            Registrations.forget(generation);
            generation.close();
        }
    }

    @Test
    void platformThreadsListsEveryLiveThreadAStackDumpLists() {
        List<Thread> listed = Arrays.asList(Registrations.platformThreads());
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.isAlive()) {
                assertTrue(listed.contains(t) || !t.isAlive(), "missing " + t + " from " + listed);
            }
        }
        assertTrue(listed.contains(Thread.currentThread()));
    }
}
