package dev.unloadguard.cli;

import java.util.HashMap;
import java.util.Map;
import java.util.Set;

/** {@code --name value} and {@code --flag} options of one command. */
final class Options {

    private final Map<String, String> values;

    private Options(Map<String, String> values) {
        this.values = values;
    }

    /**
     * @param known option names; a name ending in {@code !} is a flag without a value
     */
    static Options parse(String[] args, Set<String> known) throws UsageException {
        Map<String, String> values = new HashMap<>();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (known.contains(a + "!")) {
                values.put(a, "true");
            } else if (known.contains(a)) {
                if (i + 1 >= args.length) {
                    throw new UsageException("option " + a + " needs a value");
                }
                values.put(a, args[++i]);
            } else {
                throw new UsageException("unknown option '" + a + "'; known options: "
                        + String.join(", ", known).replace("!", ""));
            }
        }
        return new Options(values);
    }

    String get(String name, String fallback) {
        return values.getOrDefault(name, fallback);
    }

    boolean flag(String name) {
        return values.containsKey(name);
    }

    int positiveInt(String name, int fallback) throws UsageException {
        String v = values.get(name);
        if (v == null) {
            return fallback;
        }
        try {
            int n = Integer.parseInt(v);
            if (n <= 0) {
                throw new NumberFormatException();
            }
            return n;
        } catch (NumberFormatException e) {
            throw new UsageException(name + " takes a positive whole number, not '" + v + "'");
        }
    }
}
