package dev.jkvm.memory;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Guest-physical memory as the VMM sees it. Every access names a guest address and a length; both
 * are checked against the regions before a host byte is touched, and a bad pair throws
 * {@link GuestMemoryException}. Lengths and addresses come from a hostile guest, so the checks are
 * written to be immune to overflow: an address is never added to a length before it is known to be
 * inside a region.
 */
public final class GuestMemory {
    private static final ValueLayout.OfShort LE_SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt LE_INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LE_LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Aligned 16-bit access with memory-ordering modes, for ring indexes shared with the guest. */
    private static final java.lang.invoke.VarHandle LE_SHORT_ORDERED =
            ValueLayout.JAVA_SHORT.withOrder(ByteOrder.LITTLE_ENDIAN).varHandle();

    private final GuestRegion[] regions;
    private final long[] starts;

    public GuestMemory(List<GuestRegion> regionList) {
        List<GuestRegion> sorted = new ArrayList<>(regionList);
        sorted.sort(Comparator.comparingLong(GuestRegion::guestAddress));
        for (int i = 1; i < sorted.size(); i++) {
            if (sorted.get(i).guestAddress() < sorted.get(i - 1).end()) {
                throw new IllegalArgumentException("guest memory regions overlap at 0x" + Long.toHexString(sorted.get(i).guestAddress()));
            }
        }
        this.regions = sorted.toArray(GuestRegion[]::new);
        this.starts = new long[regions.length];
        for (int i = 0; i < regions.length; i++) {
            starts[i] = regions[i].guestAddress();
        }
    }

    /** Guest memory for a PC layout over one host mapping. */
    public static GuestMemory of(GuestRam ram, PcMemoryLayout layout) {
        List<GuestRegion> list = new ArrayList<>();
        for (RamRange r : layout.ramRanges()) {
            list.add(new GuestRegion(r.guestAddress(), ram.segment().asSlice(r.backingOffset(), r.size())));
        }
        return new GuestMemory(list);
    }

    public List<GuestRegion> regions() {
        return List.of(regions);
    }

    /** Total bytes of RAM. */
    public long size() {
        long total = 0;
        for (GuestRegion r : regions) {
            total += r.size();
        }
        return total;
    }

    /** The region holding {@code gpa}, or -1. Binary search over region starts. */
    private int regionIndex(long gpa) {
        if (gpa < 0) {
            return -1;
        }
        int lo = 0;
        int hi = regions.length - 1;
        while (lo <= hi) {
            int mid = (lo + hi) >>> 1;
            if (starts[mid] <= gpa) {
                lo = mid + 1;
            } else {
                hi = mid - 1;
            }
        }
        if (hi < 0) {
            return -1;
        }
        return gpa - starts[hi] < regions[hi].size() ? hi : -1;
    }

    /** True when [gpa, gpa+length) lies inside one RAM region. */
    public boolean contains(long gpa, long length) {
        if (length < 0) {
            return false;
        }
        int i = regionIndex(gpa);
        return i >= 0 && regions[i].size() - (gpa - starts[i]) >= length;
    }

    /**
     * The host bytes behind [gpa, gpa+length), as a segment slice bounded to exactly that range.
     * A range that leaves RAM, or crosses from one region into another, throws.
     */
    public MemorySegment slice(long gpa, long length) {
        if (length < 0) {
            throw new GuestMemoryException(gpa, length, "negative length");
        }
        int i = regionIndex(gpa);
        if (i < 0) {
            throw new GuestMemoryException(gpa, length, "not guest RAM");
        }
        long offset = gpa - starts[i];
        if (regions[i].size() - offset < length) {
            throw new GuestMemoryException(gpa, length, "runs past the end of guest RAM");
        }
        return regions[i].host().asSlice(offset, length);
    }

    public int read8(long gpa) {
        int i = checkedIndex(gpa, 1);
        return Byte.toUnsignedInt(regions[i].host().get(ValueLayout.JAVA_BYTE, gpa - starts[i]));
    }

    public int read16(long gpa) {
        int i = checkedIndex(gpa, 2);
        return Short.toUnsignedInt(regions[i].host().get(LE_SHORT, gpa - starts[i]));
    }

    public int read32(long gpa) {
        int i = checkedIndex(gpa, 4);
        return regions[i].host().get(LE_INT, gpa - starts[i]);
    }

    public long read64(long gpa) {
        int i = checkedIndex(gpa, 8);
        return regions[i].host().get(LE_LONG, gpa - starts[i]);
    }

    /**
     * Reads an aligned 16-bit value with acquire semantics: later reads cannot move before it.
     * Virtqueue indexes published by the guest are read this way before the entries they cover.
     */
    public int read16Acquire(long gpa) {
        int i = checkedAlignedIndex(gpa, 2);
        return Short.toUnsignedInt((short) LE_SHORT_ORDERED.getAcquire(regions[i].host(), gpa - starts[i]));
    }

    /** Writes an aligned 16-bit value with release semantics: earlier writes are visible first. */
    public void write16Release(long gpa, int value) {
        int i = checkedAlignedIndex(gpa, 2);
        LE_SHORT_ORDERED.setRelease(regions[i].host(), gpa - starts[i], (short) value);
    }

    private int checkedAlignedIndex(long gpa, int length) {
        if ((gpa & (length - 1)) != 0) {
            throw new GuestMemoryException(gpa, length, "not aligned");
        }
        return checkedIndex(gpa, length);
    }

    public void write8(long gpa, int value) {
        int i = checkedIndex(gpa, 1);
        regions[i].host().set(ValueLayout.JAVA_BYTE, gpa - starts[i], (byte) value);
    }

    public void write16(long gpa, int value) {
        int i = checkedIndex(gpa, 2);
        regions[i].host().set(LE_SHORT, gpa - starts[i], (short) value);
    }

    public void write32(long gpa, int value) {
        int i = checkedIndex(gpa, 4);
        regions[i].host().set(LE_INT, gpa - starts[i], value);
    }

    public void write64(long gpa, long value) {
        int i = checkedIndex(gpa, 8);
        regions[i].host().set(LE_LONG, gpa - starts[i], value);
    }

    private int checkedIndex(long gpa, int length) {
        int i = regionIndex(gpa);
        if (i < 0 || regions[i].size() - (gpa - starts[i]) < length) {
            throw new GuestMemoryException(gpa, length, "not guest RAM");
        }
        return i;
    }

    /** Copies guest bytes into {@code dst[off, off+len)}. */
    public void read(long gpa, byte[] dst, int off, int len) {
        MemorySegment.copy(slice(gpa, len), ValueLayout.JAVA_BYTE, 0, dst, off, len);
    }

    /** Copies {@code src[off, off+len)} into guest memory. */
    public void write(long gpa, byte[] src, int off, int len) {
        MemorySegment.copy(src, off, slice(gpa, len), ValueLayout.JAVA_BYTE, 0, len);
    }

    /** Copies a host segment (a file mapping, a buffer) into guest memory at {@code gpa}. */
    public void write(long gpa, MemorySegment src) {
        slice(gpa, src.byteSize()).copyFrom(src);
    }

    /** Copies guest bytes into a host segment, filling it. */
    public void read(long gpa, MemorySegment dst) {
        dst.copyFrom(slice(gpa, dst.byteSize()));
    }

    public void fill(long gpa, long length, byte value) {
        slice(gpa, length).fill(value);
    }
}
