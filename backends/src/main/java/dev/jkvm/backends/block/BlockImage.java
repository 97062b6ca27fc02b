package dev.jkvm.backends.block;

import java.lang.foreign.MemorySegment;

/**
 * A disk image as the block device uses it. Operations return 0 or an errno, never throw, so
 * that a host I/O error becomes VIRTIO_BLK_S_IOERR for that request and nothing else.
 * Buffers are host segments over guest RAM: data moves between the file and the guest directly.
 */
public interface BlockImage extends AutoCloseable {
    /** Size in bytes, a multiple of 512. */
    long size();

    boolean readOnly();

    int read(long offset, MemorySegment[] buffers, int count, IoContext io);

    int write(long offset, MemorySegment[] buffers, int count, IoContext io);

    /** Makes every completed write durable (fdatasync), unless the cache mode ignores flushes. */
    int flush(IoContext io);

    /** Deallocates a range if discard=unmap; a no-op otherwise. Reads of it then return zeros. */
    int discard(long offset, long length, IoContext io);

    /** Makes a range read as zeros, deallocating it when allowed. */
    int writeZeroes(long offset, long length, boolean mayUnmap, IoContext io);

    @Override
    void close();
}
