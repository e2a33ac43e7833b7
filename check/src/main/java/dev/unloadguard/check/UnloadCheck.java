package dev.unloadguard.check;

import dev.unloadguard.weave.internal.GuardPlan;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.zip.ZipEntry;
import java.util.zip.ZipException;
import java.util.zip.ZipFile;
import org.objectweb.asm.ClassReader;

/**
 * The static unload-hazard check of a plugin jar: every class entry is read with ASM's
 * {@link ClassReader}, never defined or loaded.
 *
 * <ul>
 * <li><b>Guard scope</b>: {@link Scope#ENTRIES} unless asked otherwise, as a
 *     {@code PluginLoader} loads a plugin by default: every method of the plugin is a section.
 *     The report counts the entry sections per class (gated entries and clean-up methods, see
 *     {@link EntrySections}), names the methods the agent would leave outside any section
 *     (found by weaving each class as the agent would, the result dropped), and lists the release
 *     paths one by one. With {@link Scope#RELEASE_PATHS} (a plugin loaded with
 *     {@code GUARD_RELEASE_PATHS_ONLY}) only the release paths are sections.
 * <li><b>Guarded release callbacks</b> (the release paths): what the agent will guard when the
 *     plugin's classes are defined with the agent installed, decided by {@link GuardPlan} exactly
 *     as the agent does.
 *     Supertypes resolve from the jar's own entries first, then from unloadguard's class loader
 *     (the API types, the JDK), as resources. The methods the agent adds are listed too: the
 *     bridges of method references to other classes ({@code METHOD_REFERENCE}) and the overrides
 *     guarding inherited release bodies ({@code INHERITED_RELEASE}), each with the method it
 *     calls. Bodies in another class of the jar that are not bridged (serializable method
 *     references) are planned in a second pass, as the agent's pending targets do. What a dynamic
 *     attach does to classes already loaded (no methods added; bodies guarded in their own
 *     classes instead) is not modeled.
 * <li><b>Unload hazards</b>: instruction patterns found by {@link HazardScanner} (threads,
 *     executors, timers, shutdown hooks, {@code ThreadLocal} fields, JDBC driver registration,
 *     {@code java.util.logging} handlers, stores into static state of host or JDK classes, native
 *     libraries), each with its class, method and line; plus a
 *     {@code META-INF/services/java.sql.Driver} entry (a warning).
 * </ul>
 * Entries under {@code META-INF/versions/} are read too (after the base entries); a finding made
 * in several versions of a class is listed once. {@code module-info.class} is skipped.
 */
public final class UnloadCheck {

    private static final String VERSIONS = "META-INF/versions/";
    private static final String JDBC_SERVICES = "META-INF/services/java.sql.Driver";

    private UnloadCheck() {
    }

    /** What the agent guards in the checked plugin: the guard scope a host loads it with. */
    public enum Scope {
        /** Every method is a section (a plugin loader's default, {@code GuardScope.ENTRIES}). */
        ENTRIES(GuardPlan.Scope.ENTRIES),
        /** Release paths only ({@code GuardScope.RELEASE_PATHS}, {@code LoadOption.GUARD_RELEASE_PATHS_ONLY}). */
        RELEASE_PATHS(GuardPlan.Scope.RELEASE_PATHS);

        private final GuardPlan.Scope plan;

        Scope(GuardPlan.Scope plan) {
            this.plan = plan;
        }
    }

    /**
     * Reads and checks a jar in guard scope {@link Scope#ENTRIES} (what a plugin loader
     * does by default).
     *
     * @throws CheckException if the file is missing, not a jar, or holds an unreadable entry
     */
    public static CheckReport check(Path jar) throws CheckException {
        return check(jar, Scope.ENTRIES);
    }

    /**
     * Reads and checks a jar in guard scope {@code scope}.
     *
     * @throws CheckException if the file is missing, not a jar, or holds an unreadable entry
     */
    public static CheckReport check(Path jar, Scope scope) throws CheckException {
        return analyze(jar.toString(), read(jar), scope);
    }

    /**
     * Checks jar entries already in memory.
     *
     * @param jarName how to name the jar in the report and in errors
     * @param entries entry name ({@code a/b/C.class}) to bytes; other entries than class files and
     *     {@code META-INF/services/java.sql.Driver} are ignored
     * @throws CheckException if a class entry is not a class file ASM can read
     */
    public static CheckReport analyze(String jarName, Map<String, byte[]> entries) throws CheckException {
        return analyze(jarName, entries, Scope.ENTRIES);
    }

    /**
     * {@link #analyze(String, Map)} in guard scope {@code scope}.
     *
     * @throws CheckException if a class entry is not a class file ASM can read
     */
    public static CheckReport analyze(String jarName, Map<String, byte[]> entries, Scope scope) throws CheckException {
        List<ClassEntry> classes = classEntries(jarName, entries);
        Set<String> names = new LinkedHashSet<>();
        for (ClassEntry c : classes) {
            if (!c.entry.startsWith(VERSIONS)) {
                names.add(c.reader.getClassName());
            }
        }
        JarTypes types = new JarTypes(entries, names);

        // 1. Plans, and the method-reference bodies each class names in other classes of the jar.
        Map<ClassEntry, GuardPlan> plans = new LinkedHashMap<>();
        Map<String, Set<String>> bodies = new HashMap<>();
        for (ClassEntry c : classes) {
            GuardPlan plan = plan(jarName, c, types, Set.of(), scope);
            plans.put(c, plan);
            for (GuardPlan.Target t : plan.externalTargets()) {
                if (types.inJar(t.owner())) {
                    bodies.computeIfAbsent(t.owner(), o -> new LinkedHashSet<>()).add(t.name() + t.descriptor());
                }
            }
        }
        // 2. Owners of such bodies planned again with them, as the agent's pending targets do.
        Set<GuardedMethod> guarded = new LinkedHashSet<>();
        Map<String, EntrySections> sections = new LinkedHashMap<>();
        for (Map.Entry<ClassEntry, GuardPlan> e : plans.entrySet()) {
            ClassEntry c = e.getKey();
            Set<String> pending = bodies.get(c.reader.getClassName());
            GuardPlan plan = pending == null ? e.getValue() : plan(jarName, c, types, pending, scope);
            int entrySections = 0;
            int cleanup = 0;
            for (GuardPlan.Target t : plan.targets()) {
                if (t.reason() == GuardPlan.Reason.ENTRY || t.reason() == GuardPlan.Reason.CLEANUP) {
                    entrySections++;
                    cleanup += t.reason() == GuardPlan.Reason.CLEANUP ? 1 : 0;
                } else {
                    guarded.add(new GuardedMethod(dotted(t.owner()), t.name() + t.descriptor(), t.reason(), dottedOwner(t.calls())));
                }
            }
            if (entrySections > 0 && !c.entry.startsWith(VERSIONS)) {
                List<String> unwoven;
                try {
                    unwoven = plan.unwovenMethods(c.bytes);
                } catch (RuntimeException ex) {
                    throw corrupt(jarName, c.entry, ex);
                }
                sections.put(dotted(plan.className()), new EntrySections(dotted(plan.className()), entrySections, cleanup, unwoven));
            }
        }

        Set<Hazard> found = new LinkedHashSet<>();
        for (ClassEntry c : classes) {
            try {
                c.reader.accept(new HazardScanner(types, found::add), ClassReader.SKIP_FRAMES);
            } catch (RuntimeException ex) {
                throw corrupt(jarName, c.entry, ex);
            }
        }
        byte[] services = entries.get(JDBC_SERVICES);
        if (services != null) {
            for (String line : new String(services, StandardCharsets.UTF_8).split("\\R")) {
                String provider = line.replaceFirst("#.*", "").trim();
                if (!provider.isEmpty()) {
                    found.add(new Hazard(HazardKind.JDBC_DRIVER_SERVICE, provider, "", -1,
                            "declared as a JDBC driver in " + JDBC_SERVICES
                                    + ": DriverManager registers it if it scans with the plugin's loader as context loader"));
                }
            }
        }
        List<Hazard> hazards = new ArrayList<>();
        List<Hazard> warnings = new ArrayList<>();
        for (Hazard h : found) {
            (h.kind().isWarning() ? warnings : hazards).add(h);
        }
        return new CheckReport(jarName, names.size(), scope, new ArrayList<>(guarded), new ArrayList<>(sections.values()), hazards,
                warnings);
    }

    private static GuardPlan plan(String jarName, ClassEntry c, JarTypes types, Set<String> pending, Scope scope)
            throws CheckException {
        try {
            return pending.isEmpty() ? GuardPlan.of(c.bytes, types.resources(), scope.plan)
                    : GuardPlan.of(c.bytes, types.resources(), pending, scope.plan);
        } catch (RuntimeException ex) {
            throw corrupt(jarName, c.entry, ex);
        }
    }

    /** One class entry, its header parsed. */
    private static final class ClassEntry {
        final String entry;
        final byte[] bytes;
        final ClassReader reader;

        ClassEntry(String entry, byte[] bytes, ClassReader reader) {
            this.entry = entry;
            this.bytes = bytes;
            this.reader = reader;
        }
    }

    /** The class entries, base entries first, each sorted by name; {@code module-info} skipped. */
    private static List<ClassEntry> classEntries(String jarName, Map<String, byte[]> entries) throws CheckException {
        TreeMap<String, byte[]> base = new TreeMap<>();
        TreeMap<String, byte[]> versioned = new TreeMap<>();
        for (Map.Entry<String, byte[]> e : entries.entrySet()) {
            String name = e.getKey();
            if (!name.endsWith(".class") || name.equals("module-info.class") || name.endsWith("/module-info.class")) {
                continue;
            }
            (name.startsWith(VERSIONS) ? versioned : base).put(name, e.getValue());
        }
        List<ClassEntry> result = new ArrayList<>();
        for (TreeMap<String, byte[]> part : List.of(base, versioned)) {
            for (Map.Entry<String, byte[]> e : part.entrySet()) {
                byte[] b = e.getValue();
                if (b.length < 10 || (b[0] & 0xFF) != 0xCA || (b[1] & 0xFF) != 0xFE || (b[2] & 0xFF) != 0xBA || (b[3] & 0xFF) != 0xBE) {
                    throw new CheckException(jarName + ": corrupt class entry '" + e.getKey()
                            + "' (it does not start with the class-file magic number 0xCAFEBABE): rebuild the jar");
                }
                try {
                    result.add(new ClassEntry(e.getKey(), b, new ClassReader(b)));
                } catch (RuntimeException ex) {
                    throw corrupt(jarName, e.getKey(), ex);
                }
            }
        }
        return result;
    }

    private static CheckException corrupt(String jarName, String entry, RuntimeException ex) {
        String why = ex.getMessage() == null ? ex.getClass().getSimpleName() : ex.getMessage();
        return new CheckException(jarName + ": corrupt class entry '" + entry + "' (" + why
                + "): rebuild the jar, or check it with a JDK that reads this class-file version", ex);
    }

    /** Class entries and the JDBC service file of a jar, by entry name. */
    private static Map<String, byte[]> read(Path jar) throws CheckException {
        if (!Files.exists(jar)) {
            throw new CheckException(jar + " not found: pass the path of a plugin jar (e.g. driver-sample/target/driver-sample.jar)");
        }
        if (Files.isDirectory(jar)) {
            throw new CheckException(jar + " is a directory, not a jar: pass the plugin's jar file");
        }
        if (!Files.isReadable(jar)) {
            throw new CheckException(jar + " is not readable: check its permissions");
        }
        Map<String, byte[]> entries = new HashMap<>();
        ZipFile zip;
        try {
            zip = new ZipFile(jar.toFile());
        } catch (ZipException e) {
            throw new CheckException(jar + " is not a jar (" + e.getMessage() + "): pass a plugin jar built with jar or Maven", e);
        } catch (IOException e) {
            throw new CheckException("cannot read " + jar + " (" + e + ")", e);
        }
        try (zip) {
            for (Enumeration<? extends ZipEntry> it = zip.entries(); it.hasMoreElements(); ) {
                ZipEntry entry = it.nextElement();
                String name = entry.getName();
                if (entry.isDirectory() || !(name.endsWith(".class") || name.equals(JDBC_SERVICES))) {
                    continue;
                }
                try (InputStream in = zip.getInputStream(entry)) {
                    entries.put(name, in.readAllBytes());
                } catch (IOException e) {
                    throw new CheckException(jar + ": corrupt entry '" + name + "' (" + e.getMessage() + "): rebuild the jar", e);
                }
            }
        } catch (IOException e) {
            throw new CheckException("cannot read " + jar + " (" + e + ")", e);
        }
        return entries;
    }

    private static String dotted(String internalName) {
        return internalName.replace('/', '.');
    }

    /** {@code a/b/C.name(La/b/D;)V} as {@code a.b.C.name(La/b/D;)V}: the owner dotted, the descriptor as is. */
    private static String dottedOwner(String method) {
        int dot = method.indexOf('.');
        return dot < 0 ? method : dotted(method.substring(0, dot)) + method.substring(dot);
    }
}
