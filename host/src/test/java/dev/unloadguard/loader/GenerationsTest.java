package dev.unloadguard.loader;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.net.URL;
import java.net.URLClassLoader;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** The registry's count of class loaders made and not yet collected (kept by a reference queue). */
class GenerationsTest {

    @Test
    void countsTheClassLoadersNotCollectedAndForgetsCollectedOnes() {
        Generations g = new Generations();
        URLClassLoader kept = new URLClassLoader(new URL[0], null);
        g.made(kept);
        for (int i = 0; i < 100; i++) {
            g.made(new URLClassLoader(new URL[0], null)); // unreachable at once
        }
        await("the 100 dropped loaders are collected").atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(50))
                .until(() -> {
                    System.gc();
                    return g.notCollected() == 1;
                });
        for (int i = 0; i < 100; i++) {
            g.made(new URLClassLoader(new URL[0], null));
        }
        await("and the next 100").atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(50))
                .until(() -> {
                    System.gc();
                    return g.notCollected() == 1;
                });
        assertEquals(1, g.notCollected(), "the one still reachable");
        java.lang.ref.Reference.reachabilityFence(kept);
    }
}
