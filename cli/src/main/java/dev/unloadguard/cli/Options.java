package dev.unloadguard.cli;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** {@code --name value} and {@code --flag} options of one command. */
final class Options {

    private final Map<String, String> values;
    private final Map<String, List<String>> repeated;

    private Options(Map<String, String> values, Map<String, List<String>> repeated) {
        this.values = values;
        this.repeated = repeated;
    }

    /**
     * @param known option names; a name ending in {@code !} is a flag without a value, one ending
     *              in {@code +} takes a value and may be given more than once
     */
    static Options parse(String[] args, Set<String> known) throws UsageException {
        Map<String, String> values = new HashMap<>();
        Map<String, List<String>> repeated = new HashMap<>();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (known.contains(a + "!")) {
                values.put(a, "true");
            } else if (known.contains(a) || known.contains(a + "+")) {
                if (i + 1 >= args.length) {
                    throw new UsageException("option " + a + " needs a value");
                }
                String v = args[++i];
                if (known.contains(a + "+")) {
                    repeated.computeIfAbsent(a, k -> new ArrayList<>()).add(v);
                } else if (values.putIfAbsent(a, v) != null) {
                    throw new UsageException("option " + a + " given twice ('" + values.get(a) + "' and '" + v + "')");
                }
            } else {
                throw new UsageException("unknown option '" + a + "'; known options: "
                        + String.join(", ", known.stream().sorted().toList()).replace("!", "").replace("+", ""));
            }
        }
        return new Options(values, repeated);
    }

    /** Every value of a repeatable option, in order. */
    List<String> all(String name) {
        return repeated.getOrDefault(name, List.of());
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
