package dev.unloadguard.loader;

import dev.unloadguard.driver.PluginUnloadedError;
import dev.unloadguard.epoch.internal.PluginEpochClass;
import dev.unloadguard.epoch.internal.ReleaseEpoch;
import java.io.IOException;
import java.net.URL;
import java.net.URLClassLoader;
import java.time.Instant;
import java.util.Collections;
import java.util.Enumeration;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The class loader of one plugin generation: every class the plugin brought (its jar or
 * {@code classes/} folder and its libraries, all in the loader's private copy: {@link PluginFiles})
 * is defined by this one loader, so the agent guards them all, the close audit finds their frames
 * by this loader's name and they are collected with it. Delegation is parent-first or plugin-first
 * ({@link IsolationPolicy}), with two exceptions for unloadguard's own classes, whatever the policy:
 * <ul>
 * <li>the plugin API ({@code dev.unloadguard.driver}, {@code dev.unloadguard.device}: the
 *     unloadguard-api artifact) and the woven code's runtime ({@code dev.unloadguard.epoch})
 *     always come from unloadguard's
 *     own loader, whatever the parent, so a plugin whose parent is the platform loader still links
 *     against the one {@code Device} and the one runtime the host uses;
 * <li>the rest of unloadguard (the host library, the agent and its tools, every
 *     {@code *.internal} package) is never delegated: a plugin cannot make epochs,
 *     count devices, register loaders or claim the agent is attached.
 * </ul>
 * Plugin-first: the JDK's own packages (those of the boot layer's modules defined to the boot or
 * platform loader) and the host's shared packages go parent-first; any other class is looked up in
 * the plugin first, then in the parent; resources likewise.
 *
 * <p>Before either policy, a class or resource of a package the plugin imports (an exported
 * package of a dependency generation it was resolved against, {@code Plugin-Exports}) is asked of
 * that generation's loader alone: the dependent links against the dependency's own classes, and
 * sees nothing else of it.
 *
 * <p>It owns its generation's release epoch ({@link dev.unloadguard.epoch.internal.EpochHolder}): the
 * agent guards every class it defines, and their woven code enters that epoch. The woven code
 * reads the epoch from the generation's epoch class ({@link PluginEpochClass}), which this loader
 * defines in itself the first time the JVM asks it for that name, from the runtime's bytes, before
 * any other rule: never from the plugin's jar (a class of that name there is ignored), never
 * delegated, never a late access. Defining it on demand rather than when the loader is made costs
 * the same for a plugin with woven code (one {@code loadClass} call, once: the JVM remembers the
 * class for this loader afterwards) and nothing for one without.
 *
 * <p>Once closed, a request for a class it would have defined is a late access: it throws
 * {@link PluginUnloadedError} (naming the plugin, generation and unload time) and counts it —
 * including a request that raced the close and failed inside the JDK's zip layer. Plugin-first, a
 * closed loader cannot tell its own classes from the host's any more, so every request it would
 * have looked up in the plugin first (any but the JDK's, unloadguard's API and the shared packages)
 * is a late access.
 */
final class PluginClassLoader extends URLClassLoader implements PluginEpochClass.Definer {

    static {
        registerAsParallelCapable();
    }

    private static final String UNLOADGUARD = "dev.unloadguard.";
    /**
     * unloadguard's own packages, each with its subpackages: the api, the runtime, the host
     * library, the agent and its tools (not the test kit, the samples or a host's own
     * {@code dev.unloadguard.*} libraries, which come through the parent as usual).
     */
    private static final String[] OWN_PACKAGES = {
        "dev.unloadguard.agent.", "dev.unloadguard.boot.", "dev.unloadguard.check.", "dev.unloadguard.cli.",
        "dev.unloadguard.device.", "dev.unloadguard.driver.", "dev.unloadguard.epoch.", "dev.unloadguard.loader.",
        "dev.unloadguard.maven.", "dev.unloadguard.observe.", "dev.unloadguard.pf4j.", "dev.unloadguard.shaded.",
        "dev.unloadguard.weave.",
    };
    /**
     * Of those, what a plugin links against, these packages exactly (not their subpackages, so
     * never an {@code *.internal} one): the api and the woven code's runtime.
     */
    private static final String[] API_PACKAGES = {"dev.unloadguard.driver.", "dev.unloadguard.device.", "dev.unloadguard.epoch."};

    private final ClassLoader unloadguardLoader;
    private final ReleaseEpoch epoch;
    private final boolean pluginFirst;
    /** Shared package prefixes ({@code "com.host.api."}), each with its subpackages. */
    private final String[] shared;
    /** Set once, when the plugin is unloaded; read by every class request afterwards. */
    private volatile Plugin unloaded;
    /**
     * The packages this plugin imports: each exported package of a dependency generation it was
     * resolved against, to that generation's loader. Emptied at the close (so a closed dependent
     * holds no dependency loader); afterwards a request for such a class is a late access.
     */
    private volatile Map<String, PluginClassLoader> imports;

    /** A parent-first loader of one jar. */
    PluginClassLoader(String name, URL jar, ClassLoader parent, ClassLoader unloadguardLoader, ReleaseEpoch epoch) {
        this(name, new URL[] {jar}, parent, unloadguardLoader, epoch, IsolationPolicy.PARENT_FIRST, List.of(), Map.of());
    }

    /**
     * @param sharedPackages package names (with their subpackages) that plugin-first delegation
     *                       takes from the parent first
     * @param imports        package name to the loader of the dependency generation that exports it
     */
    PluginClassLoader(String name, URL[] classPath, ClassLoader parent, ClassLoader unloadguardLoader, ReleaseEpoch epoch,
                      IsolationPolicy policy, List<String> sharedPackages, Map<String, PluginClassLoader> imports) {
        super(name, classPath, parent);
        this.imports = Map.copyOf(imports);
        this.unloadguardLoader = unloadguardLoader;
        this.epoch = epoch;
        this.pluginFirst = policy == IsolationPolicy.PLUGIN_FIRST;
        String[] prefixes = new String[sharedPackages.size()]; // a loop: a stream cost a few µs at every load
        for (int i = 0; i < prefixes.length; i++) {
            prefixes[i] = sharedPackages.get(i) + ".";
        }
        this.shared = prefixes;
    }

    IsolationPolicy isolation() {
        return pluginFirst ? IsolationPolicy.PLUGIN_FIRST : IsolationPolicy.PARENT_FIRST;
    }

    /** For the agent's cache of woven classes: the delegation, which decides where supertypes are read. */
    @Override
    public String lookupOrder() {
        return pluginFirst ? "plugin-first;shared=" + String.join(",", shared) : "parent-first";
    }

    /** For the agent's cache of woven classes: the dependency loaders whose exports this loader reads. */
    @Override
    public Map<String, ClassLoader> importSources() {
        return Map.<String, ClassLoader>copyOf(imports);
    }

    @Override
    public ReleaseEpoch releaseEpoch() {
        return epoch;
    }

    @Override
    protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
        if (name.startsWith(UNLOADGUARD) && isOwn(name)) {
            if (name.equals(PluginEpochClass.NAME)) {
                return epochClass();
            }
            if (!isApi(name)) {
                throw new ClassNotFoundException(name + " is part of unloadguard's host library or internals, which plugins "
                        + "cannot use (plugin " + getName() + "): a plugin links only against unloadguard-api "
                        + "(dev.unloadguard.driver, dev.unloadguard.device) and dev.unloadguard.epoch");
            }
            return Class.forName(name, false, unloadguardLoader);
        }
        PluginClassLoader exporter = exporterOf(name, '.');
        if (exporter != null) {
            return exporter.loadClass(name); // a dependency's export: its class, defined (and guarded) by its loader
        }
        if (!pluginFirst || parentFirst(name, '.')) {
            return super.loadClass(name, resolve);
        }
        synchronized (getClassLoadingLock(name)) {
            Class<?> c = findLoadedClass(name);
            if (c == null) {
                try {
                    c = findClass(name); // after the close: PluginUnloadedError, a late access
                } catch (ClassNotFoundException notThePlugins) {
                    ClassLoader parent = getParent();
                    c = parent != null ? parent.loadClass(name) : Class.forName(name, false, null);
                }
            }
            if (resolve) {
                resolveClass(c);
            }
            return c;
        }
    }

    /**
     * The generation's epoch class, defined in this loader on first request. Under the name's
     * class-loading lock, so two threads resolving it at once define it once. Neither the close
     * nor anything in the plugin's jar changes what it returns.
     */
    private Class<?> epochClass() {
        synchronized (getClassLoadingLock(PluginEpochClass.NAME)) {
            Class<?> c = findLoadedClass(PluginEpochClass.NAME);
            if (c == null) {
                byte[] b = PluginEpochClass.bytes();
                c = defineClass(PluginEpochClass.NAME, b, 0, b.length);
            }
            return c;
        }
    }

    /**
     * Whether plugin-first delegation still asks the parent first for {@code name} (a class name
     * with {@code sep} '.', or a resource name with '/'): the JDK's packages, unloadguard's and
     * the host's shared ones.
     */
    private boolean parentFirst(String name, char sep) {
        int last = name.lastIndexOf(sep);
        if (last < 0) {
            return false; // the unnamed package: the plugin's
        }
        String pkg = sep == '.' ? name.substring(0, last) : name.substring(0, last).replace('/', '.');
        String dotted = pkg + ".";
        if (JdkPackages.ALL.contains(pkg) || isOwn(dotted)) {
            return true;
        }
        for (String s : shared) {
            if (dotted.startsWith(s)) {
                return true;
            }
        }
        return false;
    }

    /** The dependency loader exporting the package of {@code name} (a class or, with '/', a resource), or null. */
    private PluginClassLoader exporterOf(String name, char sep) {
        Map<String, PluginClassLoader> im = imports;
        if (im.isEmpty()) {
            return null;
        }
        int last = name.lastIndexOf(sep);
        if (last < 0) {
            return null;
        }
        return im.get(sep == '.' ? name.substring(0, last) : name.substring(0, last).replace('/', '.'));
    }

    /** The packages this loader takes from its dependencies (empty once closed). */
    Set<String> importedPackages() {
        return imports.keySet();
    }

    @Override
    public URL getResource(String name) {
        PluginClassLoader exporter = exporterOf(name, '/');
        if (exporter != null) {
            return exporter.getResource(name);
        }
        if (!pluginFirst || parentFirst(name, '/')) {
            return super.getResource(name);
        }
        URL mine = findResource(name);
        if (mine != null) {
            return mine;
        }
        ClassLoader parent = getParent();
        return parent != null ? parent.getResource(name) : ClassLoader.getPlatformClassLoader().getResource(name);
    }

    @Override
    public Enumeration<URL> getResources(String name) throws IOException {
        PluginClassLoader exporter = exporterOf(name, '/');
        if (exporter != null) {
            return exporter.getResources(name);
        }
        if (!pluginFirst || parentFirst(name, '/')) {
            return super.getResources(name);
        }
        Set<URL> all = new LinkedHashSet<>(Collections.list(findResources(name)));
        ClassLoader parent = getParent();
        all.addAll(Collections.list(parent != null ? parent.getResources(name) : ClassLoader.getPlatformClassLoader().getResources(name)));
        return Collections.enumeration(all);
    }

    /** The packages of the JDK's own modules (boot and platform loaders), read once when first needed. */
    private static final class JdkPackages {
        static final Set<String> ALL = read();

        private static Set<String> read() {
            Set<String> all = new HashSet<>();
            ClassLoader platform = ClassLoader.getPlatformClassLoader();
            for (Module m : ModuleLayer.boot().modules()) {
                ClassLoader l = m.getClassLoader();
                if (l == null || l == platform) {
                    all.addAll(m.getPackages());
                }
            }
            return Set.copyOf(all);
        }
    }

    private static boolean isOwn(String name) {
        for (String p : OWN_PACKAGES) {
            if (name.startsWith(p)) {
                return true;
            }
        }
        return false;
    }

    private static boolean isApi(String name) {
        for (String p : API_PACKAGES) {
            if (name.startsWith(p) && name.indexOf('.', p.length()) < 0) {
                return true;
            }
        }
        return false;
    }

    @Override
    protected Class<?> findClass(String name) throws ClassNotFoundException {
        Plugin gone = unloaded;
        if (gone == null) {
            try {
                return super.findClass(name);
            } catch (ClassNotFoundException e) {
                gone = unloaded; // closed while we looked?
                if (gone == null) {
                    throw e;
                }
            } catch (RuntimeException | Error e) {
                // A read racing the close fails inside the JDK's zip layer ("zip file closed",
                // "Inflater has been closed", ...): that is a late access too, whatever it says.
                gone = unloaded;
                if (gone == null) {
                    throw e;
                }
            }
        }
        gone.countLateAccess(name);
        throw new PluginUnloadedError(name, gone.id(), gone.generation(), gone.unloadedAt().orElse(Instant.now()), getName());
    }

    /** Marks the loader unloaded (late accesses are reported against {@code plugin}), then closes it. */
    void closeFor(Plugin plugin) throws java.io.IOException {
        unloaded = plugin;
        imports = Map.of();
        close();
    }

    @Override
    public String toString() {
        return getName();
    }
}
