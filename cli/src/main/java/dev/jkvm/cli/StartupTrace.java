package dev.jkvm.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * With JKVM_TRACE_STARTUP set, prints how long after the process started (launcher included,
 * which execs the JVM in the same process) each start-up phase ended, to stderr: the tool for
 * keeping start-up inside its budget. Resolution is the kernel's clock tick (10 ms); off, it
 * costs one branch.
 */
final class StartupTrace {
    private static final boolean ON = System.getenv("JKVM_TRACE_STARTUP") != null;

    private StartupTrace() {
    }

    static void mark(String phase) {
        if (!ON) {
            return;
        }
        try {
            // Both in clock ticks since boot: /proc/self/stat field 22 and /proc/uptime (seconds).
            String stat = Files.readString(Path.of("/proc/self/stat"));
            String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            double startedSeconds = Long.parseLong(fields[19]) / 100.0;
            double nowSeconds = Double.parseDouble(Files.readString(Path.of("/proc/uptime")).split(" ")[0]);
            System.err.printf("jkvm: startup %6.0f ms  %s%n", (nowSeconds - startedSeconds) * 1000, phase);
        } catch (IOException | RuntimeException e) {
            System.err.println("jkvm: startup trace unavailable: " + e);
        }
    }
}
