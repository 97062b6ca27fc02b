package dev.jkvm.devices.virtio.block;

import dev.jkvm.vmm.device.Threads;
import dev.jkvm.backends.block.BlockImage;
import dev.jkvm.backends.block.DriveOptions;
import dev.jkvm.backends.block.IoContext;
import dev.jkvm.devices.virtio.VirtioContext;
import dev.jkvm.devices.virtio.VirtioDevice;
import dev.jkvm.devices.virtio.VirtioFeatures;
import dev.jkvm.devices.virtio.queue.DescriptorChain;
import dev.jkvm.devices.virtio.queue.SplitVirtqueue;
import dev.jkvm.devices.virtio.queue.VirtqueueViolation;
import dev.jkvm.vmm.device.EventFd;

import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;

/**
 * virtio-blk (virtio 1.2, 5.2). Each queue has a dispatcher thread that sleeps on the queue's
 * doorbell, takes every available request, and runs it: inline when it is the only one waiting
 * (no hand-off at queue depth 1), otherwise on a pool of I/O threads so that many requests are in
 * flight at once. Completions write the status byte, return the chain through the used ring and
 * raise the queue's interrupt as EVENT_IDX allows.
 */
public final class VirtioBlock implements VirtioDevice {
    public static final int DEVICE_ID = 2;
    static final int F_SIZE_MAX = 1;
    static final int F_SEG_MAX = 2;
    static final int F_RO = 5;
    static final int F_BLK_SIZE = 6;
    static final int F_FLUSH = 9;
    static final int F_MQ = 12;
    static final int F_DISCARD = 13;
    static final int F_WRITE_ZEROES = 14;
    static final int CONFIG_SIZE = 60;
    static final long SIZE_MAX = 1 << 20;
    static final long MAX_DISCARD_SECTORS = 0x3fffff;

    private final String id;
    private final BlockImage image;
    private final DriveOptions options;
    private final int queueCount;
    private final int queueSize;
    private final int ioThreads;
    private final byte[] serial;
    private final BlockMetrics metrics = new BlockMetrics();
    private final BlockRequest.Limits limits;
    private final Object lifecycle = new Object();
    private VirtioContext context;
    private final List<Thread> threads = new ArrayList<>();
    private BlockingQueue<Runnable> pool;
    private volatile boolean stopping;

    public VirtioBlock(String id, BlockImage image, DriveOptions options, int queueCount, int queueSize, int ioThreads) {
        this.id = id;
        this.image = image;
        this.options = options;
        this.queueCount = queueCount;
        this.queueSize = queueSize;
        this.ioThreads = ioThreads;
        this.serial = options.serial() == null ? new byte[0] : options.serial().getBytes(StandardCharsets.UTF_8);
        this.limits = new BlockRequest.Limits(image.size(), image.readOnly(), queueSize - 2, 1, MAX_DISCARD_SECTORS);
    }

    public BlockMetrics metrics() {
        return metrics;
    }

    @Override
    public int deviceId() {
        return DEVICE_ID;
    }

    @Override
    public String name() {
        return "virtio-blk-" + id;
    }

    @Override
    public int pciClass() {
        return 0x018000;
    }

    @Override
    public long deviceFeatures() {
        long f = VirtioFeatures.bit(F_SIZE_MAX) | VirtioFeatures.bit(F_SEG_MAX) | VirtioFeatures.bit(F_BLK_SIZE);
        if (options.cache().writebackCache()) {
            f |= VirtioFeatures.bit(F_FLUSH);
        }
        if (image.readOnly()) {
            f |= VirtioFeatures.bit(F_RO);
        } else {
            f |= VirtioFeatures.bit(F_DISCARD) | VirtioFeatures.bit(F_WRITE_ZEROES);
        }
        if (queueCount > 1) {
            f |= VirtioFeatures.bit(F_MQ);
        }
        return f;
    }

    @Override
    public int queueCount() {
        return queueCount;
    }

    @Override
    public int queueMaxSize() {
        return queueSize;
    }

    @Override
    public int configSize() {
        return CONFIG_SIZE;
    }

    @Override
    public long readConfig(int offset, int size) {
        byte[] c = new byte[CONFIG_SIZE];
        put64(c, 0, image.size() / BlockRequest.SECTOR);
        put32(c, 8, SIZE_MAX);
        put32(c, 12, queueSize - 2);
        put32(c, 20, BlockRequest.SECTOR);
        c[32] = (byte) (options.cache().writebackCache() ? 1 : 0);
        put16(c, 34, queueCount);
        put32(c, 36, MAX_DISCARD_SECTORS);
        put32(c, 40, 1);
        put32(c, 44, 1);
        put32(c, 48, MAX_DISCARD_SECTORS);
        put32(c, 52, 1);
        c[56] = (byte) (options.discard() ? 1 : 0);
        return VirtioDevice.configBytes(c, offset, size);
    }

    @Override
    public void writeConfig(int offset, int size, long value) {
        // Only the writeback byte is writable, and only with CONFIG_WCE, which is not offered.
    }

    private static void put16(byte[] b, int at, long v) {
        b[at] = (byte) v;
        b[at + 1] = (byte) (v >>> 8);
    }

    private static void put32(byte[] b, int at, long v) {
        put16(b, at, v);
        put16(b, at + 2, v >>> 16);
    }

    private static void put64(byte[] b, int at, long v) {
        put32(b, at, v);
        put32(b, at + 4, v >>> 32);
    }

    // ---- lifecycle ----

    @Override
    public void activate(VirtioContext ctx) {
        synchronized (lifecycle) {
            context = ctx;
            stopping = false;
            pool = new ArrayBlockingQueue<>(queueSize * queueCount + 16);
            boolean uring = options.aio().equals("io_uring");
            for (int q = 0; q < queueCount; q++) {
                if (ctx.queue(q).isEnabled()) {
                    int queue = q;
                    Runnable body = uring ? () -> new UringQueueWorker(this, ctx, queue, image, limits).run() : () -> dispatch(queue);
                    threads.add(Thread.ofPlatform().name(name() + "-q" + q).daemon(true).start(body));
                }
            }
            for (int i = 0; !uring && i < ioThreads; i++) {
                threads.add(Thread.ofPlatform().name(name() + "-io" + i).daemon(true).start(this::ioWorker));
            }
        }
    }

    /**
     * Stops the dispatchers and I/O threads and waits for them: a request already running finishes,
     * queued ones are dropped (the driver reset abandons them). Afterwards no thread of this device
     * touches guest memory.
     */
    @Override
    public void reset() {
        List<Thread> toJoin;
        synchronized (lifecycle) {
            if (context == null) {
                return;
            }
            stopping = true;
            for (int q = 0; q < queueCount; q++) {
                context.doorbell(q).signal();
            }
            toJoin = new ArrayList<>(threads);
            threads.clear();
        }
        for (Thread t : toJoin) {
            t.interrupt();
            Threads.joinUninterruptibly(t);
        }
        synchronized (lifecycle) {
            context = null;
            pool = null;
        }
    }

    @Override
    public void close() {
        reset();
        image.close();
    }

    // ---- request processing ----

    boolean stopping() {
        return stopping;
    }

    /** Runs a request on the calling thread and completes it. */
    void runNow(VirtioContext ctx, int q, BlockRequest request, IoContext io) {
        complete(ctx, q, request, execute(request, io));
    }

    /** Completes a request an asynchronous engine ran: {@code result} is bytes moved, or -errno. */
    void completeAsync(VirtioContext ctx, int q, BlockRequest request, int result, long expected) {
        boolean ok = result >= 0 && result == expected;
        switch (request) {
            case BlockRequest.Read r -> {
                metrics.reads.increment();
                metrics.readBytes.add(r.bytes());
            }
            case BlockRequest.Write w -> {
                metrics.writes.increment();
                metrics.writeBytes.add(w.bytes());
            }
            case BlockRequest.Flush f -> metrics.flushes.increment();
            default -> {
            }
        }
        if (!ok) {
            metrics.ioErrors.increment();
        }
        long data = request instanceof BlockRequest.Read r && ok ? r.bytes() : 0;
        complete(ctx, q, request, ok ? result(BlockRequest.S_OK, data) : result(BlockRequest.S_IOERR, 0));
    }

    private void dispatch(int q) {
        VirtioContext ctx = context;
        SplitVirtqueue queue = ctx.queue(q);
        EventFd doorbell = ctx.doorbell(q);
        try (Arena arena = Arena.ofConfined(); IoContext io = new IoContext()) {
            EventFd.Reader reader = doorbell.reader(arena);
            while (!stopping) {
                drain(ctx, q, queue, io);
                if (stopping || reader.read() < 0) {
                    return;
                }
            }
        } catch (VirtqueueViolation v) {
            ctx.fail("virtio-blk " + id + " queue " + q + ": " + v.getMessage());
        } catch (RuntimeException e) {
            ctx.fail("virtio-blk " + id + " queue " + q + ": " + e);
        }
    }

    private void drain(VirtioContext ctx, int q, SplitVirtqueue queue, IoContext io) throws VirtqueueViolation {
        DescriptorChain chain;
        while (!stopping && (chain = queue.pop()) != null) {
            BlockRequest request = BlockRequest.parse(chain, limits);
            if (ioThreads > 0 && queue.hasAvailable()) {
                // More are waiting: hand this one to the pool so the requests overlap.
                BlockRequest r = request;
                if (!pool.offer(() -> complete(ctx, q, r, execute(r, currentIo())))) {
                    complete(ctx, q, request, execute(request, io));
                }
            } else {
                complete(ctx, q, request, execute(request, io));
            }
        }
    }

    private static final ThreadLocal<IoContext> IO = new ThreadLocal<>();

    private static IoContext currentIo() {
        return IO.get();
    }

    private void ioWorker() {
        try (IoContext io = new IoContext()) {
            IO.set(io);
            while (!stopping) {
                Runnable task;
                try {
                    task = pool.take();
                } catch (InterruptedException e) {
                    return;
                }
                task.run();
            }
        } finally {
            IO.remove();
        }
    }

    /**
     * Runs a request against the image; returns the status byte and, above it, bytes written to
     * the guest. An image must not throw, but if one does, only this request fails.
     */
    private long execute(BlockRequest request, IoContext io) {
        try {
            return executeChecked(request, io);
        } catch (RuntimeException e) {
            return ioError();
        }
    }

    private long executeChecked(BlockRequest request, IoContext io) {
        return switch (request) {
            case BlockRequest.Read r -> {
                int e = image.read(r.offset(), r.buffers(), r.buffers().length, io);
                metrics.reads.increment();
                metrics.readBytes.add(r.bytes());
                yield e == 0 ? result(BlockRequest.S_OK, r.bytes()) : ioError();
            }
            case BlockRequest.Write w -> {
                int e = image.write(w.offset(), w.buffers(), w.buffers().length, io);
                metrics.writes.increment();
                metrics.writeBytes.add(w.bytes());
                yield e == 0 ? result(BlockRequest.S_OK, 0) : ioError();
            }
            case BlockRequest.Flush f -> {
                metrics.flushes.increment();
                yield image.flush(io) == 0 ? result(BlockRequest.S_OK, 0) : ioError();
            }
            case BlockRequest.GetId g -> {
                byte[] idBytes = new byte[BlockRequest.ID_BYTES];
                System.arraycopy(serial, 0, idBytes, 0, Math.min(serial.length, idBytes.length));
                int n = (int) Math.min(BlockRequest.ID_BYTES, g.chain().writableBytes() - 1);
                g.chain().write(0, idBytes, 0, n);
                yield result(BlockRequest.S_OK, n);
            }
            case BlockRequest.Discard d -> {
                metrics.discards.increment();
                int e = 0;
                for (int i = 0; i < d.offsets().length && e == 0; i++) {
                    e = d.zeroes() ? image.writeZeroes(d.offsets()[i], d.lengths()[i], d.unmap(), io)
                            : image.discard(d.offsets()[i], d.lengths()[i], io);
                }
                yield e == 0 ? result(BlockRequest.S_OK, 0) : ioError();
            }
            case BlockRequest.Rejected r -> {
                metrics.rejected.increment();
                yield result(r.status(), 0);
            }
        };
    }

    private long ioError() {
        metrics.ioErrors.increment();
        return result(BlockRequest.S_IOERR, 0);
    }

    private static long result(int status, long dataWritten) {
        return status | ((dataWritten + 1) << 8);
    }

    private void complete(VirtioContext ctx, int q, BlockRequest request, long result) {
        ctx.memory().write8(request.statusAddress(), (int) (result & 0xff));
        ctx.queue(q).addUsed(request.chain().head(), (int) (result >>> 8));
        ctx.notifyQueue(q);
    }
}
