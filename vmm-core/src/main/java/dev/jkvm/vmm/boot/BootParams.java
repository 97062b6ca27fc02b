package dev.jkvm.vmm.boot;

import dev.jkvm.memory.GuestMemory;

import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Linux's struct boot_params, the "zero page", as a 64-bit boot loader fills it
 * (Documentation/x86/boot.rst "64-bit Boot Protocol" and Documentation/x86/zero-page.rst): all
 * zero, the image's setup header copied to 0x1F1, the loader's fields written, and the e820 map.
 */
public final class BootParams {
    /** boot_params is one page. */
    public static final int SIZE = 4096;

    // --- boot_params fields outside the setup header (zero-page.rst) ---
    public static final int ACPI_RSDP_ADDR = 0x070;
    public static final int EXT_RAMDISK_IMAGE = 0x0c0;
    public static final int EXT_RAMDISK_SIZE = 0x0c4;
    public static final int EXT_CMD_LINE_PTR = 0x0c8;
    public static final int E820_ENTRIES = 0x1e8;
    public static final int SENTINEL = 0x1ef;
    public static final int E820_TABLE = 0x2d0;
    /** struct boot_e820_entry: u64 addr, u64 size, u32 type, packed. */
    public static final int E820_ENTRY_SIZE = 20;
    /** E820_MAX_ENTRIES_ZEROPAGE: 0xA00 bytes of table. */
    public static final int E820_MAX_ENTRIES = 128;

    // --- setup header fields, at the same offsets in the image and in boot_params (boot.rst) ---
    public static final int SETUP_HEADER = BzImage.SETUP_HEADER_START;
    public static final int VID_MODE = 0x1fa;
    public static final int BOOT_FLAG = 0x1fe;
    public static final int HEADER = 0x202;
    public static final int VERSION = 0x206;
    public static final int TYPE_OF_LOADER = 0x210;
    public static final int LOADFLAGS = 0x211;
    public static final int CODE32_START = 0x214;
    public static final int RAMDISK_IMAGE = 0x218;
    public static final int RAMDISK_SIZE = 0x21c;
    public static final int HEAP_END_PTR = 0x224;
    public static final int CMD_LINE_PTR = 0x228;
    public static final int INITRD_ADDR_MAX = 0x22c;
    public static final int KERNEL_ALIGNMENT = 0x230;
    public static final int XLOADFLAGS = 0x236;
    public static final int CMDLINE_SIZE = 0x238;
    public static final int HARDWARE_SUBARCH = 0x23c;
    public static final int HARDWARE_SUBARCH_DATA = 0x240;
    public static final int SETUP_DATA = 0x250;
    public static final int PREF_ADDRESS = 0x258;
    public static final int INIT_SIZE = 0x260;

    // --- loadflags bits ---
    public static final int LOADED_HIGH = 0x01;
    public static final int KASLR_FLAG = 0x02;
    public static final int QUIET_FLAG = 0x20;
    public static final int KEEP_SEGMENTS = 0x40;
    public static final int CAN_USE_HEAP = 0x80;

    /** type_of_loader for a loader without an assigned id. */
    public static final int LOADER_UNDEFINED = 0xff;
    /**
     * heap_end_ptr: boot.rst's sample value for a protocol 2.02+ bzImage (heap_end 0xe000, less
     * 0x200). jkvm does not run the real-mode setup code, so the value only has to be consistent.
     */
    public static final int HEAP_END_PTR_VALUE = 0xe000 - 0x200;
    /** hardware_subarch: the default x86/PC environment. */
    public static final int SUBARCH_PC = 0;

    /** An initrd already in guest memory. */
    public record Ramdisk(long address, long size) {
    }

    private BootParams() {
    }

    /**
     * Writes the kernel command line NUL-terminated at {@code at}; refuses one longer than the
     * kernel's cmdline_size or than jkvm's command-line area.
     */
    public static void writeCommandLine(GuestMemory mem, long at, BzImage kernel, String cmdline) {
        byte[] cmd = (cmdline == null ? "" : cmdline).getBytes(StandardCharsets.UTF_8);
        long max = Math.min(kernel.cmdlineSize(), BootLayout.CMDLINE_MAX - 1);
        if (cmd.length > max) {
            throw new KernelImageException(String.format("kernel command line is %d bytes; kernel %s accepts at most %d%s",
                    cmd.length, kernel.name(), max, max == kernel.cmdlineSize() ? " (its cmdline_size)" : ""));
        }
        mem.write(at, cmd, 0, cmd.length);
        mem.write8(at + cmd.length, 0);
    }

    /**
     * Fills the zero page at {@code at}.
     *
     * @param loadAddress where the protected-mode kernel was loaded
     * @param cmdline     the command line's guest address (already written)
     * @param ramdisk     the initrd, or null
     * @param rsdp        the ACPI RSDP's guest address, or 0. Written to acpi_rsdp_addr, which
     *                    zero-page.rst lists for ALL protocols: kernels from 5.0 read it, older
     *                    ones have padding there and find the RSDP by scanning the BIOS area.
     */
    public static void write(GuestMemory mem, long at, BzImage kernel, long loadAddress, long cmdline, Ramdisk ramdisk,
                             List<E820Entry> e820, long rsdp) {
        if (e820.size() > E820_MAX_ENTRIES) {
            throw new IllegalArgumentException("memory map has " + e820.size() + " entries; boot_params holds " + E820_MAX_ENTRIES);
        }
        if (cmdline < 0 || cmdline > 0xffffffffL || loadAddress < 0 || loadAddress > 0xffffffffL) {
            throw new IllegalArgumentException("command line and kernel must lie below 4 GiB");
        }
        if (ramdisk != null && (ramdisk.address() < 0 || ramdisk.size() < 0 || ramdisk.address() + ramdisk.size() > 1L << 32)) {
            throw new IllegalArgumentException("initrd must lie below 4 GiB");
        }
        mem.fill(at, SIZE, (byte) 0);
        mem.write(at + SETUP_HEADER, kernel.setupHeader());

        int version = kernel.version();
        mem.write8(at + TYPE_OF_LOADER, LOADER_UNDEFINED);
        int flags = kernel.loadflags() & ~(KASLR_FLAG | QUIET_FLAG | KEEP_SEGMENTS);
        mem.write8(at + LOADFLAGS, flags | LOADED_HIGH | CAN_USE_HEAP);
        mem.write32(at + CODE32_START, (int) loadAddress);
        mem.write32(at + RAMDISK_IMAGE, ramdisk == null ? 0 : (int) ramdisk.address());
        mem.write32(at + RAMDISK_SIZE, ramdisk == null ? 0 : (int) ramdisk.size());
        mem.write16(at + HEAP_END_PTR, HEAP_END_PTR_VALUE);
        mem.write32(at + CMD_LINE_PTR, (int) cmdline);
        // Only fields the kernel's protocol version and header have are written (boot.rst).
        if (version >= 0x0207 && kernel.headerEnd() >= HARDWARE_SUBARCH + 4) {
            mem.write32(at + HARDWARE_SUBARCH, SUBARCH_PC);
        }
        if (version >= 0x0207 && kernel.headerEnd() >= HARDWARE_SUBARCH_DATA + 8) {
            mem.write64(at + HARDWARE_SUBARCH_DATA, 0);
        }
        if (version >= 0x0209 && kernel.headerEnd() >= SETUP_DATA + 8) {
            mem.write64(at + SETUP_DATA, 0);
        }
        mem.write64(at + ACPI_RSDP_ADDR, rsdp);

        mem.write8(at + E820_ENTRIES, e820.size());
        for (int i = 0; i < e820.size(); i++) {
            E820Entry e = e820.get(i);
            long p = at + E820_TABLE + (long) i * E820_ENTRY_SIZE;
            mem.write64(p, e.address());
            mem.write64(p + 8, e.size());
            mem.write32(p + 16, e.type());
        }
    }
}
