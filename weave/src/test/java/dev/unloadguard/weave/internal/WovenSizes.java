package dev.unloadguard.weave.internal;

import java.io.IOException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Path;
import java.util.Enumeration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import org.objectweb.asm.ClassReader;

/**
 * Where woven bytes go: weaves every class of a plugin jar as the agent does for unloadguard's own
 * plugin loaders (scope ENTRIES, the epoch read from the epoch class) and sums, over the classes
 * it changed, the bytes of each part of the class file before and after: constant pool, code,
 * exception tables, {@code StackMapTable}, method annotations, other attributes. For
 * docs/performance.md's start-up section; run by hand:
 *
 * <pre>
 *   java -cp weave/target/test-classes:weave/target/classes:RUNTIME:ASM... \
 *       dev.unloadguard.weave.internal.WovenSizes plugin.jar [api.jar...]
 * </pre>
 */
public final class WovenSizes {

    private WovenSizes() {
    }

    /** Byte counts of one class file's parts, by name. */
    static Map<String, Long> parts(byte[] b) {
        Map<String, Long> parts = new LinkedHashMap<>();
        for (String k : new String[] {"constant pool", "code", "exception tables", "StackMapTable",
                "method annotations", "other method/code attributes", "members and class attributes"}) {
            parts.put(k, 0L);
        }
        ClassReader reader = new ClassReader(b);
        int header = reader.header;
        parts.merge("constant pool", (long) header - 10, Long::sum);
        int at = header + 6;
        at += 2 + 2 * u2(b, at); // interfaces
        int fieldsAt = at;
        at = skipMembers(b, at);
        long membersAndClass = at - fieldsAt;
        int methods = u2(b, at);
        at += 2;
        membersAndClass += 2;
        for (int i = 0; i < methods; i++) {
            membersAndClass += 8;
            int count = u2(b, at + 6);
            at += 8;
            for (int k = 0; k < count; k++) {
                String name = reader.readUTF8(at, new char[reader.getMaxStringLength()]);
                int len = s4(b, at + 2);
                if (name.equals("Code")) {
                    int codeLength = s4(b, at + 10);
                    int table = at + 14 + codeLength;
                    int handlers = u2(b, table);
                    parts.merge("code", 14L + codeLength, Long::sum);
                    parts.merge("exception tables", 2L + 8L * handlers, Long::sum);
                    int a = table + 2 + 8 * handlers;
                    int attributes = u2(b, a);
                    parts.merge("other method/code attributes", 2L, Long::sum);
                    a += 2;
                    for (int j = 0; j < attributes; j++) {
                        String an = reader.readUTF8(a, new char[reader.getMaxStringLength()]);
                        int al = s4(b, a + 2);
                        parts.merge(an.equals("StackMapTable") ? "StackMapTable" : "other method/code attributes", 6L + al, Long::sum);
                        a += 6 + al;
                    }
                } else if (name.equals("RuntimeVisibleAnnotations")) {
                    parts.merge("method annotations", 6L + len, Long::sum);
                } else {
                    parts.merge("other method/code attributes", 6L + len, Long::sum);
                }
                at += 6 + len;
            }
        }
        membersAndClass += b.length - at;
        parts.merge("members and class attributes", membersAndClass, Long::sum);
        return parts;
    }

    private static int skipMembers(byte[] b, int at) {
        int count = u2(b, at);
        at += 2;
        for (int i = 0; i < count; i++) {
            int attributes = u2(b, at + 6);
            at += 8;
            for (int k = 0; k < attributes; k++) {
                at += 6 + s4(b, at + 2);
            }
        }
        return at;
    }

    private static int u2(byte[] b, int at) {
        return ((b[at] & 0xFF) << 8) | (b[at + 1] & 0xFF);
    }

    private static int s4(byte[] b, int at) {
        return ((b[at] & 0xFF) << 24) | ((b[at + 1] & 0xFF) << 16) | ((b[at + 2] & 0xFF) << 8) | (b[at + 3] & 0xFF);
    }

    public static void main(String[] args) throws IOException {
        URL[] urls = new URL[args.length];
        for (int i = 0; i < args.length; i++) {
            urls[i] = Path.of(args[i]).toUri().toURL();
        }
        Map<String, Long> before = new LinkedHashMap<>();
        Map<String, Long> after = new LinkedHashMap<>();
        long in = 0;
        long out = 0;
        long allIn = 0;
        int classes = 0;
        int woven = 0;
        int byteLevel = 0;
        long nanos = 0;
        try (URLClassLoader loader = new URLClassLoader(urls, WovenSizes.class.getClassLoader());
                JarFile jar = new JarFile(args[0])) {
            for (Enumeration<JarEntry> e = jar.entries(); e.hasMoreElements(); ) {
                JarEntry entry = e.nextElement();
                if (!entry.getName().endsWith(".class")) {
                    continue;
                }
                byte[] b = jar.getInputStream(entry).readAllBytes();
                classes++;
                allIn += b.length;
                long t0 = System.nanoTime();
                ClassReader reader = new ClassReader(b);
                GuardPlan plan = GuardPlan.analyze(reader, b, loader, Map.of(), true, GuardPlan.Scope.ENTRIES);
                byte[] w = null;
                if (!plan.targets().isEmpty()) {
                    w = plan.weavesBodiesOnly() ? EntryWeaver.weave(b, plan, true) : null;
                    if (w != null) {
                        byteLevel++;
                    } else {
                        w = Weaver.weave(reader, plan, Weaver.RELEASE_GUARD, true);
                    }
                }
                nanos += System.nanoTime() - t0;
                if (w == null) {
                    continue;
                }
                woven++;
                String dump = System.getProperty("wovenSizes.dump");
                if (dump != null && woven <= 3) {
                    java.nio.file.Files.write(Path.of(dump, entry.getName().replace('/', '_')), w);
                }
                in += b.length;
                out += w.length;
                if (System.getProperty("wovenSizes.dump") != null) { continue; }
                parts(b).forEach((k, v) -> before.merge(k, v, Long::sum));
                parts(w).forEach((k, v) -> after.merge(k, v, Long::sum));
            }
        }
        System.out.printf("classes %d, woven %d (byte level %d); woven input %d bytes -> %d bytes (%.2fx); all input %d bytes;"
                + " weaving %.0f ms (one pass, this JVM's JIT state)%n", classes, woven, byteLevel, in, out, (double) out / in, allIn,
                nanos / 1e6);
        System.out.printf("%-30s %12s %12s %12s %8s%n", "part", "before", "after", "added", "% added");
        for (String k : before.keySet()) {
            long d = after.get(k) - before.get(k);
            System.out.printf("%-30s %12d %12d %12d %7.1f%%%n", k, before.get(k), after.get(k), d, 100.0 * d / (out - in));
        }
    }
}
