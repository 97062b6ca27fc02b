package dev.jkvm.vmm.boot;

import dev.jkvm.memory.GuestMemory;
import dev.jkvm.memory.GuestRam;
import dev.jkvm.memory.PcMemoryLayout;
import dev.jkvm.memory.RamOptions;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Reads the start_info back as a PVH guest would, with the field offsets of Xen's
 * public/arch-x86/hvm/start_info.h (struct hvm_start_info, hvm_modlist_entry, hvm_memmap_table_entry).
 */
class PvhStartInfoTest {
    private static final long MiB = 1L << 20;
    private static final long RAM = 16 * MiB;
    private static final int XEN_HVM_START_MAGIC_VALUE = 0x336ec578;
    private static final byte GARBAGE = (byte) 0xa5;

    private static GuestRam ram;
    private static GuestMemory mem;

    @BeforeAll
    static void allocate() {
        ram = GuestRam.allocate(RAM, new RamOptions(null, false, false, false));
        mem = GuestMemory.of(ram, PcMemoryLayout.forRamSize(RAM));
    }

    @AfterAll
    static void free() {
        ram.close();
    }

    @BeforeEach
    void garbage() {
        mem.fill(0, 2 * MiB, GARBAGE);
    }

    /** struct hvm_start_info as read from guest memory. */
    record StartInfo(int magic, int version, int flags, int nrModules, long modlistPaddr, long cmdlinePaddr,
                     long rsdpPaddr, long memmapPaddr, int memmapEntries, int reserved) {
        static StartInfo read(GuestMemory m, long at) {
            return new StartInfo(m.read32(at), m.read32(at + 4), m.read32(at + 8), m.read32(at + 12), m.read64(at + 16),
                    m.read64(at + 24), m.read64(at + 32), m.read64(at + 40), m.read32(at + 48), m.read32(at + 52));
        }
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
        throw new AssertionError("no NUL within " + max + " bytes of 0x" + Long.toHexString(at));
    }

    private static List<E820Entry> map16M() {
        return E820Entry.forLayout(PcMemoryLayout.forRamSize(RAM), BootLayout.bootDataEnd(4));
    }

    @Test
    void startInfoReadsBackPerTheXenLayout() {
        List<E820Entry> memmap = map16M();
        List<PvhStartInfo.Module> modules = List.of(new PvhStartInfo.Module(0x800000, 0x12345));
        String cmdline = "console=ttyS0 tests=serial,smp cpus=2";
        long at = PvhStartInfo.write(mem, cmdline, memmap, modules, 0xe0000);

        StartInfo si = StartInfo.read(mem, at);
        assertEquals(XEN_HVM_START_MAGIC_VALUE, si.magic());
        assertEquals(1, si.version());
        assertEquals(0, si.flags());
        assertEquals(1, si.nrModules());
        assertEquals(0xe0000, si.rsdpPaddr());
        assertEquals(memmap.size(), si.memmapEntries());
        assertEquals(0, si.reserved());
        assertEquals(cmdline, cString(mem, si.cmdlinePaddr(), 0x10000));

        for (int i = 0; i < memmap.size(); i++) {
            long e = si.memmapPaddr() + 24L * i;
            assertEquals(memmap.get(i), new E820Entry(mem.read64(e), mem.read64(e + 8), mem.read32(e + 16)), "memmap[" + i + "]");
            assertEquals(0, mem.read32(e + 20), "memmap[" + i + "].reserved");
        }
        long m = si.modlistPaddr();
        assertEquals(0x800000, mem.read64(m));
        assertEquals(0x12345, mem.read64(m + 8));
        assertEquals(0, mem.read64(m + 16), "module cmdline_paddr");
        assertEquals(0, mem.read64(m + 24), "module reserved");
    }

    @Test
    void structuresDoNotOverlapAndLieInReservedBootData() {
        List<E820Entry> memmap = map16M();
        List<PvhStartInfo.Module> modules = List.of(new PvhStartInfo.Module(0x800000, 0x1000), new PvhStartInfo.Module(0x900000, 0x2000));
        String cmdline = "x".repeat(300);
        long at = PvhStartInfo.write(mem, cmdline, memmap, modules, 0);
        StartInfo si = StartInfo.read(mem, at);

        long[][] areas = {
                {at, at + 56},
                {si.memmapPaddr(), si.memmapPaddr() + 24L * si.memmapEntries()},
                {si.modlistPaddr(), si.modlistPaddr() + 32L * si.nrModules()},
                {si.cmdlinePaddr(), si.cmdlinePaddr() + cmdline.length() + 1},
        };
        for (int i = 0; i < areas.length; i++) {
            for (int j = i + 1; j < areas.length; j++) {
                assertFalse(areas[i][0] < areas[j][1] && areas[j][0] < areas[i][1],
                        String.format("area %d [0x%x,0x%x) overlaps area %d [0x%x,0x%x)", i, areas[i][0], areas[i][1], j, areas[j][0], areas[j][1]));
            }
            long start = areas[i][0];
            long end = areas[i][1];
            // The guest is told these bytes are reserved, so it will not reuse them while it still reads them.
            assertTrue(memmap.stream().anyMatch(e -> e.type() == E820Entry.RESERVED && e.address() <= start && end <= e.end()),
                    String.format("area %d [0x%x,0x%x) is not inside a reserved e820 entry", i, start, end));
        }
        // 8-byte fields are naturally aligned, as a C reader expects.
        assertEquals(0, at % 8);
        assertEquals(0, si.memmapPaddr() % 8);
        assertEquals(0, si.modlistPaddr() % 8);
        assertEquals(2, si.nrModules());
        assertEquals(0x900000, mem.read64(si.modlistPaddr() + 32));
        assertEquals(0x2000, mem.read64(si.modlistPaddr() + 40));
    }

    @Test
    void noModulesMeansAZeroModuleList() {
        long at = PvhStartInfo.write(mem, "", map16M(), List.of(), 0);
        StartInfo si = StartInfo.read(mem, at);
        assertEquals(0, si.nrModules());
        assertEquals(0, si.modlistPaddr());
    }

    @Test
    void cmdlineIsNulTerminatedOverGarbage() {
        long at = PvhStartInfo.write(mem, "a", map16M(), List.of(), 0);
        StartInfo si = StartInfo.read(mem, at);
        assertEquals('a', mem.read8(si.cmdlinePaddr()));
        assertEquals(0, mem.read8(si.cmdlinePaddr() + 1));
    }

    @Test
    void nullAndEmptyCmdlineAreAnEmptyString() {
        for (String c : new String[] {null, ""}) {
            mem.fill(0, 2 * MiB, GARBAGE);
            StartInfo si = StartInfo.read(mem, PvhStartInfo.write(mem, c, map16M(), List.of(), 0));
            assertEquals(0, mem.read8(si.cmdlinePaddr()));
        }
    }

    @Test
    void utf8CmdlineIsWrittenAsUtf8() {
        String c = "root=/dev/vda name=\u00e9t\u00e9";
        StartInfo si = StartInfo.read(mem, PvhStartInfo.write(mem, c, map16M(), List.of(), 0));
        byte[] expected = c.getBytes(StandardCharsets.UTF_8);
        byte[] got = new byte[expected.length + 1];
        mem.read(si.cmdlinePaddr(), got, 0, got.length);
        assertArrayEquals(expected, java.util.Arrays.copyOf(got, expected.length));
        assertEquals(0, got[expected.length]);
    }

    @Test
    void longestCmdlineFitsAndDoesNotReachTheNextStructure() {
        int max = (int) BootLayout.CMDLINE_MAX - 1;
        String c = "k".repeat(max);
        StartInfo si = StartInfo.read(mem, PvhStartInfo.write(mem, c, map16M(), List.of(), 0));
        assertEquals(c, cString(mem, si.cmdlinePaddr(), max + 1));
        long end = si.cmdlinePaddr() + max + 1;
        // Whatever comes after the command line area is untouched.
        assertEquals(GARBAGE, (byte) mem.read8(end));
        assertTrue(end <= BootLayout.ZERO_PAGE || si.cmdlinePaddr() >= BootLayout.ZERO_PAGE + 0x1000, "command line runs into the zero page");
        assertTrue(end <= BootLayout.PML4 || si.cmdlinePaddr() >= BootLayout.bootDataEnd(BootLayout.PD_MAX), "command line runs into the page tables");
    }

    @Test
    void tooLongCmdlineIsRefused() {
        for (int len : new int[] {(int) BootLayout.CMDLINE_MAX, (int) BootLayout.CMDLINE_MAX + 1, 1 << 20}) {
            KernelImageException e = assertThrows(KernelImageException.class,
                    () -> PvhStartInfo.write(mem, "z".repeat(len), map16M(), List.of(), 0));
            assertTrue(e.getMessage().contains(Integer.toString(len)), e.getMessage());
        }
        // A multi-byte character counts as its UTF-8 bytes.
        String wide = "\u00e9".repeat((int) BootLayout.CMDLINE_MAX / 2);
        assertThrows(KernelImageException.class, () -> PvhStartInfo.write(mem, wide, map16M(), List.of(), 0));
    }

    @Test
    void largestMemmapThatFitsTheStartInfoPage() {
        int fit = (int) ((BootLayout.START_INFO_END - BootLayout.START_INFO - 56) / 24);
        List<E820Entry> big = new ArrayList<>();
        for (int i = 0; i < fit; i++) {
            big.add(new E820Entry(0x100000000L + i * 0x200000L, 0x100000, 1 + i % 4));
        }
        StartInfo si = StartInfo.read(mem, PvhStartInfo.write(mem, "c", big, List.of(), 0));
        assertEquals(fit, si.memmapEntries());
        long last = si.memmapPaddr() + 24L * (fit - 1);
        assertEquals(big.get(fit - 1).address(), mem.read64(last));
        assertEquals("c", cString(mem, si.cmdlinePaddr(), 2), "the memory map ran into the command line");

        big.add(new E820Entry(0x900000000L, 0x1000, 1));
        RuntimeException e = assertThrows(RuntimeException.class, () -> PvhStartInfo.write(mem, "c", big, List.of(), 0));
        assertTrue(e instanceof IllegalArgumentException || e instanceof KernelImageException, e.toString());
    }
}
