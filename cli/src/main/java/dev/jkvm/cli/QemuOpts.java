package dev.jkvm.cli;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * QEMU's option syntax: "value,key=value,key=value" where the first bare word belongs to an
 * implied key (the driver of -device, the type of -machine) and ",," stands for a literal comma.
 * Properties are taken one by one; anything left untaken is an error naming it.
 */
final class QemuOpts {
    private final String option;
    private final Map<String, String> values = new LinkedHashMap<>();

    private QemuOpts(String option) {
        this.option = option;
    }

    static QemuOpts parse(String option, String text, String impliedKey) {
        QemuOpts opts = new QemuOpts(option);
        StringBuilder current = new StringBuilder();
        boolean first = true;
        for (int i = 0; i <= text.length(); i++) {
            if (i < text.length() && text.charAt(i) == ',' && i + 1 < text.length() && text.charAt(i + 1) == ',') {
                current.append(',');
                i++;
                continue;
            }
            if (i == text.length() || text.charAt(i) == ',') {
                opts.add(current.toString(), first ? impliedKey : null);
                current.setLength(0);
                first = false;
                continue;
            }
            current.append(text.charAt(i));
        }
        return opts;
    }

    private void add(String item, String impliedKey) {
        if (item.isEmpty()) {
            return;
        }
        int eq = item.indexOf('=');
        String key;
        String value;
        if (eq < 0) {
            if (impliedKey == null) {
                // QEMU reads a bare "name" as "name=on".
                key = item;
                value = "on";
            } else {
                key = impliedKey;
                value = item;
            }
        } else {
            key = item.substring(0, eq);
            value = item.substring(eq + 1);
        }
        if (values.containsKey(key)) {
            throw new CliException(option + ": property '" + key + "' given twice");
        }
        values.put(key, value);
    }

    boolean has(String key) {
        return values.containsKey(key);
    }

    /** Removes and returns a property, or null when absent. */
    String take(String key) {
        return values.remove(key);
    }

    String take(String key, String defaultValue) {
        String v = values.remove(key);
        return v == null ? defaultValue : v;
    }

    /** A number as QEMU reads one: decimal, 0x hex or 0 octal. */
    long takeNumber(String key, long defaultValue) {
        String v = values.remove(key);
        if (v == null) {
            return defaultValue;
        }
        try {
            return Long.decode(v);
        } catch (NumberFormatException e) {
            throw new CliException(option + ": property '" + key + "' expects a number, got '" + v + "'");
        }
    }

    boolean takeBoolean(String key, boolean defaultValue) {
        String v = values.remove(key);
        if (v == null) {
            return defaultValue;
        }
        return switch (v.toLowerCase(Locale.ROOT)) {
            case "on", "yes", "true", "y" -> true;
            case "off", "no", "false", "n" -> false;
            default -> throw new CliException(option + ": property '" + key + "' expects 'on' or 'off', got '" + v + "'");
        };
    }

    /** Fails on the first property nobody took. */
    void requireAllTaken(String what) {
        if (!values.isEmpty()) {
            String key = values.keySet().iterator().next();
            throw new CliException(option + " " + what + ": unknown or unsupported property '" + key + "'");
        }
    }
}
