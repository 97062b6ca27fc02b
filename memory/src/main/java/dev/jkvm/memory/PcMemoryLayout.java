package dev.jkvm.memory;

import java.util.List;

/**
 * The guest-physical layout of a PC: RAM from 0 up to 3 GiB, then the hole that holds PCI BARs,
 * the IOAPIC, the LAPIC and the firmware, then any remaining RAM from 4 GiB up.
 */
public record PcMemoryLayout(long ramSize, long lowRamSize, long highRamSize) {
    public static final long MiB = 1L << 20;
    public static final long GiB = 1L << 30;
    /** RAM below 4 GiB stops here; the rest of the 32-bit space is the PCI hole. */
    public static final long LOW_RAM_LIMIT = 3 * GiB;
    public static final long PCI_HOLE_START = LOW_RAM_LIMIT;
    public static final long PCI_HOLE_END = 4 * GiB;
    public static final long HIGH_RAM_START = 4 * GiB;
    /** The legacy VGA and BIOS area that is not usable RAM even though it is backed. */
    public static final long LEGACY_HOLE_START = 0x9fc00;
    public static final long LEGACY_HOLE_END = 0x100000;
    /** Below this, guest-physical space is a 4-level paging limit of 52 bits; we stay far under it. */
    public static final long MAX_RAM = 1L << 40;

    public PcMemoryLayout {
        if (ramSize <= 0 || lowRamSize + highRamSize != ramSize) {
            throw new IllegalArgumentException("inconsistent layout");
        }
    }

    public static PcMemoryLayout forRamSize(long ramSize) {
        if (ramSize < MiB) {
            throw new IllegalArgumentException("guest RAM must be at least 1 MiB, got " + ramSize + " bytes");
        }
        if (ramSize > MAX_RAM) {
            throw new IllegalArgumentException("guest RAM larger than " + (MAX_RAM / GiB) + " GiB is not supported");
        }
        if ((ramSize & 0xfff) != 0) {
            throw new IllegalArgumentException("guest RAM must be a multiple of 4 KiB");
        }
        long low = Math.min(ramSize, LOW_RAM_LIMIT);
        return new PcMemoryLayout(ramSize, low, ramSize - low);
    }

    /** The RAM ranges in guest-physical order; high RAM continues the host mapping where low RAM ends. */
    public List<RamRange> ramRanges() {
        if (highRamSize == 0) {
            return List.of(new RamRange(0, lowRamSize, 0));
        }
        return List.of(new RamRange(0, lowRamSize, 0), new RamRange(HIGH_RAM_START, highRamSize, lowRamSize));
    }

    /** The first guest-physical address above all RAM. */
    public long topOfRam() {
        return highRamSize == 0 ? lowRamSize : HIGH_RAM_START + highRamSize;
    }
}
