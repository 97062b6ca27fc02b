package dev.jkvm.vmm.boot;

/**
 * Where jkvm puts the structures a kernel finds at boot: page-aligned, in the first 640 KiB, and
 * reported as reserved in the memory map so that a guest which tests or reuses "all RAM" cannot
 * overwrite the page tables it runs on.
 */
public final class BootLayout {
    private BootLayout() {
    }

    /** First byte of jkvm's boot data; the page below stays usable RAM (real-mode IVT and BDA). */
    public static final long BOOT_DATA_START = 0x1000;
    /** jkvm's boot GDT (null, 64-bit code, data, 32-bit code, TSS). */
    public static final long GDT = 0x1000;
    /** The PVH hvm_start_info, then its memory map and module list. */
    public static final long START_INFO = 0x2000;
    public static final long START_INFO_END = 0x3000;
    /** The kernel command line. */
    public static final long CMDLINE = 0x3000;
    public static final long CMDLINE_MAX = 0x4000;
    /** Linux's boot_params ("zero page"). */
    public static final long ZERO_PAGE = 0x7000;
    /** Identity-mapping page tables for a direct 64-bit entry: PML4, one PDPT, then the page directories. */
    public static final long PML4 = 0x9000;
    public static final long PDPT = 0xA000;
    public static final long PD_FIRST = 0xB000;
    /** Page directories fit below the EBDA; each maps 1 GiB with 2 MiB pages. */
    public static final int PD_MAX = 128;
    /** Where boot-time RAM ends and the EBDA begins. */
    public static final long LOW_RAM_END = 0x9fc00;
    /** The BIOS area, reserved in the memory map; ACPI tables and the RSDP go here. */
    public static final long BIOS_START = 0xe0000;
    public static final long BIOS_END = 0x100000;
    /** Kernels load at or above 1 MiB. */
    public static final long KERNEL_MIN = 0x100000;

    /** The end of jkvm's boot data when {@code pageDirectories} page directories are in use. */
    public static long bootDataEnd(int pageDirectories) {
        return PD_FIRST + pageDirectories * 0x1000L;
    }
}
