package dev.jkvm.machine;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * 100 full machines (RAM, KVM VM, two vCPU threads, the UART and its capture thread) booted and
 * closed in one JVM must leave no file descriptor, thread or memory mapping behind. Half the
 * cycles stop a running guest from the host; half let the guest exit by itself.
 *
 * <p>Other integration tests share this JVM, and their threads and descriptors may go away while
 * this one runs, so it compares identities, not counts: what is open or alive afterwards and was
 * not before is a leak.
 */
class VirtualMachineLeakIT {
    /** Threads of the JDK's shared pools, which start on demand and idle out on their own. */
    private static final Pattern JDK_POOL_THREAD = Pattern.compile("ForkJoinPool\\.commonPool-worker-\\d+|process reaper.*|Common-Cleaner|InnocuousThread-\\d+");

    /** Open descriptors as "number -> what it is". */
    private static Set<String> openFds() throws IOException {
        Set<String> fds = new TreeSet<>();
        try (var s = Files.list(Path.of("/proc/self/fd"))) {
            for (Path fd : s.toList()) {
                try {
                    fds.add(fd.getFileName() + " -> " + Files.readSymbolicLink(fd));
                } catch (IOException e) {
                    // closed between the listing and the readlink (the listing's own descriptor)
                }
            }
        }
        return fds;
    }

    private static Set<Thread> liveThreads() {
        return new HashSet<>(Thread.getAllStackTraces().keySet());
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
        Set<String> fds = openFds();
        Set<Thread> threads = liveThreads();
        long maps = Files.readAllLines(Path.of("/proc/self/maps")).size();
        for (int i = 0; i < 100; i++) {
            cycle(i);
        }
        Set<String> newFds = new TreeSet<>(openFds());
        newFds.removeAll(fds);
        assertEquals(Set.of(), newFds, "file descriptors opened by the cycles and still open");
        List<String> newThreads = liveThreads().stream()
                .filter(t -> !threads.contains(t) && t.isAlive() && !JDK_POOL_THREAD.matcher(t.getName()).matches())
                .map(Thread::getName).sorted().toList();
        assertEquals(List.of(), newThreads, "threads started by the cycles and still alive");
        long after = Files.readAllLines(Path.of("/proc/self/maps")).size();
        assertTrue(after - maps < 20, "mappings grew from " + maps + " to " + after);
    }
}
