package dev.jkvm.devices.virtio.queue;

import dev.jkvm.memory.GuestMemory;

import java.lang.foreign.MemorySegment;

/**
 * One request the driver made available: the buffers of a descriptor chain, already checked to
 * lie in guest RAM, device-readable ones first, device-writable ones after. Offsets address the
 * readable part and the writable part each as one contiguous stream.
 */
public final class DescriptorChain {
    private final GuestMemory memory;
    private final int head;
    private final long[] addresses;
    private final int[] lengths;
    private final int count;
    private final int readableCount;
    private final long readableBytes;
    private final long writableBytes;

    DescriptorChain(GuestMemory memory, int head, long[] addresses, int[] lengths, int count, int readableCount) {
        this.memory = memory;
        this.head = head;
        this.addresses = addresses;
        this.lengths = lengths;
        this.count = count;
        this.readableCount = readableCount;
        long r = 0;
        long w = 0;
        for (int i = 0; i < count; i++) {
            if (i < readableCount) {
                r += Integer.toUnsignedLong(lengths[i]);
            } else {
                w += Integer.toUnsignedLong(lengths[i]);
            }
        }
        this.readableBytes = r;
        this.writableBytes = w;
    }

    /** The head descriptor's index, which the used ring reports back. */
    public int head() {
        return head;
    }

    public int segmentCount() {
        return count;
    }

    public int readableSegments() {
        return readableCount;
    }

    public long address(int segment) {
        return addresses[segment];
    }

    public int length(int segment) {
        return lengths[segment];
    }

    public boolean writable(int segment) {
        return segment >= readableCount;
    }

    public long readableBytes() {
        return readableBytes;
    }

    public long writableBytes() {
        return writableBytes;
    }

    /** The host bytes of a segment, bounded to it (checked against guest RAM when the chain was read). */
    public MemorySegment slice(int segment) {
        return memory.slice(addresses[segment], Integer.toUnsignedLong(lengths[segment]));
    }

    /** Copies readable bytes [offset, offset+length) into {@code dst}; false when the chain has fewer. */
    public boolean read(long offset, byte[] dst, int dstOffset, int length) {
        if (offset < 0 || length < 0 || offset > readableBytes - length) {
            return false;
        }
        long skip = offset;
        int done = 0;
        for (int i = 0; i < readableCount && done < length; i++) {
            long len = Integer.toUnsignedLong(lengths[i]);
            if (skip >= len) {
                skip -= len;
                continue;
            }
            int n = (int) Math.min(len - skip, length - done);
            memory.read(addresses[i] + skip, dst, dstOffset + done, n);
            done += n;
            skip = 0;
        }
        return true;
    }

    /** Copies bytes into the writable part at {@code offset}; false when the chain has room for fewer. */
    public boolean write(long offset, byte[] src, int srcOffset, int length) {
        if (offset < 0 || length < 0 || offset > writableBytes - length) {
            return false;
        }
        long skip = offset;
        int done = 0;
        for (int i = readableCount; i < count && done < length; i++) {
            long len = Integer.toUnsignedLong(lengths[i]);
            if (skip >= len) {
                skip -= len;
                continue;
            }
            int n = (int) Math.min(len - skip, length - done);
            memory.write(addresses[i] + skip, src, srcOffset + done, n);
            done += n;
            skip = 0;
        }
        return true;
    }

    /** Fills {@code length} writable bytes from {@code offset} with zeros. */
    public boolean zero(long offset, long length) {
        if (offset < 0 || length < 0 || offset > writableBytes - length) {
            return false;
        }
        long skip = offset;
        long done = 0;
        for (int i = readableCount; i < count && done < length; i++) {
            long len = Integer.toUnsignedLong(lengths[i]);
            if (skip >= len) {
                skip -= len;
                continue;
            }
            long n = Math.min(len - skip, length - done);
            memory.fill(addresses[i] + skip, n, (byte) 0);
            done += n;
            skip = 0;
        }
        return true;
    }
}
