package dev.jkvm.memory;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DirtyPageBitmapTest {
    @Test
    void marksAndFindsPages() {
        DirtyPageBitmap b = new DirtyPageBitmap(1 << 20);
        assertEquals(256, b.pages());
        b.markPage(3);
        b.markPage(200);
        assertTrue(b.isDirty(3));
        assertFalse(b.isDirty(4));
        assertEquals(3, b.nextDirty(0));
        assertEquals(200, b.nextDirty(4));
        assertEquals(-1, b.nextDirty(201));
        assertEquals(2, b.count());
    }

    @Test
    void markRangeCoversPartialPages() {
        DirtyPageBitmap b = new DirtyPageBitmap(1 << 20);
        b.markRange(4095, 2);
        assertEquals(2, b.count());
        assertTrue(b.isDirty(0) && b.isDirty(1));
        b.markRange(8192, 0);
        assertEquals(2, b.count());
    }

    @Test
    void rejectsPagesOutsideTheBitmap() {
        DirtyPageBitmap b = new DirtyPageBitmap(10 * 4096);
        assertThrows(IndexOutOfBoundsException.class, () -> b.markPage(10));
        assertThrows(IndexOutOfBoundsException.class, () -> b.markRange(9 * 4096, 4097));
        assertEquals(-1, b.nextDirty(10));
    }

    @Test
    void mergesKvmLogAndHarvestClears() {
        DirtyPageBitmap b = new DirtyPageBitmap(128 * 4096);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment log = a.allocate(b.kvmBufferBytes());
            log.set(ValueLayout.JAVA_LONG, 0, 0b101L);
            log.set(ValueLayout.JAVA_LONG, 8, 1L << 63);
            b.orFrom(log);
        }
        assertEquals(3, b.count());
        assertTrue(b.isDirty(127));
        DirtyPageBitmap taken = b.harvest();
        assertEquals(3, taken.count());
        assertEquals(0, b.count());
        assertEquals(2, taken.nextDirty(1));
    }
}
