package dev.jkvm.backends.net;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * A bounded FIFO of frames for the guest, kept in one native ring of bytes, owned by one thread
 * (a backend's receive thread). It holds the frames the device refused until {@link NetBackend#wakeup()},
 * and bounds how far a backend reads ahead of the guest: when {@link #reserve} finds no room the
 * backend stops reading its fd, so the kernel (or the TCP peer) holds further frames back.
 *
 * <p>A frame is written in place: {@link #reserve} hands out a contiguous slot at the tail, the
 * caller reads into it and {@link #commit}s the length, so the common path (read, deliver, pop)
 * copies nothing. Each frame carries an int tag for the caller (the tap backend's header-mode
 * generation).
 */
final class FrameQueue {
    private final MemorySegment ring;
    private final int[] offsets;
    private final int[] lengths;
    private final int[] tags;
    /** Index of the oldest frame in the arrays above. */
    private int first;
    private int count;
    /** Where the next frame goes in the ring. */
    private int tail;
    /** The slot last handed out by reserve, or -1. */
    private int reservedAt = -1;
    private int reservedBytes;

    /**
     * @param ringBytes the bytes all queued frames may take together; at least one largest frame
     * @param maxFrames how many frames may wait at once
     */
    FrameQueue(Arena arena, int ringBytes, int maxFrames) {
        if (ringBytes <= 0 || maxFrames <= 0) {
            throw new IllegalArgumentException("empty frame queue");
        }
        this.ring = arena.allocate(ringBytes, 64);
        this.offsets = new int[maxFrames];
        this.lengths = new int[maxFrames];
        this.tags = new int[maxFrames];
    }

    int size() {
        return count;
    }

    boolean isEmpty() {
        return count == 0;
    }

    /**
     * A contiguous slot of {@code bytes} at the tail, or null when the queue cannot take a frame
     * that large now. The slot stays valid until the next reserve or commit.
     */
    MemorySegment reserve(int bytes) {
        if (bytes < 0 || bytes > ring.byteSize()) {
            throw new IllegalArgumentException("frame of " + bytes + " bytes cannot fit a ring of " + ring.byteSize());
        }
        reservedAt = -1;
        if (count == offsets.length) {
            return null;
        }
        int at;
        if (count == 0) {
            at = 0;
        } else {
            int head = offsets[first];
            int newest = offsets[(first + count - 1) % offsets.length];
            if (newest >= head) {
                // Used region is [head, tail): room after the tail, else wrap to the start.
                if (ring.byteSize() - tail >= bytes) {
                    at = tail;
                } else if (head >= bytes) {
                    at = 0;
                } else {
                    return null;
                }
            } else {
                // Wrapped: used is [head, end) and [0, tail); the free gap is [tail, head).
                if (head - tail >= bytes) {
                    at = tail;
                } else {
                    return null;
                }
            }
        }
        reservedAt = at;
        reservedBytes = bytes;
        return ring.asSlice(at, bytes);
    }

    /** Queues the frame written into the last reserved slot: its first {@code length} bytes. */
    void commit(int length, int tag) {
        if (reservedAt < 0 || length < 0 || length > reservedBytes) {
            throw new IllegalStateException("commit of " + length + " bytes without a slot that large");
        }
        int index = (first + count) % offsets.length;
        offsets[index] = reservedAt;
        lengths[index] = length;
        tags[index] = tag;
        count++;
        tail = reservedAt + length;
        reservedAt = -1;
    }

    /** Copies a frame in; false when there is no room. */
    boolean offer(MemorySegment frame, int tag) {
        MemorySegment slot = reserve((int) frame.byteSize());
        if (slot == null) {
            return false;
        }
        MemorySegment.copy(frame, 0, slot, 0, frame.byteSize());
        commit((int) frame.byteSize(), tag);
        return true;
    }

    /** The oldest frame (valid until it is popped), or null. */
    MemorySegment peek() {
        return count == 0 ? null : ring.asSlice(offsets[first], lengths[first]);
    }

    int peekTag() {
        if (count == 0) {
            throw new IllegalStateException("empty");
        }
        return tags[first];
    }

    void pop() {
        if (count == 0) {
            throw new IllegalStateException("empty");
        }
        first = (first + 1) % offsets.length;
        count--;
        if (count == 0) {
            first = 0;
            tail = 0;
        }
    }

    void clear() {
        first = 0;
        count = 0;
        tail = 0;
        reservedAt = -1;
    }
}
