package dev.jkvm.machine;

import java.nio.file.Files;
import java.nio.file.Path;

/** Finds the test guest that the build makes with guest/Makefile. */
public final class TestGuest {
    /** The guest writes 0 to this port when all its tests pass. */
    public static final int DEBUG_EXIT_PORT = 0xf4;
    /** QEMU's and jkvm's status for debug-exit value 0: (0 << 1) | 1. */
    public static final int ALL_PASSED_STATUS = 1;

    private TestGuest() {
    }

    public static Path elf() {
        Path root = Path.of(System.getProperty("jkvm.root", "..")).toAbsolutePath().normalize();
        Path elf = root.resolve("guest/build/testguest.elf");
        if (!Files.isRegularFile(elf)) {
            throw new IllegalStateException("test guest not built: " + elf + " (run make -C guest)");
        }
        return elf;
    }

    /** A builder for the test guest with its debug-exit port. */
    public static VirtualMachine.Builder vm(String memory, int vcpus, String cmdline) {
        return VirtualMachine.builder().memory(memory).vcpus(vcpus).kernel(elf()).cmdline(cmdline)
                .debugExit(DEBUG_EXIT_PORT, 1);
    }
}
