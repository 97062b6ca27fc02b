package dev.jkvm.machine.linux;

import dev.jkvm.machine.BootEntry;
import dev.jkvm.machine.MachineConfig;
import dev.jkvm.machine.PcMachine;
import dev.jkvm.machine.TestGuest;
import dev.jkvm.memory.GuestMemory;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * An ELF kernel with -initrd and -append through the machine path, read back from the host before
 * any vCPU runs, with the layouts of Xen's public/arch-x86/hvm/start_info.h: hvm_start_info
 * (magic 0x336ec578, version 1, nr_modules at 0x0c, modlist_paddr 0x10, cmdline_paddr 0x18,
 * rsdp_paddr 0x20, memmap_paddr 0x28, memmap_entries 0x30) and hvm_modlist_entry (paddr, size,
 * cmdline_paddr, reserved: 32 bytes).
 */
class PvhInitrdModuleIT {
    private static final long MiB = 1L << 20;

    @TempDir
    Path tmp;

    private static String cString(GuestMemory m, long at) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int i = 0; i < 16384; i++) {
            int b = m.read8(at + i);
            if (b == 0) {
                return out.toString(StandardCharsets.UTF_8);
            }
            out.write(b);
        }
        throw new AssertionError("no NUL");
    }

    @ParameterizedTest
    @EnumSource(value = BootEntry.class, names = {"LONG", "PVH"})
    void theInitrdIsModuleZeroAndTheCommandLineIsInStartInfo(BootEntry entry) throws Exception {
        byte[] initrd = new byte[200_000];
        new Random(42).nextBytes(initrd);
        Path file = tmp.resolve("initrd.img");
        Files.write(file, initrd);
        String cmdline = "tests=serial root=/dev/ram0 jkvm.initrd=module";
        MachineConfig config = MachineConfig.builder().memoryBytes(64 * MiB).kernel(TestGuest.elf()).initrd(file).append(cmdline)
                .entry(entry).build();
        try (PcMachine m = PcMachine.create(config)) {
            GuestMemory mem = m.memory();
            long si = 0x2000; // BootLayout.START_INFO
            assertEquals(0x336ec578, mem.read32(si), "magic");
            assertEquals(1, mem.read32(si + 4), "version 1 (has a memory map)");
            assertEquals(1, mem.read32(si + 0x0c), "nr_modules");
            long modlist = mem.read64(si + 0x10);
            assertTrue(modlist != 0 && modlist % 8 == 0, "modlist_paddr 0x" + Long.toHexString(modlist));
            assertEquals(cmdline, cString(mem, mem.read64(si + 0x18)), "cmdline_paddr");
            long paddr = mem.read64(modlist);
            long size = mem.read64(modlist + 8);
            assertEquals(initrd.length, size, "module size");
            assertEquals(0, paddr % 4096, "module page aligned");
            assertTrue(paddr >= 0x100000 && paddr + size <= 64 * MiB, "module in RAM above 1 MiB");
            assertEquals(0, mem.read64(modlist + 16), "module cmdline_paddr: none");
            assertEquals(0, mem.read64(modlist + 24), "reserved");
            byte[] back = new byte[initrd.length];
            mem.read(paddr, back, 0, back.length);
            assertArrayEquals(initrd, back, "module contents");
            // The module lies in RAM the memory map reports as usable.
            long memmap = mem.read64(si + 0x28);
            int entries = mem.read32(si + 0x30);
            boolean covered = false;
            for (int i = 0; i < entries; i++) {
                long e = memmap + i * 24L;
                long a = mem.read64(e);
                long s = mem.read64(e + 8);
                if (mem.read32(e + 16) == 1 && a <= paddr && paddr + size <= a + s) {
                    covered = true;
                }
            }
            assertTrue(covered, "initrd not inside an E820 RAM entry");
            // The register that carries start_info.
            long reg = entry == BootEntry.LONG
                    ? m.vm().vcpus().get(0).getRegs().get(dev.jkvm.kvm.KvmRegs.Reg.RDI)
                    : m.vm().vcpus().get(0).getRegs().get(dev.jkvm.kvm.KvmRegs.Reg.RBX);
            assertEquals(si, reg);
        }
    }
}
