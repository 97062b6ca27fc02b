package dev.jkvm.machine.linux;

import dev.jkvm.kvm.Kvm;
import dev.jkvm.machine.VirtualMachine;
import dev.jkvm.vmm.ExitStatus;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Boots Debian's kernel for real with a busybox initramfs and waits for its marker. This needs
 * hardware KVM: on a PVM host (/sys/module/kvm_pvm) an unmodified Linux cannot run, so the test is
 * skipped there with the reason, never reported as passing.
 */
class LinuxBootIT {
    static final String MARKER = "JKVM-LINUX-SMOKE-OK";
    private static final Duration BOOT_TIMEOUT = Duration.ofSeconds(180);

    @TempDir
    Path tmp;

    /** The initramfs scripts/linux-smoke.sh also builds: mount proc and sys, print the marker and what the kernel found, power off. */
    static byte[] initramfs(Path busybox) throws Exception {
        String init = """
                #!/bin/busybox sh
                /bin/busybox mount -t proc proc /proc
                /bin/busybox mount -t sysfs sysfs /sys
                echo %s
                /bin/busybox cat /proc/interrupts
                /bin/busybox ls /sys/bus/pci/devices
                /bin/busybox poweroff -f
                """.formatted(MARKER);
        return new Cpio().dir("bin").dir("dev").dir("proc").dir("sys")
                .charDevice("dev/console", 0600, 5, 1)
                .file("bin/busybox", 0755, Files.readAllBytes(busybox))
                .symlink("bin/sh", "busybox")
                .file("init", 0755, init)
                .build();
    }

    @Test
    void debianKernelBootsToBusyboxAndPowersOff() throws Exception {
        if (Kvm.isPvmHost()) {
            System.out.println("LinuxBootIT: " + DebianKernel.SKIP_PVM);
        }
        Assumptions.assumeFalse(Kvm.isPvmHost(), DebianKernel.SKIP_PVM);
        Path vmlinuz = DebianKernel.vmlinuz();
        Path initrd = tmp.resolve("initramfs.cpio");
        Files.write(initrd, initramfs(DebianKernel.busyboxStatic()));
        try (VirtualMachine vm = VirtualMachine.builder().memory("512M").vcpus(2).kernel(vmlinuz).initrd(initrd)
                .cmdline("console=ttyS0 panic=-1").noReboot(true).build().start()) {
            vm.serial().waitFor(Pattern.compile(Pattern.quote(MARKER)), BOOT_TIMEOUT);
            ExitStatus status = vm.awaitExit(Duration.ofSeconds(60));
            String out = vm.serialOutput();
            assertTrue(out.contains("ttyS0"), out);
            assertEquals(ExitStatus.Reason.POWER_OFF, status.reason(), status + "\n" + out);
        }
    }
}
