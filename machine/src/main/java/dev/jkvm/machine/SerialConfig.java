package dev.jkvm.machine;

import dev.jkvm.devices.legacy.serial.SerialCapture;

import java.nio.file.Path;

/** Where COM1 goes: QEMU's -serial stdio | mon:stdio | file:PATH | null | none, plus an in-memory capture. */
public sealed interface SerialConfig {
    /** Standard input and output; {@code multiplexed} is mon:stdio, where Ctrl-C goes to the guest. */
    record Stdio(boolean multiplexed) implements SerialConfig {
    }

    record ToFile(Path path) implements SerialConfig {
    }

    /** A UART whose output is discarded. */
    record Null() implements SerialConfig {
    }

    /** No UART at all. */
    record None() implements SerialConfig {
    }

    /** Output kept in memory for the embedding API and tests. */
    record Capture(SerialCapture capture) implements SerialConfig {
    }
}
