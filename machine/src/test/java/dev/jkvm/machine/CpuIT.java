package dev.jkvm.machine;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.BitSet;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** CPU set-up seen from the host: -vcpu-pin affinity of the vCPU threads and the MSRs after reset. */
class CpuIT {
    private static String allowedCpus(String threadName) throws Exception {
        try (var tasks = Files.list(Path.of("/proc/self/task"))) {
            for (Path t : tasks.toList()) {
                if (Files.readString(t.resolve("comm")).trim().equals(threadName)) {
                    for (String line : Files.readAllLines(t.resolve("status"))) {
                        if (line.startsWith("Cpus_allowed_list:")) {
                            return line.substring(line.indexOf(':') + 1).trim();
                        }
                    }
                }
            }
        }
        return null;
    }

    @Test
    void vcpuThreadsRunWhereTheyArePinned() throws Exception {
        int last = Runtime.getRuntime().availableProcessors() - 1;
        BitSet only = new BitSet();
        only.set(last);
        try (VirtualMachine vm = TestGuest.vm("32M", 2, "tests=wait").pinVcpu(1, only).build().start()) {
            vm.serial().waitFor(Pattern.compile("WAITING"), Duration.ofSeconds(60));
            assertEquals(String.valueOf(last), allowedCpus("vcpu-1"), "vcpu-1 is pinned");
            String unpinned = allowedCpus("vcpu-0");
            assertTrue(unpinned != null && (last == 0 || !unpinned.equals(String.valueOf(last))), "vcpu-0 is not: " + unpinned);
            vm.serial().send("x");
            vm.awaitExit(Duration.ofSeconds(60));
        }
    }

    @Test
    void cpuFeaturesCanBeTurnedOffAndUnknownOnesAreRefused() throws Exception {
        try (VirtualMachine vm = TestGuest.vm("32M", 1, "tests=serial").cpu("host,-x2apic,-kvmclock").build().start()) {
            assertEquals(1, vm.awaitExit(Duration.ofSeconds(60)).code());
        }
        MachineException e = org.junit.jupiter.api.Assertions.assertThrows(MachineException.class,
                () -> TestGuest.vm("32M", 1, "").cpu("host,+frobnicate").build().start().close());
        assertTrue(e.getMessage().contains("frobnicate"), e.getMessage());
    }

    @Test
    void msrsHaveTheirResetValues() throws Exception {
        try (VirtualMachine vm = TestGuest.vm("32M", 1, "tests=wait").build().start()) {
            vm.serial().waitFor(Pattern.compile("WAITING"), Duration.ofSeconds(60));
            var vcpu = vm.machine().vm().vcpus().get(0);
            // vCPU ioctls wait for KVM_RUN to return; pausing takes every vCPU out of it.
            vm.machine().vm().pause();
            try {
                assertEquals(0x0007040600070406L, vcpu.getMsr(0x277), "PAT");
                assertEquals(1L, vcpu.getMsr(0x1a0) & 1, "MISC_ENABLE fast strings");
            } finally {
                vm.machine().vm().resume();
            }
            vm.serial().send("x");
            vm.awaitExit(Duration.ofSeconds(60));
        }
    }
}
