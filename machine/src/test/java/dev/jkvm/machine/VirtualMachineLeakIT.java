package dev.jkvm.machine;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * 100 full machines (RAM, KVM VM, two vCPU threads, the UART and its capture thread) booted and
 * closed in one JVM must leave no file descriptor, thread or memory mapping behind. Half the
 * cycles stop a running guest from the host; half let the guest exit by itself.
 */
class VirtualMachineLeakIT {
    private static long count(String dir) throws IOException {
        try (var s = Files.list(Path.of(dir))) {
            return s.count();
        }
    }

    private static void cycle(int i) throws Exception {
        try (VirtualMachine vm = TestGuest.vm("16M", 2, "tests=serial").build().start()) {
            if (i % 2 == 0) {
                vm.serial().waitFor(Pattern.compile("jkvm-testguest"), Duration.ofSeconds(30));
                vm.stop();
            }
            vm.awaitExit(Duration.ofSeconds(30));
        }
    }

    @Test
    void hundredMachinesLeaveNothingBehind() throws Exception {
        cycle(0);
        cycle(1);
        long fds = count("/proc/self/fd");
        long tasks = count("/proc/self/task");
        long maps = Files.readAllLines(Path.of("/proc/self/maps")).size();
        for (int i = 0; i < 100; i++) {
            cycle(i);
        }
        assertEquals(fds, count("/proc/self/fd"), "open file descriptors");
        assertEquals(tasks, count("/proc/self/task"), "threads");
        long after = Files.readAllLines(Path.of("/proc/self/maps")).size();
        assertTrue(after - maps < 20, "mappings grew from " + maps + " to " + after);
    }
}
