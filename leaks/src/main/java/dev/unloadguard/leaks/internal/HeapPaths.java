package dev.unloadguard.leaks.internal;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import shark.CloseableHeapGraph;
import shark.GcRoot;
import shark.HeapField;
import shark.HeapGraph;
import shark.HeapObject;
import shark.HeapObject.HeapClass;
import shark.HeapObject.HeapInstance;
import shark.HeapObject.HeapObjectArray;
import shark.HeapValue;
import shark.HprofHeapGraph;
import shark.HprofRecordTag;

/**
 * Finds, in a JVM heap dump ({@code .hprof}), the shortest chain of strong references from a GC
 * root to each class loader of interest: every closed unloadguard plugin class loader (a
 * {@code dev.unloadguard.loader.PluginClassLoader} whose {@code unloaded} field is set) and every
 * class loader named in {@code loaderNames}. Shark ({@code shark-graph}) reads the dump; the search
 * is a breadth-first search over the object graph, so the first path found to a loader is a
 * shortest one.
 *
 * <p>The edges are those that keep an object alive in the JVM:
 * <ul>
 * <li>an instance: each non-null reference field, except {@code java.lang.ref.Reference.referent}
 *     (weak, soft, phantom and final references do not keep their referent alive: unloadguard's own
 *     weak reference to the loader, the JDK's soft caches), and its class;
 * <li>an object array: each non-null element, and its class;
 * <li>a class: its static fields (and the JVM's pseudo-fields such as {@code <resolved_references>}),
 *     its superclass and its defining class loader.
 * </ul>
 * The roots are the dump's GC roots (sticky classes, thread objects, Java frames, JNI references,
 * monitors, ...) and, since the JDK's own class loaders (boot, platform, app) are never unloaded,
 * every class they define: so a path through a host class's static field starts at that field,
 * not at the app loader's class list. Java frames and JNI locals of the threads named in
 * {@code ignoredThreads} are not roots: the thread that dumps its own JVM holds the loader it asks
 * about.
 */
public final class HeapPaths {

    /** The class of unloadguard's plugin class loaders. */
    public static final String PLUGIN_CLASS_LOADER = "dev.unloadguard.loader.PluginClassLoader";
    private static final String PLUGIN = "dev.unloadguard.loader.Plugin";

    private static final int UNSEEN = -2;
    private static final int ROOT = -1;

    private static final int FIELD = 1;
    private static final int STATIC = 2;
    private static final int ELEMENT = 3;
    private static final int CLASS = 4;
    private static final int LOADER = 5;
    private static final int SUPER = 6;

    /** One loader of interest and the path that holds it ({@code path} empty: unreachable from any root). */
    public record Found(String loaderName, String loaderClass, String pluginId, int generation, boolean unloaded,
                        String root, List<String> path) {
    }

    /** The result: the loaders, and the dump's size in objects. */
    public record Result(List<Found> loaders, int objects) {
    }

    private final HeapGraph graph;
    private final Set<String> loaderNames;
    private final Set<String> ignoredThreads;
    private final Map<Long, Long> loaderOfClass = new HashMap<>();
    private final Map<Long, String> loaderNameCache = new HashMap<>();
    private final Map<Long, Boolean> isReference = new HashMap<>();
    private final Set<Long> builtinLoaders = new HashSet<>();
    private final Map<Integer, String> threadNames = new HashMap<>();
    private HeapClass referenceClass;
    private final IdIndex numbers;
    /** Per object index: the index it was first reached from, ROOT, or UNSEEN. */
    private int[] parent;
    private int tail;

    private HeapPaths(HeapGraph graph, Set<String> loaderNames, Set<String> ignoredThreads) {
        this.graph = graph;
        this.loaderNames = loaderNames;
        this.ignoredThreads = ignoredThreads;
        this.numbers = new IdIndex(Math.max(1024, graph.getObjectCount() / 4));
    }

    /**
     * Reads {@code hprof} and finds the path to each loader of interest.
     *
     * @throws IOException with a message naming the file and what is wrong with it
     */
    public static Result analyze(Path hprof, Set<String> loaderNames, Set<String> ignoredThreads) throws IOException {
        checkHprof(hprof);
        File file = hprof.toFile();
        try (CloseableHeapGraph graph = HprofHeapGraph.Companion.openHeapGraph(file, null, HprofRecordTag.Companion.getRootTags())) {
            return new HeapPaths(graph, Set.copyOf(loaderNames), Set.copyOf(ignoredThreads)).run();
        } catch (IOException e) {
            throw new IOException("cannot read heap dump " + hprof + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            throw new IOException("cannot read heap dump " + hprof + " (truncated or not a JVM heap dump?): " + e, e);
        }
    }

    /** Fails with a clear message unless {@code hprof} is a readable, uncompressed JVM heap dump. */
    static void checkHprof(Path hprof) throws IOException {
        if (!Files.exists(hprof)) {
            throw new java.nio.file.NoSuchFileException(hprof.toString(), null, "no such heap dump file: " + hprof);
        }
        if (!Files.isRegularFile(hprof)) {
            throw new IOException(hprof + " is not a file: pass a heap dump (.hprof)");
        }
        byte[] head = new byte[18];
        int n;
        try (InputStream in = Files.newInputStream(hprof)) {
            n = in.readNBytes(head, 0, head.length);
        }
        if (n >= 2 && (head[0] & 0xff) == 0x1f && (head[1] & 0xff) == 0x8b) {
            throw new IOException(hprof + " is a gzip-compressed heap dump (jcmd GC.heap_dump -gz): uncompress it first (gunzip)");
        }
        String magic = new String(head, 0, n, StandardCharsets.ISO_8859_1);
        if (!magic.startsWith("JAVA PROFILE 1.0.")) {
            throw new IOException(hprof + " is not a heap dump (.hprof): it does not start with 'JAVA PROFILE 1.0.x'; "
                    + "take one with jcmd PID GC.heap_dump FILE.hprof, or let unloadguard take it (leaks PID)");
        }
    }

    private Result run() {
        List<Long> targets = targets();
        Map<Long, Integer> targetIndex = new LinkedHashMap<>();
        for (long id : targets) {
            targetIndex.put(id, indexOf(graph.findObjectById(id)));
        }
        int n = graph.getClassCount() + graph.getInstanceCount() + graph.getObjectArrayCount()
                + graph.getPrimitiveArrayCount() + 1;
        parent = new int[n];
        Arrays.fill(parent, UNSEEN);
        int[] queue = new int[n];
        int head = 0;
        tail = 0;
        Map<Integer, String> rootKinds = new HashMap<>();
        for (Map.Entry<Integer, String> r : roots().entrySet()) {
            int idx = r.getKey();
            if (seen(idx)) {
                continue;
            }
            parent[idx] = ROOT;
            rootKinds.put(idx, r.getValue());
            queue = enqueue(queue, idx);
        }
        int targetCount = targetIndex.size();
        Set<Integer> pending = new HashSet<>(targetIndex.values());
        pending.removeIf(this::seen);
        while (head < tail && !pending.isEmpty()) {
            int from = queue[head++];
            HeapObject o = graph.findObjectByIdOrNull(numbers.id(from));
            if (o == null) {
                continue; // a reference to an object the dump does not hold: a dead end
            }
            int[][] q = {queue};
            edges(o, (childId, kind, name, index) -> {
                int c = numbers.add(childId); // whether the dump holds it is read when it is dequeued
                if (!seen(c)) {
                    parent[c] = from;
                    q[0] = enqueue(q[0], c);
                    if (c < targetCount) {
                        pending.remove(c); // the targets were numbered first
                    }
                }
                return false;
            });
            queue = q[0];
        }
        List<Found> found = new ArrayList<>();
        for (Map.Entry<Long, Integer> e : targetIndex.entrySet()) {
            found.add(describe(graph.findObjectById(e.getKey()).getAsInstance(), e.getValue(), rootKinds));
        }
        return new Result(found, graph.getObjectCount());
    }

    /** The ids of the loaders of interest: closed plugin loaders, and loaders of the names asked for. */
    private List<Long> targets() {
        Set<Long> out = new java.util.LinkedHashSet<>();
        HeapClass pcl = graph.findClassByName(PLUGIN_CLASS_LOADER);
        if (pcl != null) {
            for (Iterator<HeapInstance> it = pcl.getInstances().iterator(); it.hasNext(); ) {
                HeapInstance i = it.next();
                HeapField unloaded = i.readField(PLUGIN_CLASS_LOADER, "unloaded");
                if (unloaded != null && unloaded.getValue().isNonNullReference()) {
                    out.add(i.getObjectId());
                }
            }
        }
        if (!loaderNames.isEmpty()) {
            HeapClass cl = graph.findClassByName("java.lang.ClassLoader");
            if (cl != null) {
                for (Iterator<HeapInstance> it = cl.getInstances().iterator(); it.hasNext(); ) {
                    HeapInstance i = it.next();
                    String name = stringField(i, "java.lang.ClassLoader", "name");
                    if (name != null && loaderNames.contains(name)) {
                        out.add(i.getObjectId());
                    }
                }
            }
        }
        return new ArrayList<>(out);
    }

    /** The roots in the order they are searched from: classes of the JDK's loaders, then the dump's GC roots, frames last. */
    private Map<Integer, String> roots() {
        HeapClass builtin = graph.findClassByName("jdk.internal.loader.BuiltinClassLoader");
        if (builtin != null) {
            for (Iterator<HeapInstance> it = builtin.getInstances().iterator(); it.hasNext(); ) {
                builtinLoaders.add(it.next().getObjectId());
            }
        }
        List<GcRoot> gcRoots = graph.getGcRoots();
        for (GcRoot r : gcRoots) {
            if (r instanceof GcRoot.ThreadObject) {
                HeapObject t = graph.findObjectByIdOrNull(r.getId());
                if (t instanceof HeapInstance) {
                    String name = stringField((HeapInstance) t, "java.lang.Thread", "name");
                    threadNames.put(((GcRoot.ThreadObject) r).getThreadSerialNumber(), name == null ? "?" : name);
                }
            }
        }
        Map<Integer, String> roots = new LinkedHashMap<>();
        for (Iterator<HeapClass> it = graph.getClasses().iterator(); it.hasNext(); ) {
            HeapClass c = it.next();
            long loader = loaderOf(c);
            if (loader == 0 || builtinLoaders.contains(loader)) {
                roots.put(indexOf(c), "class");
            }
        }
        List<GcRoot> frames = new ArrayList<>();
        for (GcRoot r : gcRoots) {
            if (r instanceof GcRoot.JavaFrame || r instanceof GcRoot.JniLocal || r instanceof GcRoot.NativeStack
                    || r instanceof GcRoot.ThreadBlock) {
                frames.add(r);
                continue;
            }
            addRoot(roots, r, rootKind(r));
        }
        for (GcRoot r : frames) {
            int serial = r instanceof GcRoot.JavaFrame ? ((GcRoot.JavaFrame) r).getThreadSerialNumber()
                    : r instanceof GcRoot.JniLocal ? ((GcRoot.JniLocal) r).getThreadSerialNumber()
                    : r instanceof GcRoot.NativeStack ? ((GcRoot.NativeStack) r).getThreadSerialNumber()
                    : ((GcRoot.ThreadBlock) r).getThreadSerialNumber();
            String thread = threadNames.get(serial);
            if (thread != null && ignoredThreads.contains(thread)) {
                continue;
            }
            String where = thread == null ? "a thread" : "thread \"" + thread + "\"";
            String kind = r instanceof GcRoot.JavaFrame ? "a local variable of " + where
                    : r instanceof GcRoot.JniLocal ? "a JNI local reference of " + where
                    : r instanceof GcRoot.NativeStack ? "the native stack of " + where : "a block of " + where;
            addRoot(roots, r, kind);
        }
        return roots;
    }

    /** Whether {@code index} was reached (grows the array with the numbering). */
    private boolean seen(int index) {
        if (index >= parent.length) {
            int old = parent.length;
            parent = Arrays.copyOf(parent, Math.max(index + 1, old + old / 2));
            Arrays.fill(parent, old, parent.length, UNSEEN);
        }
        return parent[index] != UNSEEN;
    }

    private int[] enqueue(int[] queue, int index) {
        int[] q = tail == queue.length ? Arrays.copyOf(queue, queue.length + queue.length / 2 + 1) : queue;
        q[tail++] = index;
        return q;
    }

    /** The object numbered {@code index}. */
    private HeapObject objectAt(int index) {
        return graph.findObjectById(numbers.id(index));
    }

    /**
     * The number of {@code o} in this search (dense, from 0). Not Shark's object index: its
     * {@code findObjectByIndex} refuses some of the indexes its objects report.
     */
    private int indexOf(HeapObject o) {
        return numbers.add(o.getObjectId());
    }

    private void addRoot(Map<Integer, String> roots, GcRoot r, String kind) {
        HeapObject o = graph.findObjectByIdOrNull(r.getId());
        if (o != null) {
            roots.putIfAbsent(indexOf(o), kind);
        }
    }

    private String rootKind(GcRoot r) {
        if (r instanceof GcRoot.ThreadObject) {
            String name = threadNames.get(((GcRoot.ThreadObject) r).getThreadSerialNumber());
            return "live thread" + (name == null ? "" : " \"" + name + "\"");
        }
        if (r instanceof GcRoot.StickyClass) {
            return "class";
        }
        if (r instanceof GcRoot.JniGlobal) {
            return "a JNI global reference";
        }
        if (r instanceof GcRoot.MonitorUsed) {
            return "an object locked by synchronized";
        }
        return "GC root " + r.getClass().getSimpleName();
    }

    /** Receives one edge; returning true stops the enumeration. */
    @FunctionalInterface
    private interface Edge {
        boolean accept(long childId, int kind, String name, int index);
    }

    /** Calls {@code edge} for each strong reference out of {@code o}, until it returns true. */
    private void edges(HeapObject o, Edge edge) {
        if (o instanceof HeapInstance) {
            HeapInstance i = (HeapInstance) o;
            Layout layout = layoutOf(i.getInstanceClass());
            if (layout.offsets.length > 0) {
                byte[] values = i.readRecord().getFieldValues();
                for (int f = 0; f < layout.offsets.length; f++) {
                    long id = readId(values, layout.offsets[f]);
                    if (id != 0 && edge.accept(id, FIELD, layout.names[f], -1)) {
                        return;
                    }
                }
            }
            edge.accept(i.getInstanceClassId(), CLASS, null, -1);
        } else if (o instanceof HeapObjectArray) {
            HeapObjectArray a = (HeapObjectArray) o;
            long[] elements = a.readRecord().getElementIds();
            for (int idx = 0; idx < elements.length; idx++) {
                if (elements[idx] != 0 && edge.accept(elements[idx], ELEMENT, null, idx)) {
                    return;
                }
            }
            edge.accept(a.getArrayClassId(), CLASS, null, -1);
        } else if (o instanceof HeapClass) {
            HeapClass c = (HeapClass) o;
            for (Iterator<HeapField> it = c.readStaticFields().iterator(); it.hasNext(); ) {
                HeapField f = it.next();
                HeapValue v = f.getValue();
                if (v.isNonNullReference() && edge.accept(v.getAsObjectId(), STATIC, f.getName(), -1)) {
                    return;
                }
            }
            HeapClass sup = c.getSuperclass();
            if (sup != null && edge.accept(sup.getObjectId(), SUPER, null, -1)) {
                return;
            }
            long loader = loaderOf(c);
            if (loader != 0) {
                edge.accept(loader, LOADER, null, -1);
            }
        }
    }

    /**
     * Where an instance of a class keeps its strong references: the byte offset in its dump
     * record's field values of each reference field (the class's own fields first, then its
     * superclass's, as HPROF lays them out), and the field's name. {@code Reference.referent} is
     * left out: it is not a strong reference.
     */
    private static final class Layout {
        final int[] offsets;
        final String[] names;

        Layout(int[] offsets, String[] names) {
            this.offsets = offsets;
            this.names = names;
        }
    }

    private final Map<Long, Layout> layouts = new HashMap<>();

    private Layout layoutOf(HeapClass c) {
        Layout known = layouts.get(c.getObjectId());
        if (known != null) {
            return known;
        }
        boolean reference = isReference(c);
        int idSize = graph.getIdentifierByteSize();
        List<Integer> offsets = new ArrayList<>();
        List<String> names = new ArrayList<>();
        int offset = 0;
        for (HeapClass k = c; k != null; k = k.getSuperclass()) {
            for (shark.HprofRecord.HeapDumpRecord.ObjectRecord.ClassDumpRecord.FieldRecord f : k.readRecordFields()) {
                int type = f.getType();
                if (type == OBJECT) {
                    String name = k.instanceFieldName(f);
                    if (!(reference && name.equals("referent") && k.getName().equals("java.lang.ref.Reference"))) {
                        offsets.add(offset); // referent: not a strong reference, skipped
                        names.add(name);
                    }
                    offset += idSize;
                } else {
                    offset += primitiveSize(type);
                }
            }
        }
        Layout layout = new Layout(offsets.stream().mapToInt(Integer::intValue).toArray(), names.toArray(new String[0]));
        layouts.put(c.getObjectId(), layout);
        return layout;
    }

    /** HPROF's basic type code of an object reference. */
    private static final int OBJECT = 2;

    private static int primitiveSize(int type) {
        switch (type) {
            case 4: // boolean
            case 8: // byte
                return 1;
            case 5: // char
            case 9: // short
                return 2;
            case 6: // float
            case 10: // int
                return 4;
            case 7: // double
            case 11: // long
                return 8;
            default:
                throw new IllegalStateException("unknown HPROF basic type " + type);
        }
    }

    private long readId(byte[] values, int at) {
        if (graph.getIdentifierByteSize() == 4) {
            return ((values[at] & 0xffL) << 24) | ((values[at + 1] & 0xffL) << 16) | ((values[at + 2] & 0xffL) << 8)
                    | (values[at + 3] & 0xffL);
        }
        long v = 0;
        for (int k = 0; k < 8; k++) {
            v = (v << 8) | (values[at + k] & 0xffL);
        }
        return v;
    }

    private boolean isReference(HeapClass c) {
        Boolean known = isReference.get(c.getObjectId());
        if (known == null) {
            if (referenceClass == null) {
                referenceClass = graph.findClassByName("java.lang.ref.Reference");
            }
            known = referenceClass != null && c.subclassOf(referenceClass);
            isReference.put(c.getObjectId(), known);
        }
        return known;
    }

    private long loaderOf(HeapClass c) {
        return loaderOfClass.computeIfAbsent(c.getObjectId(), id -> c.readRecord().getClassLoaderId());
    }

    private static String stringField(HeapInstance i, String declaringClass, String name) {
        HeapField f = i.readField(declaringClass, name);
        return f == null || !f.getValue().isNonNullReference() ? null : f.getValue().readAsJavaString();
    }

    // ---- rendering ------------------------------------------------------------------------------

    private Found describe(HeapInstance loader, int index, Map<Integer, String> rootKinds) {
        String pluginId = null;
        int generation = 0;
        boolean unloaded = false;
        if (loader.instanceOf(PLUGIN_CLASS_LOADER)) {
            HeapField f = loader.readField(PLUGIN_CLASS_LOADER, "unloaded");
            HeapInstance plugin = f == null ? null : f.getValueAsInstance();
            if (plugin != null) {
                unloaded = true;
                pluginId = stringField(plugin, PLUGIN, "id");
                HeapField g = plugin.readField(PLUGIN, "generation");
                Integer gen = g == null ? null : g.getValue().getAsInt();
                generation = gen == null ? 0 : gen;
            }
        }
        String name = stringField(loader, "java.lang.ClassLoader", "name");
        if (!seen(index)) {
            return new Found(name, loader.getInstanceClassName(), pluginId, generation, unloaded, null, List.of());
        }
        List<Integer> chain = new ArrayList<>();
        for (int i = index; i != ROOT; i = parent[i]) {
            chain.add(i);
        }
        java.util.Collections.reverse(chain);
        String rootKind = rootKinds.get(chain.get(0));
        return new Found(name, loader.getInstanceClassName(), pluginId, generation, unloaded, rootKind,
                render(chain, rootKind));
    }

    /** One element per object on the chain, the last the loader; see the class comment of LeakPath for the format. */
    private List<String> render(List<Integer> chain, String rootKind) {
        List<HeapObject> objects = new ArrayList<>(chain.size());
        for (int i : chain) {
            objects.add(objectAt(i));
        }
        int k = objects.size();
        int[] kinds = new int[k];
        String[] names = new String[k];
        int[] indexes = new int[k];
        for (int i = 0; i + 1 < k; i++) {
            long next = objects.get(i + 1).getObjectId();
            int at = i;
            edges(objects.get(i), (childId, kind, name, index) -> {
                if (childId != next) {
                    return false;
                }
                kinds[at] = kind;
                names[at] = name;
                indexes[at] = index;
                return true;
            });
        }
        List<String> out = new ArrayList<>();
        boolean classRoot = rootKind.equals("class");
        if (!classRoot) {
            out.add(rootKind);
        }
        for (int i = 0; i < k; i++) {
            HeapObject o = objects.get(i);
            if (i == k - 1) {
                out.add(loaderLabel(o.getObjectId()));
                break;
            }
            int kind = kinds[i];
            if (o instanceof HeapClass) {
                HeapClass c = (HeapClass) o;
                String where = "class " + c.getName() + loaderSuffix(loaderOf(c));
                if (i > 0 && kinds[i - 1] == CLASS && kind == LOADER) {
                    continue; // "X (loader L)" then the loader: the class step adds nothing
                }
                if (kind == STATIC) {
                    out.add("static field " + c.getName() + "." + names[i] + (i == 0 ? " (" + where + ")" : ""));
                } else if (kind == SUPER) {
                    out.add(where + ", which extends");
                } else {
                    out.add(where + ", defined by");
                }
            } else if (o instanceof HeapObjectArray) {
                HeapObjectArray a = (HeapObjectArray) o;
                if (i > 0 && kinds[i - 1] == FIELD && kind == ELEMENT) {
                    continue; // merged into the field step: "ArrayList.elementData[3]"
                }
                out.add(kind == ELEMENT ? a.getArrayClassName() + "[" + indexes[i] + "]"
                        + loaderSuffix(loaderOf(a.getArrayClass()))
                        : a.getArrayClassName() + loaderSuffix(loaderOf(a.getArrayClass())));
            } else if (o instanceof HeapInstance) {
                HeapInstance inst = (HeapInstance) o;
                String cls = inst.getInstanceClassName();
                String suffix = loaderSuffix(loaderOf(inst.getInstanceClass()));
                if (kind == FIELD) {
                    String step = cls + "." + names[i];
                    if (i + 1 < k - 1 && objects.get(i + 1) instanceof HeapObjectArray && kinds[i + 1] == ELEMENT) {
                        step += "[" + indexes[i + 1] + "]";
                    }
                    if (inst.instanceOf("java.lang.Thread")) {
                        String tn = stringField(inst, "java.lang.Thread", "name");
                        step += tn == null ? "" : " (thread \"" + tn + "\")";
                    }
                    out.add(step + suffix);
                } else {
                    out.add(cls + suffix); // its class, then (usually) the class's loader
                }
            } else {
                out.add(String.valueOf(o));
            }
        }
        return out;
    }

    /** " (loader NAME)" unless the class is the boot loader's (the JDK's own). */
    private String loaderSuffix(long loaderId) {
        return loaderId == 0 ? "" : " (loader " + loaderName(loaderId) + ")";
    }

    private String loaderName(long loaderId) {
        return loaderNameCache.computeIfAbsent(loaderId, id -> {
            HeapObject o = graph.findObjectByIdOrNull(id);
            if (!(o instanceof HeapInstance)) {
                return "@" + Long.toHexString(id);
            }
            HeapInstance i = (HeapInstance) o;
            String name = stringField(i, "java.lang.ClassLoader", "name");
            if (name == null) {
                return i.getInstanceClassName() + "@" + Long.toHexString(id);
            }
            return generationOf(i).map(g -> name + ", " + g).orElse(name);
        });
    }

    private static java.util.Optional<String> generationOf(HeapInstance loader) {
        if (!loader.instanceOf(PLUGIN_CLASS_LOADER)) {
            return java.util.Optional.empty();
        }
        HeapField f = loader.readField(PLUGIN_CLASS_LOADER, "unloaded");
        HeapInstance plugin = f == null ? null : f.getValueAsInstance();
        if (plugin == null) {
            return java.util.Optional.empty();
        }
        String id = stringField(plugin, PLUGIN, "id");
        HeapField g = plugin.readField(PLUGIN, "generation");
        return java.util.Optional.of("plugin " + id + " generation " + (g == null ? "?" : g.getValue().getAsInt()) + ", unloaded");
    }

    private String loaderLabel(long loaderId) {
        HeapObject o = graph.findObjectById(loaderId);
        String cls = o instanceof HeapInstance ? ((HeapInstance) o).getInstanceClassSimpleName() : "loader";
        return cls + " " + loaderName(loaderId);
    }
}
