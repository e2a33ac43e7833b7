package dev.unloadguard.loader;

import java.io.IOException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The loader's private copies of plugin jars. A class loader reads its jar lazily for as long as
 * it lives; if it read the host's file, replacing that file (a new build, a deploy) or deleting it
 * would break the generation still running — classes not loaded yet would come from the new jar,
 * or from nowhere. So each generation reads a copy made at load, deleted when the generation is
 * unloaded (or its load fails). A plugin with libraries or in a folder layout gets a directory
 * ({@link PluginFiles}), deleted with everything in it.
 */
final class PrivateCopies {

    private static final System.Logger LOG = System.getLogger("dev.unloadguard.loader");

    private final Path configured;
    private final AtomicLong seq = new AtomicLong();
    private Path directory; // guarded by this, created on first use

    PrivateCopies(Path configured) {
        this.configured = configured;
    }

    synchronized Path directory() {
        if (directory == null) {
            try {
                if (configured != null) {
                    directory = Files.createDirectories(configured);
                } else {
                    directory = Files.createTempDirectory("unloadguard-plugins-");
                    directory.toFile().deleteOnExit(); // removed at exit if empty
                }
            } catch (IOException e) {
                throw new IllegalStateException("cannot create the directory for private plugin copies"
                        + (configured == null ? " in java.io.tmpdir" : " " + configured)
                        + ": " + e + "; pass a writable one with PluginLoader.Builder.copyDirectory", e);
            }
        }
        return directory;
    }

    Path copyOf(Path jar) throws PluginLoadException {
        String name = jar.getFileName().toString();
        String base = name.endsWith(".jar") ? name.substring(0, name.length() - 4) : name;
        Path target;
        try {
            target = directory().resolve(base + "-" + seq.incrementAndGet() + ".jar");
        } catch (IllegalStateException e) {
            throw new PluginLoadException(jar, e.getMessage(), e);
        }
        try {
            return Files.copy(jar, target); // bytes only: owner, mode and times are not needed (a few system calls less)
        } catch (IOException e) {
            delete(target);
            throw new PluginLoadException(jar, "cannot make the private copy of plugin jar " + jar + " at " + target + ": "
                    + e + "; check free space and permissions there (PluginLoader.Builder.copyDirectory)", e);
        }
    }

    /** A new, empty directory for the private copy of the plugin at {@code plugin}. */
    Path newDirectory(Path plugin) throws PluginLoadException {
        String name = plugin.getFileName().toString();
        Path target = null;
        try {
            target = directory().resolve(name + "-" + seq.incrementAndGet());
            return Files.createDirectory(target);
        } catch (IllegalStateException | IOException e) {
            throw new PluginLoadException(plugin, "cannot make the private copy of plugin " + plugin
                    + (target == null ? "" : " at " + target) + ": " + e.getMessage()
                    + "; check free space and permissions there (PluginLoader.Builder.copyDirectory)", e);
        }
    }

    /** Deletes a private copy: a file, or a directory with everything in it. */
    void delete(Path copy) {
        if (copy == null) {
            return;
        }
        try {
            if (Files.isDirectory(copy, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                try (java.util.stream.Stream<Path> walk = Files.walk(copy)) {
                    for (Path p : (Iterable<Path>) walk.sorted(java.util.Comparator.reverseOrder())::iterator) {
                        Files.deleteIfExists(p);
                    }
                }
                return;
            }
            Files.deleteIfExists(copy);
        } catch (IOException | java.io.UncheckedIOException e) {
            LOG.log(System.Logger.Level.WARNING, "could not delete the private plugin copy " + copy, e);
        }
    }

    /** Removes the directory if this loader created it and it is empty. */
    synchronized void deleteDirectoryIfEmpty() {
        if (directory != null && configured == null) {
            try {
                Files.deleteIfExists(directory);
                directory = null;
            } catch (DirectoryNotEmptyException e) {
                // generations still loaded (or leaked copies): keep it
            } catch (IOException e) {
                LOG.log(System.Logger.Level.DEBUG, "could not delete " + directory, e);
            }
        }
    }
}
