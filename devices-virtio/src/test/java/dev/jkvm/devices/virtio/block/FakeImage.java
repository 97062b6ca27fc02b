package dev.jkvm.devices.virtio.block;

import dev.jkvm.backends.block.BlockImage;
import dev.jkvm.backends.block.IoContext;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An in-memory disk that records every call, can fail any of them with a chosen errno, and can
 * hold reads at a gate so that requests stay in flight.
 */
final class FakeImage implements BlockImage {
    record Call(String op, long offset, long length, int buffers, boolean mayUnmap, String thread) {
    }

    final byte[] disk;
    final boolean readOnly;
    final List<Call> calls = new CopyOnWriteArrayList<>();
    volatile int errno;
    volatile String failOp;
    /** When set, each read waits for a permit; {@link #readsWaiting} counts those waiting. */
    volatile Semaphore readGate;
    final AtomicInteger readsWaiting = new AtomicInteger();
    final AtomicInteger inFlight = new AtomicInteger();
    final AtomicInteger maxInFlight = new AtomicInteger();
    final CountDownLatch closed = new CountDownLatch(1);

    FakeImage(int bytes, boolean readOnly) {
        this.disk = new byte[bytes];
        this.readOnly = readOnly;
        for (int i = 0; i < bytes; i++) {
            disk[i] = (byte) (i * 7 + i / 512);
        }
    }

    private int fail(String op) {
        return op.equals(failOp) ? errno : 0;
    }

    private static long total(MemorySegment[] buffers, int count) {
        long t = 0;
        for (int i = 0; i < count; i++) {
            t += buffers[i].byteSize();
        }
        return t;
    }

    @Override
    public long size() {
        return disk.length;
    }

    @Override
    public boolean readOnly() {
        return readOnly;
    }

    @Override
    public int read(long offset, MemorySegment[] buffers, int count, IoContext io) {
        calls.add(new Call("read", offset, total(buffers, count), count, false, Thread.currentThread().getName()));
        int now = inFlight.incrementAndGet();
        maxInFlight.accumulateAndGet(now, Math::max);
        try {
            Semaphore gate = readGate;
            if (gate != null) {
                // Like a read(2) on a slow disk: an interrupt does not end the wait.
                readsWaiting.incrementAndGet();
                boolean interrupted = false;
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                try {
                    while (true) {
                        try {
                            if (gate.tryAcquire(deadline - System.nanoTime(), TimeUnit.NANOSECONDS)) {
                                break;
                            }
                            return 5;
                        } catch (InterruptedException e) {
                            interrupted = true;
                        }
                    }
                } finally {
                    readsWaiting.decrementAndGet();
                    if (interrupted) {
                        Thread.currentThread().interrupt();
                    }
                }
            }
            int e = fail("read");
            if (e != 0) {
                return e;
            }
            long pos = offset;
            for (int i = 0; i < count; i++) {
                MemorySegment.copy(disk, (int) pos, buffers[i], ValueLayout.JAVA_BYTE, 0, (int) buffers[i].byteSize());
                pos += buffers[i].byteSize();
            }
            return 0;
        } finally {
            inFlight.decrementAndGet();
        }
    }

    @Override
    public int write(long offset, MemorySegment[] buffers, int count, IoContext io) {
        calls.add(new Call("write", offset, total(buffers, count), count, false, Thread.currentThread().getName()));
        int e = fail("write");
        if (e != 0) {
            return e;
        }
        long pos = offset;
        for (int i = 0; i < count; i++) {
            MemorySegment.copy(buffers[i], ValueLayout.JAVA_BYTE, 0, disk, (int) pos, (int) buffers[i].byteSize());
            pos += buffers[i].byteSize();
        }
        return 0;
    }

    @Override
    public int flush(IoContext io) {
        calls.add(new Call("flush", 0, 0, 0, false, Thread.currentThread().getName()));
        return fail("flush");
    }

    @Override
    public int discard(long offset, long length, IoContext io) {
        calls.add(new Call("discard", offset, length, 0, false, Thread.currentThread().getName()));
        return fail("discard");
    }

    @Override
    public int writeZeroes(long offset, long length, boolean mayUnmap, IoContext io) {
        calls.add(new Call("writeZeroes", offset, length, 0, mayUnmap, Thread.currentThread().getName()));
        int e = fail("writeZeroes");
        if (e == 0) {
            Arrays.fill(disk, (int) offset, (int) (offset + length), (byte) 0);
        }
        return e;
    }

    long count(String op) {
        return calls.stream().filter(c -> c.op().equals(op)).count();
    }

    @Override
    public void close() {
        closed.countDown();
    }
}
