package dev.jkvm.machine;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** How much memory this host has, so that an impossible -m fails at start-up, not mid-run. */
final class HostMemory {
    private HostMemory() {
    }

    /** MemTotal plus SwapTotal from /proc/meminfo, in bytes; Long.MAX_VALUE when unknown. */
    static long totalBytes() {
        try {
            long kib = 0;
            for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
                if (line.startsWith("MemTotal:") || line.startsWith("SwapTotal:")) {
                    kib += Long.parseLong(line.replaceAll("[^0-9]", ""));
                }
            }
            return kib > 0 ? kib * 1024 : Long.MAX_VALUE;
        } catch (IOException | NumberFormatException e) {
            return Long.MAX_VALUE;
        }
    }
}
