package dev.unloadguard.epoch.internal;

/**
 * How a guarded entry is named, in one place: the weaver names the entries it weaves with it
 * ({@code GuardPlan.entryName}) and the gate names an entry it finds on the stack with it
 * ({@code RefusedEntries.enteredMethod}), so a refusal reads the same whichever way the method's
 * name reached it. Binary class names, Java type names for the parameters, separated by commas as
 * {@code java.lang.reflect.Method} prints them.
 */
public final class EntryNames {

    private EntryNames() {
    }

    /**
     * The readable name of method {@code name} with {@code descriptor} of class {@code className}
     * (a binary name, {@code a.B$C}): {@code a.B$C.m(int,java.lang.String[])},
     * {@code new a.B(double)}, {@code static initializer of a.B}.
     */
    public static String of(String className, String name, String descriptor) {
        if (name.equals("<clinit>")) {
            return "static initializer of " + className;
        }
        StringBuilder sb = new StringBuilder(className.length() + name.length() + descriptor.length() + 8);
        if (name.equals("<init>")) {
            sb.append("new ").append(className);
        } else {
            sb.append(className).append('.').append(name);
        }
        sb.append('(');
        int i = 1;
        boolean first = true;
        while (i < descriptor.length() && descriptor.charAt(i) != ')') {
            if (!first) {
                sb.append(',');
            }
            first = false;
            int dims = 0;
            while (descriptor.charAt(i) == '[') {
                dims++;
                i++;
            }
            char c = descriptor.charAt(i);
            if (c == 'L') {
                int end = descriptor.indexOf(';', i);
                sb.append(descriptor, i + 1, end);
                for (int k = sb.length() - (end - i - 1); k < sb.length(); k++) {
                    if (sb.charAt(k) == '/') {
                        sb.setCharAt(k, '.');
                    }
                }
                i = end + 1;
            } else {
                sb.append(primitive(c));
                i++;
            }
            for (int d = 0; d < dims; d++) {
                sb.append("[]");
            }
        }
        return sb.append(')').toString();
    }

    private static String primitive(char c) {
        switch (c) {
            case 'Z': return "boolean";
            case 'B': return "byte";
            case 'C': return "char";
            case 'S': return "short";
            case 'I': return "int";
            case 'J': return "long";
            case 'F': return "float";
            case 'D': return "double";
            default: return String.valueOf(c);
        }
    }

}
