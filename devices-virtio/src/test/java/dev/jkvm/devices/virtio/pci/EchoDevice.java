package dev.jkvm.devices.virtio.pci;

import dev.jkvm.devices.virtio.VirtioContext;
import dev.jkvm.devices.virtio.VirtioDevice;
import dev.jkvm.devices.virtio.queue.DescriptorChain;
import dev.jkvm.devices.virtio.queue.SplitVirtqueue;
import dev.jkvm.devices.virtio.queue.VirtqueueViolation;
import dev.jkvm.vmm.device.EventFd;

import java.lang.foreign.Arena;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A test device: when active it serves queue 0 by copying each chain's readable bytes into its
 * writable bytes. It records activate and reset, and a test can make reset() wait on a latch.
 */
final class EchoDevice implements VirtioDevice {
    static final int ID = 42;
    static final int QUEUES = 3;
    static final int MAX_SIZE = 16;
    static final long FEATURE_A = 1L << 0;
    /** Offered, but acceptFeatures() refuses a driver that takes it. */
    static final long FEATURE_REFUSED = 1L << 1;
    static final long FEATURE_HIGH = 1L << 40;

    final AtomicInteger activations = new AtomicInteger();
    final AtomicInteger resets = new AtomicInteger();
    final AtomicInteger closes = new AtomicInteger();
    final List<long[]> configWrites = new CopyOnWriteArrayList<>();
    final CountDownLatch resetEntered = new CountDownLatch(1);
    volatile CountDownLatch resetGate;
    volatile VirtioContext context;
    private volatile boolean stopping;
    private Thread worker;

    @Override
    public int deviceId() {
        return ID;
    }

    @Override
    public String name() {
        return "echo";
    }

    @Override
    public int pciClass() {
        return 0xff0000;
    }

    @Override
    public long deviceFeatures() {
        return FEATURE_A | FEATURE_REFUSED | FEATURE_HIGH;
    }

    @Override
    public int queueCount() {
        return QUEUES;
    }

    @Override
    public int queueMaxSize() {
        return MAX_SIZE;
    }

    @Override
    public int configSize() {
        return 8;
    }

    @Override
    public long readConfig(int offset, int size) {
        long config = 0x8877665544332211L;
        return (config >>> (8 * offset)) & (size >= 8 ? -1L : (1L << (8 * size)) - 1);
    }

    @Override
    public void writeConfig(int offset, int size, long value) {
        configWrites.add(new long[] {offset, size, value});
    }

    @Override
    public boolean acceptFeatures(long features) {
        return (features & FEATURE_REFUSED) == 0;
    }

    @Override
    public synchronized void activate(VirtioContext ctx) {
        activations.incrementAndGet();
        context = ctx;
        stopping = false;
        if (ctx.queue(0).isEnabled()) {
            worker = Thread.ofPlatform().name("echo-q0").daemon(true).start(() -> serve(ctx));
        }
    }

    private void serve(VirtioContext ctx) {
        SplitVirtqueue q = ctx.queue(0);
        try (Arena arena = Arena.ofConfined()) {
            EventFd.Reader reader = ctx.doorbell(0).reader(arena);
            while (!stopping) {
                DescriptorChain c;
                while ((c = q.pop()) != null) {
                    int n = (int) Math.min(c.readableBytes(), c.writableBytes());
                    byte[] buf = new byte[n];
                    c.read(0, buf, 0, n);
                    c.write(0, buf, 0, n);
                    q.addUsed(c.head(), n);
                    ctx.notifyQueue(0);
                }
                if (stopping || reader.read() < 0) {
                    return;
                }
            }
        } catch (VirtqueueViolation v) {
            ctx.fail("echo: " + v.getMessage());
        }
    }

    @Override
    public void reset() {
        resetEntered.countDown();
        CountDownLatch gate = resetGate;
        if (gate != null) {
            try {
                if (!gate.await(30, TimeUnit.SECONDS)) {
                    throw new AssertionError("reset gate never opened");
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        Thread t;
        synchronized (this) {
            stopping = true;
            t = worker;
            worker = null;
        }
        if (t != null) {
            context.doorbell(0).signal();
            try {
                t.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        context = null;
        resets.incrementAndGet();
    }

    @Override
    public void close() {
        closes.incrementAndGet();
    }
}
