package dev.unloadguard.leaks;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.lang.ref.SoftReference;
import java.lang.ref.WeakReference;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The path search on dumps of this JVM: a class loader of its own ({@link Isolated}) defines
 * {@link Held}; the tests hold a {@code Held} in different ways and ask for the loader by name.
 */
class LeakPathsTest {

    /** Roots the tests hold things in: static fields of a class of the app loader. */
    static final class Holder {
        static final List<Object> KEPT = new ArrayList<>();
        static WeakReference<Object> weak;
        static SoftReference<Object> soft;
        static Object chain;
    }

    /** A node of a longer strong path. */
    static final class Node {
        final Object next;

        Node(Object next) {
            this.next = next;
        }
    }

    @TempDir
    Path dir;

    @AfterEach
    void forget() {
        Holder.KEPT.clear();
        Holder.weak = null;
        Holder.soft = null;
        Holder.chain = null;
    }

    /** Defines {@link Held} itself (never asks its parent for it), under {@code name}. */
    static final class Isolated extends ClassLoader {
        Isolated(String name) {
            super(name, LeakPathsTest.class.getClassLoader());
        }

        @Override
        protected Class<?> loadClass(String n, boolean resolve) throws ClassNotFoundException {
            if (!n.equals(Held.class.getName())) {
                return super.loadClass(n, resolve);
            }
            synchronized (getClassLoadingLock(n)) {
                Class<?> c = findLoadedClass(n);
                if (c == null) {
                    try (InputStream in = LeakPathsTest.class.getResourceAsStream("/" + n.replace('.', '/') + ".class")) {
                        byte[] b = in.readAllBytes();
                        c = defineClass(n, b, 0, b.length);
                    } catch (IOException e) {
                        throw new ClassNotFoundException(n, e);
                    }
                }
                return c;
            }
        }
    }

    private static Object newHeld(String loaderName) throws Exception {
        Object o = new Isolated(loaderName).loadClass(Held.class.getName()).getDeclaredConstructor().newInstance();
        assertEquals(loaderName, o.getClass().getClassLoader().getName());
        return o;
    }

    @Test
    void namesTheStaticFieldTheListAndTheObjectWhoseClassPinsTheLoader() throws Exception {
        Holder.KEPT.add("first");
        Holder.KEPT.add(newHeld("held-in-a-list"));
        LeakAnalysis a = LeakPaths.inThisJvm(Set.of("held-in-a-list"), null);
        LeakedLoader l = a.loader("held-in-a-list").orElseThrow(() -> new AssertionError(a.toString()));
        assertEquals("class", l.root(), l::toString);
        assertEquals(List.of(
                "static field " + Holder.class.getName() + ".KEPT (class " + Holder.class.getName() + " (loader app))",
                "java.util.ArrayList.elementData[1]",
                Held.class.getName() + " (loader held-in-a-list)",
                "LeakPathsTest$Isolated held-in-a-list"), l.path(), l::toString);
        assertFalse(Files.exists(a.dump()), "the dump is deleted unless kept");
        assertTrue(l.toString().contains("→ java.util.ArrayList.elementData[1]"), l::toString);
    }

    @Test
    void weakAndSoftReferentsAreNoPathTheLongerStrongOneIs() throws Exception {
        Object held = newHeld("weakly-and-strongly");
        Holder.weak = new WeakReference<>(held);
        Holder.soft = new SoftReference<>(held);
        Holder.chain = new Node(new Node(new Node(held)));
        held = null;
        LeakAnalysis a = LeakPaths.inThisJvm(Set.of("weakly-and-strongly"), null);
        LeakedLoader l = a.loader("weakly-and-strongly").orElseThrow(() -> new AssertionError(a.toString()));
        assertTrue(l.path().get(0).startsWith("static field " + Holder.class.getName() + ".chain"), l::toString);
        assertEquals(List.of(Node.class.getName() + ".next (loader app)", Node.class.getName() + ".next (loader app)",
                Node.class.getName() + ".next (loader app)"), l.path().subList(1, 4), l::toString);
        assertTrue(l.path().stream().noneMatch(s -> s.contains("referent")), l::toString);
    }

    @Test
    void aLoaderOnlyWeaklyReachableIsNotInALiveDump() throws Exception {
        Holder.weak = new WeakReference<>(newHeld("only-weakly"));
        LeakAnalysis a = LeakPaths.inThisJvm(Set.of("only-weakly"), null);
        assertTrue(a.loader("only-weakly").isEmpty(), a::toString);
        assertTrue(a.toString().startsWith("no leaked plugin generation in "), a::toString);
    }

    /**
     * A loader that survives the dump's full GC with no strong path from a recorded root (here a
     * SoftReference keeps it, the way a running thread's JIT-compiled code would) is explained as
     * such, not as garbage.
     */
    @Test
    void theExplainerSaysWhatHoldsALoaderThatSurvivedTheGcWithNoStrongPath() throws Exception {
        Object held = newHeld("only-softly");
        Holder.soft = new SoftReference<>(held);
        ClassLoader loader = held.getClass().getClassLoader();
        held = null;
        List<String> lines = HeapDumpLeakExplainer.create().explain(loader);
        assertEquals(List.of("leak path: " + HeapDumpLeakExplainer.NO_STRONG_PATH), lines);
        assertTrue(lines.get(0).contains("JIT-compiled code of a running thread") && lines.get(0).contains("SoftReference"),
                lines::toString);
        Holder.soft = null;
    }

    @Test
    void aKeptDumpCanBeAnalysedAgainFromItsFile() throws Exception {
        Holder.KEPT.add(newHeld("kept-dump"));
        Path file = dir.resolve("kept.hprof");
        LeakAnalysis a = LeakPaths.inThisJvm(Set.of("kept-dump"), file);
        assertEquals(file, a.keptDump().orElseThrow());
        LeakAnalysis again = LeakPaths.analyze(file, Set.of("kept-dump"));
        assertEquals(a.loader("kept-dump").orElseThrow().path(), again.loader("kept-dump").orElseThrow().path());
        assertTrue(again.objects() > 1000, "a whole JVM: " + again.objects());
    }

    @Test
    void badInputSaysWhatIsWrong() throws Exception {
        Path missing = dir.resolve("missing.hprof");
        NoSuchFileException none = assertThrows(NoSuchFileException.class, () -> LeakPaths.analyze(missing));
        assertTrue(none.getMessage().contains("no such heap dump file: " + missing), none.getMessage());

        Path text = Files.writeString(dir.resolve("notes.hprof"), "hello", StandardCharsets.UTF_8);
        IOException notHprof = assertThrows(IOException.class, () -> LeakPaths.analyze(text));
        assertTrue(notHprof.getMessage().contains("is not a heap dump (.hprof)"), notHprof.getMessage());

        Path gz = dir.resolve("dump.hprof.gz");
        try (GZIPOutputStream out = new GZIPOutputStream(Files.newOutputStream(gz))) {
            out.write("JAVA PROFILE 1.0.2".getBytes(StandardCharsets.ISO_8859_1));
        }
        IOException compressed = assertThrows(IOException.class, () -> LeakPaths.analyze(gz));
        assertTrue(compressed.getMessage().contains("gzip-compressed") && compressed.getMessage().contains("gunzip"),
                compressed.getMessage());

        Path truncated = Files.write(dir.resolve("cut.hprof"), "JAVA PROFILE 1.0.2\0\0\0\0\u0008".getBytes(StandardCharsets.ISO_8859_1));
        IOException cut = assertThrows(IOException.class, () -> LeakPaths.analyze(truncated));
        assertTrue(cut.getMessage().startsWith("cannot read heap dump " + truncated), cut.getMessage());

        IOException exists = assertThrows(IOException.class, () -> LeakPaths.inThisJvm(Set.of(), text));
        assertTrue(exists.getMessage().contains("exists already"), exists.getMessage());
    }
}
