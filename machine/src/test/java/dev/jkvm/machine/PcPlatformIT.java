package dev.jkvm.machine;

import dev.jkvm.devices.legacy.platform.AcpiHardware;
import dev.jkvm.devices.legacy.platform.Piix4PowerManagement;
import dev.jkvm.vmm.ExitStatus;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.time.Duration;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The PC platform devices end to end: the test guest's rtc, pmtimer, i8042 and piixirq tests on
 * jkvm, ACPI S5 ending the VM with status 0, and each reset method ending it (with -no-reboot)
 * as a reset.
 */
class PcPlatformIT {
    private static final Duration TIMEOUT = Duration.ofSeconds(90);
    private static final Pattern RESULT = Pattern.compile("RESULT (\\d+) passed, (\\d+) failed");

    @Test
    void platformTestsPassOnTwoVcpus() throws Exception {
        try (VirtualMachine vm = TestGuest.vm("64M", 2, "tests=rtc,pmtimer,i8042,piixirq cpus=2").build().start()) {
            Matcher m = vm.serial().waitFor(RESULT, TIMEOUT);
            ExitStatus status = vm.awaitExit(TIMEOUT);
            String out = vm.serialOutput();
            assertEquals("4 passed, 0 failed", m.group(1) + " passed, " + m.group(2) + " failed", out);
            assertEquals(ExitStatus.Reason.DEBUG_EXIT, status.reason(), out);
            assertTrue(out.contains("TEST rtc PASS") && out.contains("cpus-1=1"), out);
            assertTrue(out.contains("mem=640/64512/768/0"), out);
            assertTrue(out.contains("TEST piixirq PASS pirq=10,10,11,11"), out);
            assertTrue(out.contains("acpi=line9/pin1"), out);
            assertTrue(out.contains("pmba=0x600"), out);

            // The guest's clock is the host's UTC time (QEMU's -rtc base=utc).
            Matcher t = Pattern.compile("time=(\\S+)Z").matcher(out);
            assertTrue(t.find(), out);
            Instant guest = LocalDateTime.parse(t.group(1)).toInstant(ZoneOffset.UTC);
            long skew = Math.abs(Duration.between(guest, Instant.now()).toSeconds());
            assertTrue(skew < 60, "guest RTC " + guest + " vs host " + Instant.now());
        }
    }

    @Test
    void fourGiBMemorySizesInCmos() throws Exception {
        try (VirtualMachine vm = TestGuest.vm("4G", 1, "tests=rtc").build().start()) {
            vm.serial().waitFor(RESULT, TIMEOUT);
            vm.awaitExit(TIMEOUT);
            String out = vm.serialOutput();
            assertTrue(out.contains("RESULT 1 passed, 0 failed"), out);
            // 3 GiB below 4 GiB: extended memory capped, (3G - 16M) / 64K above 16 MiB, 1 GiB / 64K above 4 GiB.
            assertTrue(out.contains("mem=640/65535/48896/16384"), out);
        }
    }

    @Test
    void acpiS5PowersOffWithStatusZero() throws Exception {
        try (VirtualMachine vm = TestGuest.vm("64M", 1, "tests=s5").build().start()) {
            ExitStatus status = vm.awaitExit(TIMEOUT);
            String out = vm.serialOutput();
            assertEquals(ExitStatus.Reason.POWER_OFF, status.reason(), out);
            assertEquals(0, status.code());
            assertTrue(status.detail().contains("S5"), status.detail());
            int at = out.indexOf("S5-NOW");
            assertTrue(at >= 0, out);
            assertEquals(out.length(), out.indexOf('\n', at) + 1, "nothing printed after S5-NOW:\n" + out);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"i8042", "cf9", "92"})
    void eachResetMethodResetsTheMachine(String method) throws Exception {
        try (VirtualMachine vm = TestGuest.vm("64M", 1, "tests=reset reset.method=" + method).noReboot(true).build().start()) {
            ExitStatus status = vm.awaitExit(TIMEOUT);
            String out = vm.serialOutput();
            assertEquals(ExitStatus.Reason.RESET, status.reason(), out);
            assertEquals(0, status.code());
            int at = out.indexOf("RESET-NOW method=" + method);
            assertTrue(at >= 0, out);
            assertEquals(out.length(), out.indexOf('\n', at) + 1, "nothing printed after RESET-NOW:\n" + out);
            assertFalse(out.contains("RESULT"), out);
        }
    }

    @Test
    void thePowerButtonIsIgnoredUntilTheGuestEnablesAcpi() throws Exception {
        try (VirtualMachine vm = TestGuest.vm("64M", 1, "tests=wait").build().start()) {
            vm.serial().waitFor(Pattern.compile("WAITING"), TIMEOUT);
            Piix4PowerManagement pm = vm.machine().pci().functions().stream()
                    .filter(f -> f instanceof Piix4PowerManagement).map(f -> (Piix4PowerManagement) f)
                    .findFirst().orElseThrow();
            assertEquals(AcpiHardware.PM_BASE, pm.pmBase());
            assertFalse(pm.pressPowerButton(), "the guest never enabled ACPI mode or PWRBTN_EN");
            vm.stop();
            assertEquals(ExitStatus.Reason.HOST_STOP, vm.awaitExit(TIMEOUT).reason());
        }
    }
}
