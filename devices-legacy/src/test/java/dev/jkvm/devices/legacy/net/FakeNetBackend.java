package dev.jkvm.devices.legacy.net;

import dev.jkvm.backends.net.NetBackend;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/** A backend that records what the device sends and offers frames to it on request. */
final class FakeNetBackend implements NetBackend {
    final List<byte[]> sent = new CopyOnWriteArrayList<>();
    final AtomicInteger wakeups = new AtomicInteger();
    final AtomicInteger starts = new AtomicInteger();
    volatile boolean allNative = true;
    volatile boolean refuseSends;
    volatile Receiver receiver;

    @Override
    public void start(Receiver r) {
        starts.incrementAndGet();
        receiver = r;
    }

    @Override
    public void wakeup() {
        wakeups.incrementAndGet();
    }

    @Override
    public boolean send(MemorySegment[] buffers, int count) {
        long total = 0;
        for (int i = 0; i < count; i++) {
            total += buffers[i].byteSize();
            allNative &= buffers[i].isNative();
        }
        byte[] b = new byte[(int) total];
        int at = 0;
        for (int i = 0; i < count; i++) {
            int n = (int) buffers[i].byteSize();
            MemorySegment.copy(buffers[i], ValueLayout.JAVA_BYTE, 0, b, at, n);
            at += n;
        }
        if (refuseSends) {
            return false;
        }
        sent.add(b);
        return true;
    }

    /** Offers a frame the way a backend thread does (from native memory). */
    boolean offer(byte[] frame) {
        MemorySegment s = Arena.ofAuto().allocate(Math.max(1, frame.length));
        MemorySegment.copy(frame, 0, s, ValueLayout.JAVA_BYTE, 0, frame.length);
        return receiver.receive(s.asSlice(0, frame.length));
    }

    @Override
    public Offloads offloads() {
        return Offloads.NONE;
    }

    @Override
    public void useVnetHeader(int headerBytes) {
        throw new UnsupportedOperationException("e1000 never uses the vnet header");
    }

    @Override
    public long dropped() {
        return 0;
    }

    @Override
    public void close() {
    }
}
