package dev.unloadguard.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.unloadguard.leaks.LeakAnalysis;
import dev.unloadguard.leaks.LeakedLoader;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * How {@code analyze} and {@code leaks} read an unloaded generation that no strong path reaches:
 * garbage in a dump of all objects, a leak in a dump of live objects (it survived the full GC the
 * dump ran, so a holder the dump does not record keeps it: JIT-compiled code, or a soft reference).
 */
class AnalyzeTest {

    private static final LeakedLoader UNREACHABLE = new LeakedLoader("plugin:welcome.jar#3",
            "dev.unloadguard.loader.PluginClassLoader", "welcome", 3, true, null, List.of());

    private static LeakAnalysis analysis(LeakedLoader... loaders) {
        return new LeakAnalysis(Path.of("x.hprof"), List.of(loaders), 1000, Duration.ZERO, Duration.ofMillis(5), false);
    }

    private static String print(LeakAnalysis a, boolean live, int[] exit) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        exit[0] = Analyze.print(a, "dump", live, new PrintStream(bytes, true, StandardCharsets.UTF_8));
        return bytes.toString(StandardCharsets.UTF_8);
    }

    @Test
    void anUnreachableGenerationInADumpOfAllObjectsIsGarbageNotALeak() {
        int[] exit = new int[1];
        String out = print(analysis(UNREACHABLE), false, exit);
        assertEquals(0, exit[0], out);
        assertTrue(out.contains("(1 in the dump are garbage not collected yet)"), out);
    }

    @Test
    void anUnreachableGenerationInADumpOfLiveObjectsIsALeakHeldByCompiledCodeOrSoftly() {
        int[] exit = new int[1];
        String out = print(analysis(UNREACHABLE), true, exit);
        assertEquals(1, exit[0], out);
        assertTrue(out.contains("1 unloaded generation(s) survived the full GC before this dump of live objects")
                && out.contains("the JIT-compiled code of a running thread holds them") && out.contains("SoftReference")
                && out.contains("  plugin:welcome.jar#3 (dev.unloadguard.loader.PluginClassLoader)"), out);
    }

    @Test
    void nothingUnloadedInTheDumpIsNoLeakEitherWay() {
        int[] exit = new int[1];
        String out = print(analysis(), true, exit);
        assertEquals(0, exit[0], out);
        assertTrue(out.contains("no leaked plugin generations found: no unloaded unloadguard plugin class loader is reachable "
                + "(none is in the dump)"), out);
    }
}
