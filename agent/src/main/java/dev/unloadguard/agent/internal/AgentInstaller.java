package dev.unloadguard.agent.internal;

import dev.unloadguard.weave.internal.GuardTransformer;
import dev.unloadguard.weave.internal.Log;
import dev.unloadguard.epoch.internal.Epochs;
import dev.unloadguard.epoch.internal.ThreadFrames;
import dev.unloadguard.epoch.internal.Throwables;
import java.io.IOException;
import java.lang.instrument.Instrumentation;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.security.CodeSource;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.jar.Attributes;
import java.util.jar.JarFile;
import java.util.jar.Manifest;

/**
 * Installs the {@link GuardTransformer}, behind its {@link WovenClassCache}, once per JVM, tells the
 * runtime the agent is active (and how to install the bootstrap bridge if a host ever needs it, see
 * {@link BootstrapInjector}), and on a late attach retransforms the plugin classes loaded before it.
 */
final class AgentInstaller {

    private static final AtomicInteger INSTALLED = new AtomicInteger();

    private AgentInstaller() {
    }

    static void install(Instrumentation inst, boolean lateAttach) {
        // AgentMain's flag stops a second premain/agentmain of the same AgentMain class; this
        // stops a second copy of the agent classes (another loader) sharing the runtime.
        if (Epochs.agentActive()) {
            Log.info("unloadguard agent " + Epochs.agentVersion()
                    + " is already installed in this JVM; not installing it again");
            return;
        }
        openThrowableToRuntime(inst);
        openThreadContainersToRuntime(inst);
        // The weaver behind a cache of woven class files (reloads do not weave again), bounded by
        // -Dunloadguard.wovenClassCache.maxBytes (0: off).
        inst.addTransformer(new WovenClassCache(new GuardTransformer(inst), WovenClassCache.configuredMaxBytes()), true);
        INSTALLED.incrementAndGet();
        Epochs.agentInstalled(inst, version(), () -> BootstrapInjector.installBridge(inst, AgentInstaller.class));
        // For tools outside the JVM (the command line's status): the version, readable with jcmd.
        System.setProperty("unloadguard.agent.version", version());
        if (lateAttach) {
            retransformLoadedPluginClasses(inst);
        }
    }

    /**
     * Opens {@code java.lang} to the runtime's module (only that: no other package, no exports), so
     * {@link Throwables} can drop the backtrace of exceptions leaving plugin code, which would
     * otherwise keep the plugin's class loader reachable. The runtime shares the application class
     * loader's unnamed module with the host; a JVM that refuses leaves exceptions able to pin.
     */
    private static void openThrowableToRuntime(Instrumentation inst) {
        Module runtime = Throwables.class.getModule();
        try {
            if (!Object.class.getModule().isOpen("java.lang", runtime)) {
                inst.redefineModule(Object.class.getModule(), java.util.Set.of(), java.util.Map.of(),
                        java.util.Map.of("java.lang", java.util.Set.of(runtime)), java.util.Set.of(), java.util.Map.of());
            }
            if (!Throwables.enable()) {
                Log.warning("could not reach Throwable.backtrace: an exception that leaves plugin code and is kept by the "
                        + "host keeps that plugin's class loader reachable", null);
            }
        } catch (RuntimeException e) {
            Log.warning("could not open java.lang to unloadguard's runtime: an exception that leaves plugin code and is kept "
                    + "by the host keeps that plugin's class loader reachable", e);
        }
    }

    /**
     * Opens {@code jdk.internal.vm} to the runtime's module (only that package: no other, no
     * exports), so the close audit ({@link ThreadFrames}) can walk the JDK's thread containers and
     * see every virtual thread, mounted or not. Only on a JDK that has the containers (21+); a JVM
     * that refuses leaves the audit scanning platform threads only, and its reports say so.
     */
    private static void openThreadContainersToRuntime(Instrumentation inst) {
        Module base = Object.class.getModule();
        Module runtime = ThreadFrames.class.getModule();
        try {
            if (Runtime.version().feature() >= 21 && base.getPackages().contains("jdk.internal.vm")
                    && !base.isOpen("jdk.internal.vm", runtime)) {
                inst.redefineModule(base, java.util.Set.of(), java.util.Map.of(),
                        java.util.Map.of("jdk.internal.vm", java.util.Set.of(runtime)), java.util.Set.of(), java.util.Map.of());
            }
        } catch (RuntimeException e) {
            Log.warning("could not open jdk.internal.vm to unloadguard's runtime: the close audit sees platform threads only, "
                    + "not virtual threads", e);
        }
    }

    /** How many transformers this copy of the agent installed: 0 or 1 (diagnostics, tests). */
    static int installedTransformers() {
        return INSTALLED.get();
    }

    /**
     * {@code Implementation-Version} of the jar this class came from (read from the jar itself:
     * the package may have been defined from another class path entry first), or {@code "dev"}.
     */
    static String version() {
        String v = null;
        CodeSource source = AgentInstaller.class.getProtectionDomain().getCodeSource();
        URL location = source == null ? null : source.getLocation();
        try {
            if (location != null && "file".equals(location.getProtocol())) {
                Path path = Paths.get(location.toURI());
                if (Files.isRegularFile(path)) {
                    try (JarFile jar = new JarFile(path.toFile(), false)) {
                        Manifest manifest = jar.getManifest();
                        v = manifest == null ? null : manifest.getMainAttributes().getValue(Attributes.Name.IMPLEMENTATION_VERSION);
                    }
                }
            }
        } catch (IOException | URISyntaxException | RuntimeException e) {
            v = null;
        }
        if (v == null) {
            v = AgentInstaller.class.getPackage().getImplementationVersion();
        }
        return v == null ? "dev" : v;
    }

    /**
     * Dynamic attach: plugin classes loaded before the agent get their guards by retransformation
     * (only method bodies and annotations change, which retransformation allows). One batch; if
     * it fails, one class at a time so one bad class does not leave the others unguarded.
     */
    private static void retransformLoadedPluginClasses(Instrumentation inst) {
        if (!inst.isRetransformClassesSupported()) {
            Log.warning("this JVM cannot retransform classes: plugin classes loaded before the agent attached stay unguarded");
            return;
        }
        List<Class<?>> plugin = new ArrayList<>();
        for (Class<?> c : inst.getAllLoadedClasses()) {
            if (Epochs.isPluginLoader(c.getClassLoader()) && inst.isModifiableClass(c)) {
                plugin.add(c);
            }
        }
        if (plugin.isEmpty()) {
            return;
        }
        try {
            inst.retransformClasses(plugin.toArray(new Class<?>[0]));
        } catch (Throwable batch) {
            for (Class<?> c : plugin) {
                try {
                    inst.retransformClasses(c);
                } catch (Throwable t) {
                    Log.warning("could not retransform " + c.getName() + ": it stays unguarded", t);
                }
            }
        }
        Log.debug(() -> "retransformed " + plugin.size() + " plugin classes loaded before the agent attached");
    }
}
