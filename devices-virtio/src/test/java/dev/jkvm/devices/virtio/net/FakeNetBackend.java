package dev.jkvm.devices.virtio.net;

import dev.jkvm.backends.net.NetBackend;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingDeque;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A NetBackend that records what the device sends and what it calls, and delivers injected frames
 * the way a real backend does: on its own thread, from native memory, keeping a refused frame
 * until {@link #wakeup()}.
 */
final class FakeNetBackend implements NetBackend {
    /** One frame the device sent: its bytes (segments concatenated) and how many segments it came in. */
    record Sent(byte[] bytes, int segments, boolean allNative) {
    }

    final String name;
    private final Offloads offloads;
    final List<Sent> sent = new CopyOnWriteArrayList<>();
    final List<String> calls = new CopyOnWriteArrayList<>();
    final AtomicInteger starts = new AtomicInteger();
    final AtomicInteger wakeups = new AtomicInteger();
    final AtomicInteger refusals = new AtomicInteger();
    final AtomicInteger delivered = new AtomicInteger();
    final AtomicInteger concurrentSends = new AtomicInteger();
    volatile int maxConcurrentSends;
    volatile boolean refuseSends;
    volatile Receiver receiver;
    volatile boolean closed;
    private final LinkedBlockingDeque<byte[]> pending = new LinkedBlockingDeque<>();
    private final Object wake = new Object();
    private boolean woken;
    private volatile boolean busy;
    private Thread thread;

    FakeNetBackend(String name, Offloads offloads) {
        this.name = name;
        this.offloads = offloads;
    }

    FakeNetBackend(Offloads offloads) {
        this("fake", offloads);
    }

    /** Queues a frame for the delivery thread. */
    void inject(byte[] frame) {
        pending.add(frame);
    }

    /** Nothing queued and nothing being offered. */
    boolean idle() {
        return pending.isEmpty() && !busy;
    }

    @Override
    public synchronized void start(Receiver r) {
        starts.incrementAndGet();
        calls.add("start");
        receiver = r;
        if (thread == null) {
            thread = Thread.ofPlatform().name("fake-backend-" + name).daemon(true).start(this::deliver);
        }
    }

    private void deliver() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(128 * 1024, 64);
            while (!closed) {
                byte[] f = pending.poll(20, TimeUnit.MILLISECONDS);
                if (f == null) {
                    continue;
                }
                busy = true;
                MemorySegment frame = buf.asSlice(0, f.length);
                MemorySegment.copy(f, 0, frame, ValueLayout.JAVA_BYTE, 0, f.length);
                while (!closed) {
                    synchronized (wake) {
                        woken = false;
                    }
                    if (receiver.receive(frame)) {
                        delivered.incrementAndGet();
                        break;
                    }
                    refusals.incrementAndGet();
                    synchronized (wake) {
                        while (!woken && !closed) {
                            wake.wait(20);
                        }
                    }
                }
                busy = false;
            }
        } catch (InterruptedException e) {
            // closing
        }
    }

    @Override
    public void wakeup() {
        wakeups.incrementAndGet();
        synchronized (wake) {
            woken = true;
            wake.notifyAll();
        }
    }

    @Override
    public boolean send(MemorySegment[] buffers, int count) {
        int now = concurrentSends.incrementAndGet();
        maxConcurrentSends = Math.max(maxConcurrentSends, now);
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            boolean allNative = true;
            for (int i = 0; i < count; i++) {
                out.writeBytes(buffers[i].toArray(ValueLayout.JAVA_BYTE));
                allNative &= buffers[i].isNative();
            }
            if (refuseSends) {
                return false;
            }
            sent.add(new Sent(out.toByteArray(), count, allNative));
            return true;
        } finally {
            concurrentSends.decrementAndGet();
        }
    }

    @Override
    public Offloads offloads() {
        return offloads;
    }

    @Override
    public void useVnetHeader(int headerBytes) {
        calls.add("useVnetHeader(" + headerBytes + ")");
    }

    @Override
    public void setReceiveOffloads(Offloads accepted) {
        calls.add("setReceiveOffloads(" + accepted + ")");
    }

    @Override
    public long dropped() {
        return 0;
    }

    @Override
    public void close() {
        closed = true;
        Thread t;
        synchronized (this) {
            t = thread;
        }
        if (t != null) {
            try {
                t.join(5000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
