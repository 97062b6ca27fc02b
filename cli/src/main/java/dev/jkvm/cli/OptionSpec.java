package dev.jkvm.cli;

import java.util.List;

/** One command-line option: its names (the first is the canonical one), what it takes, and its -h text. */
record OptionSpec(List<String> names, Kind kind, String label, String description) {
    enum Kind {
        /** Takes no value. */
        FLAG,
        /** Takes one value; given again, the later value wins, as in QEMU. */
        VALUE,
        /** Takes one value; every occurrence counts, in order (-device, -drive, ...). */
        REPEATED
    }

    OptionSpec {
        names = List.copyOf(names);
        if (names.isEmpty() || (kind == Kind.FLAG) != (label == null)) {
            throw new IllegalArgumentException("option " + names + ": a flag has no value label, a value option needs one");
        }
    }

    String name() {
        return names.get(0);
    }
}
