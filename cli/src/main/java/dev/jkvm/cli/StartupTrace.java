package dev.jkvm.cli;

import java.time.Duration;
import java.time.Instant;

/**
 * With JKVM_TRACE_STARTUP set, prints how long after the process started each start-up phase
 * ended, to stderr: the tool for keeping start-up inside its budget. Off, it costs one branch.
 */
final class StartupTrace {
    private static final boolean ON = System.getenv("JKVM_TRACE_STARTUP") != null;

    private StartupTrace() {
    }

    static void mark(String phase) {
        if (ON) {
            Instant started = ProcessHandle.current().info().startInstant().orElse(Instant.now());
            System.err.printf("jkvm: startup %6.1f ms  %s%n", Duration.between(started, Instant.now()).toNanos() / 1e6, phase);
        }
    }
}
