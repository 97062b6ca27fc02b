package dev.jkvm.vmm.device;

import dev.jkvm.os.Errno;
import dev.jkvm.os.Libc;
import dev.jkvm.os.NativeException;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A Linux eventfd: a counter that one side adds to and the other side reads (and so resets).
 * KVM signals one when the guest writes a doorbell (ioeventfd) and injects an interrupt when one
 * is written (irqfd), so device threads and KVM talk without a VM exit.
 */
public final class EventFd implements AutoCloseable {
    private final int fd;
    private volatile boolean closed;

    public EventFd() {
        this.fd = Libc.eventfd(0, Libc.EFD_CLOEXEC);
    }

    public int fd() {
        return fd;
    }

    /**
     * Adds 1; safe from any thread, allocates nothing. After close() it does nothing, so a late
     * signal cannot reach whatever file later reuses the descriptor number (owners still close an
     * EventFd only after the threads that signal it have stopped).
     */
    public void signal() {
        if (!closed) {
            Libc.eventfdSignal(fd);
        }
    }

    /** A reader bound to one thread, with its own buffers, so that waiting allocates nothing. */
    public Reader reader(Arena arena) {
        return new Reader(arena);
    }

    public final class Reader {
        private final MemorySegment value;
        private final MemorySegment callState;

        private Reader(Arena arena) {
            value = arena.allocate(ValueLayout.JAVA_LONG);
            callState = Libc.allocateCallState(arena);
        }

        /** Blocks until the counter is non-zero, returns it and resets it; -1 when the fd was closed. */
        public long read() {
            while (true) {
                long n = Libc.readRaw(callState, fd, value, 8);
                if (n == 8) {
                    return value.get(ValueLayout.JAVA_LONG, 0);
                }
                int errno = Libc.errno(callState);
                if (errno == Errno.EINTR) {
                    continue;
                }
                if (closed || errno == Errno.EBADF) {
                    return -1;
                }
                throw new NativeException("read eventfd", errno);
            }
        }
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            Libc.closeQuietly(fd);
        }
    }
}
