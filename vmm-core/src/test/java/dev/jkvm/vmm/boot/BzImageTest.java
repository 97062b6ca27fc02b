package dev.jkvm.vmm.boot;

import dev.jkvm.memory.GuestMemory;
import dev.jkvm.memory.GuestRam;
import dev.jkvm.memory.PcMemoryLayout;
import dev.jkvm.memory.RamOptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Setup-header parsing, protocol and XLF checks, kernel loading and initrd placement (Documentation/x86/boot.rst). */
class BzImageTest {
    private static final String NAME = "/tmp/bzImage-test";
    private static final String INITRD = "/tmp/initrd-test.cpio";
    private static final long KiB = 1L << 10;
    private static final long MiB = 1L << 20;
    private static final long GiB = 1L << 30;
    private static final long PAGE = 4096;

    private static SyntheticBzImage image(Consumer<SyntheticBzImage> tweak) {
        SyntheticBzImage s = new SyntheticBzImage();
        tweak.accept(s);
        return s;
    }

    /** The call fails with a one-line KernelImageException whose message contains every fragment. */
    private static String assertOneLineError(Executable call, String... fragments) {
        KernelImageException e = assertThrows(KernelImageException.class, call);
        String m = e.getMessage();
        assertFalse(m.contains("\n"), "not one line: " + m);
        for (String f : fragments) {
            assertTrue(m.contains(f), "message lacks '" + f + "': " + m);
        }
        return m;
    }

    @Test
    void readsTheHeaderFieldsOfADebianLikeKernel() {
        BzImage k = new SyntheticBzImage().parse(NAME);
        assertEquals(0x020f, k.version());
        assertEquals(3, k.setupSects());
        assertEquals(0x26c, k.headerEnd(), "0x202 + 0x6a");
        assertEquals(4 * 512, k.kernelOffset());
        assertEquals(0x3000, k.kernelSize());
        assertEquals(0x300, k.syssize());
        assertEquals(0x01, k.loadflags());
        assertEquals(0x7f, k.xloadflags());
        assertEquals(0x7fffffffL, k.initrdAddrMax());
        assertEquals(0x200000, k.kernelAlignment());
        assertTrue(k.relocatable());
        assertEquals(2047, k.cmdlineSize());
        assertEquals(0x1000000, k.prefAddress());
        assertEquals(0x400000, k.initSize());
        assertEquals(NAME, k.name());
        assertEquals(0x26c - 0x1f1, k.setupHeader().byteSize());
    }

    @Test
    void setupSectsZeroMeansFour() {
        BzImage k = image(s -> s.rawSetupSects = 0).parse(NAME);
        assertEquals(4, k.setupSects());
        assertEquals(5 * 512, k.kernelOffset());
    }

    @ParameterizedTest
    @ValueSource(ints = {0x0200, 0x0201, 0x0204, 0x0205})
    void protocolsOlderThan206AreRefusedNamingFileAndVersion(int version) {
        String v = String.format("%d.%02d", version >> 8, version & 0xff);
        assertOneLineError(() -> image(s -> s.version(version)).parse(NAME), NAME, "protocol " + v, "2.06");
    }

    @Test
    void protocol206To211HaveNo64BitEntry() {
        // 2.06: the header ends after cmdline_size (0x23c), there is no xloadflags field to read.
        assertOneLineError(() -> image(s -> {
            s.version(0x0206);
            s.jumpOffset = 0x3a;
        }).parse(NAME), NAME, "not a 64-bit-capable kernel", "2.06", "XLF_KERNEL_64");
        // 2.11: whatever sits at 0x236, the field does not exist before 2.12.
        assertOneLineError(() -> image(s -> s.version(0x020b)).parse(NAME), NAME, "not a 64-bit-capable kernel", "2.11");
    }

    @Test
    void a32BitOnlyKernelIsRefused() {
        // XLF_CAN_BE_LOADED_ABOVE_4G and the EFI bits without XLF_KERNEL_64 (bit 0).
        assertOneLineError(() -> image(s -> s.xloadflags = 0x7e).parse(NAME), NAME, "not a 64-bit-capable kernel", "XLF_KERNEL_64");
        assertEquals(0x01, image(s -> s.xloadflags = 0x01).parse(NAME).xloadflags());
    }

    @Test
    void aFileWithoutTheMagicIsNotABzImage() {
        assertOneLineError(() -> image(s -> s.magic = 0x12345678).parse(NAME), NAME, "not a Linux bzImage");
        assertOneLineError(() -> image(s -> s.bootFlag = 0x55aa).parse(NAME), NAME, "not a Linux bzImage");
        assertOneLineError(() -> BzImage.parse(java.lang.foreign.MemorySegment.ofArray(new byte[0x207]), NAME), NAME, "not a Linux bzImage");
    }

    @Test
    void aTruncatedKernelIsRefused() {
        // syssize claims more protected-mode code than the file holds.
        assertOneLineError(() -> image(s -> s.syssize = 0x301).parse(NAME), NAME, "truncated", "syssize 0x301");
        // The setup sectors run past the end of the file.
        assertOneLineError(() -> image(s -> {
            s.rawSetupSects = 60;
            s.kernelBytes = 0;
            s.syssize = 0;
        }).parse(NAME), NAME, "truncated");
    }

    @Test
    void aSetupHeaderLengthOutsideTheProtocolIsRefused() {
        // 0x202 + 0x7f ends inside boot_params' header area; 0x202 + 0x90 would overrun edd_mbr_sig_buffer at 0x290.
        image(s -> s.jumpOffset = 0x7f).parse(NAME);
        assertOneLineError(() -> image(s -> s.jumpOffset = 0x90).parse(NAME), NAME, "setup header");
        assertOneLineError(() -> image(s -> s.jumpOffset = 0x20).parse(NAME), NAME, "setup header");
    }

    @Test
    void aRelocatableKernelNeedsAPowerOfTwoAlignment() {
        assertOneLineError(() -> image(s -> s.kernelAlignment = 0x300000).parse(NAME), NAME, "kernel_alignment");
        assertOneLineError(() -> image(s -> s.kernelAlignment = 0).parse(NAME), NAME, "kernel_alignment");
    }

    @Test
    void runtimeAddressFollowsInitSizeRules() {
        // Relocatable: align_up(load, kernel_alignment), never below LOAD_PHYSICAL_ADDR (= pref_address).
        assertEquals(0x1000000, new SyntheticBzImage().parse(NAME).runtimeStart(0x100000));
        assertEquals(0x200000, image(s -> s.prefAddress = 0x100000).parse(NAME).runtimeStart(0x100000));
        assertEquals(0x2200000, image(s -> s.prefAddress = 0x100000).parse(NAME).runtimeStart(0x2100000));
        // Not relocatable: pref_address.
        assertEquals(0x1000000, image(s -> s.relocatable = false).parse(NAME).runtimeStart(0x100000));
        // A pref_address of 0 means the default, 1 MiB.
        BzImage zeroPref = parsed(s -> s.prefAddress = 0);
        assertEquals(0x100000, zeroPref.prefAddress());
        assertEquals(0x200000, zeroPref.runtimeStart(0x100000));
        // Footprint: init_size bytes from the runtime address, or the image, whichever ends higher.
        BzImage k = new SyntheticBzImage().parse(NAME);
        assertEquals(0x1000000 + 0x400000, k.footprintEnd(0x100000));
        BzImage noInit = image(s -> s.initSize = 0).parse(NAME);
        assertEquals(0x1000000, noInit.footprintEnd(0x100000));
        assertEquals(0x100000 + 0x3000, image(s -> {
            s.initSize = 0;
            s.relocatable = false;
            s.prefAddress = 0x100000;
        }).parse(NAME).footprintEnd(0x100000));
    }

    private static BzImage parsed(Consumer<SyntheticBzImage> tweak) {
        return image(tweak).parse(NAME);
    }

    @Test
    void loadCopiesTheProtectedModeKernelToOneMiB() {
        long ramSize = 64 * MiB;
        try (GuestRam ram = GuestRam.allocate(ramSize, new RamOptions(null, false, false, false))) {
            GuestMemory mem = GuestMemory.of(ram, PcMemoryLayout.forRamSize(ramSize));
            mem.fill(0, 2 * MiB, (byte) 0xee);
            BzImage k = new SyntheticBzImage().parse(NAME);
            k.load(mem, BzImage.LOAD_ADDRESS, ramSize);
            for (int i = 0; i < 0x3000; i++) {
                assertEquals(SyntheticBzImage.kernelByte(i) & 0xff, mem.read8(0x100000 + i), "kernel byte " + i);
            }
            assertEquals(0xee, mem.read8(0x100000 - 1), "nothing below the load address");
            assertEquals(0xee, mem.read8(0x100000 + 0x3000), "nothing past the image");
        }
    }

    @Test
    void aGuestTooSmallForInitSizeIsAOneLineError() {
        long ramSize = 16 * MiB;
        try (GuestRam ram = GuestRam.allocate(ramSize, new RamOptions(null, false, false, false))) {
            GuestMemory mem = GuestMemory.of(ram, PcMemoryLayout.forRamSize(ramSize));
            // Runs at 16 MiB (pref_address) with init_size 4 MiB: needs 20 MiB.
            assertOneLineError(() -> new SyntheticBzImage().parse(NAME).load(mem, BzImage.LOAD_ADDRESS, ramSize),
                    NAME, "0x1400000", "20 MiB", "-m");
        }
    }

    // --- initrd placement ---

    @Test
    void initrdGoesAsHighAsItFitsPageAligned() {
        BzImage k = new SyntheticBzImage().parse(NAME);
        long low = 64 * MiB;
        assertEquals(low - 8 * PAGE, k.placeInitrd(0x100000, low, 8 * PAGE, INITRD));
        // A size that is not a page multiple still ends at or below the top, start page aligned.
        long at = k.placeInitrd(0x100000, low, 8 * PAGE + 1, INITRD);
        assertEquals(low - 9 * PAGE, at);
        assertTrue(at + 8 * PAGE + 1 <= low);
        // A top of low RAM that is not page aligned (64 MiB - 1 KiB) rounds down.
        assertEquals(64 * MiB - 2 * PAGE, k.placeInitrd(0x100000, 64 * MiB - KiB, PAGE, INITRD));
    }

    @Test
    void initrdStaysBelowInitrdAddrMax() {
        // Debian's initrd_addr_max is 0x7fffffff: with 3 GiB of low RAM the initrd ends at 2 GiB.
        BzImage k = new SyntheticBzImage().parse(NAME);
        long low = PcMemoryLayout.forRamSize(8 * GiB).lowRamSize();
        long size = 5 * MiB + 123;
        long at = k.placeInitrd(0x100000, low, size, INITRD);
        assertEquals(0, at % PAGE);
        assertTrue(at + size - 1 <= 0x7fffffffL, "last byte above initrd_addr_max");
        assertEquals((0x80000000L - size) & ~(PAGE - 1), at);
        // initrd_addr_max is the highest byte, inclusive: 0x37ffffff allows ending exactly at 0x38000000.
        BzImage old = parsed(s -> s.initrdAddrMax = 0x37ffffffL);
        assertEquals(0x38000000L - 0x20000, old.placeInitrd(0x100000, low, 0x20000, INITRD));
    }

    @Test
    void initrdThatDoesNotFitIsAOneLineErrorNamingTheFile() {
        BzImage k = new SyntheticBzImage().parse(NAME);
        long low = 64 * MiB;
        // The kernel's footprint ends at 20 MiB: 44 MiB is the most that fits.
        assertEquals(20 * MiB, k.placeInitrd(0x100000, low, 44 * MiB, INITRD));
        assertOneLineError(() -> k.placeInitrd(0x100000, low, 44 * MiB + 1, INITRD), INITRD, "does not fit", "-m");
        assertOneLineError(() -> k.placeInitrd(0x100000, low, 4 * GiB, INITRD), INITRD, "does not fit");
        // initrd_addr_max below the kernel's footprint leaves no room at all.
        BzImage low16 = parsed(s -> s.initrdAddrMax = 0xffffff);
        assertOneLineError(() -> low16.placeInitrd(0x100000, low, PAGE, INITRD), INITRD, "0xffffff");
    }
}
