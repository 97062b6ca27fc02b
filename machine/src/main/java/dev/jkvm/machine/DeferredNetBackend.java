package dev.jkvm.machine;

import dev.jkvm.backends.net.NetBackend;

import java.lang.foreign.MemorySegment;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * A backend opened the first time its NIC starts it or sends through it. Used for QEMU's
 * default network, which every command line without network options gets: the guests that never
 * drive the NIC (most short test runs) should not pay libslirp's binding and thread at start-up.
 *
 * <p>If opening fails (libslirp went away, slirp refused), the failure is reported once and the
 * NIC behaves as if its cable were unplugged: frames it sends are dropped and counted.
 */
final class DeferredNetBackend implements NetBackend {
    private final Supplier<NetBackend> opener;
    private final Consumer<String> notices;
    private NetBackend delegate;
    private boolean failed;
    private boolean closed;
    private long droppedWithoutBackend;

    DeferredNetBackend(Supplier<NetBackend> opener, Consumer<String> notices) {
        this.opener = opener;
        this.notices = notices;
    }

    /** The backend, opened now if it was not yet; null when opening failed or after close. */
    private synchronized NetBackend backend() {
        if (delegate == null && !failed && !closed) {
            try {
                delegate = opener.get();
            } catch (RuntimeException e) {
                failed = true;
                notices.accept("cannot open the default user network, the NIC stays unplugged: " + e.getMessage());
            }
        }
        return delegate;
    }

    /** The backend if it is already open, without opening it. */
    private synchronized NetBackend opened() {
        return delegate;
    }

    @Override
    public void start(Receiver receiver) {
        NetBackend b = backend();
        if (b != null) {
            b.start(receiver);
        }
    }

    @Override
    public void wakeup() {
        NetBackend b = opened();
        if (b != null) {
            b.wakeup();
        }
    }

    @Override
    public boolean send(MemorySegment[] buffers, int count) {
        NetBackend b = backend();
        if (b == null) {
            synchronized (this) {
                droppedWithoutBackend++;
            }
            return false;
        }
        return b.send(buffers, count);
    }

    /** User networking passes no virtio-net header, so it offers no offloads. */
    @Override
    public Offloads offloads() {
        return Offloads.NONE;
    }

    @Override
    public void useVnetHeader(int headerBytes) {
        if (headerBytes != 0) {
            throw new IllegalStateException("user networking has no virtio-net header");
        }
    }

    @Override
    public long dropped() {
        NetBackend b = opened();
        synchronized (this) {
            return droppedWithoutBackend + (b != null ? b.dropped() : 0);
        }
    }

    @Override
    public void close() {
        NetBackend b;
        synchronized (this) {
            closed = true;
            b = delegate;
            delegate = null;
        }
        if (b != null) {
            b.close();
        }
    }
}
