package dev.jkvm.vmm.boot;

import dev.jkvm.kvm.SegmentDescriptor;
import dev.jkvm.memory.GuestMemory;
import dev.jkvm.memory.GuestRam;
import dev.jkvm.memory.PcMemoryLayout;
import dev.jkvm.memory.RamOptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.OptionalLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

class X86BootCpuTest {
    private static final long MiB = 1L << 20;
    private static final long GiB = 1L << 30;
    private static final long PHYS_MASK = 0x000ffffffffff000L;     // bits 51:12
    private static final long LARGE_PAGE_MASK = 0x000fffffffe00000L; // bits 51:21
    private static final long P = 1;
    private static final long RW = 1 << 1;
    private static final long PS = 1 << 7;
    private static final long NX = 1L << 63;

    /**
     * Translates {@code va} through 4-level paging the way the MMU does with CR4.PAE, EFER.LME and
     * EFER.NXE=0: empty when a level is not present; a failure when an entry is malformed (reserved
     * bits set, which would be a #PF with RSVD).
     */
    static OptionalLong translate(GuestMemory mem, long cr3, long va) {
        long pml4e = mem.read64((cr3 & PHYS_MASK) + ((va >>> 39) & 511) * 8);
        if ((pml4e & P) == 0) {
            return OptionalLong.empty();
        }
        checkEntry(pml4e, "PML4E", va);
        assertEquals(0, pml4e & PS, "PML4E has PS set (reserved)");
        long pdpte = mem.read64((pml4e & PHYS_MASK) + ((va >>> 30) & 511) * 8);
        if ((pdpte & P) == 0) {
            return OptionalLong.empty();
        }
        checkEntry(pdpte, "PDPTE", va);
        if ((pdpte & PS) != 0) {
            fail("1 GiB page at va 0x" + Long.toHexString(va) + "; X86BootCpu documents 2 MiB pages");
        }
        long pde = mem.read64((pdpte & PHYS_MASK) + ((va >>> 21) & 511) * 8);
        if ((pde & P) == 0) {
            return OptionalLong.empty();
        }
        checkEntry(pde, "PDE", va);
        assertTrue((pde & PS) != 0, "PDE without PS: a 4 KiB page table where a 2 MiB page was expected");
        // Bits 20:13 of a 2 MiB PDE are reserved (bit 12 is PAT).
        assertEquals(0, pde & 0x1fe000L, String.format("reserved bits in PDE 0x%x", pde));
        return OptionalLong.of((pde & LARGE_PAGE_MASK) | (va & 0x1fffff));
    }

    private static void checkEntry(long e, String what, long va) {
        assertTrue((e & RW) != 0, what + " not writable for va 0x" + Long.toHexString(va));
        assertEquals(0, e & NX, what + " has NX set, reserved while EFER.NXE=0");
        assertEquals(0, e & 0x7ff0000000000000L & ~NX, what + " has bits 62:52 set");
    }

    private static GuestMemory memory(GuestRam ram, long size) {
        return GuestMemory.of(ram, PcMemoryLayout.forRamSize(size));
    }

    private static RamOptions lazy() {
        return new RamOptions(null, false, false, false);
    }

    private static void assertIdentity(GuestMemory mem, long va) {
        OptionalLong pa = translate(mem, BootLayout.PML4, va);
        assertTrue(pa.isPresent(), "va 0x" + Long.toHexString(va) + " not mapped");
        assertEquals(va, pa.getAsLong(), "va 0x" + Long.toHexString(va));
    }

    @ParameterizedTest
    @ValueSource(longs = {16 * MiB, 64 * MiB, 3 * GiB, 4 * GiB, 8 * GiB})
    void identityMapTranslatesSampleAddressesToThemselves(long ramSize) {
        PcMemoryLayout layout = PcMemoryLayout.forRamSize(ramSize);
        try (GuestRam ram = GuestRam.allocate(ramSize, lazy())) {
            GuestMemory mem = memory(ram, ramSize);
            mem.fill(0, 2 * MiB, (byte) 0xff);   // garbage everywhere the tables could go
            X86BootCpu.writeIdentityMap(mem, layout.topOfRam());

            long[] samples = {0, 0x1000, MiB, 3 * GiB - 1, 0xfec00000L, 0xfee00000L, 0xfee00300L, 4 * GiB - 1, layout.topOfRam() - 1};
            for (long va : samples) {
                assertIdentity(mem, va);
            }
            if (layout.topOfRam() > 4 * GiB) {
                assertIdentity(mem, 4 * GiB);
            }
            // Every 2 MiB page up to the mapped top, not just the samples.
            long mapped = X86BootCpu.pageDirectories(layout.topOfRam()) * GiB;
            assertTrue(mapped >= layout.topOfRam());
            for (long va = 0; va < mapped; va += 2 * MiB) {
                assertIdentity(mem, va + 0x1234);
            }
            // Nothing above the rounded-up top, nothing in the upper half.
            assertTrue(translate(mem, BootLayout.PML4, mapped).isEmpty(), "0x" + Long.toHexString(mapped) + " is mapped");
            assertTrue(translate(mem, BootLayout.PML4, 512 * GiB).isEmpty());
            assertTrue(translate(mem, BootLayout.PML4, 0xffffffff80000000L).isEmpty());
        }
    }

    @Test
    void tablesLieInTheBootDataTheMemoryMapReserves() {
        long ramSize = 8 * GiB;
        PcMemoryLayout layout = PcMemoryLayout.forRamSize(ramSize);
        try (GuestRam ram = GuestRam.allocate(ramSize, lazy())) {
            GuestMemory mem = memory(ram, ramSize);
            X86BootCpu.writeIdentityMap(mem, layout.topOfRam());
            int pds = X86BootCpu.pageDirectories(layout.topOfRam());
            long end = BootLayout.bootDataEnd(pds);
            // Collect every table page the walk touches.
            long pml4 = BootLayout.PML4;
            assertInside(pml4, end);
            long pdpt = mem.read64(pml4) & PHYS_MASK;
            assertInside(pdpt, end);
            for (int i = 0; i < pds; i++) {
                long pd = mem.read64(pdpt + i * 8L) & PHYS_MASK;
                assertInside(pd, end);
                for (int j = 0; j < i; j++) {
                    assertTrue((mem.read64(pdpt + j * 8L) & PHYS_MASK) != pd, "page directories " + j + " and " + i + " share a page");
                }
            }
            assertTrue(end <= BootLayout.LOW_RAM_END);
        }
    }

    private static void assertInside(long page, long bootDataEnd) {
        assertEquals(0, page & 0xfff, "table not page aligned: 0x" + Long.toHexString(page));
        assertTrue(page >= BootLayout.BOOT_DATA_START && page + 0x1000 <= bootDataEnd,
                String.format("table page 0x%x outside boot data [0x%x, 0x%x)", page, BootLayout.BOOT_DATA_START, bootDataEnd));
    }

    @Test
    void mapTopAboveTheCapIsMappedUpToTheCap() {
        // The tables only depend on mapTop, so a small guest can hold the tables for a huge one.
        try (GuestRam ram = GuestRam.allocate(16 * MiB, lazy())) {
            GuestMemory mem = memory(ram, 16 * MiB);
            X86BootCpu.writeIdentityMap(mem, 1L << 40);
            long cap = BootLayout.PD_MAX * GiB;
            assertIdentity(mem, cap - 1);
            assertIdentity(mem, 100 * GiB + 12345);
            assertTrue(translate(mem, BootLayout.PML4, cap).isEmpty());
        }
    }

    @Test
    void pageDirectoryCountFollowsRamRoundedUpToAGiBWithFourMinimumAndTheCap() {
        // At least 4 so the 32-bit hole (LAPIC, IOAPIC, BARs) is always mapped; at most PD_MAX (128 GiB).
        assertEquals(128, BootLayout.PD_MAX);
        long[][] cases = {
                {0, 4}, {1, 4}, {MiB, 4}, {GiB, 4}, {3 * GiB, 4}, {4 * GiB, 4},
                {4 * GiB + 1, 5}, {4 * GiB + 4096, 5}, {5 * GiB, 5}, {9 * GiB, 9}, {9 * GiB + 1, 10},
                {127 * GiB + 1, 128}, {128 * GiB, 128}, {128 * GiB + 1, 128}, {1L << 40, 128},
                {(1L << 40) + 4 * GiB, 128}, {Long.MAX_VALUE - GiB, 128}, {Long.MAX_VALUE, 128},
        };
        for (long[] c : cases) {
            assertEquals(c[1], X86BootCpu.pageDirectories(c[0]), "mapTop 0x" + Long.toHexString(c[0]));
        }
    }

    @Test
    void pageDirectoriesForEveryPcLayoutCoverAllRam() {
        for (long ram = 16 * MiB; ram <= 200 * GiB; ram = ram * 3 / 2 & ~0xfffL) {
            PcMemoryLayout l = PcMemoryLayout.forRamSize(ram);
            int pds = X86BootCpu.pageDirectories(l.topOfRam());
            if (l.topOfRam() <= BootLayout.PD_MAX * GiB) {
                assertTrue(pds * GiB >= l.topOfRam(), "ram " + ram + ": " + pds + " page directories");
                assertTrue((pds - 1) * GiB < l.topOfRam() || pds == 4, "ram " + ram + ": too many page directories, " + pds);
            } else {
                assertEquals(BootLayout.PD_MAX, pds);
            }
        }
    }

    // --- GDT descriptors: the values are the architecture's (Intel SDM vol. 3, 3.4.5; Linux's GDT_ENTRY_INIT). ---

    @Test
    void flat64BitCodeDescriptor() {
        assertEquals(0x00af9b000000ffffL, SegmentDescriptor.code64(X86BootCpu.SEL_CODE64).gdtEntry());
    }

    @Test
    void flatDataDescriptor() {
        assertEquals(0x00cf93000000ffffL, SegmentDescriptor.data(X86BootCpu.SEL_DATA).gdtEntry());
    }

    @Test
    void flat32BitCodeDescriptor() {
        assertEquals(0x00cf9b000000ffffL, SegmentDescriptor.code32(X86BootCpu.SEL_CODE32).gdtEntry());
    }

    @Test
    void busyTssDescriptor() {
        // 64-bit busy TSS (type 0xB), present, byte-granular limit 0x67.
        assertEquals(0x00008b0000000067L, SegmentDescriptor.tss(X86BootCpu.SEL_TSS, 0, 0x67).gdtEntry());
        // The base is split over bits 16-39 and 56-63.
        assertEquals(0x12008b3456780067L, SegmentDescriptor.tss(X86BootCpu.SEL_TSS, 0x12345678L, 0x67).gdtEntry());
    }

    @Test
    void userSegmentsAndByteGranularLimits() {
        // Linux's __USER_CS (64-bit, DPL 3) and __USER_DS.
        assertEquals(0x00affb000000ffffL, new SegmentDescriptor(0, 0xffffffff, 0x33, 0xb, true, 3, false, true, true, true, false, false).gdtEntry());
        assertEquals(0x00cff3000000ffffL, new SegmentDescriptor(0, 0xffffffff, 0x2b, 0x3, true, 3, true, true, false, true, false, false).gdtEntry());
        // A 16-bit real-mode-style data segment: 64 KiB, byte granular, base 0xf0000.
        assertEquals(0x0000930f0000ffffL, new SegmentDescriptor(0xf0000, 0xffff, 0, 0x3, true, 0, false, true, false, false, false, false).gdtEntry());
        // A byte-granular limit with bits 19:16 set.
        assertEquals(0x000f93000000ffffL, new SegmentDescriptor(0, 0xfffff, 0, 0x3, true, 0, false, true, false, false, false, false).gdtEntry());
        // Not present.
        assertEquals(0x00cf13000000ffffL, new SegmentDescriptor(0, 0xffffffff, 0, 0x3, false, 0, true, true, false, true, false, false).gdtEntry());
    }

    @Test
    void selectorsIndexTheGdtAsTheArchitectureDoes() {
        // Index = selector >> 3, RPL 0, TI 0 (GDT); the TSS takes 16 bytes in long mode, so it comes last.
        assertEquals(1, X86BootCpu.SEL_CODE64 >> 3);
        assertEquals(0, X86BootCpu.SEL_CODE64 & 7);
        assertEquals(0, X86BootCpu.SEL_DATA & 7);
        assertEquals(0, X86BootCpu.SEL_CODE32 & 7);
        assertEquals(0, X86BootCpu.SEL_TSS & 7);
        assertTrue(X86BootCpu.SEL_TSS > X86BootCpu.SEL_CODE64 && X86BootCpu.SEL_TSS > X86BootCpu.SEL_DATA && X86BootCpu.SEL_TSS > X86BootCpu.SEL_CODE32);
        assertTrue(BootLayout.GDT + X86BootCpu.SEL_TSS + 16 <= BootLayout.START_INFO, "the GDT runs into the start_info");
    }
}
