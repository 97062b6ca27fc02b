package dev.jkvm.devices.virtio;

import dev.jkvm.vmm.device.EventFd;
import dev.jkvm.vmm.device.InterruptLine;
import dev.jkvm.vmm.device.IoEventController;
import dev.jkvm.vmm.device.MsiController;
import dev.jkvm.vmm.device.MsiVector;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/** Recording fakes of the VM's interrupt and doorbell services. */
public final class FakeMsi implements MsiController {
    public final List<Vector> vectors = new CopyOnWriteArrayList<>();

    public static final class Vector implements MsiVector {
        public final String owner;
        public volatile long address;
        public volatile int data;
        public final AtomicInteger routes = new AtomicInteger();
        public final AtomicInteger triggers = new AtomicInteger();
        public volatile boolean closed;

        Vector(String owner) {
            this.owner = owner;
        }

        @Override
        public void route(long a, int d) {
            address = a;
            data = d;
            routes.incrementAndGet();
        }

        @Override
        public void trigger() {
            if (closed) {
                throw new IllegalStateException("trigger after close");
            }
            triggers.incrementAndGet();
        }

        @Override
        public EventFd eventFd() {
            throw new UnsupportedOperationException();
        }

        @Override
        public void close() {
            closed = true;
        }
    }

    @Override
    public MsiVector allocate(String owner) {
        Vector v = new Vector(owner);
        vectors.add(v);
        return v;
    }

    /** The vector whose message data is {@code data} (tests program each table entry with a distinct one). */
    public Vector byData(int data) {
        for (Vector v : vectors) {
            if (v.data == data) {
                return v;
            }
        }
        throw new AssertionError("no MSI vector routed with data " + data);
    }

    public int triggers(int data) {
        for (Vector v : vectors) {
            if (v.data == data) {
                return v.triggers.get();
            }
        }
        return 0;
    }

    /** An INTx line that records its level and how often it was raised. */
    public static final class Line implements InterruptLine {
        public volatile boolean level;
        public final AtomicInteger raised = new AtomicInteger();

        @Override
        public synchronized void set(boolean l) {
            if (l && !level) {
                raised.incrementAndGet();
            }
            level = l;
        }
    }

    /** Records ioeventfd registrations. */
    public static final class IoEvents implements IoEventController {
        public record Reg(long address, int length, boolean pio, Long dataMatch, EventFd eventFd, boolean[] closed)
                implements Registration {
            @Override
            public void close() {
                closed[0] = true;
            }

            public boolean isClosed() {
                return closed[0];
            }
        }

        public final List<Reg> registrations = new CopyOnWriteArrayList<>();
        public volatile boolean fail;

        @Override
        public Registration register(long address, int length, boolean pio, Long dataMatch, EventFd eventFd) {
            if (fail) {
                throw new IllegalStateException("KVM_IOEVENTFD failed");
            }
            Reg r = new Reg(address, length, pio, dataMatch, eventFd, new boolean[1]);
            registrations.add(r);
            return r;
        }

        public List<Reg> open() {
            return registrations.stream().filter(r -> !r.isClosed()).toList();
        }
    }
}
