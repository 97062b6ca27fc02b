package dev.jkvm.devices.virtio.block;

import dev.jkvm.devices.virtio.queue.DescriptorChain;
import dev.jkvm.devices.virtio.queue.VirtqueueViolation;

import java.lang.foreign.MemorySegment;

/**
 * A virtio-blk request, parsed and checked: the 16-byte header (type, reserved, sector) from the
 * device-readable part, the status byte as the last device-writable byte, and the data between.
 * A chain without room for both is a protocol violation (the device needs a reset); a request
 * that is well formed but cannot be served (out of range, misaligned, read-only) gets IOERR.
 */
public sealed interface BlockRequest {
    int T_IN = 0;
    int T_OUT = 1;
    int T_FLUSH = 4;
    int T_GET_ID = 8;
    int T_DISCARD = 11;
    int T_WRITE_ZEROES = 13;

    int S_OK = 0;
    int S_IOERR = 1;
    int S_UNSUPP = 2;

    long SECTOR = 512;
    int ID_BYTES = 20;
    int HEADER_BYTES = 16;
    int SEGMENT_BYTES = 16;
    int WRITE_ZEROES_FLAG_UNMAP = 1;

    /** The chain this request came in, for the used ring. */
    DescriptorChain chain();

    /** Guest address of the status byte. */
    long statusAddress();

    record Read(DescriptorChain chain, long statusAddress, long offset, MemorySegment[] buffers, long bytes) implements BlockRequest {
    }

    record Write(DescriptorChain chain, long statusAddress, long offset, MemorySegment[] buffers, long bytes) implements BlockRequest {
    }

    record Flush(DescriptorChain chain, long statusAddress) implements BlockRequest {
    }

    record GetId(DescriptorChain chain, long statusAddress) implements BlockRequest {
    }

    /** DISCARD, or WRITE_ZEROES when {@code zeroes}; one range per segment, checked against the disk. */
    record Discard(DescriptorChain chain, long statusAddress, long[] offsets, long[] lengths, boolean zeroes, boolean unmap) implements BlockRequest {
    }

    /** Answered without I/O: IOERR for a request that cannot be served, UNSUPP for an unknown type. */
    record Rejected(DescriptorChain chain, long statusAddress, int status, String why) implements BlockRequest {
    }

    /** Limits the device advertised, which requests are checked against. */
    record Limits(long capacityBytes, boolean readOnly, int maxSegments, int maxDiscardSegments, long maxDiscardSectors) {
    }

    static BlockRequest parse(DescriptorChain chain, Limits limits) throws VirtqueueViolation {
        if (chain.readableBytes() < HEADER_BYTES || chain.writableBytes() < 1) {
            throw new VirtqueueViolation("virtio-blk request without a 16-byte header and a device-writable status byte");
        }
        byte[] header = new byte[HEADER_BYTES];
        chain.read(0, header, 0, HEADER_BYTES);
        int type = le32(header, 0);
        long sector = le32(header, 8) & 0xffffffffL | ((long) le32(header, 12) << 32);
        long status = statusAddress(chain);
        return switch (type) {
            case T_IN, T_OUT -> readWrite(chain, limits, type, sector, status);
            case T_FLUSH -> new Flush(chain, status);
            case T_GET_ID -> new GetId(chain, status);
            case T_DISCARD, T_WRITE_ZEROES -> discard(chain, limits, type, status);
            default -> new Rejected(chain, status, S_UNSUPP, "request type " + type);
        };
    }

    private static BlockRequest readWrite(DescriptorChain chain, Limits limits, int type, long sector, long status) {
        boolean in = type == T_IN;
        long bytes = in ? chain.writableBytes() - 1 : chain.readableBytes() - HEADER_BYTES;
        if (!in && limits.readOnly()) {
            return new Rejected(chain, status, S_IOERR, "write to a read-only disk");
        }
        if (bytes % SECTOR != 0 || sector < 0 || sector > limits.capacityBytes() / SECTOR
                || bytes > limits.capacityBytes() - sector * SECTOR) {
            return new Rejected(chain, status, S_IOERR, "sector " + sector + " + " + bytes + " bytes outside the disk or misaligned");
        }
        MemorySegment[] buffers = in ? slices(chain, chain.readableSegments(), chain.segmentCount(), 0, bytes)
                : slices(chain, 0, chain.readableSegments(), HEADER_BYTES, bytes);
        if (buffers.length > limits.maxSegments()) {
            return new Rejected(chain, status, S_IOERR, buffers.length + " data segments exceed seg_max " + limits.maxSegments());
        }
        return in ? new Read(chain, status, sector * SECTOR, buffers, bytes) : new Write(chain, status, sector * SECTOR, buffers, bytes);
    }

    private static BlockRequest discard(DescriptorChain chain, Limits limits, int type, long status) {
        boolean zeroes = type == T_WRITE_ZEROES;
        if (limits.readOnly()) {
            return new Rejected(chain, status, S_IOERR, "discard on a read-only disk");
        }
        long bytes = chain.readableBytes() - HEADER_BYTES;
        if (bytes == 0 || bytes % SEGMENT_BYTES != 0) {
            return new Rejected(chain, status, S_IOERR, "bad discard segment list of " + bytes + " bytes");
        }
        if (bytes / SEGMENT_BYTES > limits.maxDiscardSegments()) {
            // More segments than max_discard_seg: QEMU answers UNSUPP, and so do we.
            return new Rejected(chain, status, S_UNSUPP, (bytes / SEGMENT_BYTES) + " discard segments exceed the limit");
        }
        int n = (int) (bytes / SEGMENT_BYTES);
        byte[] seg = new byte[SEGMENT_BYTES];
        long[] offsets = new long[n];
        long[] lengths = new long[n];
        boolean unmap = false;
        for (int i = 0; i < n; i++) {
            chain.read(HEADER_BYTES + (long) i * SEGMENT_BYTES, seg, 0, SEGMENT_BYTES);
            long sector = le32(seg, 0) & 0xffffffffL | ((long) le32(seg, 4) << 32);
            long sectors = le32(seg, 8) & 0xffffffffL;
            int flags = le32(seg, 12);
            if ((flags & ~WRITE_ZEROES_FLAG_UNMAP) != 0 || (!zeroes && flags != 0)) {
                return new Rejected(chain, status, S_UNSUPP, "discard flags 0x" + Integer.toHexString(flags));
            }
            if (sectors > limits.maxDiscardSectors() || sector < 0 || sector > limits.capacityBytes() / SECTOR
                    || sectors > limits.capacityBytes() / SECTOR - sector) {
                return new Rejected(chain, status, S_IOERR, "discard range " + sector + "+" + sectors + " outside the disk");
            }
            unmap |= (flags & WRITE_ZEROES_FLAG_UNMAP) != 0;
            offsets[i] = sector * SECTOR;
            lengths[i] = sectors * SECTOR;
        }
        return new Discard(chain, status, offsets, lengths, zeroes, unmap);
    }

    /** The last device-writable byte of the chain. */
    private static long statusAddress(DescriptorChain chain) {
        int last = chain.segmentCount() - 1;
        return chain.address(last) + Integer.toUnsignedLong(chain.length(last)) - 1;
    }

    /** Host slices for {@code bytes} bytes of segments [from, to), skipping {@code skip} bytes first. */
    private static MemorySegment[] slices(DescriptorChain chain, int from, int to, long skip, long bytes) {
        int count = 0;
        long s = skip;
        long left = bytes;
        for (int i = from; i < to && left > 0; i++) {
            long len = Integer.toUnsignedLong(chain.length(i));
            if (s >= len) {
                s -= len;
                continue;
            }
            left -= Math.min(len - s, left);
            s = 0;
            count++;
        }
        MemorySegment[] out = new MemorySegment[count];
        int k = 0;
        s = skip;
        left = bytes;
        for (int i = from; i < to && left > 0; i++) {
            long len = Integer.toUnsignedLong(chain.length(i));
            if (s >= len) {
                s -= len;
                continue;
            }
            long take = Math.min(len - s, left);
            out[k++] = chain.slice(i).asSlice(s, take);
            left -= take;
            s = 0;
        }
        return out;
    }

    private static int le32(byte[] b, int at) {
        return (b[at] & 0xff) | (b[at + 1] & 0xff) << 8 | (b[at + 2] & 0xff) << 16 | (b[at + 3] & 0xff) << 24;
    }
}
