package dev.jkvm.vmm.boot;

import dev.jkvm.memory.GuestMemory;
import dev.jkvm.memory.GuestRam;
import dev.jkvm.memory.PcMemoryLayout;
import dev.jkvm.memory.RamOptions;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The GDT of Linux's 64-bit boot protocol (boot.rst): __BOOT_CS = 0x10 and __BOOT_DS = 0x18, flat
 * 4 GiB, execute/read and read/write. Descriptor values are the architecture's encodings (the same
 * ones Linux's GDT_ENTRY_INIT produces for its boot GDT).
 */
class LinuxBootGdtTest {
    @Test
    void bootCsAndBootDsAreFlatAtTheProtocolsSelectors() {
        assertEquals(0x10, X86BootCpu.LINUX_BOOT_CS);
        assertEquals(0x18, X86BootCpu.LINUX_BOOT_DS);
        long size = 16L << 20;
        try (GuestRam ram = GuestRam.allocate(size, new RamOptions(null, false, false, false))) {
            GuestMemory mem = GuestMemory.of(ram, PcMemoryLayout.forRamSize(size));
            mem.fill(0, 0x10000, (byte) 0xa5);
            X86BootCpu.writeLinuxGdt(mem);
            assertEquals(0, mem.read64(0x1000), "null descriptor");
            assertEquals(0, mem.read64(0x1008), "unused descriptor");
            // 64-bit code: base 0, limit 0xfffff pages, type 0xb (execute/read, accessed), S, P, L, G.
            assertEquals(0x00af9b000000ffffL, mem.read64(0x1010), "__BOOT_CS");
            // Data: base 0, limit 0xfffff pages, type 0x3 (read/write, accessed), S, P, D/B, G.
            assertEquals(0x00cf93000000ffffL, mem.read64(0x1018), "__BOOT_DS");
            // The busy 64-bit TSS VMX wants in TR, 16 bytes.
            assertEquals(0x00008b0000000067L, mem.read64(0x1020));
            assertEquals(0, mem.read64(0x1028));
            assertEquals(0xa5a5a5a5a5a5a5a5L, mem.read64(0x1030), "GDT overran its 0x30 bytes");
        }
    }
}
