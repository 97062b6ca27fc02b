package dev.jkvm.devices.legacy.ide;

import dev.jkvm.memory.GuestMemory;

import java.lang.foreign.MemorySegment;

/**
 * A bus-master IDE physical region descriptor table (PIIX3 datasheet, "Bus Master IDE Function"):
 * dword-aligned, 8-byte entries of a 32-bit buffer address (bit 0 ignored) and a 16-bit byte count
 * (bit 0 ignored, 0 meaning 64 KiB), with bit 15 of the last word (EOT) ending the table. The
 * table may not cross a 64 KiB boundary.
 *
 * <p>Every entry and every buffer is checked against guest RAM before anything moves, so a
 * hostile table (buffers outside RAM, crossing into the PCI hole, a table that runs off a 64 KiB
 * page or ends before the transfer does) is refused as a whole and the caller reports an error.
 */
final class PrdTable {
    static final int ENTRY_SIZE = 8;
    static final int EOT = 0x8000_0000;
    static final long TABLE_PAGE = 64 * 1024;
    /** Entries in one 64 KiB table page, the most a table can have. */
    static final int MAX_ENTRIES = (int) (TABLE_PAGE / ENTRY_SIZE);

    private PrdTable() {
    }

    /** What a walk found. */
    sealed interface Result {
    }

    /**
     * Guest buffers covering exactly the transfer, in order. {@code leftOver} is true when the table
     * describes more than the transfer (the bus master then stays active, as the PIIX3 does).
     */
    record Mapped(MemorySegment[] buffers, int count, long bytes, boolean leftOver) implements Result {
    }

    /** The table cannot be used; {@code reason} says why (for tests and logs, never for the guest). */
    record Invalid(String reason) implements Result {
    }

    /**
     * Walks the table at {@code table} (bits 1:0 ignored, as the hardware does) until it covers
     * {@code bytes} bytes.
     */
    static Result map(GuestMemory memory, long table, long bytes) {
        long base = table & 0xffff_fffcL;
        long page = base & ~(TABLE_PAGE - 1);
        MemorySegment[] buffers = new MemorySegment[16];
        int count = 0;
        long covered = 0;
        if (bytes <= 0) {
            return new Invalid("empty transfer");
        }
        for (int i = 0; ; i++) {
            long entry = base + (long) i * ENTRY_SIZE;
            if (entry + ENTRY_SIZE > page + TABLE_PAGE) {
                return new Invalid(String.format("PRD table at 0x%x runs past its 64 KiB page without EOT", base));
            }
            if (!memory.contains(entry, ENTRY_SIZE)) {
                return new Invalid(String.format("PRD entry %d at 0x%x is not in guest RAM", i, entry));
            }
            long address = Integer.toUnsignedLong(memory.read32(entry)) & ~1L;
            int word = memory.read32(entry + 4);
            long length = word & 0xfffe;
            if (length == 0) {
                length = 0x10000;
            }
            boolean last = (word & EOT) != 0;
            long take = Math.min(length, bytes - covered);
            if (!memory.contains(address, take)) {
                return new Invalid(String.format("PRD entry %d: buffer 0x%x+0x%x is not in guest RAM", i, address, take));
            }
            if (count == buffers.length) {
                buffers = java.util.Arrays.copyOf(buffers, count * 2);
            }
            buffers[count++] = memory.slice(address, take);
            covered += take;
            if (covered == bytes) {
                return new Mapped(buffers, count, bytes, take < length || !last);
            }
            if (last) {
                return new Invalid(String.format("PRD table ends after %d of %d bytes", covered, bytes));
            }
        }
    }
}
