package dev.jkvm.machine;

import dev.jkvm.vmm.ExitStatus;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Without -no-reboot, a guest reset restarts the machine in place: the guest boots again, wakes
 * its APs again, and finds the mark it left in CMOS NVRAM (which a reset keeps).
 */
class RebootIT {
    @ParameterizedTest
    @ValueSource(strings = {"i8042", "cf9", "92"})
    void aGuestResetRebootsTheMachineInPlace(String method) throws Exception {
        try (VirtualMachine vm = TestGuest.vm("64M", 2, "tests=smp,reset reset.method=" + method + " cpus=2").build().start()) {
            ExitStatus status = vm.awaitExit(Duration.ofSeconds(120));
            String out = vm.serialOutput();
            assertEquals(2, out.split("jkvm-testguest entry=", -1).length - 1, "booted twice: " + out);
            assertTrue(out.contains("RESET-NOW method=" + method), out);
            assertTrue(out.contains("TEST reset PASS rebooted"), out);
            assertEquals(2, out.split("TEST smp PASS cpus=2", -1).length - 1, "the APs came up on both boots: " + out);
            assertEquals(0, status.debugValue(), out);
            assertEquals(1, vm.machine().reboots());
        }
    }
}
