package dev.jkvm.memory;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GuestMemoryTest {
    private static final long MiB = 1 << 20;
    private GuestRam ram;
    private GuestMemory mem;

    /** Two regions with a hole between them, as a PC with high RAM has. */
    @BeforeEach
    void setUp() {
        ram = GuestRam.allocate(4 * MiB, RamOptions.DEFAULT);
        mem = new GuestMemory(java.util.List.of(
                new GuestRegion(0x100000000L, ram.segment().asSlice(2 * MiB, 2 * MiB)),
                new GuestRegion(0, ram.segment().asSlice(0, 2 * MiB))));
    }

    @AfterEach
    void tearDown() {
        ram.close();
    }

    @Test
    void accessorsAreLittleEndianAndHitTheRightHostBytes() {
        mem.write32(0x1000, 0x11223344);
        assertEquals(0x44, ram.segment().get(ValueLayout.JAVA_BYTE, 0x1000));
        assertEquals(0x11, ram.segment().get(ValueLayout.JAVA_BYTE, 0x1003));
        mem.write64(0x100000010L, 0x0102030405060708L);
        assertEquals(0x08, ram.segment().get(ValueLayout.JAVA_BYTE, 2 * MiB + 0x10));
        assertEquals(0x0102030405060708L, mem.read64(0x100000010L));
        assertEquals(0x0708, mem.read16(0x100000010L));
        mem.write8(0x5, 0xfe);
        assertEquals(0xfe, mem.read8(0x5));
        mem.write16(0x7, 0xbeef);
        assertEquals(0xbeef, mem.read16(0x7));
        assertEquals(0x11223344, mem.read32(0x1000));
    }

    @Test
    void unalignedAccessWorks() {
        mem.write64(0x3, -1L);
        assertEquals(-1L, mem.read64(0x3));
        assertEquals(0, mem.read8(0x2));
        assertEquals(0, mem.read8(0xb));
    }

    @Test
    void bulkCopyRoundTrips() {
        byte[] data = new byte[300];
        for (int i = 0; i < data.length; i++) {
            data[i] = (byte) (i * 7);
        }
        mem.write(0x100000100L, data, 0, data.length);
        byte[] back = new byte[300];
        mem.read(0x100000100L, back, 0, back.length);
        assertArrayEquals(data, back);
        MemorySegment host = MemorySegment.ofArray(new byte[300]);
        mem.read(0x100000100L, host);
        assertArrayEquals(data, host.toArray(ValueLayout.JAVA_BYTE));
    }

    @Test
    void accessOutsideRamThrowsTypedException() {
        assertThrows(GuestMemoryException.class, () -> mem.read8(2 * MiB));
        assertThrows(GuestMemoryException.class, () -> mem.read32(2 * MiB - 2));
        assertThrows(GuestMemoryException.class, () -> mem.read64(0x100000000L + 2 * MiB - 7));
        assertThrows(GuestMemoryException.class, () -> mem.write8(0xFFFFFFFFL, 1));
        assertThrows(GuestMemoryException.class, () -> mem.read8(-1L));
        assertThrows(GuestMemoryException.class, () -> mem.slice(0, -1));
    }

    @Test
    void lengthsThatWouldWrapAroundAreRejected() {
        assertThrows(GuestMemoryException.class, () -> mem.slice(0x1000, Long.MAX_VALUE));
        assertThrows(GuestMemoryException.class, () -> mem.slice(Long.MIN_VALUE, 16));
        assertThrows(GuestMemoryException.class, () -> mem.slice(0xFFFFFFFFFFFFF000L, 0x2000));
        assertFalse(mem.contains(0x1000, Long.MAX_VALUE));
        assertFalse(mem.contains(0x100000000L, 2 * MiB + 1));
    }

    @Test
    void aSliceCannotSpanTwoRegions() {
        assertTrue(mem.contains(0, 2 * MiB));
        assertFalse(mem.contains(2 * MiB - 8, 16));
        assertThrows(GuestMemoryException.class, () -> mem.slice(2 * MiB - 8, 16));
        MemorySegment s = mem.slice(2 * MiB - 8, 8);
        assertEquals(8, s.byteSize());
    }

    @Test
    void slicesAreBoundedToTheRequestedRange() {
        MemorySegment s = mem.slice(0x2000, 16);
        assertThrows(IndexOutOfBoundsException.class, () -> s.get(ValueLayout.JAVA_BYTE, 16));
    }

    @Test
    void overlappingRegionsAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> new GuestMemory(java.util.List.of(
                new GuestRegion(0, ram.segment().asSlice(0, 2 * MiB)),
                new GuestRegion(MiB, ram.segment().asSlice(2 * MiB, 2 * MiB)))));
    }

    @Test
    void sizeSumsRegions() {
        assertEquals(4 * MiB, mem.size());
        assertEquals(2, mem.regions().size());
        assertEquals(0, mem.regions().get(0).guestAddress());
    }

    @Test
    void accessAfterCloseFailsInJavaNotInTheHost() {
        ram.close();
        assertThrows(IllegalStateException.class, () -> mem.read8(0));
    }
}
