package dev.jkvm.backends.net;

import dev.jkvm.os.Libc;

import java.lang.foreign.MemorySegment;

/**
 * An eventfd that wakes a backend's I/O thread out of poll(): for {@link NetBackend#wakeup()},
 * for queued transmit work and for close. Level-triggered, so a signal sent while the thread is
 * busy is seen at its next poll and never lost.
 */
final class EventSignal implements AutoCloseable {
    private final int fd;

    EventSignal() {
        fd = Libc.eventfd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK);
    }

    int fd() {
        return fd;
    }

    /** From any thread; allocation-free. */
    void signal() {
        Libc.eventfdSignal(fd);
    }

    /** Resets the counter; {@code scratch} is 8 bytes the polling thread owns. */
    void drain(MemorySegment callState, MemorySegment scratch) {
        Libc.readRaw(callState, fd, scratch, 8);
    }

    @Override
    public void close() {
        Libc.closeQuietly(fd);
    }
}
