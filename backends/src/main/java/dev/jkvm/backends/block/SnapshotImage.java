package dev.jkvm.backends.block;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * -drive snapshot=on: the image is opened read-only and every write goes to a temporary overlay
 * (an unlinked sparse file), copy-on-write in 64 KiB clusters. A cluster is read from the overlay
 * once written, from the image before. Nothing reaches the image, and the overlay vanishes with
 * the process.
 */
public final class SnapshotImage implements BlockImage {
    static final long CLUSTER = 64 * 1024;

    private final RawFileImage base;
    private final RawFileImage overlay;
    private final AtomicLongArray dirty;
    private final Object populate = new Object();
    private final boolean discardEnabled;

    private SnapshotImage(RawFileImage base, RawFileImage overlay, boolean discardEnabled) {
        this.base = base;
        this.overlay = overlay;
        this.discardEnabled = discardEnabled;
        long clusters = (base.size() + CLUSTER - 1) / CLUSTER;
        this.dirty = new AtomicLongArray((int) ((clusters + 63) / 64));
    }

    /** @param discard discard=unmap: discarded ranges read back as zeros, as on a plain image */
    public static SnapshotImage open(Path file, CacheMode cache, boolean discard) {
        RawFileImage base = RawFileImage.open(file, true, cache, false);
        try {
            Path tmp = Files.createTempFile("jkvm-snapshot", ".raw");
            try {
                try (var ch = java.nio.channels.FileChannel.open(tmp, java.nio.file.StandardOpenOption.WRITE)) {
                    ch.truncate(0);
                    if (base.size() > 0) {
                        ch.write(java.nio.ByteBuffer.allocate(1), base.size() - 1);
                    }
                }
                return new SnapshotImage(base, RawFileImage.open(tmp, false, CacheMode.UNSAFE, true), discard);
            } finally {
                Files.deleteIfExists(tmp);
            }
        } catch (IOException e) {
            base.close();
            throw new ImageException("could not create the snapshot overlay for " + file + ": " + e.getMessage());
        } catch (RuntimeException e) {
            base.close();
            throw e;
        }
    }

    private boolean isDirty(long cluster) {
        return (dirty.get((int) (cluster >>> 6)) & (1L << (cluster & 63))) != 0;
    }

    private void markDirty(long cluster) {
        dirty.getAndUpdate((int) (cluster >>> 6), w -> w | (1L << (cluster & 63)));
    }

    @Override
    public long size() {
        return base.size();
    }

    @Override
    public boolean readOnly() {
        return false;
    }

    /** Runs an operation over each cluster-bounded piece of [offset, offset+length) of the buffers. */
    private interface Piece {
        int apply(long offset, MemorySegment[] slices, int count, long cluster);
    }

    private static int forEachPiece(long offset, MemorySegment[] buffers, int count, Piece piece) {
        long total = 0;
        for (int i = 0; i < count; i++) {
            total += buffers[i].byteSize();
        }
        int buf = 0;
        long bufOffset = 0;
        long done = 0;
        MemorySegment[] slices = new MemorySegment[count];
        while (done < total) {
            long pos = offset + done;
            long cluster = pos / CLUSTER;
            long len = Math.min(total - done, (cluster + 1) * CLUSTER - pos);
            int n = 0;
            long taken = 0;
            while (taken < len) {
                long take = Math.min(len - taken, buffers[buf].byteSize() - bufOffset);
                slices[n++] = buffers[buf].asSlice(bufOffset, take);
                taken += take;
                bufOffset += take;
                if (bufOffset == buffers[buf].byteSize()) {
                    buf++;
                    bufOffset = 0;
                }
            }
            int e = piece.apply(pos, slices, n, cluster);
            if (e != 0) {
                return e;
            }
            done += len;
        }
        return 0;
    }

    @Override
    public int read(long offset, MemorySegment[] buffers, int count, IoContext io) {
        return forEachPiece(offset, buffers, count, (pos, slices, n, cluster) ->
                isDirty(cluster) ? overlay.read(pos, slices, n, io) : base.read(pos, slices, n, io));
    }

    @Override
    public int write(long offset, MemorySegment[] buffers, int count, IoContext io) {
        return forEachPiece(offset, buffers, count, (pos, slices, n, cluster) -> {
            int e = populate(cluster, io);
            return e != 0 ? e : overlay.write(pos, slices, n, io);
        });
    }

    /** Copies a cluster from the image into the overlay before its first write. */
    private int populate(long cluster, IoContext io) {
        if (isDirty(cluster)) {
            return 0;
        }
        synchronized (populate) {
            if (isDirty(cluster)) {
                return 0;
            }
            long start = cluster * CLUSTER;
            long len = Math.min(CLUSTER, size() - start);
            MemorySegment[] one = {io.bounce().asSlice(0, len)};
            int e = base.read(start, one, 1, io);
            if (e == 0) {
                e = overlay.write(start, one, 1, io);
            }
            if (e == 0) {
                markDirty(cluster);
            }
            return e;
        }
    }

    @Override
    public int flush(IoContext io) {
        // The overlay dies with the process; there is nothing to make durable.
        return 0;
    }

    @Override
    public int discard(long offset, long length, IoContext io) {
        return discardEnabled ? writeZeroes(offset, length, true, io) : 0;
    }

    @Override
    public int writeZeroes(long offset, long length, boolean mayUnmap, IoContext io) {
        long done = 0;
        while (done < length) {
            long n = Math.min(length - done, CLUSTER);
            MemorySegment zeros = io.bounce().asSlice(IoContext.BOUNCE_BYTES - CLUSTER, n);
            zeros.fill((byte) 0);
            int e = write(offset + done, new MemorySegment[] {zeros}, 1, io);
            if (e != 0) {
                return e;
            }
            done += n;
        }
        return 0;
    }

    @Override
    public void close() {
        overlay.close();
        base.close();
    }
}
