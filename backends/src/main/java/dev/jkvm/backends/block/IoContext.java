package dev.jkvm.backends.block;

import dev.jkvm.os.Libc;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * What one I/O thread needs to issue system calls without allocating: its errno capture, an
 * iovec array, and an aligned bounce buffer for O_DIRECT requests whose guest buffers are not
 * sector aligned. Owned by one thread.
 */
public final class IoContext implements AutoCloseable {
    public static final int MAX_IOVECS = 1024;
    static final long BOUNCE_BYTES = 1 << 20;
    static final long DIRECT_ALIGNMENT = 4096;

    final Arena arena = Arena.ofConfined();
    final MemorySegment callState = Libc.allocateCallState(arena);
    final MemorySegment iovecs = arena.allocate(16L * MAX_IOVECS, 8);
    private MemorySegment bounce;

    MemorySegment bounce() {
        if (bounce == null) {
            bounce = arena.allocate(BOUNCE_BYTES, DIRECT_ALIGNMENT);
        }
        return bounce;
    }

    /** Fills iovec {@code i} with a host segment's address and length. */
    void iovec(int i, MemorySegment buffer) {
        iovecs.set(ValueLayout.JAVA_LONG, 16L * i, buffer.address());
        iovecs.set(ValueLayout.JAVA_LONG, 16L * i + 8, buffer.byteSize());
    }

    int errno() {
        return Libc.errno(callState);
    }

    @Override
    public void close() {
        arena.close();
    }
}
