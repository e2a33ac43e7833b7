package dev.unloadguard.loader;

import dev.unloadguard.driver.Driver;
import java.io.IOException;
import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * What {@link PluginLoader#load} checks of a plugin jar, each failure a {@link PluginLoadException}
 * naming the jar, what is wrong and the fix: the file, its one driver, the driver's id.
 */
final class PluginJars {

    private static final Pattern ID = Pattern.compile("[A-Za-z0-9._-]{1,64}");

    private PluginJars() {
    }

    /** Where a jar names its driver, as {@link ServiceLoader} reads it. */
    static final String SERVICES = "META-INF/services/" + Driver.class.getName();

    /**
     * The plugin exists and is readable: a regular file (whether it is a zip: {@link PluginFiles};
     * whether it is readable: the read that digests it, {@link PrivateCopies#acquire}), or a
     * readable directory in the PF4J layout ({@code classes/}, {@code lib/}).
     *
     * @return whether it is a directory
     */
    static boolean check(Path path) throws PluginLoadException {
        BasicFileAttributes attributes;
        try {
            attributes = Files.readAttributes(path, BasicFileAttributes.class); // one stat for both checks
        } catch (IOException e) {
            attributes = null; // as Files.exists: missing, or not even its attributes can be read
        }
        if (attributes == null) {
            throw new PluginLoadException(path, "plugin jar " + path + " does not exist: pass the path of a built plugin jar", null);
        }
        if (attributes.isDirectory()) {
            if (!Files.isDirectory(path.resolve("classes")) && !Files.isDirectory(path.resolve("lib"))) {
                throw new PluginLoadException(path, "plugin jar " + path + " is not a regular file but a directory without "
                        + "classes/ or lib/: pass the path of a .jar file, or of a plugin directory in the PF4J layout "
                        + "(classes/ with the driver's META-INF/services, lib/*.jar)", null);
            }
        } else if (!attributes.isRegularFile()) {
            throw new PluginLoadException(path, "plugin jar " + path + " is not a regular file: pass the path of a .jar file", null);
        }
        if (attributes.isDirectory() && !Files.isReadable(path)) { // a jar: its one read for the copy says it (notReadable)
            throw notReadable(path, null);
        }
        return attributes.isDirectory();
    }

    /** The plugin at {@code path} cannot be read: its permissions. */
    static PluginLoadException notReadable(Path path, Throwable cause) {
        return new PluginLoadException(path, "plugin jar " + path + " is not readable: check its permissions", cause);
    }

    /**
     * The one driver the jar declares, created. {@code services} is the jar's own {@link #SERVICES}
     * text ({@link #servicesFile}): when it names exactly one public, concrete {@link Driver} class
     * of the jar with a public no-argument constructor, that class is loaded and created directly
     * (what {@link ServiceLoader} would do, without its look-up of the service file in every parent
     * loader, its parsing through a fresh jar connection, and its stream). Anything else, every
     * bad input included, goes through {@link #driverByServiceLoader}, so the errors are the ones
     * it has always given; a constructor that throws is reported as {@code ServiceLoader} reports
     * it.
     */
    static Driver driver(PluginClassLoader cl, Path path, PluginFiles files) throws PluginLoadException {
        String services = files.services;
        String name = services == null ? null : onlyProviderName(services);
        Constructor<?> ctor = name == null ? null : directConstructor(cl, name);
        if (ctor == null) {
            return driverByServiceLoader(cl, path, files);
        }
        Object driver;
        try {
            driver = ctor.newInstance();
        } catch (Throwable t) {
            Throwable cause = t instanceof InvocationTargetException ? t.getCause() : t;
            // ServiceLoader's words for it (ProviderImpl.newInstance), so the report is the same either way
            throw cannotCreate(path, new ServiceConfigurationError(Driver.class.getName() + ": Provider " + name
                    + " could not be instantiated", cause), files, cl);
        }
        return (Driver) driver;
    }

    /**
     * The one provider name in a service file, if its every line is well-formed (comments after
     * {@code #}, blank lines, duplicates) and it names exactly one class; {@code null} otherwise.
     */
    static String onlyProviderName(String services) {
        String only = null;
        for (Iterator<String> lines = services.lines().iterator(); lines.hasNext(); ) { // \n, \r\n or \r, as ServiceLoader; no regex per load
            String line = lines.next();
            int hash = line.indexOf('#');
            String ln = (hash >= 0 ? line.substring(0, hash) : line).trim();
            if (ln.isEmpty()) {
                continue;
            }
            if (!isClassName(ln) || (only != null && !only.equals(ln))) {
                return null; // ServiceLoader's syntax errors, or several drivers: its messages
            }
            only = ln;
        }
        return only;
    }

    private static boolean isClassName(String ln) {
        int cp = ln.codePointAt(0);
        if (!Character.isJavaIdentifierStart(cp)) {
            return false;
        }
        for (int i = Character.charCount(cp); i < ln.length(); i += Character.charCount(cp)) {
            cp = ln.codePointAt(i);
            if (!Character.isJavaIdentifierPart(cp) && cp != '.') {
                return false;
            }
        }
        return true;
    }

    /**
     * The public no-argument constructor of {@code name} if it is a public, concrete {@link Driver}
     * class defined by {@code cl} in an unnamed module; {@code null} for anything else (the
     * class is missing or broken, a parent's, not a driver, ...).
     */
    private static Constructor<?> directConstructor(PluginClassLoader cl, String name) {
        try {
            Class<?> c = Class.forName(name, false, cl);
            int mods = c.getModifiers();
            if (c.getClassLoader() != cl || c.getModule().isNamed() || !Driver.class.isAssignableFrom(c)
                    || !Modifier.isPublic(mods) || Modifier.isAbstract(mods)) {
                return null;
            }
            return c.getConstructor();
        } catch (ClassNotFoundException | LinkageError | NoSuchMethodException | RuntimeException e) {
            return null;
        }
    }

    private static PluginLoadException cannotCreate(Path path, ServiceConfigurationError e, PluginFiles files, ClassLoader cl) {
        PluginLoadException missing = missingClass(path, e, files, cl);
        if (missing != null) {
            return missing;
        }
        return new PluginLoadException(path, "plugin jar " + path + " declares a driver that cannot be created: "
                + e.getMessage() + " (check META-INF/services/" + Driver.class.getName()
                + " and the driver's public no-argument constructor)", e);
    }

    /**
     * A driver that cannot be created or loaded because a class is missing (a library is): said as
     * such ({@link PluginFiles#missingClass}); {@code null} for any other cause.
     */
    private static PluginLoadException missingClass(Path path, Throwable e, PluginFiles files, ClassLoader cl) {
        String missing = files == null ? null : files.missingClass(e, cl);
        return missing == null ? null
                : new PluginLoadException(path, "the driver of plugin " + path + " cannot be loaded: " + missing, e);
    }

    /** The one driver the jar declares, found and created with {@link ServiceLoader}. */
    static Driver driverByServiceLoader(PluginClassLoader cl, Path path) throws PluginLoadException {
        return driverByServiceLoader(cl, path, null);
    }

    private static Driver driverByServiceLoader(PluginClassLoader cl, Path path, PluginFiles files) throws PluginLoadException {
        List<Driver> drivers = new ArrayList<>();
        try {
            for (ServiceLoader.Provider<Driver> p : ServiceLoader.load(Driver.class, cl).stream().collect(Collectors.toList())) {
                if (p.type().getClassLoader() == cl) { // parent loaders' drivers are not this jar's
                    drivers.add(p.get());
                }
            }
        } catch (ServiceConfigurationError e) {
            throw cannotCreate(path, e, files, cl);
        } catch (LinkageError e) { // ServiceLoader lets a corrupt or incompatible class file through as is
            PluginLoadException missing = missingClass(path, e, files, cl);
            if (missing != null) {
                throw missing;
            }
            throw new PluginLoadException(path, "plugin jar " + path + " declares a driver class that cannot be loaded: "
                    + e + " (the jar is corrupt or built for a newer Java: rebuild the plugin for Java "
                    + Runtime.version().feature() + " or older)", e);
        }
        if (drivers.isEmpty()) {
            throw new PluginLoadException(path, "plugin jar " + path + " contains no driver: add the file META-INF/services/"
                    + Driver.class.getName() + " naming the class that implements " + Driver.class.getName(), null);
        }
        if (drivers.size() > 1) {
            throw new PluginLoadException(path, "plugin jar " + path + " declares " + drivers.size() + " drivers ("
                    + drivers.stream().map(d -> d.getClass().getName()).collect(Collectors.joining(", "))
                    + "): a plugin jar holds exactly one driver; split them into separate jars", null);
        }
        return drivers.get(0);
    }

    /** The driver's id, checked. */
    static String id(Driver driver, Path path) throws PluginLoadException {
        String id;
        try {
            id = driver.id();
        } catch (RuntimeException e) {
            throw new PluginLoadException(path, "driver " + driver.getClass().getName() + " in " + path
                    + " threw from id(): " + e + "; id() must return a constant", e);
        }
        if (id == null || !ID.matcher(id).matches()) {
            throw new PluginLoadException(path, "driver " + driver.getClass().getName() + " in " + path
                    + " has an invalid id " + (id == null ? "null" : "'" + id + "'")
                    + ": use 1 to 64 characters of letters, digits, '.', '_' or '-'", null);
        }
        return id;
    }
}
