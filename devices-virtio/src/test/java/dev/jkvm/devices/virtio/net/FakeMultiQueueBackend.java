package dev.jkvm.devices.virtio.net;

import dev.jkvm.backends.net.MultiQueueNetBackend;
import dev.jkvm.backends.net.NetBackend;

import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/** A multi-queue backend made of {@link FakeNetBackend}s, one per queue pair; records setActiveQueues. */
final class FakeMultiQueueBackend implements MultiQueueNetBackend {
    final FakeNetBackend[] queues;
    final List<Integer> activeQueues = new CopyOnWriteArrayList<>();
    final List<String> calls = new CopyOnWriteArrayList<>();
    private final Offloads offloads;

    FakeMultiQueueBackend(int count, Offloads offloads) {
        this.offloads = offloads;
        queues = new FakeNetBackend[count];
        for (int i = 0; i < count; i++) {
            queues[i] = new FakeNetBackend("q" + i, offloads);
        }
    }

    @Override
    public int queueCount() {
        return queues.length;
    }

    @Override
    public NetBackend queue(int index) {
        return queues[index];
    }

    @Override
    public void setActiveQueues(int count) {
        activeQueues.add(count);
    }

    @Override
    public void start(Receiver receiver) {
        queues[0].start(receiver);
    }

    @Override
    public void wakeup() {
        queues[0].wakeup();
    }

    @Override
    public boolean send(MemorySegment[] buffers, int count) {
        return queues[0].send(buffers, count);
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
        for (FakeNetBackend q : queues) {
            q.close();
        }
    }
}
