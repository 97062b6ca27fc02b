package dev.jkvm.cli;

import java.io.PrintStream;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.BiConsumer;

/**
 * qemu-system-x86_64's command-line grammar: every option is one word starting with '-' (or
 * "--", as QEMU also accepts), followed by its value as the next word when it takes one. A
 * value may itself start with '-' ("-append -v"); nothing is clustered or abbreviated.
 *
 * <p>Hand-written rather than picocli: the grammar is this small, and picocli's reflective model
 * (annotation proxies, built-in converters, class files too old for the JDK's AOT cache) cost
 * more start-up time than jkvm's whole budget.
 */
final class QemuOptionParser {
    /** QEMU options that jkvm does not have yet: named as such instead of "invalid". */
    static final Set<String> PLANNED_OPTIONS = Set.of(
            "-bios", "-boot", "-monitor", "-qmp", "-chardev", "-object", "-numa", "-global", "-rtc", "-gdb", "-s", "-S",
            "-incoming", "-daemonize", "-pidfile", "-vga", "-vnc", "-usb", "-usbdevice", "-fda", "-fdb", "-blockdev",
            "-overcommit", "-msg", "-d", "-D", "-trace");

    private QemuOptionParser() {
    }

    /** Hands each option and its value (null for a flag) to {@code sink}, in command-line order. */
    static void parse(String[] args, List<OptionSpec> options, BiConsumer<OptionSpec, String> sink) {
        Map<String, OptionSpec> byName = new HashMap<>();
        for (OptionSpec o : options) {
            for (String n : o.names()) {
                byName.put(n, o);
            }
        }
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            OptionSpec option = byName.get(arg);
            if (option == null && arg.startsWith("--")) {
                option = byName.get(arg.substring(1));
            }
            if (option == null) {
                throw new CliException(unknown(arg));
            }
            if (option.kind() == OptionSpec.Kind.FLAG) {
                sink.accept(option, null);
                continue;
            }
            if (i + 1 == args.length) {
                throw new CliException("option " + arg + " requires an argument (" + option.label() + ")");
            }
            sink.accept(option, args[++i]);
        }
    }

    private static String unknown(String arg) {
        String single = arg.startsWith("--") ? arg.substring(1) : arg;
        if (PLANNED_OPTIONS.contains(single)) {
            return "option " + single + " is not supported yet";
        }
        if (arg.startsWith("-")) {
            return "invalid option " + arg + " (see jkvm -h)";
        }
        return "unexpected argument '" + arg + "' (options take the form -name value; see jkvm -h)";
    }

    /** The -h text: usage, summary, one entry per option, footer. */
    static void usage(PrintStream out, String command, String summary, List<OptionSpec> options, String footer) {
        out.println("Usage: " + command + " [OPTIONS]");
        out.println(summary);
        out.println();
        for (OptionSpec o : options) {
            String head = String.join(", ", o.names()) + (o.label() == null ? "" : " " + o.label());
            out.println("  " + head);
            out.println("        " + o.description());
        }
        out.println();
        out.println(footer);
    }
}
