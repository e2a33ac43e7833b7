package dev.unloadguard.loader;

import java.io.IOException;
import java.io.InputStream;
import java.net.MalformedURLException;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Enumeration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.jar.Attributes;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.jar.Manifest;
import java.util.stream.Stream;

/**
 * The files of one plugin generation, copied privately as a unit at load, and the class path its
 * one class loader reads. The layouts (documented in docs/plugin-guide.md, "Plugin layouts"):
 * <ol>
 * <li>a plain jar: its private copy, one file shared by the generations of that content
 *     ({@link PrivateCopies}; the common case: read once per content, nothing else);</li>
 * <li>a jar with nested {@code lib/*.jar} entries: the jar, then each nested jar extracted;</li>
 * <li>a jar whose manifest {@code Class-Path} names jars (or folders) relative to it: each is
 *     copied from the plugin's folder, at the same relative place, so the class loader's own
 *     reading of {@code Class-Path} finds the copies and nothing else;</li>
 * <li>a directory or a zip in the PF4J layout: {@code classes/} (a folder of classes) and
 *     {@code lib/*.jar}.</li>
 * </ol>
 * Every library's own {@code Class-Path} is followed the same way, each entry relative to the jar
 * naming it and confined to its root (the plugin's folder, or the content of the plugin archive):
 * an absolute path, a URL or an entry escaping the root is refused, so the class loader never
 * reads a file outside the private copy. A named library that does not exist is not an error
 * (the JDK ignores it too) but is logged and remembered: when a class turns out to be missing,
 * {@link #missingClass} names it as the likely cause.
 *
 * <p>Layout of the copy for anything but a plain jar: {@code <copies>/<name>-<n>/plugin/} mirrors
 * the plugin's folder (the jar and its {@code Class-Path} libraries) or the PF4J layout;
 * {@code <copies>/<name>-<n>/nested/lib/} holds the jars extracted from the plugin jar's {@code lib/}.
 * The whole directory is made from the jar's shared copy, per generation, and deleted when the
 * generation is unloaded or its load fails.
 */
final class PluginFiles {

    private static final System.Logger LOG = System.getLogger("dev.unloadguard.loader");
    private static final String CLASSES = "classes/";
    private static final String LIB = "lib/";

    /** The private copy to delete at unload: a file (plain jar) or a directory. */
    final Path copy;
    /** The generation loader's class path, in order. */
    final List<URL> classPath;
    /** The text of the plugin's own driver service file, or {@code null}. */
    final String services;
    /** The libraries the plugin brought, described for error messages. */
    final List<String> libraries;
    /** Libraries named in a {@code Class-Path} that do not exist, each said as a sentence. */
    final List<String> missing;
    /**
     * The main attributes of the plugin's own manifest (the plugin jar's, or {@code classes/}'s
     * in the PF4J layout), read with the rest; {@code null} if it has none.
     */
    final Attributes manifest;
    /**
     * What would provide a missing class from another plugin (a dependency that does not export
     * it, a plugin not required), or {@code null}; set by the loader before the plugin's classes load.
     */
    volatile java.util.function.Function<String, String> providers;
    /**
     * The shared copy of the plugin jar this load used ({@code null} for a directory): released
     * with {@link #copy} when the generation ends; if the load fails, deleted if this load made it
     * ({@link PrivateCopies#discardIfCreated}).
     */
    final PrivateCopies.Lease lease;

    private PluginFiles(Path copy, List<URL> classPath, String services, List<String> libraries, List<String> missing,
                        Attributes manifest, PrivateCopies.Lease lease) {
        this.lease = lease;
        this.manifest = manifest;
        this.copy = copy;
        this.classPath = List.copyOf(classPath);
        this.services = services;
        this.libraries = List.copyOf(libraries);
        this.missing = List.copyOf(missing);
    }

    /**
     * Makes the private copy of {@code path} (absolute, normalized, checked by
     * {@link PluginJars#check}, which says whether it is a {@code directory}): on failure nothing
     * this load made is left. A jar's copy is shared by the generations of its content
     * ({@link PrivateCopies}) and read once: a plain jar's generation reads that copy; anything
     * else gets a directory of its own made from it.
     */
    static PluginFiles copy(Path path, boolean directory, PrivateCopies copies) throws PluginLoadException {
        if (directory) {
            Path unit = copies.newDirectory(path);
            try {
                return fromDirectory(path, unit);
            } catch (PluginLoadException | RuntimeException | Error e) {
                copies.delete(unit);
                throw e;
            }
        }
        PrivateCopies.Lease lease = copies.acquire(path);
        Path copy = lease.file();
        Path unit = null;
        boolean made = false;
        try {
            Scan scan = copies.scanned(lease, c -> scan(c, path));
            Attributes manifest = scan.manifest == null ? null : (Attributes) scan.manifest.clone();
            if (!scan.pf4j && scan.nestedLibs.isEmpty() && scan.classPath == null) {
                PluginFiles plain = new PluginFiles(copy, List.of(scan.url), scan.services, List.of(), List.of(), manifest, lease);
                made = true;
                return plain;
            }
            unit = copies.newDirectory(path);
            PluginFiles files = fromArchive(path, copy, unit, scan, lease, manifest);
            made = true;
            return files;
        } catch (IOException e) {
            throw new PluginLoadException(path, "cannot make the private copy of plugin " + path + " in " + copy.getParent()
                    + ": " + e + "; check free space and permissions there (PluginLoader.Builder.copyDirectory)", e);
        } finally {
            if (unit != null || !made) {
                copies.release(copy); // the generation reads its own directory (or the load failed)
            }
            if (!made) {
                copies.delete(unit);
                copies.discardIfCreated(lease);
            }
        }
    }

    /** What the plugin archive holds, read in the one open of its copy; shared by the loads of that copy (never changed). */
    private static final class Scan {
        String services;
        boolean pf4j;
        final List<String> nestedLibs = new ArrayList<>();
        String classPath;
        Attributes manifest;
        /** The copy's URL, for a class path. */
        URL url;
    }

    /** Reads the copy's layout; the {@link JarFile} stays open with the copy ({@link PrivateCopies#scanned}). */
    private static PrivateCopies.Opened<Scan> scan(Path copy, Path path) throws PluginLoadException {
        Scan s = new Scan();
        JarFile jar = null;
        boolean scanned = false;
        try {
            jar = new JarFile(copy.toFile(), false);
            s.services = read(jar, PluginJars.SERVICES);
            boolean classesFolder = false;
            for (Enumeration<JarEntry> e = jar.entries(); e.hasMoreElements(); ) {
                String n = e.nextElement().getName();
                if (n.startsWith(LIB) && n.endsWith(".jar") && n.indexOf('/', LIB.length()) < 0) {
                    s.nestedLibs.add(n);
                } else if (n.startsWith(CLASSES)) {
                    classesFolder = true;
                }
            }
            if (s.services == null && classesFolder) {
                s.pf4j = true;
                s.services = read(jar, CLASSES + PluginJars.SERVICES);
            } else {
                Manifest mf = jar.getManifest();
                s.manifest = mf == null ? null : mf.getMainAttributes();
                String cp = mf == null ? null : mf.getMainAttributes().getValue(Attributes.Name.CLASS_PATH);
                s.classPath = cp == null || cp.isBlank() ? null : cp;
            }
            Collections.sort(s.nestedLibs);
            s.url = url(copy);
            scanned = true;
            return new PrivateCopies.Opened<>(s, jar);
        } catch (IOException e) {
            throw new PluginLoadException(path, "plugin jar " + path + " is not a jar (zip) file or is corrupt: "
                    + e.getMessage() + "; rebuild the plugin", e);
        } finally {
            if (!scanned && jar != null) {
                try {
                    jar.close(); // a failed scan keeps nothing open
                } catch (IOException e) {
                    LOG.log(System.Logger.Level.DEBUG, "could not close " + copy, e);
                }
            }
        }
    }

    private static String read(JarFile jar, String name) throws IOException {
        JarEntry entry = jar.getJarEntry(name);
        if (entry == null) {
            return null;
        }
        try (InputStream in = jar.getInputStream(entry)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    /** Where the relative names of a {@code Class-Path} are confined: a folder on disk, or a copy only. */
    private static final class Root {
        final Path source; // null: what exists is already in target (an extracted archive)
        final Path target;
        final String what; // "the plugin's folder /x", "the plugin jar's lib/"

        Root(Path source, Path target, String what) {
            this.source = source;
            this.target = target;
            this.what = what;
        }
    }

    /**
     * The class path being built: in the order of discovery, each library's {@code Class-Path}
     * right after it; and what the error messages need (the libraries, the missing entries).
     */
    private static final class ClassPath {
        final Path path;
        final Path unit;
        final Map<Path, URL> urls = new LinkedHashMap<>();
        final List<String> libraries = new ArrayList<>();
        final List<String> missing = new ArrayList<>();

        ClassPath(Path path, Path unit) {
            this.path = path;
            this.unit = unit;
        }

        void add(Path target) throws PluginLoadException {
            urls.put(target, url(target));
        }

        /** A library jar at {@code rel} under {@code root}: on the class path, opened, its Class-Path followed. */
        void library(Root root, Path rel, String described) throws PluginLoadException {
            Path target = root.target.resolve(rel);
            if (urls.containsKey(target)) {
                return;
            }
            add(target);
            libraries.add(described);
            String cp;
            try (JarFile jar = new JarFile(target.toFile(), false)) {
                Manifest mf = jar.getManifest();
                cp = mf == null ? null : mf.getMainAttributes().getValue(Attributes.Name.CLASS_PATH);
            } catch (IOException e) {
                throw new PluginLoadException(path, "the library " + described + " of plugin " + path
                        + " is not a jar (zip) file or is corrupt: " + e.getMessage()
                        + "; replace it with a valid jar, or rebuild the plugin", e);
            }
            classPath(root, rel, cp, "library " + described);
        }

        /** Follows the {@code Class-Path} {@code cp} of the jar at {@code rel} under {@code root}. */
        void classPath(Root root, Path rel, String cp, String who) throws PluginLoadException {
            if (cp == null || cp.isBlank()) {
                return;
            }
            for (String entry : cp.trim().split("\\s+")) {
                Path named = relative(root, rel, entry, who);
                Path target = root.target.resolve(named);
                if (urls.containsKey(target)) {
                    continue;
                }
                String shown = root.target.relativize(target).toString().replace('\\', '/');
                if (root.source == null) {
                    if (Files.isRegularFile(target)) {
                        library(root, named, shown + " (" + root.what + ")");
                    } else if (Files.isDirectory(target)) {
                        add(target);
                        libraries.add(shown + "/ (" + root.what + ")");
                    } else {
                        missing(who + "'s manifest Class-Path names " + entry + ", which is not in " + root.what);
                    }
                    continue;
                }
                Path source = root.source.resolve(named);
                try {
                    if (Files.isRegularFile(source)) {
                        Files.createDirectories(target.getParent());
                        Files.copy(source, target);
                        library(root, named, shown + " (Class-Path, beside the plugin)");
                    } else if (Files.isDirectory(source)) {
                        copyTree(source, target);
                        add(target);
                        libraries.add(shown + "/ (Class-Path, beside the plugin)");
                    } else {
                        missing(who + "'s manifest Class-Path names " + entry + ", which is not "
                                + (rel.getParent() == null && who.startsWith("the plugin") ? "beside the plugin" : "in " + root.what)
                                + " (no " + source + ")");
                    }
                } catch (IOException e) {
                    throw new PluginLoadException(path, "cannot copy " + source + " (named by " + who + "'s manifest Class-Path) "
                            + "into the private copy " + unit + ": " + e + "; check free space and permissions there "
                            + "(PluginLoader.Builder.copyDirectory)", e);
                }
            }
        }

        void missing(String sentence) {
            missing.add(sentence);
            LOG.log(System.Logger.Level.WARNING, "plugin " + path + ": " + sentence + "; classes it holds will be missing");
        }

        /** The entry as a path relative to the root, refused if it is absolute, a URL or escapes the root. */
        Path relative(Root root, Path rel, String entry, String who) throws PluginLoadException {
            String p = entry;
            boolean absolute;
            try {
                URI u = new URI(entry);
                absolute = u.getScheme() != null || u.getRawAuthority() != null || u.getPath() == null;
                if (!absolute) {
                    p = u.getPath();
                }
            } catch (URISyntaxException e) {
                absolute = false; // not a URI (a space, a backslash, ...): read it as a path
            }
            absolute |= p.startsWith("/") || p.startsWith("\\") || Path.of(p).isAbsolute();
            if (absolute) {
                throw new PluginLoadException(path, subject(who, path) + " names '" + entry
                        + "' in its manifest Class-Path, an absolute path or URL: a plugin's libraries must be inside "
                        + root.what + " (they are copied with it); copy the library there and name it relative to the jar, "
                        + "for example lib/" + lastName(p), null);
            }
            Path parent = rel.getParent();
            Path named = (parent == null ? Path.of(p) : parent.resolve(p)).normalize();
            if (named.toString().isEmpty() || named.startsWith("..")) {
                throw new PluginLoadException(path, subject(who, path) + " names '" + entry
                        + "' in its manifest Class-Path, which is outside " + root.what
                        + ": a plugin's libraries must be inside it (they are copied with it); move the library into "
                        + "the plugin's folder, for example lib/" + lastName(p) + ", and name it relative to the jar", null);
            }
            return named;
        }

        PluginFiles build(Path copy, String services, Attributes manifest, PrivateCopies.Lease lease) {
            return new PluginFiles(copy, new ArrayList<>(urls.values()), services, libraries, missing, manifest, lease);
        }
    }

    /** Whose manifest it is, for error messages: "plugin X", or "the library L of plugin X". */
    private static String subject(String who, Path plugin) {
        return who.equals("the plugin") ? "plugin " + plugin : who + " of plugin " + plugin;
    }

    private static String lastName(String p) {
        String s = p.replace('\\', '/');
        while (s.endsWith("/")) {
            s = s.substring(0, s.length() - 1);
        }
        int slash = s.lastIndexOf('/');
        return slash < 0 ? s : s.substring(slash + 1);
    }

    /** A jar with nested libraries or a Class-Path, or a zip in the PF4J layout; {@code copy} is the jar's private copy. */
    private static PluginFiles fromArchive(Path path, Path copy, Path unit, Scan scan, PrivateCopies.Lease lease,
                                           Attributes manifest) throws IOException, PluginLoadException {
        ClassPath b = new ClassPath(path, unit);
        Path plugin = Files.createDirectory(unit.resolve("plugin"));
        if (scan.pf4j) {
            extract(copy, plugin, path);
            Root root = new Root(null, plugin, "the plugin zip " + path.getFileName());
            Path classes = plugin.resolve("classes");
            b.add(classes);
            pf4jLibraries(b, root, plugin);
            return b.build(unit, scan.services, folderManifest(classes), lease);
        }
        Path jar = plugin.resolve(path.getFileName().toString());
        Files.copy(copy, jar); // the shared copy stays for the next load of the same content
        b.add(jar);
        Path folder = path.getParent();
        Root beside = new Root(folder, plugin, "the plugin's folder " + folder);
        b.classPath(beside, jar.getFileName(), scan.classPath, "the plugin");
        if (!scan.nestedLibs.isEmpty()) {
            Path nested = Files.createDirectory(unit.resolve("nested"));
            extractLibs(jar, nested, scan.nestedLibs, path);
            Root inside = new Root(null, nested, "the plugin jar's lib/");
            for (String n : scan.nestedLibs) {
                b.library(inside, Path.of(n), n + " (inside the plugin jar)");
            }
        }
        return b.build(unit, scan.services, manifest, lease);
    }

    /** A directory in the PF4J layout, copied into {@code unit}. */
    private static PluginFiles fromDirectory(Path path, Path unit) throws PluginLoadException {
        ClassPath b = new ClassPath(path, unit);
        Path plugin = unit.resolve("plugin");
        String services;
        try {
            Files.createDirectory(plugin);
            Path classes = path.resolve("classes");
            if (Files.isDirectory(classes)) {
                copyTree(classes, plugin.resolve("classes"));
                b.add(plugin.resolve("classes"));
            }
            Path libs = path.resolve("lib");
            if (Files.isDirectory(libs)) {
                Files.createDirectory(plugin.resolve("lib"));
                try (Stream<Path> s = Files.list(libs)) {
                    for (Path lib : (Iterable<Path>) s.filter(f -> f.getFileName().toString().endsWith(".jar") && Files.isRegularFile(f))::iterator) {
                        Files.copy(lib, plugin.resolve("lib").resolve(lib.getFileName().toString()));
                    }
                }
            }
            Path sf = plugin.resolve("classes").resolve(PluginJars.SERVICES);
            services = Files.isRegularFile(sf) ? Files.readString(sf) : null;
        } catch (IOException e) {
            throw new PluginLoadException(path, "cannot make the private copy of plugin directory " + path + " at " + unit
                    + ": " + e + "; check that it is readable, and free space and permissions there (PluginLoader.Builder.copyDirectory)", e);
        }
        pf4jLibraries(b, new Root(path, plugin, "the plugin directory " + path), plugin);
        Attributes manifest;
        try {
            manifest = folderManifest(plugin.resolve("classes"));
        } catch (IOException e) {
            throw new PluginLoadException(path, "cannot read the manifest of plugin directory " + path + ": " + e
                    + "; rebuild the plugin", e);
        }
        return b.build(unit, services, manifest, null);
    }

    /** The main attributes of {@code classes/META-INF/MANIFEST.MF}, or null. */
    private static Attributes folderManifest(Path classes) throws IOException {
        Path f = classes.resolve(JarFile.MANIFEST_NAME);
        if (!Files.isRegularFile(f)) {
            return null;
        }
        try (InputStream in = Files.newInputStream(f)) {
            return new Manifest(in).getMainAttributes();
        }
    }

    private static void pf4jLibraries(ClassPath b, Root root, Path plugin) throws PluginLoadException {
        Path libs = plugin.resolve("lib");
        if (!Files.isDirectory(libs)) {
            return;
        }
        List<String> names = new ArrayList<>();
        try (Stream<Path> s = Files.list(libs)) {
            s.map(f -> f.getFileName().toString()).filter(n -> n.endsWith(".jar")).sorted().forEach(names::add);
        } catch (IOException e) {
            throw new PluginLoadException(b.path, "cannot list " + libs + ": " + e, e);
        }
        for (String n : names) {
            b.library(root, Path.of("lib", n), "lib/" + n);
        }
    }

    /** Extracts {@code classes/**} and {@code lib/*.jar} of a PF4J-layout zip. */
    private static void extract(Path zip, Path to, Path path) throws IOException, PluginLoadException {
        try (JarFile jar = new JarFile(zip.toFile(), false)) {
            for (Enumeration<JarEntry> e = jar.entries(); e.hasMoreElements(); ) {
                JarEntry entry = e.nextElement();
                String n = entry.getName();
                boolean lib = n.startsWith(LIB) && n.endsWith(".jar") && n.indexOf('/', LIB.length()) < 0;
                if (entry.isDirectory() || !(n.startsWith(CLASSES) || lib)) {
                    continue;
                }
                write(jar, entry, to, path);
            }
        }
    }

    private static void extractLibs(Path jarFile, Path to, List<String> names, Path path) throws IOException, PluginLoadException {
        try (JarFile jar = new JarFile(jarFile.toFile(), false)) {
            for (String n : names) {
                write(jar, jar.getJarEntry(n), to, path);
            }
        }
    }

    private static void write(JarFile jar, JarEntry entry, Path to, Path path) throws IOException, PluginLoadException {
        Path target = to.resolve(entry.getName()).normalize();
        if (!target.startsWith(to)) {
            throw new PluginLoadException(path, "plugin " + path + " holds the entry '" + entry.getName()
                    + "', which points outside the plugin: rebuild the plugin without it", null);
        }
        Files.createDirectories(target.getParent());
        try (InputStream in = jar.getInputStream(entry)) {
            Files.copy(in, target, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    private static void copyTree(Path from, Path to) throws IOException {
        Map<Path, Path> order = new TreeMap<>();
        try (Stream<Path> walk = Files.walk(from)) {
            walk.forEach(p -> order.put(from.relativize(p), p));
        }
        for (Map.Entry<Path, Path> e : order.entrySet()) {
            Path target = to.resolve(e.getKey().toString());
            if (Files.isDirectory(e.getValue())) {
                Files.createDirectories(target);
            } else {
                Files.copy(e.getValue(), target);
            }
        }
    }

    private static URL url(Path p) throws PluginLoadException {
        try {
            return p.toUri().toURL();
        } catch (MalformedURLException | RuntimeException e) {
            throw new PluginLoadException(p, "cannot turn " + p + " into a class path URL: " + e.getMessage(), e);
        }
    }

    /**
     * If {@code t} (or a cause) says a class is missing, and the class is indeed nowhere
     * {@code loader} can see, what is wrong and what would provide it; {@code null} otherwise.
     */
    String missingClass(Throwable t, ClassLoader loader) {
        int depth = 0;
        for (Throwable c = t; c != null && depth < 20; c = c.getCause(), depth++) {
            if (!(c instanceof NoClassDefFoundError || c instanceof ClassNotFoundException) || c.getMessage() == null) {
                continue;
            }
            String name = c.getMessage().trim().replace('/', '.');
            if (!isBinaryName(name)) {
                continue; // "Could not initialize class ...", unloadguard's refusals: not a missing class
            }
            if (loader.getResource(name.replace('.', '/') + ".class") != null) {
                return null; // it is there: something else is wrong with it
            }
            java.util.function.Function<String, String> p = providers;
            String hint = p == null ? null : p.apply(name);
            if (hint != null) {
                return "class " + name + " is not visible to the plugin: " + hint;
            }
            String where = libraries.isEmpty() ? "the plugin (which brings no libraries)"
                    : "the plugin or its libraries (" + String.join(", ", libraries) + ")";
            return "class " + name + " is not found in " + where + ", nor through the host's class loader; "
                    + (missing.isEmpty() ? "add the jar that holds it to the plugin's lib/ folder or its manifest Class-Path"
                            : String.join("; ", missing) + ": put it there, or add the jar that holds " + name
                                    + " to the plugin's lib/ folder");
        }
        return null;
    }

    private static boolean isBinaryName(String s) {
        if (s.isEmpty() || s.startsWith(".") || s.endsWith(".")) {
            return false;
        }
        for (int i = 0; i < s.length(); i++) {
            char ch = s.charAt(i);
            if (!(Character.isJavaIdentifierPart(ch) || ch == '.')) {
                return false;
            }
        }
        return true;
    }
}
