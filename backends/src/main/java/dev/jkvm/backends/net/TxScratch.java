package dev.jkvm.backends.net;

import dev.jkvm.os.Libc;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Per-thread native scratch for sending a frame straight from guest memory: an iovec array, a
 * msghdr, a 4-byte length prefix and an errno call state. A device's TX thread (or a vCPU, for
 * e1000) gets its own on first use, so send() allocates nothing afterwards.
 */
final class TxScratch {
    private static final ThreadLocal<TxScratch> PER_THREAD = ThreadLocal.withInitial(TxScratch::new);

    private final Arena arena = Arena.ofAuto();
    final MemorySegment callState = Libc.allocateCallState(arena);
    final MemorySegment msghdr = arena.allocate(Libc.MSGHDR_BYTES, 8);
    /** A big-endian length prefix (the socket wire format). */
    final MemorySegment prefix = arena.allocate(8, 8);
    private MemorySegment iov = arena.allocate(16L * 8, 8);

    static TxScratch get() {
        return PER_THREAD.get();
    }

    /** An iovec array of at least {@code entries} entries. */
    MemorySegment iov(int entries) {
        if (iov.byteSize() < 16L * entries) {
            iov = arena.allocate(16L * Integer.highestOneBit(Math.max(entries, 8) * 2 - 1), 8);
        }
        return iov;
    }

    static void setIov(MemorySegment iov, int index, long address, long length) {
        iov.set(JAVA_LONG, 16L * index, address);
        iov.set(JAVA_LONG, 16L * index + 8, length);
    }

    /** Points {@link #msghdr} at {@code entries} iovecs, with no address and no control data. */
    MemorySegment msghdr(MemorySegment iov, int entries) {
        msghdr.fill((byte) 0);
        msghdr.set(JAVA_LONG, 16, iov.address());
        msghdr.set(JAVA_LONG, 24, entries);
        return msghdr;
    }
}
