package dev.jkvm.machine.firmware;

import dev.jkvm.devices.legacy.serial.SerialCapture;
import dev.jkvm.machine.DeviceConfig;
import dev.jkvm.machine.MachineConfig;
import dev.jkvm.machine.PcMachine;
import dev.jkvm.machine.SerialConfig;
import dev.jkvm.machine.TestGuest;
import dev.jkvm.vmm.ExitStatus;
import dev.jkvm.vmm.cpu.CpuTopology;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Boots the test guest and lets its {@code acpi} test read jkvm's tables the way an OS does: the
 * RSDP from start_info (or the BIOS-area scan), every checksum, the MADT's CPUs against -smp.
 * With {@code -machine acpi=off} there is no RSDP, the guest fails the test unless told
 * {@code acpi.optional=1}, and then checks the MP table instead.
 */
class AcpiIT {
    private static final Pattern RESULT = Pattern.compile("RESULT (\\d+) passed, (\\d+) failed");
    private static final Duration TIMEOUT = Duration.ofSeconds(90);

    private record Run(String output, ExitStatus status) {
    }

    private static Run boot(int cpus, boolean acpi, String cmdline) throws Exception {
        SerialCapture capture = new SerialCapture();
        MachineConfig config = MachineConfig.builder()
                .memoryBytes(64L << 20)
                .smp(CpuTopology.resolve(cpus, 0, 0, 0, 0))
                .kernel(TestGuest.elf())
                .append(cmdline)
                .serial(new SerialConfig.Capture(capture))
                .device(new DeviceConfig.IsaDebugExit(TestGuest.DEBUG_EXIT_PORT, 1))
                .acpi(acpi)
                .build();
        try (PcMachine machine = PcMachine.create(config)) {
            machine.start();
            capture.waitFor(RESULT, TIMEOUT);
            ExitStatus status = machine.awaitExit(TIMEOUT).orElseThrow(() -> new AssertionError("no exit:\n" + capture.text()));
            return new Run(capture.text(), status);
        } finally {
            capture.close();
        }
    }

    private static void assertAllPassed(Run run) {
        assertEquals(ExitStatus.Reason.DEBUG_EXIT, run.status().reason(), run.output());
        assertEquals(0, run.status().debugValue(), run.output());
    }

    @Test
    void oneVcpu() throws Exception {
        Run run = boot(1, true, "tests=acpi cpus=1");
        assertAllPassed(run);
        assertTrue(run.output().contains("TEST acpi PASS tables=FACP,APIC,DSDT,FACS cpus=1 ioapic=0xfec00000 mp=1"), run.output());
    }

    @Test
    void twoVcpusAfterTheSmpTestWokeThem() throws Exception {
        Run run = boot(2, true, "tests=smp,acpi cpus=2");
        assertAllPassed(run);
        assertTrue(run.output().contains("TEST smp PASS cpus=2"), run.output());
        assertTrue(run.output().contains("TEST acpi PASS tables=FACP,APIC,DSDT,FACS cpus=2 ioapic=0xfec00000 mp=2"), run.output());
    }

    @Test
    void aWrongCpuCountFails() throws Exception {
        Run run = boot(2, true, "tests=acpi cpus=3");
        assertEquals(1, run.status().debugValue(), run.output());
        assertTrue(run.output().contains("TEST acpi FAIL tables=FACP,APIC,DSDT,FACS cpus=2 ioapic=0xfec00000 mp=2 expected cpus=3"),
                run.output());
    }

    @Test
    void acpiOffLeavesNoRsdpAndTheGuestFails() throws Exception {
        Run run = boot(2, false, "tests=acpi cpus=2");
        assertEquals(1, run.status().debugValue(), run.output());
        assertTrue(run.output().contains("TEST acpi FAIL no RSDP"), run.output());
    }

    @Test
    void acpiOffWithAcpiOptionalChecksTheMpTable() throws Exception {
        Run run = boot(2, false, "tests=smp,acpi cpus=2 acpi.optional=1");
        assertAllPassed(run);
        assertTrue(run.output().contains("TEST acpi PASS no RSDP (acpi.optional=1) mp=2 ioapic=0xfec00000"), run.output());
    }
}
