package dev.unloadguard.epoch.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The records of {@code ThreadLocal} values a managed generation sets: one per thread and
 * {@code ThreadLocal}, however often it is set again, recorded again after the plugin removed it,
 * and gone once its thread ended, so a host that runs each request on a new thread does not grow
 * the record without bound. The generation here is this test's own class loader, managed for the
 * test (its class is the caller the woven call sites pass).
 */
class RegistrationsThreadLocalTest {

    private static final ClassLoader LOADER = RegistrationsThreadLocalTest.class.getClassLoader();
    private static final Class<?> CALLER = RegistrationsThreadLocalTest.class;
    private final ThreadLocal<String> tl = new ThreadLocal<>();

    @BeforeEach
    void manage() {
        Registrations.manage(LOADER, "test generation");
    }

    @AfterEach
    void forget() {
        Registrations.forget(LOADER);
    }

    @Test
    void aValueSetAgainAndAgainOnOneThreadIsRecordedOnce() {
        for (int i = 0; i < 1_000; i++) {
            Registrations.recordThreadLocal(tl, CALLER);
        }
        assertEquals(1, Registrations.recorded(LOADER));
    }

    @Test
    void aValueThePluginRemovedIsRecordedAgainWhenSetAgain() {
        Registrations.recordThreadLocal(tl, CALLER);
        Registrations.forgetThreadLocal(tl, CALLER);
        assertEquals(0, Registrations.recorded(LOADER));
        Registrations.recordThreadLocal(tl, CALLER);
        assertEquals(1, Registrations.recorded(LOADER), "the lock-free check must not skip a value removed before");
    }

    @Test
    void valuesOfThreadsThatEndedAreNotKept() throws Exception {
        for (int round = 0; round < 20; round++) {
            List<Thread> threads = new ArrayList<>();
            for (int i = 0; i < 50; i++) {
                Thread t = new Thread(() -> Registrations.recordThreadLocal(tl, CALLER), "request-" + round + "-" + i);
                threads.add(t);
                t.start();
            }
            for (Thread t : threads) {
                t.join();
            }
        }
        // 1,000 threads set a value and ended: the records are pruned as new ones come (every 64)
        int recorded = Registrations.recorded(LOADER);
        assertTrue(recorded < 128, "records of ended threads pile up: " + recorded + " for 1,000 ended threads");
    }
}
