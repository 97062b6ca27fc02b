package dev.jkvm.devices.legacy.ide;

import org.junit.jupiter.api.Test;

import static dev.jkvm.devices.legacy.ide.IdeHarness.HIGH_RAM_START;
import static dev.jkvm.devices.legacy.ide.IdeHarness.LOW_RAM;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** PRD walking, including every kind of hostile table a guest can write. */
class PrdTableTest {
    private final IdeHarness h = new IdeHarness();
    private static final long TABLE = 0x10000;

    private PrdTable.Result map(long bytes) {
        return PrdTable.map(h.memory, TABLE, bytes);
    }

    private String invalid(long table, long bytes) {
        return assertInstanceOf(PrdTable.Invalid.class, PrdTable.map(h.memory, table, bytes)).reason();
    }

    @Test
    void entriesMapToGuestBuffersInOrder() {
        h.prd(TABLE, 0, 0x20000, 512, false);
        h.prd(TABLE, 1, 0x30000, 3584, false);
        h.prd(TABLE, 2, HIGH_RAM_START, 4096, true);
        PrdTable.Mapped m = assertInstanceOf(PrdTable.Mapped.class, map(8192));
        assertEquals(3, m.count());
        assertEquals(512, m.buffers()[0].byteSize());
        assertEquals(3584, m.buffers()[1].byteSize());
        assertEquals(4096, m.buffers()[2].byteSize());
        assertFalse(m.leftOver(), "the table was used up exactly");
        m.buffers()[2].fill((byte) 0x5c);
        assertEquals(0x5c, h.memory.read8(HIGH_RAM_START + 4095));
    }

    @Test
    void aZeroCountIs64KiBAndBitZeroIsIgnored() {
        h.prd(TABLE, 0, 0x40001, 0, true);
        PrdTable.Mapped m = assertInstanceOf(PrdTable.Mapped.class, map(65536));
        assertEquals(65536, m.buffers()[0].byteSize());
        assertEquals(h.memory.slice(0x40000, 1).address(), m.buffers()[0].address(), "address bit 0 is ignored");
        h.prd(TABLE, 0, 0x40000, 1025, true);
        assertEquals(1024, assertInstanceOf(PrdTable.Mapped.class, map(1024)).buffers()[0].byteSize(), "count bit 0 is ignored");
    }

    @Test
    void aTableLongerThanTheTransferIsCutAndLeftOver() {
        h.prd(TABLE, 0, 0x20000, 4096, false);
        h.prd(TABLE, 1, 0x30000, 4096, true);
        PrdTable.Mapped m = assertInstanceOf(PrdTable.Mapped.class, map(5120));
        assertEquals(2, m.count());
        assertEquals(1024, m.buffers()[1].byteSize());
        assertTrue(m.leftOver());
        PrdTable.Mapped first = assertInstanceOf(PrdTable.Mapped.class, map(4096));
        assertEquals(1, first.count());
        assertTrue(first.leftOver(), "entries after the transfer are left over too");
    }

    @Test
    void theTableAddressIgnoresItsLowBits() {
        h.prd(TABLE, 0, 0x20000, 512, true);
        assertInstanceOf(PrdTable.Mapped.class, PrdTable.map(h.memory, TABLE | 3, 512));
    }

    @Test
    void buffersOutsideRamAreRefused() {
        h.prd(TABLE, 0, LOW_RAM, 512, true);
        assertTrue(invalid(TABLE, 512).contains("not in guest RAM"));
        h.prd(TABLE, 0, 0xffff_f000L, 4096, true);
        assertTrue(invalid(TABLE, 4096).contains("not in guest RAM"));
    }

    @Test
    void aBufferRunningIntoTheHoleIsRefused() {
        h.prd(TABLE, 0, LOW_RAM - 512, 1024, true);
        assertTrue(invalid(TABLE, 1024).contains("not in guest RAM"));
    }

    @Test
    void aTableOutsideRamIsRefused() {
        assertTrue(invalid(LOW_RAM + 0x100, 512).contains("not in guest RAM"));
        assertTrue(invalid(0xffff_fff8L, 512).contains("not in guest RAM"));
        // An entry at the very end of RAM would need its second word from the next page.
        assertTrue(invalid(LOW_RAM - 4, 512).contains("64 KiB page"));
    }

    @Test
    void aTableThatEndsBeforeTheTransferIsRefused() {
        h.prd(TABLE, 0, 0x20000, 512, true);
        assertTrue(invalid(TABLE, 1024).contains("ends after 512 of 1024"));
    }

    @Test
    void aTableWithoutEotStopsAtIts64KiBPage() {
        // 8192 entries of 2 bytes each, none with EOT, filling the whole 64 KiB page.
        for (int i = 0; i < PrdTable.MAX_ENTRIES; i++) {
            h.prd(TABLE, i, 0x20000, 2, false);
        }
        assertTrue(invalid(TABLE, 1L << 30).contains("64 KiB page"));
        // Starting mid-page, the walk stops at the page boundary, not 8192 entries later.
        assertTrue(invalid(TABLE + 0xfff8, 1L << 30).contains("64 KiB page"));
    }

    @Test
    void anEmptyTransferIsRefused() {
        assertInstanceOf(PrdTable.Invalid.class, map(0));
    }
}
