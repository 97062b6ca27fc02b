package dev.jkvm.backends.block;

import dev.jkvm.os.Errno;
import dev.jkvm.os.Libc;
import dev.jkvm.os.NativeException;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A Linux io_uring driven through its two system calls and the shared rings, with no library:
 * liburing's helpers are inline functions that FFM cannot call. One thread owns a ring: it fills
 * submission entries, calls {@link #submitAndWait}, and reaps completions.
 */
public final class IoUring implements AutoCloseable {
    public static final byte OP_NOP = 0;
    public static final byte OP_READV = 1;
    public static final byte OP_WRITEV = 2;
    public static final byte OP_FSYNC = 3;
    public static final byte OP_READ = 22;
    public static final int FSYNC_DATASYNC = 1;
    private static final int ENTER_GETEVENTS = 1;
    private static final int FEAT_SINGLE_MMAP = 1;
    private static final long OFF_SQ_RING = 0;
    private static final long OFF_CQ_RING = 0x8000000L;
    private static final long OFF_SQES = 0x10000000L;
    private static final int SQE_BYTES = 64;
    private static final int CQE_BYTES = 16;
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT;
    private static final java.lang.invoke.VarHandle RING_INDEX = ValueLayout.JAVA_INT.varHandle();

    private final int fd;
    private final Arena arena = Arena.ofConfined();
    private final MemorySegment callState = Libc.allocateCallState(arena);
    private final MemorySegment sqRing;
    private final MemorySegment cqRing;
    private final MemorySegment sqes;
    private final long sqRingBytes;
    private final long cqRingBytes;
    private final long sqesBytes;
    private final long sqHead;
    private final long sqTail;
    private final int sqMask;
    private final long sqArray;
    private final int sqEntries;
    private final long cqHead;
    private final long cqTail;
    private final int cqMask;
    private final long cqes;
    private int pendingSubmits;
    private int localTail;

    /** A ring of {@code entries} submission slots (a power of two); throws when io_uring is unavailable. */
    public IoUring(int entries) {
        MemorySegment params = arena.allocate(120, 8);
        int ringFd = Libc.ioUringSetupRaw(callState, entries, params);
        if (ringFd < 0) {
            throw new NativeException("io_uring_setup", Libc.errno(callState));
        }
        this.fd = ringFd;
        try {
            sqEntries = params.get(U32, 0);
            int cqEntries = params.get(U32, 4);
            int features = params.get(U32, 20);
            long sqOff = 40;
            long cqOff = 80;
            sqHead = Integer.toUnsignedLong(params.get(U32, sqOff));
            sqTail = Integer.toUnsignedLong(params.get(U32, sqOff + 4));
            sqArray = Integer.toUnsignedLong(params.get(U32, sqOff + 24));
            cqHead = Integer.toUnsignedLong(params.get(U32, cqOff));
            cqTail = Integer.toUnsignedLong(params.get(U32, cqOff + 4));
            cqes = Integer.toUnsignedLong(params.get(U32, cqOff + 20));
            sqRingBytes = sqArray + 4L * sqEntries;
            cqRingBytes = cqes + (long) CQE_BYTES * cqEntries;
            boolean single = (features & FEAT_SINGLE_MMAP) != 0;
            long sqMap = single ? Math.max(sqRingBytes, cqRingBytes) : sqRingBytes;
            sqRing = map(sqMap, OFF_SQ_RING);
            cqRing = single ? sqRing : map(cqRingBytes, OFF_CQ_RING);
            sqesBytes = (long) SQE_BYTES * sqEntries;
            sqes = map(sqesBytes, OFF_SQES);
            sqMask = sqRing.get(U32, Integer.toUnsignedLong(params.get(U32, sqOff + 8)));
            cqMask = cqRing.get(U32, Integer.toUnsignedLong(params.get(U32, cqOff + 8)));
            localTail = sqRing.get(U32, sqTail);
        } catch (RuntimeException e) {
            Libc.closeQuietly(ringFd);
            arena.close();
            throw e;
        }
    }

    /** Whether this kernel lets us make a ring (it may be compiled out or disabled by sysctl). */
    public static boolean available() {
        try (IoUring ring = new IoUring(2)) {
            return true;
        } catch (RuntimeException e) {
            return false;
        }
    }

    private MemorySegment map(long bytes, long offset) {
        MemorySegment p = Libc.mmap(MemorySegment.NULL, bytes, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED | Libc.MAP_POPULATE, fd, offset);
        return p.reinterpret(bytes);
    }

    public int capacity() {
        return sqEntries;
    }

    /** Submission slots free right now. */
    public int freeSlots() {
        int head = (int) RING_INDEX.getAcquire(sqRing, sqHead);
        return sqEntries - (localTail - head);
    }

    /** Fills the next submission entry; returns false when the ring is full (submit first). */
    public boolean prepare(byte opcode, int fileFd, long address, int length, long offset, int opFlags, long userData) {
        if (freeSlots() <= 0) {
            return false;
        }
        int index = localTail & sqMask;
        MemorySegment sqe = sqes.asSlice((long) index * SQE_BYTES, SQE_BYTES);
        sqe.fill((byte) 0);
        sqe.set(ValueLayout.JAVA_BYTE, 0, opcode);
        sqe.set(ValueLayout.JAVA_INT, 4, fileFd);
        sqe.set(ValueLayout.JAVA_LONG, 8, offset);
        sqe.set(ValueLayout.JAVA_LONG, 16, address);
        sqe.set(ValueLayout.JAVA_INT, 24, length);
        sqe.set(ValueLayout.JAVA_INT, 28, opFlags);
        sqe.set(ValueLayout.JAVA_LONG, 32, userData);
        sqRing.set(U32, sqArray + 4L * index, index);
        localTail++;
        // The kernel may read the entry as soon as it sees the tail move.
        RING_INDEX.setRelease(sqRing, sqTail, localTail);
        pendingSubmits++;
        return true;
    }

    /** Submits what was prepared and waits for at least {@code minComplete} completions. Returns 0 or an errno. */
    public int submitAndWait(int minComplete) {
        while (true) {
            int r = Libc.ioUringEnterRaw(callState, fd, pendingSubmits, minComplete, minComplete > 0 ? ENTER_GETEVENTS : 0);
            if (r >= 0) {
                pendingSubmits -= Math.min(r, pendingSubmits);
                return 0;
            }
            int errno = Libc.errno(callState);
            if (errno == Errno.EINTR) {
                continue;
            }
            // EAGAIN/EBUSY: the completion queue is full; the caller reaps and calls again.
            return errno;
        }
    }

    /** Reaps every completion available, handing each (user data, result) to {@code sink}; returns how many. */
    public int reap(CompletionSink sink) {
        int head = cqRing.get(U32, cqHead);
        int tail = (int) RING_INDEX.getAcquire(cqRing, cqTail);
        int n = 0;
        while (head != tail) {
            long at = cqes + (long) (head & cqMask) * CQE_BYTES;
            long userData = cqRing.get(ValueLayout.JAVA_LONG, at);
            int res = cqRing.get(U32, at + 8);
            head++;
            n++;
            sink.completed(userData, res);
        }
        RING_INDEX.setRelease(cqRing, cqHead, head);
        return n;
    }

    @FunctionalInterface
    public interface CompletionSink {
        /** {@code result} is the operation's return value, or -errno. */
        void completed(long userData, int result);
    }

    @Override
    public void close() {
        Libc.munmap(sqes.address(), sqesBytes);
        if (cqRing != sqRing) {
            Libc.munmap(cqRing.address(), cqRingBytes);
        }
        Libc.munmap(sqRing.address(), sqRing.byteSize());
        Libc.closeQuietly(fd);
        arena.close();
    }
}
