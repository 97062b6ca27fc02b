package dev.jkvm.devices.virtio.block;

import dev.jkvm.backends.block.BlockImage;
import dev.jkvm.backends.block.IoContext;
import dev.jkvm.backends.block.IoUring;
import dev.jkvm.backends.block.RawFileImage;
import dev.jkvm.devices.virtio.VirtioContext;
import dev.jkvm.devices.virtio.queue.DescriptorChain;
import dev.jkvm.devices.virtio.queue.SplitVirtqueue;
import dev.jkvm.devices.virtio.queue.VirtqueueViolation;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * aio=io_uring: one thread per queue, one ring. The doorbell eventfd is read through the ring
 * too, so a kick and an I/O completion wake the same io_uring_enter and nothing is handed between
 * threads. Reads and writes go to the kernel as READV/WRITEV on iovecs that point into guest RAM;
 * FLUSH is an fdatasync op. What the ring cannot do directly (O_DIRECT bounce buffers, discard,
 * GET_ID, snapshot overlays) runs on this thread synchronously.
 *
 * <p>On reset the worker stops taking requests but waits for everything the kernel still has in
 * flight, since those operations write guest memory.
 */
final class UringQueueWorker implements IoUring.CompletionSink {
    private static final long KICK = Long.MIN_VALUE;

    private final VirtioBlock device;
    private final VirtioContext ctx;
    private final int queueIndex;
    private final SplitVirtqueue queue;
    private final BlockImage image;
    private final RawFileImage raw;
    private final BlockRequest.Limits limits;
    private final BlockRequest[] inFlight;
    private final MemorySegment[] iovecs;
    private final int[] freeSlots;
    private int freeCount;
    private int busy;
    private boolean kickArmed;
    private final MemorySegment kickBuffer = Arena.ofAuto().allocate(ValueLayout.JAVA_LONG);
    private IoUring ring;
    private IoContext io;
    private VirtqueueViolation violation;

    UringQueueWorker(VirtioBlock device, VirtioContext ctx, int queueIndex, BlockImage image, BlockRequest.Limits limits) {
        this.device = device;
        this.ctx = ctx;
        this.queueIndex = queueIndex;
        this.queue = ctx.queue(queueIndex);
        this.image = image;
        this.raw = image instanceof RawFileImage r ? r : null;
        this.limits = limits;
        int slots = queue.size();
        this.inFlight = new BlockRequest[slots];
        this.iovecs = new MemorySegment[slots];
        this.freeSlots = new int[slots];
        for (int i = 0; i < slots; i++) {
            freeSlots[freeCount++] = slots - 1 - i;
        }
    }

    void run() {
        int entries = Integer.highestOneBit(queue.size() * 2 + 1);
        try (Arena arena = Arena.ofConfined(); IoUring r = new IoUring(entries); IoContext context = new IoContext()) {
            this.ring = r;
            this.io = context;
            for (int i = 0; i < inFlight.length; i++) {
                iovecs[i] = arena.allocate(16L * (limits.maxSegments() + 2), 8);
            }
            armKick();
            while (!device.stopping() || busy > 0) {
                if (ring.submitAndWait(1) != 0) {
                    // A full completion queue: reap below and try again.
                    Thread.onSpinWait();
                }
                ring.reap(this);
                if (violation != null) {
                    ctx.fail("virtio-blk queue " + queueIndex + ": " + violation.getMessage());
                    violation = null;
                    drainInFlight();
                    return;
                }
            }
        } catch (RuntimeException e) {
            ctx.fail("virtio-blk queue " + queueIndex + ": " + e);
        }
    }

    /** Waits for every operation the kernel still owns; they target guest memory. */
    private void drainInFlight() {
        while (busy > 0) {
            ring.submitAndWait(1);
            ring.reap(this);
        }
    }

    private void armKick() {
        if (!kickArmed && !device.stopping()) {
            kickArmed = ring.prepare(IoUring.OP_READ, ctx.doorbell(queueIndex).fd(), kickBuffer.address(), 8, 0, 0, KICK);
        }
    }

    @Override
    public void completed(long userData, int result) {
        if (userData == KICK) {
            kickArmed = false;
            if (!device.stopping() && violation == null) {
                try {
                    take();
                } catch (VirtqueueViolation v) {
                    violation = v;
                    return;
                }
                armKick();
            }
            return;
        }
        int slot = (int) userData;
        BlockRequest request = inFlight[slot];
        inFlight[slot] = null;
        freeSlots[freeCount++] = slot;
        busy--;
        long expected = switch (request) {
            case BlockRequest.Read r -> r.bytes();
            case BlockRequest.Write w -> w.bytes();
            default -> 0;
        };
        device.completeAsync(ctx, queueIndex, request, result, expected);
    }

    /** Takes every available request: queued on the ring where it can be, run here otherwise. */
    private void take() throws VirtqueueViolation {
        DescriptorChain chain;
        while (!device.stopping() && (chain = queue.pop()) != null) {
            BlockRequest request = BlockRequest.parse(chain, limits);
            if (!submit(request)) {
                device.runNow(ctx, queueIndex, request, io);
            }
        }
    }

    private boolean submit(BlockRequest request) {
        if (raw == null || freeCount == 0 || ring.freeSlots() < 2) {
            return false;
        }
        byte op;
        MemorySegment[] buffers = null;
        long offset = 0;
        switch (request) {
            case BlockRequest.Read r -> {
                op = IoUring.OP_READV;
                buffers = r.buffers();
                offset = r.offset();
            }
            case BlockRequest.Write w -> {
                op = IoUring.OP_WRITEV;
                buffers = w.buffers();
                offset = w.offset();
            }
            case BlockRequest.Flush f -> {
                if (!raw.flushes()) {
                    return false;
                }
                op = IoUring.OP_FSYNC;
            }
            default -> {
                return false;
            }
        }
        if (buffers != null && (buffers.length == 0 || buffers.length > limits.maxSegments() + 2 || raw.needsBounce(offset, buffers, buffers.length))) {
            return false;
        }
        int slot = freeSlots[--freeCount];
        MemorySegment iov = iovecs[slot];
        boolean queued;
        if (buffers != null) {
            for (int i = 0; i < buffers.length; i++) {
                iov.set(ValueLayout.JAVA_LONG, 16L * i, buffers[i].address());
                iov.set(ValueLayout.JAVA_LONG, 16L * i + 8, buffers[i].byteSize());
            }
            queued = ring.prepare(op, raw.fd(), iov.address(), buffers.length, offset, 0, slot);
        } else {
            queued = ring.prepare(op, raw.fd(), 0, 0, 0, IoUring.FSYNC_DATASYNC, slot);
        }
        if (!queued) {
            freeSlots[freeCount++] = slot;
            return false;
        }
        inFlight[slot] = request;
        busy++;
        return true;
    }
}
