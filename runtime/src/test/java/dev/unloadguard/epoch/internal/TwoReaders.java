package dev.unloadguard.epoch.internal;

import dev.unloadguard.epoch.internal.ReleaseEpochTestSupport.Reader;
import org.junit.jupiter.api.AfterEach;

/** The fixture of the epoch tests driven step by step: one epoch, two reader threads, closed after each test. */
abstract class TwoReaders {

    final ReleaseEpoch epoch = new ReleaseEpoch();
    final Reader a = new Reader(epoch, "reader-a");
    final Reader b = new Reader(epoch, "reader-b");

    @AfterEach
    void closeReaders() {
        a.close();
        b.close();
    }
}
