package dev.jkvm.machine.linux;

import dev.jkvm.kvm.KvmRegs;
import dev.jkvm.kvm.KvmRegs.Reg;
import dev.jkvm.kvm.KvmSregs;
import dev.jkvm.kvm.KvmSregs.Seg;
import dev.jkvm.kvm.SegmentDescriptor;
import dev.jkvm.machine.MachineConfig;
import dev.jkvm.machine.PcMachine;
import dev.jkvm.memory.GuestMemory;
import dev.jkvm.memory.PcMemoryLayout;
import dev.jkvm.vmm.boot.BootLayout;
import dev.jkvm.vmm.boot.E820Entry;
import dev.jkvm.vmm.boot.X86BootCpu;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Loads Debian's real kernel (/boot/vmlinuz-*) with an initrd built here through jkvm's machine
 * path ({@link PcMachine#create}, never {@code start()}), so no vCPU ever runs: this works on a PVM
 * host too. Then reads, from the host side, what the kernel would find at its 64-bit entry: the
 * zero page and the boot vCPU's registers. Offsets are boot.rst's and zero-page.rst's, typed here.
 */
class DebianKernelLoadIT {
    private static final long MiB = 1L << 20;
    private static final long ZP = 0x7000;
    private static final String CMDLINE = "console=ttyS0 panic=-1 jkvm.test=debian-kernel-load";

    @TempDir
    static Path tmp;
    private static Path vmlinuz;
    private static byte[] kernelFile;

    @BeforeAll
    static void kernel() throws Exception {
        vmlinuz = DebianKernel.vmlinuz();
        kernelFile = Files.readAllBytes(vmlinuz);
    }

    private static ByteBuffer file() {
        return ByteBuffer.wrap(kernelFile).order(ByteOrder.LITTLE_ENDIAN);
    }

    private static Path initrd() throws Exception {
        byte[] cpio = new Cpio().dir("dev").dir("proc").dir("sys")
                .file("init", 0755, "#!/bin/sh\necho this initrd is only loaded, never run\n")
                .file("payload", 0644, "x".repeat(300_000))
                .build();
        Path p = tmp.resolve("initrd.cpio");
        Files.write(p, cpio);
        return p;
    }

    private static String cString(GuestMemory m, long at, int max) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int i = 0; i < max; i++) {
            int b = m.read8(at + i);
            if (b == 0) {
                return out.toString(StandardCharsets.UTF_8);
            }
            out.write(b);
        }
        throw new AssertionError("no NUL within " + max + " bytes");
    }

    /** 4-level walk with 2 MiB pages, as the MMU does it for jkvm's identity map; -1 if unmapped. */
    private static long translate(GuestMemory m, long cr3, long va) {
        long mask = 0x000ffffffffff000L;
        long pml4e = m.read64((cr3 & mask) + ((va >>> 39) & 511) * 8);
        if ((pml4e & 1) == 0) {
            return -1;
        }
        long pdpte = m.read64((pml4e & mask) + ((va >>> 30) & 511) * 8);
        if ((pdpte & 1) == 0) {
            return -1;
        }
        long pde = m.read64((pdpte & mask) + ((va >>> 21) & 511) * 8);
        if ((pde & 1) == 0 || (pde & 0x80) == 0) {
            return -1;
        }
        return (pde & 0x000fffffffe00000L) | (va & 0x1fffff);
    }

    @Test
    void zeroPageAndEntryRegistersAreWhatTheKernelExpects() throws Exception {
        Path initrd = initrd();
        long initrdSize = Files.size(initrd);
        long ramSize = 512 * MiB;
        MachineConfig config = MachineConfig.builder().memoryBytes(ramSize).kernel(vmlinuz).initrd(initrd).append(CMDLINE).build();
        try (PcMachine m = PcMachine.create(config)) {
            GuestMemory mem = m.memory();
            PcMemoryLayout layout = m.layout();
            ByteBuffer f = file();
            int version = Short.toUnsignedInt(f.getShort(0x206));
            int setupSects = f.get(0x1f1) == 0 ? 4 : Byte.toUnsignedInt(f.get(0x1f1));
            int headerEnd = 0x202 + Byte.toUnsignedInt(f.get(0x201));
            long initrdAddrMax = Integer.toUnsignedLong(f.getInt(0x22c));
            long prefAddress = f.getLong(0x258);
            long initSize = Integer.toUnsignedLong(f.getInt(0x260));
            long kernelAlignment = Integer.toUnsignedLong(f.getInt(0x230));

            assertEquals("BZIMAGE kernel, LONG entry at 0x100200", m.bootDescription());

            // --- The protected-mode kernel at 1 MiB, byte for byte. ---
            int kernelOffset = (setupSects + 1) * 512;
            byte[] loaded = new byte[kernelFile.length - kernelOffset];
            mem.read(0x100000, loaded, 0, loaded.length);
            assertArrayEquals(Arrays.copyOfRange(kernelFile, kernelOffset, kernelFile.length), loaded, "kernel at 0x100000");

            // --- Zero page: the header, copied. ---
            assertEquals(0xaa55, mem.read16(ZP + 0x1fe), "boot_flag");
            assertEquals(0x53726448, mem.read32(ZP + 0x202), "header \"HdrS\"");
            assertEquals(version, mem.read16(ZP + 0x206), "version");
            assertTrue(version >= 0x020c, "Debian's kernel speaks protocol 2.12+: " + Integer.toHexString(version));
            assertEquals(1, mem.read16(ZP + 0x236) & 1, "XLF_KERNEL_64");
            int[] loaderWritten = {0x210, 0x211, 0x214, 0x215, 0x216, 0x217, 0x218, 0x219, 0x21a, 0x21b, 0x21c, 0x21d, 0x21e, 0x21f,
                    0x224, 0x225, 0x228, 0x229, 0x22a, 0x22b};
            for (int off = 0x1f1; off < headerEnd; off++) {
                int o = off;
                boolean written = Arrays.stream(loaderWritten).anyMatch(x -> x == o) || (off >= 0x23c && off < 0x248) || (off >= 0x250 && off < 0x258);
                if (!written) {
                    assertEquals(Byte.toUnsignedInt(kernelFile[off]), mem.read8(ZP + off), String.format("setup header byte 0x%x", off));
                }
            }

            // --- Zero page: the loader's fields. ---
            assertEquals(0xff, mem.read8(ZP + 0x210), "type_of_loader");
            int loadflags = mem.read8(ZP + 0x211);
            assertEquals(0x81, loadflags & 0x81, "LOADED_HIGH | CAN_USE_HEAP");
            assertEquals(0, loadflags & 0x62, "KASLR_FLAG, QUIET_FLAG, KEEP_SEGMENTS clear");
            assertEquals(0xde00, mem.read16(ZP + 0x224), "heap_end_ptr");
            assertEquals(0x100000, mem.read32(ZP + 0x214), "code32_start");
            long cmdPtr = Integer.toUnsignedLong(mem.read32(ZP + 0x228));
            assertEquals(0x3000, cmdPtr, "cmd_line_ptr");
            assertEquals(CMDLINE, cString(mem, cmdPtr, 4096), "the command line at cmd_line_ptr");
            assertEquals(0, mem.read32(ZP + 0x23c), "hardware_subarch");
            assertEquals(0, mem.read8(ZP + 0x1ef), "sentinel");

            long rdImage = Integer.toUnsignedLong(mem.read32(ZP + 0x218));
            long rdSize = Integer.toUnsignedLong(mem.read32(ZP + 0x21c));
            assertEquals(initrdSize, rdSize, "ramdisk_size");
            assertEquals(0, rdImage % 4096, "ramdisk_image page aligned");
            long runtime = Math.max((0x100000 + kernelAlignment - 1) & -kernelAlignment, prefAddress);
            assertTrue(rdImage >= runtime + initSize, String.format("initrd at 0x%x overlaps the kernel's init_size area ending 0x%x", rdImage, runtime + initSize));
            assertTrue(rdImage + rdSize - 1 <= initrdAddrMax, "initrd above initrd_addr_max");
            assertTrue(rdImage + rdSize <= layout.lowRamSize(), "initrd above low RAM");
            assertTrue(rdImage + rdSize > layout.lowRamSize() - 4096, "initrd not as high as it fits");
            byte[] rd = new byte[(int) rdSize];
            mem.read(rdImage, rd, 0, rd.length);
            assertArrayEquals(Files.readAllBytes(initrd), rd, "initrd contents");

            long rsdp = mem.read64(ZP + 0x070);
            if (rsdp != 0) {
                byte[] sig = new byte[8];
                mem.read(rsdp, sig, 0, 8);
                assertEquals("RSD PTR ", new String(sig, StandardCharsets.US_ASCII), "acpi_rsdp_addr points at an RSDP");
            }

            // --- e820 ---
            int n = mem.read8(ZP + 0x1e8);
            List<E820Entry> e820 = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                long p = ZP + 0x2d0 + i * 20L;
                e820.add(new E820Entry(mem.read64(p), mem.read64(p + 8), mem.read32(p + 16)));
            }
            List<E820Entry> expected = E820Entry.forLayout(layout, BootLayout.bootDataEnd(X86BootCpu.pageDirectories(layout.topOfRam())));
            assertEquals(expected, e820);
            assertTrue(e820.contains(new E820Entry(0x100000, ramSize - 0x100000, 1)), "RAM from 1 MiB to the top: " + e820);

            // --- The boot vCPU, as KVM holds it before the first KVM_RUN. ---
            KvmRegs regs = m.vm().vcpus().get(0).getRegs();
            KvmSregs sregs = m.vm().vcpus().get(0).getSregs();
            assertEquals(0x100000 + 0x200, regs.get(Reg.RIP), "RIP = load address + 0x200");
            assertEquals(ZP, regs.get(Reg.RSI), "RSI = boot_params");
            assertEquals(0, regs.get(Reg.RFLAGS) & (1 << 9), "IF clear");
            assertEquals(0x500, sregs.efer() & 0x500, "EFER.LME | EFER.LMA");
            assertEquals(0x80000001L, sregs.cr0() & 0x80000001L, "CR0.PG | CR0.PE");
            assertEquals(0x20, sregs.cr4() & 0x20, "CR4.PAE");
            assertEquals(0, sregs.cr4() & (1 << 12), "CR4.LA57 off: 4-level paging");
            SegmentDescriptor cs = sregs.get(Seg.CS);
            assertTrue(cs.l(), "CS.L");
            assertFalse(cs.db(), "CS.D must be 0 with L=1");
            assertEquals(0x10, cs.selector(), "CS = __BOOT_CS");
            for (Seg s : new Seg[] {Seg.DS, Seg.ES, Seg.SS}) {
                assertEquals(0x18, sregs.get(s).selector(), s + " = __BOOT_DS");
                assertEquals(0, sregs.get(s).base());
            }
            assertEquals(BootLayout.GDT, sregs.gdtBase());
            assertEquals(0x00af9b000000ffffL, mem.read64(sregs.gdtBase() + 0x10), "GDT[__BOOT_CS]");
            assertEquals(0x00cf93000000ffffL, mem.read64(sregs.gdtBase() + 0x18), "GDT[__BOOT_DS]");
            // Identity mapped: the kernel and its init_size area, the zero page, the command line, the initrd.
            long cr3 = sregs.cr3();
            for (long va : new long[] {ZP, cmdPtr, 0x100200, runtime, runtime + initSize - 1, rdImage, rdImage + rdSize - 1}) {
                assertEquals(va, translate(mem, cr3, va), String.format("va 0x%x identity mapped", va));
            }

            System.out.printf("DebianKernelLoadIT: %s: protocol %d.%02d, setup_sects %d, header end 0x%x, pref_address 0x%x, init_size 0x%x, "
                            + "initrd_addr_max 0x%x, cmdline_size %d; zero page: type_of_loader 0x%x loadflags 0x%x cmd_line_ptr 0x%x "
                            + "ramdisk 0x%x+0x%x, %d e820 entries, acpi_rsdp_addr 0x%x; RIP 0x%x RSI 0x%x EFER 0x%x CR0 0x%x CR4 0x%x CS 0x%x L=%b%n",
                    vmlinuz, version >> 8, version & 0xff, setupSects, headerEnd, prefAddress, initSize, initrdAddrMax,
                    Integer.toUnsignedLong(f.getInt(0x238)), mem.read8(ZP + 0x210), loadflags, cmdPtr, rdImage, rdSize, n, rsdp,
                    regs.get(Reg.RIP), regs.get(Reg.RSI), sregs.efer(), sregs.cr0(), sregs.cr4(), cs.selector(), cs.l());
            System.out.println("DebianKernelLoadIT: e820 " + e820);
        }
    }

    @Test
    void withoutAnInitrdTheRamdiskFieldsAreZero() {
        MachineConfig config = MachineConfig.builder().memoryBytes(128 * MiB).kernel(vmlinuz).append("").build();
        try (PcMachine m = PcMachine.create(config)) {
            assertEquals(0, m.memory().read32(ZP + 0x218));
            assertEquals(0, m.memory().read32(ZP + 0x21c));
            assertEquals(0, m.memory().read8(0x3000), "empty command line");
            assertEquals(0x3000, m.memory().read32(ZP + 0x228), "cmd_line_ptr is set even for an empty command line");
        }
    }
}
