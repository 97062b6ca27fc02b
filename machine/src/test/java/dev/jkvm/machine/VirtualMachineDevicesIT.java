package dev.jkvm.machine;

import dev.jkvm.backends.block.DriveOptions;
import dev.jkvm.vmm.ExitStatus;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The embedding API's device helpers: NICs on a netdev, IDE disks and -machine acpi=off, each
 * proven by the test guest's own driver for that device.
 */
class VirtualMachineDevicesIT {
    private static final Duration TIMEOUT = Duration.ofSeconds(120);

    private static String run(VirtualMachine.Builder builder) throws Exception {
        try (VirtualMachine vm = builder.build().start()) {
            ExitStatus status = vm.awaitExit(TIMEOUT);
            String out = vm.serialOutput();
            assertEquals(TestGuest.ALL_PASSED_STATUS, status.code(), out);
            return out;
        }
    }

    private static String line(String out, String test) {
        return out.lines().filter(l -> l.startsWith("TEST " + test + " ")).findFirst().orElse("(no " + test + " line)");
    }

    @Test
    void anE1000OnUserNetworkingReachesTheGateway() throws Exception {
        String out = run(TestGuest.vm("64M", 1, "tests=net-id,net-arp net.nic=e1000 net.wait=60")
                .netdev(new NetdevConfig.User("n0", null, null, null, null, false, List.of()))
                .e1000("n0", "52:54:00:aa:bb:01"));
        assertTrue(out.contains("RESULT 2 passed, 0 failed"), out);
        assertTrue(line(out, "net-id").contains("8086:100e mac=52:54:00:aa:bb:01"), out);
        assertTrue(line(out, "net-arp").contains("10.0.2.2 is-at 52:55:0a:00:02:02"), out);
    }

    @Test
    // 0x1041: a modern-only virtio-net (QEMU's transitional device says 0x1000).
    void aVirtioNetWithoutAMacGetsQemusFirstDefault() throws Exception {
        String out = run(TestGuest.vm("64M", 1, "tests=net-id,net-arp net.nic=virtio net.wait=60")
                .netdev(new NetdevConfig.User("n0", null, null, null, null, false, List.of()))
                .virtioNet("n0", null));
        assertTrue(out.contains("RESULT 2 passed, 0 failed"), out);
        assertTrue(line(out, "net-id").contains("1af4:1041 mac=52:54:00:12:34:56"), out);
    }

    @Test
    void anIdeDiskIsTheFirstAtaDrive(@TempDir Path dir) throws Exception {
        Path disk = dir.resolve("hda.img");
        DiskPattern.write(disk, 4 << 20);
        String out = run(TestGuest.vm("64M", 1, "tests=ide-id,ide-pio ide.sectors=8192").ideDisk(DriveOptions.of(disk)));
        assertTrue(out.contains("RESULT 2 passed, 0 failed"), out);
    }

    @Test
    void aFifthIdeDriveIsRefused(@TempDir Path dir) {
        VirtualMachine.Builder b = TestGuest.vm("64M", 1, "tests=serial");
        for (int i = 0; i < 4; i++) {
            b.ideDisk(DriveOptions.of(dir.resolve("d" + i + ".img")));
        }
        MachineException e = assertThrows(MachineException.class, () -> b.ideDisk(DriveOptions.of(dir.resolve("d4.img"))));
        assertTrue(e.getMessage().contains("no free IDE position"), e.getMessage());
    }

    @Test
    void withoutAcpiTheGuestFindsOnlyTheMpTable() throws Exception {
        String out = run(TestGuest.vm("64M", 2, "tests=acpi acpi.optional=1 cpus=2").acpi(false));
        assertTrue(out.contains("RESULT 1 passed, 0 failed"), out);
        assertTrue(line(out, "acpi").contains("(acpi.optional=1)") && line(out, "acpi").contains("mp=2"), out);
    }
}
