package dev.jkvm.vmm;

import dev.jkvm.vmm.device.BusDevice;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** 100 create/start/stop/close cycles must leave no fd, thread or mapping behind. */
class VmLeakTest {
    static long count(String dir) throws IOException {
        try (var s = Files.list(Path.of(dir))) {
            return s.count();
        }
    }

    static long mappings() throws IOException {
        return Files.readAllLines(Path.of("/proc/self/maps")).size();
    }

    private static void cycle(boolean halted) throws Exception {
        TinyAsm a = halted ? new TinyAsm().cli().movDx(0x500).outDxAl().hlt() : new TinyAsm().movDx(0x500).outDxAl().jmpSelf();
        try (TestVm t = new TestVm(a.bytes(), 2)) {
            CountDownLatch running = new CountDownLatch(1);
            t.vm.pio().register(0x500, 1, "latch", new BusDevice() {
                public long read(long offset, int size) {
                    return 0;
                }

                public void write(long offset, int size, long value) {
                    running.countDown();
                }
            });
            t.vm.start();
            assertTrue(running.await(20, TimeUnit.SECONDS), "guest ran");
        }
    }

    @Test
    void hundredStartStopCyclesLeakNothing() throws Exception {
        // Warm up once so that lazily created JVM threads and mappings are not counted as leaks.
        cycle(false);
        cycle(true);
        long fds = count("/proc/self/fd");
        long tasks = count("/proc/self/task");
        long maps = mappings();
        for (int i = 0; i < 100; i++) {
            cycle(i % 2 == 0);
        }
        assertEquals(fds, count("/proc/self/fd"), "open file descriptors");
        assertEquals(tasks, count("/proc/self/task"), "threads (native tasks)");
        long after = mappings();
        // The JIT and GC may map a few regions of their own; a VM that leaked would leave 3+ per cycle.
        assertTrue(after - maps < 20, "memory mappings grew from " + maps + " to " + after);
        assertTrue(Thread.getAllStackTraces().keySet().stream().noneMatch(t -> t.getName().startsWith("vcpu-")), "no vcpu thread left");
    }
}
