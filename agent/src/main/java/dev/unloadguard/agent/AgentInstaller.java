package dev.unloadguard.agent;

import dev.unloadguard.epoch.ReleaseGuard;
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
 * Installs the {@link GuardTransformer} once per JVM, tells the runtime the agent is active (and
 * how to install the bootstrap bridge if a host ever needs it, see {@link BootstrapInjector}), and
 * on a late attach retransforms the plugin classes loaded before it.
 */
final class AgentInstaller {

    private static final AtomicInteger INSTALLED = new AtomicInteger();

    private AgentInstaller() {
    }

    static void install(Instrumentation inst, boolean lateAttach) {
        // AgentMain's flag stops a second premain/agentmain of the same AgentMain class; this
        // stops a second copy of the agent classes (another loader) sharing the runtime.
        if (ReleaseGuard.agentActive()) {
            Log.info("unloadguard agent " + ReleaseGuard.agentVersion()
                    + " is already installed in this JVM; not installing it again");
            return;
        }
        inst.addTransformer(new GuardTransformer(inst), true);
        INSTALLED.incrementAndGet();
        ReleaseGuard.agentInstalled(version(), () -> BootstrapInjector.installBridge(inst, AgentInstaller.class));
        if (lateAttach) {
            retransformLoadedPluginClasses(inst);
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
            if (ReleaseGuard.isPluginLoader(c.getClassLoader()) && inst.isModifiableClass(c)) {
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
