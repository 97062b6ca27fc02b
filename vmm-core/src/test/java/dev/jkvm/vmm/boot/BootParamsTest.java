package dev.jkvm.vmm.boot;

import dev.jkvm.memory.GuestMemory;
import dev.jkvm.memory.GuestRam;
import dev.jkvm.memory.PcMemoryLayout;
import dev.jkvm.memory.RamOptions;
import dev.jkvm.vmm.Vm;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The zero page read back the way a kernel reads it. Every offset in here is typed from the tables
 * of Documentation/x86/boot.rst ("The Real-Mode Kernel Header") and zero-page.rst, independently of
 * the constants in {@link BootParams}.
 */
class BootParamsTest {
    private static final long MiB = 1L << 20;
    private static final long GiB = 1L << 30;
    private static final long ZP = 0x7000;          // BootLayout.ZERO_PAGE, per the brief
    private static final long CMDLINE = 0x3000;
    private static final byte GARBAGE = (byte) 0xa5;
    private static final String NAME = "/tmp/vmlinuz-synthetic";

    private static GuestRam ram;
    private static GuestMemory mem;

    @BeforeAll
    static void allocate() {
        ram = GuestRam.allocate(64 * MiB, new RamOptions(null, false, false, false));
        mem = GuestMemory.of(ram, PcMemoryLayout.forRamSize(64 * MiB));
    }

    @AfterAll
    static void free() {
        ram.close();
    }

    @BeforeEach
    void garbage() {
        mem.fill(0, 0x10000, GARBAGE);
    }

    private static List<E820Entry> map(long ramSize) {
        return E820Entry.forLayout(PcMemoryLayout.forRamSize(ramSize), BootLayout.bootDataEnd(X86BootCpu.pageDirectories(PcMemoryLayout.forRamSize(ramSize).topOfRam())));
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

    @Test
    void constantsMatchTheSpecTables() {
        // zero-page.rst
        assertEquals(0x070, BootParams.ACPI_RSDP_ADDR);
        assertEquals(0x0c0, BootParams.EXT_RAMDISK_IMAGE);
        assertEquals(0x0c4, BootParams.EXT_RAMDISK_SIZE);
        assertEquals(0x0c8, BootParams.EXT_CMD_LINE_PTR);
        assertEquals(0x1e8, BootParams.E820_ENTRIES);
        assertEquals(0x1ef, BootParams.SENTINEL);
        assertEquals(0x2d0, BootParams.E820_TABLE);
        // e820_table is 0xA00 bytes of 20-byte struct boot_e820_entry: 128 entries, ending at 0xCD0 (eddbuf follows at 0xD00).
        assertEquals(20, BootParams.E820_ENTRY_SIZE);
        assertEquals(0xa00 / 20, BootParams.E820_MAX_ENTRIES);
        assertEquals(0x2d0 + 0xa00, BootParams.E820_TABLE + BootParams.E820_MAX_ENTRIES * BootParams.E820_ENTRY_SIZE);
        // boot.rst, setup header
        assertEquals(0x1f1, BootParams.SETUP_HEADER);
        assertEquals(0x1fa, BootParams.VID_MODE);
        assertEquals(0x1fe, BootParams.BOOT_FLAG);
        assertEquals(0x202, BootParams.HEADER);
        assertEquals(0x206, BootParams.VERSION);
        assertEquals(0x210, BootParams.TYPE_OF_LOADER);
        assertEquals(0x211, BootParams.LOADFLAGS);
        assertEquals(0x214, BootParams.CODE32_START);
        assertEquals(0x218, BootParams.RAMDISK_IMAGE);
        assertEquals(0x21c, BootParams.RAMDISK_SIZE);
        assertEquals(0x224, BootParams.HEAP_END_PTR);
        assertEquals(0x228, BootParams.CMD_LINE_PTR);
        assertEquals(0x22c, BootParams.INITRD_ADDR_MAX);
        assertEquals(0x230, BootParams.KERNEL_ALIGNMENT);
        assertEquals(0x236, BootParams.XLOADFLAGS);
        assertEquals(0x238, BootParams.CMDLINE_SIZE);
        assertEquals(0x23c, BootParams.HARDWARE_SUBARCH);
        assertEquals(0x240, BootParams.HARDWARE_SUBARCH_DATA);
        assertEquals(0x250, BootParams.SETUP_DATA);
        assertEquals(0x258, BootParams.PREF_ADDRESS);
        assertEquals(0x260, BootParams.INIT_SIZE);
        // loadflags bits
        assertEquals(1 << 0, BootParams.LOADED_HIGH);
        assertEquals(1 << 1, BootParams.KASLR_FLAG);
        assertEquals(1 << 5, BootParams.QUIET_FLAG);
        assertEquals(1 << 6, BootParams.KEEP_SEGMENTS);
        assertEquals(1 << 7, BootParams.CAN_USE_HEAP);
        assertEquals(1, BzImage.XLF_KERNEL_64);
        assertEquals(0x200, BzImage.ENTRY64_OFFSET);
        assertEquals(0x100000, BzImage.LOAD_ADDRESS);
        assertEquals(ZP, BootLayout.ZERO_PAGE);
        assertEquals(CMDLINE, BootLayout.CMDLINE);
    }

    private static void write(BzImage k, BootParams.Ramdisk rd, List<E820Entry> e820, long rsdp) {
        BootParams.write(mem, ZP, k, 0x100000, CMDLINE, rd, e820, rsdp);
    }

    @Test
    void loaderFieldsAreWrittenAtTheirSpecOffsets() {
        BzImage k = new SyntheticBzImage().parse(NAME);
        write(k, new BootParams.Ramdisk(0x3000000, 0x12345), map(64 * MiB), 0xf5a40);
        // Read by the kernel (header magic and version come from the image).
        assertEquals(0xaa55, mem.read16(ZP + 0x1fe));
        assertEquals(0x53726448, mem.read32(ZP + 0x202));
        assertEquals(0x020f, mem.read16(ZP + 0x206));
        // Written by jkvm.
        assertEquals(0xff, mem.read8(ZP + 0x210), "type_of_loader: undefined loader");
        int loadflags = mem.read8(ZP + 0x211);
        assertEquals(0x81, loadflags, "LOADED_HIGH | CAN_USE_HEAP");
        assertEquals(0x100000, mem.read32(ZP + 0x214), "code32_start = load address");
        assertEquals(0x3000000, mem.read32(ZP + 0x218), "ramdisk_image");
        assertEquals(0x12345, mem.read32(ZP + 0x21c), "ramdisk_size");
        assertEquals(0xde00, mem.read16(ZP + 0x224), "heap_end_ptr = 0xe000 - 0x200");
        assertEquals(0x3000, mem.read32(ZP + 0x228), "cmd_line_ptr");
        assertEquals(0, mem.read32(ZP + 0x23c), "hardware_subarch: x86/PC");
        assertEquals(0, mem.read64(ZP + 0x240), "hardware_subarch_data");
        assertEquals(0, mem.read64(ZP + 0x250), "setup_data: no list");
        assertEquals(0xf5a40, mem.read64(ZP + 0x070), "acpi_rsdp_addr");
        assertEquals(0, mem.read8(ZP + 0x1ef), "sentinel must be 0, or the kernel wipes the fields a broken loader left");
        assertEquals(0, mem.read32(ZP + 0x0c0), "ext_ramdisk_image");
        assertEquals(0, mem.read32(ZP + 0x0c4), "ext_ramdisk_size");
        assertEquals(0, mem.read32(ZP + 0x0c8), "ext_cmd_line_ptr");
    }

    @Test
    void withoutInitrdOrAcpiTheFieldsAreZero() {
        write(new SyntheticBzImage().parse(NAME), null, map(64 * MiB), 0);
        assertEquals(0, mem.read32(ZP + 0x218));
        assertEquals(0, mem.read32(ZP + 0x21c));
        assertEquals(0, mem.read64(ZP + 0x070));
    }

    @Test
    void theSetupHeaderIsCopiedVerbatimExceptTheLoaderFields() {
        SyntheticBzImage s = new SyntheticBzImage();
        byte[] image = s.build();
        BzImage k = BzImage.parse(java.lang.foreign.MemorySegment.ofArray(image), NAME);
        write(k, new BootParams.Ramdisk(0x3000000, 0x1000), map(64 * MiB), 0);
        // Offsets of what the loader writes (boot.rst: type_of_loader, loadflags, code32_start,
        // ramdisk_image/size, heap_end_ptr, cmd_line_ptr, hardware_subarch(+data), setup_data).
        Set<Integer> written = new java.util.HashSet<>();
        int[][] fields = {{0x210, 1}, {0x211, 1}, {0x214, 4}, {0x218, 4}, {0x21c, 4}, {0x224, 2}, {0x228, 4}, {0x23c, 4}, {0x240, 8}, {0x250, 8}};
        for (int[] f : fields) {
            for (int i = 0; i < f[1]; i++) {
                written.add(f[0] + i);
            }
        }
        int end = 0x202 + (image[0x201] & 0xff);
        assertEquals(0x26c, end);
        for (int off = 0x1f1; off < end; off++) {
            if (!written.contains(off)) {
                assertEquals(image[off] & 0xff, mem.read8(ZP + off), String.format("header byte 0x%x", off));
            }
        }
        // Spot checks of copied fields.
        assertEquals(3, mem.read8(ZP + 0x1f1), "setup_sects");
        assertEquals(0xffff, mem.read16(ZP + 0x1fa), "vid_mode");
        assertEquals(0x0801, mem.read16(ZP + 0x1fc), "root_dev");
        assertEquals(0x7fffffff, mem.read32(ZP + 0x22c), "initrd_addr_max");
        assertEquals(0x200000, mem.read32(ZP + 0x230), "kernel_alignment");
        assertEquals(0x7f, mem.read16(ZP + 0x236), "xloadflags");
        assertEquals(2047, mem.read32(ZP + 0x238), "cmdline_size");
        assertEquals(0x1000000, mem.read64(ZP + 0x258), "pref_address");
        assertEquals(0x400000, mem.read32(ZP + 0x260), "init_size");
        assertEquals(0x2000, mem.read32(ZP + 0x268), "kernel_info_offset");
        // The setup code after the header (0xcc filler in the image) is not copied, and the rest of the page
        // outside the fields jkvm writes is zero, whatever was in guest memory before.
        Set<Integer> alsoWritten = new java.util.HashSet<>(written);
        for (int i = 0; i < 8; i++) {
            alsoWritten.add(0x070 + i);
        }
        alsoWritten.add(0x1e8);
        int e820Bytes = map(64 * MiB).size() * 20;
        for (int off = 0; off < 4096; off++) {
            boolean header = off >= 0x1f1 && off < end;
            boolean e820 = off >= 0x2d0 && off < 0x2d0 + e820Bytes;
            if (!header && !e820 && !alsoWritten.contains(off)) {
                assertEquals(0, mem.read8(ZP + off), String.format("zero page byte 0x%x", off));
            }
        }
        assertEquals(GARBAGE & 0xff, mem.read8(ZP + 4096), "wrote past the zero page");
    }

    @Test
    void aShortHeaderIsCopiedOnlyUpToItsEnd() {
        // A 2.12 header that stops after hardware_subarch_data (0x248): payload, setup_data, pref_address... not copied.
        SyntheticBzImage s = new SyntheticBzImage().version(0x020c);
        s.jumpOffset = 0x46;
        BzImage k = s.parse(NAME);
        assertEquals(0x248, k.headerEnd());
        write(k, null, map(64 * MiB), 0);
        for (int off = 0x248; off < 0x290; off++) {
            assertEquals(0, mem.read8(ZP + off), String.format("byte 0x%x past the header", off));
        }
        assertEquals(0x7f, mem.read16(ZP + 0x236));
    }

    @Test
    void loadflagsKeepTheKernelsBitsButNotQuietKaslrOrKeepSegments() {
        SyntheticBzImage s = new SyntheticBzImage();
        s.loadflags = 0x01 | 0x02 | 0x20 | 0x40;
        write(s.parse(NAME), null, map(64 * MiB), 0);
        assertEquals(0x81, mem.read8(ZP + 0x211));
        // A header whose loadflags lacks LOADED_HIGH still says it was loaded at 1 MiB: it was.
        SyntheticBzImage t = new SyntheticBzImage();
        t.loadflags = 0;
        write(t.parse(NAME), null, map(64 * MiB), 0);
        assertEquals(0x81, mem.read8(ZP + 0x211));
    }

    // --- e820 ---

    /** The e820 table as the kernel reads it: e820_entries at 0x1E8, 20-byte entries from 0x2D0. */
    private static List<E820Entry> readE820() {
        int n = mem.read8(ZP + 0x1e8);
        List<E820Entry> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            long p = ZP + 0x2d0 + i * 20L;
            out.add(new E820Entry(mem.read64(p), mem.read64(p + 8), mem.read32(p + 16)));
        }
        return out;
    }

    private static boolean coveredBy(List<E820Entry> map, long start, long end, int type) {
        for (E820Entry e : map) {
            if (e.type() == type && e.address() <= start && end <= e.end()) {
                return true;
            }
        }
        return false;
    }

    private static long ramIn(List<E820Entry> map, long start, long end) {
        long total = 0;
        for (E820Entry e : map) {
            if (e.type() == 1) {
                total += Math.max(0, Math.min(end, e.end()) - Math.max(start, e.address()));
            }
        }
        return total;
    }

    @ParameterizedTest
    @ValueSource(longs = {64 * MiB, 3 * GiB, 4 * GiB, 8 * GiB})
    void e820InTheZeroPageAgreesWithTheMemoryLayout(long ramSize) {
        PcMemoryLayout layout = PcMemoryLayout.forRamSize(ramSize);
        List<E820Entry> expected = map(ramSize);
        write(new SyntheticBzImage().parse(NAME), null, expected, 0);
        List<E820Entry> read = readE820();
        assertEquals(expected, read, "the table is the forLayout map, entry for entry");
        assertTrue(read.size() <= 128);

        // Independent of forLayout: what a Linux guest must find in it.
        long lowRam = Math.min(ramSize, 3 * GiB);
        long highRam = ramSize - lowRam;
        assertTrue(coveredBy(read, 0x100000, lowRam, 1), "RAM from 1 MiB to the end of low RAM (0x" + Long.toHexString(lowRam) + ")");
        assertEquals(lowRam - 0x100000, ramIn(read, 0x100000, 3 * GiB), "RAM above 1 MiB below the PCI hole");
        assertEquals(0, ramIn(read, 3 * GiB, 4 * GiB), "no RAM in the PCI hole");
        assertEquals(0, ramIn(read, 0xa0000, 0x100000), "no RAM in the VGA/BIOS area");
        assertEquals(highRam, ramIn(read, 4 * GiB, Long.MAX_VALUE), "RAM above 4 GiB");
        if (highRam > 0) {
            assertTrue(coveredBy(read, 4 * GiB, 4 * GiB + highRam, 1));
        }
        assertEquals(layout.topOfRam(), read.stream().filter(e -> e.type() == 1).mapToLong(E820Entry::end).max().orElseThrow());
        // jkvm's boot data the kernel must not reuse before it has copied it: GDT, command line, the zero page, page tables.
        assertTrue(coveredBy(read, 0x1000, 0x2000, 2), "GDT reserved");
        assertTrue(coveredBy(read, CMDLINE, CMDLINE + 0x1000, 2), "command line reserved");
        assertTrue(coveredBy(read, ZP, ZP + 0x1000, 2), "zero page reserved");
        assertTrue(coveredBy(read, 0x9000, 0xb000, 2), "PML4 and PDPT reserved");
        assertTrue(coveredBy(read, Vm.IDENTITY_MAP_ADDRESS, Vm.IDENTITY_MAP_ADDRESS + 0x4000, 2), "KVM identity map/TSS pages reserved");
        // Sorted and not overlapping, as the kernel's sanitizer would leave it.
        for (int i = 1; i < read.size(); i++) {
            assertTrue(read.get(i - 1).end() <= read.get(i).address(), "overlap or disorder at entry " + i + ": " + read);
        }
    }

    @Test
    void aMapTooLargeForTheZeroPageIsRefused() {
        List<E820Entry> big = new ArrayList<>();
        for (int i = 0; i < 129; i++) {
            big.add(new E820Entry(i * 0x10000L, 0x1000, 1));
        }
        assertThrows(IllegalArgumentException.class, () -> write(new SyntheticBzImage().parse(NAME), null, big, 0));
        write(new SyntheticBzImage().parse(NAME), null, big.subList(0, 128), 0);
        assertEquals(128, mem.read8(ZP + 0x1e8));
        assertEquals(127 * 0x10000L, mem.read64(ZP + 0x2d0 + 127 * 20));
        assertEquals(0, mem.read64(ZP + 0x2d0 + 0xa00), "nothing past the 128th entry");
    }

    // --- command line ---

    @Test
    void theCommandLineMayBeCmdlineSizeBytesButNoMore() {
        SyntheticBzImage s = new SyntheticBzImage();
        s.cmdlineSize = 255;
        BzImage k = s.parse(NAME);
        String exact = "x".repeat(255);
        BootParams.writeCommandLine(mem, CMDLINE, k, exact);
        assertEquals(exact, cString(mem, CMDLINE, 4096));
        KernelImageException e = assertThrows(KernelImageException.class, () -> BootParams.writeCommandLine(mem, CMDLINE, k, exact + "y"));
        assertTrue(e.getMessage().contains("256 bytes") && e.getMessage().contains("255") && e.getMessage().contains(NAME), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
    }

    @Test
    void theCommandLineIsNulTerminatedUtf8() {
        BzImage k = new SyntheticBzImage().parse(NAME);
        BootParams.writeCommandLine(mem, CMDLINE, k, "console=ttyS0 panic=-1 root=/dev/vda");
        assertEquals("console=ttyS0 panic=-1 root=/dev/vda", cString(mem, CMDLINE, 4096));
        BootParams.writeCommandLine(mem, CMDLINE, k, "");
        assertEquals(0, mem.read8(CMDLINE));
        BootParams.writeCommandLine(mem, CMDLINE, k, null);
        assertEquals(0, mem.read8(CMDLINE));
        // Multi-byte characters count in bytes, as the kernel counts them.
        String accents = "é".repeat(1024); // 2048 bytes
        assertThrows(KernelImageException.class, () -> BootParams.writeCommandLine(mem, CMDLINE, k, accents));
    }

    @Test
    void aHugeCmdlineSizeIsCappedByJkvmsCommandLineArea() {
        SyntheticBzImage s = new SyntheticBzImage();
        s.cmdlineSize = 0xffffffffL;
        BzImage k = s.parse(NAME);
        long area = BootLayout.CMDLINE_MAX - 1;
        BootParams.writeCommandLine(mem, CMDLINE, k, "a".repeat((int) area));
        KernelImageException e = assertThrows(KernelImageException.class,
                () -> BootParams.writeCommandLine(mem, CMDLINE, k, "a".repeat((int) area + 1)));
        assertTrue(e.getMessage().contains("at most " + area), e.getMessage());
        assertTrue(CMDLINE + BootLayout.CMDLINE_MAX <= ZP, "the command line area runs into the zero page");
    }
}
