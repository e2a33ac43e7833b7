package dev.unloadguard.weave.internal;

import java.io.IOException;
import java.lang.reflect.Method;
import java.net.URI;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.FileSystem;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Enumeration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.stream.Stream;

/**
 * The correctness oracle for a change to the weaver that must not change its output: weaves every
 * class of the given jars with two builds of the weave classes (each from its own cli jar, which
 * bundles them, in a {@link URLClassLoader} of its own) and compares, class by class: the plan
 * ({@code GuardPlan.of}, scope ENTRIES and RELEASE_PATHS), the constant-pool scan, the byte-level
 * weaver ({@code EntryWeaver.weave}, the epoch read from the epoch class and from the dynamic
 * constant), the transformer's bytes ({@code GuardTransformer.guard}, both scopes) and the
 * managed-registrations pass ({@code RegistrationSites.mayRegister} and {@code rewrite}). Prints
 * the classes that differ (and exits 1), else the counts. Run by hand:
 *
 * <pre>
 *   java -cp weave/target/test-classes dev.unloadguard.weave.internal.WovenBytesOracle \
 *       BEFORE-cli.jar AFTER-cli.jar plugin.jar... [jrt:java.base]
 * </pre>
 * {@code jrt:MODULE} takes the classes of a module of the running JDK.
 */
public final class WovenBytesOracle {

    private WovenBytesOracle() {
    }

    /** One build's weave classes, called by reflection. */
    private static final class Side {
        final ClassLoader loader;
        final Class<?> readerClass;
        final Method planOf;
        final Object[] scopes;
        final Method scan;
        final Method entryWeave;
        final Method guard;
        final Method mayRegister;
        final Method rewrite;

        Side(Path cliJar) throws Exception {
            loader = new URLClassLoader(new URL[] {cliJar.toUri().toURL()}, ClassLoader.getPlatformClassLoader());
            readerClass = Class.forName("dev.unloadguard.shaded.asm.ClassReader", false, loader);
            Class<?> plan = Class.forName("dev.unloadguard.weave.internal.GuardPlan", false, loader);
            Class<?> scope = Class.forName("dev.unloadguard.weave.internal.GuardPlan$Scope", false, loader);
            scopes = scope.getEnumConstants();
            planOf = plan.getMethod("of", byte[].class, ClassLoader.class, scope);
            scan = accessible(plan.getDeclaredMethod("scanConstantPool", byte[].class));
            Method weave = null;
            for (Method m : Class.forName("dev.unloadguard.weave.internal.EntryWeaver", false, loader).getDeclaredMethods()) {
                if (m.getName().equals("weave") && m.getParameterTypes()[m.getParameterCount() - 1] == boolean.class) {
                    weave = m;
                }
            }
            entryWeave = accessible(Objects.requireNonNull(weave, "EntryWeaver.weave(..., boolean callsEpochClass)"));
            guard = Class.forName("dev.unloadguard.weave.internal.GuardTransformer", false, loader)
                    .getMethod("guard", byte[].class, ClassLoader.class, scope);
            Class<?> sites = Class.forName("dev.unloadguard.weave.internal.RegistrationSites", false, loader);
            mayRegister = sites.getMethod("mayRegister", byte[].class);
            rewrite = sites.getMethod("rewrite", byte[].class);
        }

        private static Method accessible(Method m) {
            m.setAccessible(true);
            return m;
        }

        /** Everything this side makes of one class file, as comparable strings and byte arrays. */
        List<Object> results(byte[] b) {
            List<Object> out = new ArrayList<>();
            out.add(call(scan, b));
            Object entriesPlan = null;
            for (Object scope : scopes) {
                Object plan = call(planOf, b, null, scope);
                out.add(String.valueOf(plan));
                out.add(call(guard, b.clone(), null, scope));
                if (scope.toString().equals("ENTRIES")) {
                    entriesPlan = plan;
                }
            }
            if (entriesPlan != null && !(entriesPlan instanceof Failure)) {
                for (boolean epochClass : new boolean[] {true, false}) {
                    Class<?>[] types = entryWeave.getParameterTypes();
                    Object[] args = new Object[types.length];
                    for (int i = 0; i < types.length; i++) {
                        if (types[i] == byte[].class) {
                            args[i] = b.clone();
                        } else if (types[i] == readerClass) {
                            try {
                                args[i] = readerClass.getConstructor(byte[].class).newInstance((Object) b);
                            } catch (ReflectiveOperationException e) {
                                return out; // ASM cannot read it: compared above
                            }
                        } else if (types[i] == boolean.class) {
                            args[i] = epochClass;
                        } else {
                            args[i] = entriesPlan;
                        }
                    }
                    out.add(call(entryWeave, args));
                }
            }
            out.add(call(mayRegister, b));
            out.add(call(rewrite, b.clone()));
            return out;
        }
    }

    /** A call that threw: compared by exception class. */
    private record Failure(String type) {
    }

    private static Object call(Method m, Object... args) {
        try {
            return m.invoke(null, args);
        } catch (java.lang.reflect.InvocationTargetException e) {
            return new Failure(e.getCause().getClass().getName());
        } catch (IllegalAccessException e) {
            throw new IllegalStateException(e);
        }
    }

    private static boolean same(Object a, Object b) {
        if (a instanceof byte[] x && b instanceof byte[] y) {
            return Arrays.equals(x, y);
        }
        return Objects.equals(a, b);
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 3) {
            System.err.println("usage: WovenBytesOracle BEFORE-cli.jar AFTER-cli.jar (plugin.jar | jrt:MODULE)...");
            System.exit(2);
        }
        Side before = new Side(Path.of(args[0]));
        Side after = new Side(Path.of(args[1]));
        long classes = 0;
        long woven = 0;
        long differ = 0;
        for (int i = 2; i < args.length; i++) {
            Map<String, byte[]> files = classFiles(args[i]);
            long here = 0;
            for (Map.Entry<String, byte[]> e : files.entrySet()) {
                List<Object> x = before.results(e.getValue());
                List<Object> y = after.results(e.getValue());
                classes++;
                here++;
                if (x.size() > 5 && x.get(5) instanceof byte[]) {
                    woven++;
                }
                boolean ok = x.size() == y.size();
                for (int k = 0; ok && k < x.size(); k++) {
                    ok = same(x.get(k), y.get(k));
                }
                if (!ok) {
                    differ++;
                    if (differ <= 20) {
                        System.out.println("DIFFERS: " + args[i] + " " + e.getKey() + " " + describe(x, y));
                    }
                }
            }
            System.out.println(args[i] + ": " + here + " classes");
        }
        System.out.println("classes " + classes + ", ENTRIES-woven by EntryWeaver " + woven + ", differing " + differ);
        System.exit(differ == 0 ? 0 : 1);
    }

    private static String describe(List<Object> x, List<Object> y) {
        StringBuilder s = new StringBuilder();
        for (int k = 0; k < Math.max(x.size(), y.size()); k++) {
            Object a = k < x.size() ? x.get(k) : "(none)";
            Object b = k < y.size() ? y.get(k) : "(none)";
            if (!same(a, b)) {
                s.append("[result ").append(k).append(": ").append(show(a)).append(" vs ").append(show(b)).append("] ");
            }
        }
        return s.toString();
    }

    private static String show(Object o) {
        return o instanceof byte[] b ? "bytes(" + b.length + ")" : String.valueOf(o);
    }

    private static Map<String, byte[]> classFiles(String source) throws IOException {
        Map<String, byte[]> files = new java.util.TreeMap<>();
        if (source.startsWith("jrt:")) {
            FileSystem jrt = FileSystems.getFileSystem(URI.create("jrt:/"));
            Path root = jrt.getPath("modules", source.substring(4));
            try (Stream<Path> walk = Files.walk(root)) {
                for (Path p : (Iterable<Path>) walk::iterator) {
                    if (p.toString().endsWith(".class") && !p.getFileName().toString().equals("module-info.class")) {
                        files.put(p.toString(), Files.readAllBytes(p));
                    }
                }
            }
            return files;
        }
        try (JarFile jar = new JarFile(source)) {
            for (Enumeration<JarEntry> en = jar.entries(); en.hasMoreElements(); ) {
                JarEntry e = en.nextElement();
                if (e.getName().endsWith(".class") && !e.getName().endsWith("module-info.class")) {
                    files.put(e.getName(), jar.getInputStream(e).readAllBytes());
                }
            }
        }
        return files;
    }
}
