package dev.jkvm.vmm.boot;

import dev.jkvm.memory.GuestMemory;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * A Linux bzImage as a 64-bit boot loader sees it (Documentation/x86/boot.rst, "The Real-Mode
 * Kernel Header" and "64-bit Boot Protocol"): the setup header at 0x1F1, then the protected-mode
 * kernel at file offset (setup_sects + 1) * 512.
 *
 * <p>jkvm never runs the real-mode setup code: it loads the protected-mode kernel at 1 MiB (the
 * bzImage default, which every protocol version accepts; a relocatable kernel moves itself to an
 * aligned address before it decompresses), builds the boot_params itself ({@link BootParams}) and
 * enters the 64-bit entry point at load address + 0x200. So it needs protocol 2.06 or newer (for
 * cmdline_size) and a kernel whose xloadflags has XLF_KERNEL_64 (protocol 2.12+).
 *
 * <p>Every field comes from an untrusted file; the parser checks each offset against the file.
 */
public final class BzImage {
    /** Oldest boot protocol jkvm loads: 2.06, the first with cmdline_size. */
    public static final int MIN_VERSION = 0x0206;
    /** Where jkvm loads the protected-mode kernel: 0x100000, the bzImage load address. */
    public static final long LOAD_ADDRESS = 0x100000;
    /** The 64-bit entry point is this far into the loaded protected-mode kernel. */
    public static final long ENTRY64_OFFSET = 0x200;

    /** xloadflags bits. */
    public static final int XLF_KERNEL_64 = 1;
    public static final int XLF_CAN_BE_LOADED_ABOVE_4G = 1 << 1;

    /** Magic values. */
    public static final int BOOT_FLAG = 0xaa55;
    public static final int HDRS = 0x53726448;

    /** Where the setup header starts, in the image and in boot_params. */
    public static final int SETUP_HEADER_START = 0x1f1;
    /** The setup header cannot run past here: boot_params.edd_mbr_sig_buffer starts at 0x290. */
    public static final int SETUP_HEADER_LIMIT = 0x290;
    /** Protocol 2.06's header ends after cmdline_size (0x238, 4 bytes). */
    private static final int SETUP_HEADER_MIN_END = 0x23c;
    private static final long SECTOR = 512;
    private static final long PAGE = 4096;
    /** initrd_addr_max for a header that gives 0 there: the protocol's default for old kernels. */
    private static final long DEFAULT_INITRD_ADDR_MAX = 0x37ffffffL;

    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final String name;
    private final MemorySegment file;
    private final int version;
    private final int setupSects;
    private final int headerEnd;
    private final int loadflags;
    private final int xloadflags;
    private final long syssize;
    private final long initrdAddrMax;
    private final long kernelAlignment;
    private final boolean relocatable;
    private final long cmdlineSize;
    private final long prefAddress;
    private final long initSize;

    private BzImage(String name, MemorySegment file, int version, int setupSects, int headerEnd, int loadflags,
                    int xloadflags, long syssize, long initrdAddrMax, long kernelAlignment, boolean relocatable,
                    long cmdlineSize, long prefAddress, long initSize) {
        this.name = name;
        this.file = file;
        this.version = version;
        this.setupSects = setupSects;
        this.headerEnd = headerEnd;
        this.loadflags = loadflags;
        this.xloadflags = xloadflags;
        this.syssize = syssize;
        this.initrdAddrMax = initrdAddrMax;
        this.kernelAlignment = kernelAlignment;
        this.relocatable = relocatable;
        this.cmdlineSize = cmdlineSize;
        this.prefAddress = prefAddress;
        this.initSize = initSize;
    }

    /** Parses and checks the header; throws {@link KernelImageException} with a one-line message naming the file. */
    public static BzImage parse(MemorySegment file, String name) {
        long size = file.byteSize();
        if (size < 0x208 || Short.toUnsignedInt(file.get(U16, 0x1fe)) != BOOT_FLAG || file.get(U32, 0x202) != HDRS) {
            throw bad(name, "is not a Linux bzImage (no 0xAA55 boot flag at 0x1FE and \"HdrS\" at 0x202)");
        }
        int version = Short.toUnsignedInt(file.get(U16, 0x206));
        if (version < MIN_VERSION) {
            throw bad(name, "uses Linux boot protocol " + versionString(version) + "; jkvm needs protocol "
                    + versionString(MIN_VERSION) + " or newer");
        }
        int headerEnd = 0x202 + Byte.toUnsignedInt(file.get(ValueLayout.JAVA_BYTE, 0x201));
        if (headerEnd < SETUP_HEADER_MIN_END || headerEnd > SETUP_HEADER_LIMIT || headerEnd > size) {
            throw bad(name, String.format("has a setup header ending at 0x%x (from the jump at 0x200); protocol %s needs 0x%x-0x%x inside the file",
                    headerEnd, versionString(version), SETUP_HEADER_MIN_END, SETUP_HEADER_LIMIT));
        }
        int rawSects = Byte.toUnsignedInt(file.get(ValueLayout.JAVA_BYTE, 0x1f1));
        int setupSects = rawSects == 0 ? 4 : rawSects;
        long setupBytes = (setupSects + 1) * SECTOR;
        if (setupBytes >= size) {
            throw bad(name, String.format("is truncated: its %d setup sectors take %d bytes but the file has %d", setupSects + 1, setupBytes, size));
        }
        long syssize = Integer.toUnsignedLong(file.get(U32, 0x1f4));
        if (syssize * 16 > size - setupBytes) {
            throw bad(name, String.format("is truncated: the header gives %d bytes of protected-mode kernel (syssize 0x%x) but the file holds %d",
                    syssize * 16, syssize, size - setupBytes));
        }
        int xloadflags = version >= 0x020c && headerEnd >= 0x238 ? Short.toUnsignedInt(file.get(U16, 0x236)) : 0;
        if ((xloadflags & XLF_KERNEL_64) == 0) {
            throw bad(name, "is not a 64-bit-capable kernel: its boot header (protocol " + versionString(version)
                    + ") has no 64-bit entry point (xloadflags bit 0, XLF_KERNEL_64); jkvm enters Linux in long mode only");
        }
        int loadflags = Byte.toUnsignedInt(file.get(ValueLayout.JAVA_BYTE, 0x211));
        long initrdAddrMax = Integer.toUnsignedLong(file.get(U32, 0x22c));
        if (initrdAddrMax == 0) {
            initrdAddrMax = DEFAULT_INITRD_ADDR_MAX;
        }
        long kernelAlignment = Integer.toUnsignedLong(file.get(U32, 0x230));
        boolean relocatable = file.get(ValueLayout.JAVA_BYTE, 0x234) != 0;
        if (relocatable && (kernelAlignment == 0 || Long.bitCount(kernelAlignment) != 1)) {
            throw bad(name, String.format("is relocatable but its kernel_alignment 0x%x is not a power of two", kernelAlignment));
        }
        long cmdlineSize = Integer.toUnsignedLong(file.get(U32, 0x238));
        long prefAddress = LOAD_ADDRESS;
        long initSize = 0;
        if (version >= 0x020a && headerEnd >= 0x264) {
            prefAddress = file.get(U64, 0x258);
            initSize = Integer.toUnsignedLong(file.get(U32, 0x260));
            if (prefAddress == 0) {
                prefAddress = LOAD_ADDRESS;
            }
            if (prefAddress < 0 || prefAddress > (1L << 46)) {
                throw bad(name, String.format("has an impossible pref_address 0x%x", prefAddress));
            }
        }
        return new BzImage(name, file, version, setupSects, headerEnd, loadflags, xloadflags, syssize, initrdAddrMax,
                kernelAlignment, relocatable, cmdlineSize, prefAddress, initSize);
    }

    static String versionString(int version) {
        return String.format("%d.%02d", version >>> 8, version & 0xff);
    }

    private static KernelImageException bad(String name, String what) {
        return new KernelImageException("kernel " + name + " " + what);
    }

    public String name() {
        return name;
    }

    /** Boot protocol version, (major << 8) | minor. */
    public int version() {
        return version;
    }

    /** setup_sects with 0 read as 4. */
    public int setupSects() {
        return setupSects;
    }

    /** The first offset past the setup header: 0x202 + the byte at 0x201. */
    public int headerEnd() {
        return headerEnd;
    }

    public int loadflags() {
        return loadflags;
    }

    public int xloadflags() {
        return xloadflags;
    }

    public long syssize() {
        return syssize;
    }

    /** The highest address the initrd may occupy (its last byte). */
    public long initrdAddrMax() {
        return initrdAddrMax;
    }

    public long kernelAlignment() {
        return kernelAlignment;
    }

    public boolean relocatable() {
        return relocatable;
    }

    /** The longest command line, without its NUL, the kernel accepts. */
    public long cmdlineSize() {
        return cmdlineSize;
    }

    /** pref_address (protocol 2.10+), or 1 MiB for an older header or a zero field. */
    public long prefAddress() {
        return prefAddress;
    }

    /** init_size (protocol 2.10+), 0 when the header has none. */
    public long initSize() {
        return initSize;
    }

    /** File offset of the protected-mode kernel: (setup_sects + 1) * 512. */
    public long kernelOffset() {
        return (setupSects + 1) * SECTOR;
    }

    /** Bytes of protected-mode kernel jkvm loads: the rest of the file after the setup code, as QEMU loads it. */
    public long kernelSize() {
        return file.byteSize() - kernelOffset();
    }

    /** The setup header bytes, 0x1F1 up to {@link #headerEnd()}. */
    public MemorySegment setupHeader() {
        return file.asSlice(SETUP_HEADER_START, headerEnd - SETUP_HEADER_START);
    }

    /**
     * Where the kernel decompresses and runs (boot.rst, init_size): align_up(load, kernel_alignment)
     * for a relocatable kernel, pref_address otherwise. Linux's 64-bit entry (compressed/head_64.S)
     * also never goes below LOAD_PHYSICAL_ADDR, which pref_address reports, so the larger is taken.
     */
    public long runtimeStart(long loadAddress) {
        if (!relocatable) {
            return prefAddress;
        }
        long aligned = (loadAddress + kernelAlignment - 1) & -kernelAlignment;
        return Math.max(aligned, prefAddress);
    }

    /** The first byte above everything the kernel uses before it reads the memory map: the loaded image and init_size at its runtime address. */
    public long footprintEnd(long loadAddress) {
        return Math.max(loadAddress + kernelSize(), runtimeStart(loadAddress) + initSize);
    }

    /**
     * Copies the protected-mode kernel to {@code loadAddress}, after checking that the image and
     * the memory it unpacks into ({@link #footprintEnd}) lie in low RAM below {@code lowRamEnd}.
     */
    public void load(GuestMemory memory, long loadAddress, long lowRamEnd) {
        long end = footprintEnd(loadAddress);
        if (end > lowRamEnd || !memory.contains(loadAddress, kernelSize())) {
            throw bad(name, String.format("needs guest RAM up to 0x%x (%d MiB) to load and unpack (runtime address 0x%x + init_size 0x%x); "
                    + "give the guest more memory with -m", end, (end + (1 << 20) - 1) >> 20, runtimeStart(loadAddress), initSize));
        }
        memory.write(loadAddress, file.asSlice(kernelOffset(), kernelSize()));
    }

    /**
     * Where an initrd of {@code size} bytes goes: as high as it fits, page aligned, with its last
     * byte at or below min(initrd_addr_max, lowRamEnd - 1) and its start above the kernel's
     * footprint. Throws a one-line {@link KernelImageException} naming {@code initrdName} when it does not fit.
     */
    public long placeInitrd(long loadAddress, long lowRamEnd, long size, String initrdName) {
        long limit = Math.min(lowRamEnd, initrdAddrMax + 1) & ~(PAGE - 1);
        long floor = (footprintEnd(loadAddress) + PAGE - 1) & ~(PAGE - 1);
        long at = (limit - size) & ~(PAGE - 1);
        if (size <= 0 || size > limit || at < floor) {
            throw new KernelImageException(String.format(
                    "initrd %s (%d bytes) does not fit in guest RAM between the kernel (0x%x) and 0x%x "
                            + "(the lower of the top of low RAM and the kernel's initrd_addr_max 0x%x); give the guest more memory with -m",
                    initrdName, size, floor, limit, initrdAddrMax));
        }
        return at;
    }
}
