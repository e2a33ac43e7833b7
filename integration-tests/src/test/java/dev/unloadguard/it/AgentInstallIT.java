package dev.unloadguard.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.tools.attach.VirtualMachine;
import dev.unloadguard.epoch.internal.Epochs;
import dev.unloadguard.loader.ForeignPluginLoaders;
import dev.unloadguard.epoch.ReleaseGuard;
import dev.unloadguard.it.scenario.TailDepthScenario;
import dev.unloadguard.it.support.BuiltJars;
import dev.unloadguard.it.support.ChildJvm;
import dev.unloadguard.it.support.TestPlugins;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.function.IntSupplier;
import org.junit.jupiter.api.Test;

/** How the agent gets into a JVM: -javaagent once or twice, late attach, and foreign loaders. */
class AgentInstallIT {

    @Test
    void withoutTheAgentReleaseTailsRunOutsideTheEpoch() throws Exception {
        try (ChildJvm jvm = ChildJvm.start(List.of(), TailDepthScenario.class.getName(), BuiltJars.driverSample().toString(), "go")) {
            assertEquals(0, jvm.waitFor(Duration.ofMinutes(1)), jvm::output);
            assertEquals("false", jvm.value("agent").orElseThrow(), jvm::output);
            assertEquals("[0, 0]", jvm.value("depths").orElseThrow(), jvm::output);
        }
    }

    @Test
    void installingTwiceGuardsOnce() throws Exception {
        try (ChildJvm jvm = ChildJvm.start(List.of(ChildJvm.javaagent(), ChildJvm.javaagent()),
                TailDepthScenario.class.getName(), BuiltJars.driverSample().toString(), "go")) {
            assertEquals(0, jvm.waitFor(Duration.ofMinutes(1)), jvm::output);
            assertEquals("true", jvm.value("agent").orElseThrow(), jvm::output);
            assertEquals("[1, 1]", jvm.value("depths").orElseThrow(), () -> "guarded exactly once:\n" + jvm.output());
            assertEquals("0", jvm.value("failures").orElseThrow(), jvm::output);
        }
    }

    @Test
    void attachingToARunningJvmGuardsPluginClassesAlreadyLoaded() throws Exception {
        try (ChildJvm jvm = ChildJvm.start(List.of(),
                TailDepthScenario.class.getName(), BuiltJars.driverSample().toString(), "wait")) {
            jvm.awaitLine(l -> l.startsWith("loaded="), Duration.ofSeconds(30));
            // The plugin's XePagemap class is loaded (its pagemaps exist) and unguarded; attach now.
            VirtualMachine vm = VirtualMachine.attach(Long.toString(jvm.pid()));
            try {
                vm.loadAgent(BuiltJars.agent().toString());
            } finally {
                vm.detach();
            }
            jvm.send("attached");
            assertEquals(0, jvm.waitFor(Duration.ofMinutes(1)), jvm::output);
            assertEquals("true", jvm.value("agent").orElseThrow(), jvm::output);
            assertEquals("[1, 1]", jvm.value("depths").orElseThrow(),
                    () -> "classes loaded before the attach must be retransformed:\n" + jvm.output());
            assertEquals("COLLECTED", jvm.value("outcome").orElseThrow(), jvm::output);
        }
    }

    @Test
    void aForeignPluginLoaderWhoseParentIsThePlatformLoaderIsGuardedThroughTheBootstrapBridge() throws Exception {
        Path jar = TestPlugins.plugin().source("it.foreign.Probe", """
                package it.foreign;
                public final class Probe {
                    @dev.unloadguard.driver.GuardedRelease
                    public static int depthInside(java.util.function.IntSupplier depth) {
                        return depth.getAsInt();
                    }
                }
                """).build("foreign");
        try (URLClassLoader foreign = new URLClassLoader("foreign-host", new URL[] {jar.toUri().toURL()},
                ClassLoader.getPlatformClassLoader())) {
            assertThrows(ClassNotFoundException.class, () -> foreign.loadClass(ReleaseGuard.class.getName()),
                    "a loader under the platform loader cannot see unloadguard's runtime");
            ForeignPluginLoaders.guard(foreign);
            assertTrue(Epochs.needsBootBridge(foreign));
            Class<?> probe = foreign.loadClass("it.foreign.Probe");
            IntSupplier depth = () -> ReleaseGuard.depth(foreign);
            assertEquals(1, (int) probe.getMethod("depthInside", IntSupplier.class).invoke(null, depth),
                    "the annotated method runs inside its loader's own release epoch, through the bridge");
            assertEquals(0, ReleaseGuard.depth(foreign), "and exits it on return");
            assertNull(Class.forName("dev.unloadguard.boot.BootGuard", false, foreign).getClassLoader(),
                    "the bridge lives in the bootstrap loader");
        }
    }
}
