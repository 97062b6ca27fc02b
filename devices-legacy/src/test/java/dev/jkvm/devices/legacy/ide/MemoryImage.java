package dev.jkvm.devices.legacy.ide;

import dev.jkvm.backends.block.BlockImage;
import dev.jkvm.backends.block.IoContext;
import dev.jkvm.os.Errno;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.HashMap;
import java.util.Map;

/**
 * A disk image of any size that holds the test guest's pattern (computed, so a 128 GiB disk costs
 * nothing) under an overlay of the sectors written, with flush counting and injectable errors.
 */
final class MemoryImage implements BlockImage {
    private final long size;
    private final boolean readOnly;
    private final Map<Long, byte[]> written = new HashMap<>();
    int flushes;
    int reads;
    int writes;
    boolean failReads;
    boolean failWrites;
    boolean closed;

    MemoryImage(long size, boolean readOnly) {
        this.size = size;
        this.readOnly = readOnly;
    }

    /** guest/README.md: the byte at offset o. */
    static byte pattern(long o) {
        return (byte) (((o >>> 9) * 151) ^ (o * 7) ^ 0x5a);
    }

    byte at(long o) {
        byte[] sector = written.get(o / 512);
        return sector != null ? sector[(int) (o % 512)] : pattern(o);
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public boolean readOnly() {
        return readOnly;
    }

    @Override
    public int read(long offset, MemorySegment[] buffers, int count, IoContext io) {
        reads++;
        if (failReads) {
            return Errno.EIO;
        }
        for (int i = 0; i < count; i++) {
            for (long j = 0; j < buffers[i].byteSize(); j++) {
                if (offset >= size) {
                    return Errno.EIO;
                }
                buffers[i].set(ValueLayout.JAVA_BYTE, j, at(offset++));
            }
        }
        return 0;
    }

    @Override
    public int write(long offset, MemorySegment[] buffers, int count, IoContext io) {
        writes++;
        if (readOnly) {
            return Errno.EROFS;
        }
        if (failWrites) {
            return Errno.EIO;
        }
        for (int i = 0; i < count; i++) {
            for (long j = 0; j < buffers[i].byteSize(); j++) {
                long sector = offset / 512;
                byte[] s = written.get(sector);
                if (s == null) {
                    s = new byte[512];
                    for (int k = 0; k < 512; k++) {
                        s[k] = pattern(sector * 512 + k);
                    }
                    written.put(sector, s);
                }
                s[(int) (offset % 512)] = buffers[i].get(ValueLayout.JAVA_BYTE, j);
                offset++;
            }
        }
        return 0;
    }

    @Override
    public int flush(IoContext io) {
        flushes++;
        return 0;
    }

    @Override
    public int discard(long offset, long length, IoContext io) {
        return 0;
    }

    @Override
    public int writeZeroes(long offset, long length, boolean mayUnmap, IoContext io) {
        return 0;
    }

    @Override
    public void close() {
        closed = true;
    }
}
