package dev.unloadguard.loader;

import dev.unloadguard.driver.Driver;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;
import java.util.jar.JarFile;
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

    /** The jar exists, is a readable regular file, and is a zip. */
    static void check(Path path) throws PluginLoadException {
        if (!Files.exists(path)) {
            throw new PluginLoadException(path, "plugin jar " + path + " does not exist: pass the path of a built plugin jar", null);
        }
        if (!Files.isRegularFile(path)) {
            throw new PluginLoadException(path, "plugin jar " + path + " is not a regular file (a directory?): pass the path of a .jar file", null);
        }
        if (!Files.isReadable(path)) {
            throw new PluginLoadException(path, "plugin jar " + path + " is not readable: check its permissions", null);
        }
        try (JarFile ignored = new JarFile(path.toFile())) {
            // opened: it is a zip
        } catch (IOException e) {
            throw new PluginLoadException(path, "plugin jar " + path + " is not a jar (zip) file or is corrupt: "
                    + e.getMessage() + "; rebuild the plugin", e);
        }
    }

    /** The one driver the jar declares (with {@link ServiceLoader}), created. */
    static Driver driver(PluginClassLoader cl, Path path) throws PluginLoadException {
        List<Driver> drivers = new ArrayList<>();
        try {
            for (ServiceLoader.Provider<Driver> p : ServiceLoader.load(Driver.class, cl).stream().collect(Collectors.toList())) {
                if (p.type().getClassLoader() == cl) { // parent loaders' drivers are not this jar's
                    drivers.add(p.get());
                }
            }
        } catch (ServiceConfigurationError e) {
            throw new PluginLoadException(path, "plugin jar " + path + " declares a driver that cannot be created: "
                    + e.getMessage() + " (check META-INF/services/" + Driver.class.getName()
                    + " and the driver's public no-argument constructor)", e);
        } catch (LinkageError e) { // ServiceLoader lets a corrupt or incompatible class file through as is
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
