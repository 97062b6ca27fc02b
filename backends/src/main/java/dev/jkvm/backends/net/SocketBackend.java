package dev.jkvm.backends.net;

import dev.jkvm.os.Errno;
import dev.jkvm.os.Libc;
import dev.jkvm.os.NativeException;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * -netdev socket,listen=[host]:port | connect=host:port: Ethernet frames over one TCP stream in
 * QEMU's format, each frame preceded by its length as a 4-byte big-endian number, so two jkvm
 * instances, or jkvm and QEMU, share a virtual wire. No vnet header travels (offloads NONE).
 *
 * <p>One I/O thread per backend accepts the peer (listen: in the background, so the VM starts at
 * once; frames from the guest are dropped until a peer is there, and after the peer leaves the
 * backend waits for the next one, as QEMU does), reads the stream, cuts it into frames and offers
 * them to the device. Frames the device refused wait in a bounded {@link FrameQueue}; while it is
 * full the socket is not read, so TCP holds the peer back.
 *
 * <p>Send: one non-blocking sendmsg per frame from the guest's buffers, from the caller's thread.
 * If the socket takes only part of a frame, the rest (and frames after it, up to a bound) is copied
 * to a backlog that the I/O thread writes out when the socket drains; a frame that finds the
 * backlog full is dropped. A device thread never blocks on a slow peer.
 */
public final class SocketBackend implements NetBackend {
    /** The largest frame QEMU accepts from a stream (NET_BUFSIZE); a longer length ends the connection. */
    public static final int MAX_FRAME = 4096 + 65536;
    private static final int STREAM_BYTES = 2 * (MAX_FRAME + 4);
    private static final int RX_RING_BYTES = 4 * MAX_FRAME;
    private static final int RX_MAX_FRAMES = 256;
    private static final int BACKLOG_BYTES = 4 * (MAX_FRAME + 4);
    private static final ValueLayout.OfInt BE_INT = JAVA_INT.withOrder(ByteOrder.BIG_ENDIAN).withByteAlignment(1);

    private final String description;
    private final int listenFd;
    private final boolean listening;
    private final Consumer<String> notices;
    private final EventSignal signal = new EventSignal();
    private final AtomicBoolean wakeRequested = new AtomicBoolean();
    private final AtomicLong dropped = new AtomicLong();
    private final Object state = new Object();
    private final Thread thread;
    private volatile Receiver receiver;
    private volatile boolean stopping;
    private volatile boolean closed;
    /** The connected stream, or -1; changed under {@link #txLock} (send reads it under the lock). */
    private volatile int connFd;
    private int connections;

    private final ReentrantLock txLock = new ReentrantLock();
    private final Arena txArena = Arena.ofShared();
    /** Bytes accepted from send() that the socket has not taken yet: [backlogStart, backlogEnd). */
    private final MemorySegment backlog = txArena.allocate(BACKLOG_BYTES, 64);
    private int backlogStart;
    private int backlogEnd;
    private int backlogFrames;

    private SocketBackend(String description, int listenFd, int connFd, Consumer<String> notices) {
        this.description = description;
        this.listenFd = listenFd;
        this.listening = listenFd >= 0;
        this.connFd = connFd;
        this.connections = connFd >= 0 ? 1 : 0;
        this.notices = notices;
        this.thread = Thread.ofPlatform().daemon().name("net-socket-" + description).start(this::ioLoop);
    }

    /** listen=[host]:port: waits for one peer in the background; an empty host means every address. */
    public static SocketBackend listen(String address, Consumer<String> notices) {
        Endpoint ep = Endpoint.parse(address, true);
        int fd = Libc.socket(ep.family(), Libc.SOCK_STREAM | Libc.SOCK_NONBLOCK | Libc.SOCK_CLOEXEC, 0);
        try (Arena arena = Arena.ofConfined()) {
            Libc.setsockoptInt(fd, Libc.SOL_SOCKET, Libc.SO_REUSEADDR, 1);
            int e = Libc.bind(fd, ep.sockaddr(arena));
            if (e != 0) {
                throw new NetBackendException("cannot listen on " + address + ": " + Errno.describe(e));
            }
            Libc.listen(fd, 1);
        } catch (RuntimeException e) {
            Libc.closeQuietly(fd);
            throw e instanceof NativeException n ? new NetBackendException("cannot listen on " + address + ": " + n.getMessage()) : e;
        }
        return new SocketBackend("listen=" + address, fd, -1, notices);
    }

    /** connect=host:port: fails, as QEMU does, when nobody answers within {@code timeout}. */
    public static SocketBackend connect(String address, Duration timeout, Consumer<String> notices) {
        Endpoint ep = Endpoint.parse(address, false);
        int fd = Libc.socket(ep.family(), Libc.SOCK_STREAM | Libc.SOCK_NONBLOCK | Libc.SOCK_CLOEXEC, 0);
        try (Arena arena = Arena.ofConfined()) {
            int e = Libc.connect(fd, ep.sockaddr(arena));
            if (e == Errno.EINPROGRESS) {
                MemorySegment pollfd = arena.allocate(8, 8);
                pollfd.set(JAVA_INT, 0, fd);
                pollfd.set(JAVA_SHORT, 4, (short) Libc.POLLOUT);
                long deadline = System.nanoTime() + timeout.toNanos();
                int ready;
                do {
                    ready = Libc.poll(pollfd, 1, (int) Math.max(0, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
                } while (ready < 0 && System.nanoTime() < deadline);
                if (ready <= 0) {
                    throw new NetBackendException("cannot connect to " + address + ": no answer within " + timeout.toSeconds() + " s");
                }
                e = Libc.getsockoptInt(fd, Libc.SOL_SOCKET, Libc.SO_ERROR);
            }
            if (e != 0) {
                throw new NetBackendException("cannot connect to " + address + ": " + Errno.describe(e));
            }
            Libc.setsockoptInt(fd, Libc.IPPROTO_TCP, Libc.TCP_NODELAY, 1);
        } catch (RuntimeException e) {
            Libc.closeQuietly(fd);
            throw e instanceof NativeException n ? new NetBackendException("cannot connect to " + address + ": " + n.getMessage()) : e;
        }
        return new SocketBackend("connect=" + address, -1, fd, notices);
    }

    /** The port a listening backend is bound to (the kernel's choice for port 0), or -1. */
    public int localPort() {
        if (!listening) {
            return -1;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment addr = arena.allocate(28, 8);
            Libc.getsockname(listenFd, addr);
            return Short.toUnsignedInt(addr.get(JAVA_SHORT.withOrder(ByteOrder.BIG_ENDIAN), 2));
        }
    }

    /** Whether a peer is connected now. */
    public boolean isConnected() {
        return connFd >= 0;
    }

    /** Waits until a peer is connected; false on timeout. */
    public boolean awaitConnected(Duration timeout) throws InterruptedException {
        return awaitState(timeout, true);
    }

    /** Waits until no peer is connected; false on timeout. */
    public boolean awaitDisconnected(Duration timeout) throws InterruptedException {
        return awaitState(timeout, false);
    }

    private boolean awaitState(Duration timeout, boolean connected) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (state) {
            while (isConnected() != connected) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                TimeUnit.NANOSECONDS.timedWait(state, left);
            }
            return true;
        }
    }

    /** Peers accepted or connected so far. */
    public int connections() {
        synchronized (state) {
            return connections;
        }
    }

    @Override
    public void start(Receiver receiver) {
        if (closed) {
            throw new IllegalStateException("socket backend " + description + " is closed");
        }
        this.receiver = receiver;
        wakeup();
    }

    @Override
    public void wakeup() {
        if (!wakeRequested.getAndSet(true)) {
            signal.signal();
        }
    }

    @Override
    public boolean send(MemorySegment[] buffers, int count) {
        long length = 0;
        for (int i = 0; i < count; i++) {
            length += buffers[i].byteSize();
        }
        if (length == 0 || length > MAX_FRAME || count + 1 > Libc.IOV_MAX) {
            dropped.incrementAndGet();
            return false;
        }
        txLock.lock();
        try {
            int fd = connFd;
            if (fd < 0 || closed) {
                dropped.incrementAndGet();
                return false;
            }
            if (backlogEnd > backlogStart) {
                // The stream already has bytes waiting: this frame goes behind them.
                if (!appendToBacklog(buffers, count, (int) length, 0)) {
                    dropped.incrementAndGet();
                    return false;
                }
                return true;
            }
            TxScratch tx = TxScratch.get();
            tx.prefix.set(BE_INT, 0, (int) length);
            MemorySegment iov = tx.iov(count + 1);
            TxScratch.setIov(iov, 0, tx.prefix.address(), 4);
            for (int i = 0; i < count; i++) {
                MemorySegment s = buffers[i];
                if (!s.isNative()) {
                    throw new IllegalArgumentException("frames are sent from native memory (guest RAM), not a heap segment");
                }
                TxScratch.setIov(iov, i + 1, s.address(), s.byteSize());
            }
            long sent = Libc.sendmsgRaw(tx.callState, fd, tx.msghdr(iov, count + 1), Libc.MSG_DONTWAIT | Libc.MSG_NOSIGNAL);
            if (sent < 0) {
                int e = Libc.errno(tx.callState);
                if (e != Errno.EAGAIN && e != Errno.EINTR) {
                    // The peer is gone; the I/O thread sees the hang-up and closes the stream.
                    dropped.incrementAndGet();
                    return false;
                }
                sent = 0;
            }
            if (sent == length + 4) {
                return true;
            }
            // Part of the frame is in the stream: the rest must follow it before anything else.
            appendToBacklog(buffers, count, (int) length, (int) sent);
            signal.signal();
            return true;
        } finally {
            txLock.unlock();
        }
    }

    /** Copies the frame's bytes from {@code skip} on (prefix included) behind the backlog; under txLock. */
    private boolean appendToBacklog(MemorySegment[] buffers, int count, int length, int skip) {
        int need = length + 4 - skip;
        if (BACKLOG_BYTES - backlogEnd < need && backlogStart > 0) {
            MemorySegment.copy(backlog, backlogStart, backlog, 0, backlogEnd - backlogStart);
            backlogEnd -= backlogStart;
            backlogStart = 0;
        }
        if (BACKLOG_BYTES - backlogEnd < need) {
            return false;
        }
        int at = backlogEnd;
        for (int i = 0; i < 4; i++) {
            if (i >= skip) {
                backlog.set(JAVA_BYTE, at++, (byte) (length >>> (24 - 8 * i)));
            }
        }
        long offset = 4;
        for (int i = 0; i < count; i++) {
            MemorySegment s = buffers[i];
            long from = Math.max(0, skip - offset);
            if (from < s.byteSize()) {
                MemorySegment.copy(s, from, backlog, at, s.byteSize() - from);
                at += (int) (s.byteSize() - from);
            }
            offset += s.byteSize();
        }
        backlogEnd = at;
        backlogFrames++;
        return true;
    }

    @Override
    public Offloads offloads() {
        return Offloads.NONE;
    }

    @Override
    public void useVnetHeader(int headerBytes) {
        if (headerBytes != 0) {
            throw new IllegalStateException("-netdev socket carries no virtio-net header");
        }
    }

    @Override
    public long dropped() {
        return dropped.get();
    }

    @Override
    public void close() {
        synchronized (state) {
            if (closed) {
                return;
            }
            closed = true;
        }
        stopping = true;
        signal.signal();
        try {
            thread.join(TimeUnit.SECONDS.toMillis(10));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        txLock.lock();
        try {
            Libc.closeQuietly(connFd);
            connFd = -1;
            Libc.closeQuietly(listenFd);
            txArena.close();
        } finally {
            txLock.unlock();
        }
        signal.close();
    }

    // ---- the I/O thread ----

    private void ioLoop() {
        try (Arena arena = Arena.ofConfined()) {
            Reader reader = new Reader(arena);
            while (!stopping) {
                reader.step();
            }
        } catch (RuntimeException e) {
            notices.accept("socket backend " + description + " failed: " + e);
        }
    }

    /** State the I/O thread owns. */
    private final class Reader {
        final MemorySegment callState;
        final MemorySegment pollfds;
        final MemorySegment scratch;
        final MemorySegment stream;
        final MemorySegment flushIov;
        final MemorySegment flushMsg;
        final FrameQueue pending;
        int streamLength;
        boolean blocked = true;
        boolean reportedReceiverFailure;

        Reader(Arena arena) {
            callState = Libc.allocateCallState(arena);
            pollfds = arena.allocate(16, 8);
            scratch = arena.allocate(8, 8);
            stream = arena.allocate(STREAM_BYTES, 64);
            flushIov = arena.allocate(16, 8);
            flushMsg = arena.allocate(Libc.MSGHDR_BYTES, 8);
            pending = new FrameQueue(arena, RX_RING_BYTES, RX_MAX_FRAMES);
        }

        void step() {
            if (wakeRequested.get() && wakeRequested.getAndSet(false)) {
                blocked = false;
            }
            do {
                deliver();
            } while (cutFrames());
            int fd = connFd;
            int events = 0;
            int pollFd = -1;
            if (fd >= 0) {
                pollFd = fd;
                events = (streamLength < STREAM_BYTES ? Libc.POLLIN : 0) | (backlogPending() ? Libc.POLLOUT : 0);
            } else if (listening) {
                pollFd = listenFd;
                events = Libc.POLLIN;
            }
            pollfds.set(JAVA_INT, 0, signal.fd());
            pollfds.set(JAVA_SHORT, 4, (short) Libc.POLLIN);
            pollfds.set(JAVA_SHORT, 6, (short) 0);
            // With no events asked, poll still reports a hang-up: that ends the stream as it should.
            pollfds.set(JAVA_INT, 8, pollFd);
            pollfds.set(JAVA_SHORT, 12, (short) events);
            pollfds.set(JAVA_SHORT, 14, (short) 0);
            if (Libc.poll(pollfds, 2, -1) <= 0) {
                return;
            }
            if (pollfds.get(JAVA_SHORT, 6) != 0) {
                signal.drain(callState, scratch);
            }
            short revents = pollfds.get(JAVA_SHORT, 14);
            if (revents == 0 || stopping) {
                return;
            }
            if (fd < 0) {
                accept();
                return;
            }
            if ((revents & Libc.POLLOUT) != 0) {
                flush(fd);
            }
            if ((revents & Libc.POLLIN) != 0 || (revents & (Libc.POLLERR | Libc.POLLHUP)) != 0 && streamLength < STREAM_BYTES) {
                read(fd);
            } else if ((revents & (Libc.POLLERR | Libc.POLLHUP | Libc.POLLNVAL)) != 0) {
                disconnect("the connection failed");
            }
        }

        private void accept() {
            int fd = Libc.accept4Raw(callState, listenFd, Libc.SOCK_NONBLOCK | Libc.SOCK_CLOEXEC);
            if (fd < 0) {
                return;     // the peer gave up already (ECONNABORTED), or a spurious wake-up
            }
            try {
                Libc.setsockoptInt(fd, Libc.IPPROTO_TCP, Libc.TCP_NODELAY, 1);
            } catch (NativeException ignored) {
                // Only latency.
            }
            streamLength = 0;
            txLock.lock();
            try {
                backlogStart = backlogEnd = backlogFrames = 0;
                connFd = fd;
            } finally {
                txLock.unlock();
            }
            synchronized (state) {
                connections++;
                state.notifyAll();
            }
        }

        private void read(int fd) {
            long got = Libc.readRaw(callState, fd, stream.asSlice(streamLength), STREAM_BYTES - streamLength);
            if (got == 0) {
                disconnect(null);
            } else if (got < 0) {
                int e = Libc.errno(callState);
                if (e != Errno.EAGAIN && e != Errno.EINTR) {
                    disconnect(Errno.describe(e));
                }
            } else {
                streamLength += (int) got;
            }
        }

        /** Moves whole frames from the stream into the queue while it has room; true if it moved any. */
        private boolean cutFrames() {
            int at = 0;
            boolean moved = false;
            while (streamLength - at >= 4) {
                int length = stream.get(BE_INT, at);
                if (length < 0 || length > MAX_FRAME) {
                    disconnect("the peer sent a frame of " + Integer.toUnsignedString(length) + " bytes, more than " + MAX_FRAME);
                    return moved;
                }
                if (streamLength - at - 4 < length) {
                    break;
                }
                if (length == 0) {
                    dropped.incrementAndGet();
                    at += 4;
                    continue;
                }
                if (!pending.offer(stream.asSlice(at + 4, length), 0)) {
                    break;
                }
                at += 4 + length;
                moved = true;
            }
            if (at > 0) {
                MemorySegment.copy(stream, at, stream, 0, streamLength - at);
                streamLength -= at;
            }
            return moved;
        }

        private void deliver() {
            Receiver r = receiver;
            if (r == null) {
                blocked = true;
                return;
            }
            while (!blocked && !pending.isEmpty()) {
                boolean taken;
                try {
                    taken = r.receive(pending.peek());
                } catch (RuntimeException e) {
                    if (!reportedReceiverFailure) {
                        reportedReceiverFailure = true;
                        notices.accept("socket backend " + description + ": the NIC failed to take a frame: " + e);
                    }
                    taken = true;
                    dropped.incrementAndGet();
                }
                if (taken) {
                    pending.pop();
                } else {
                    blocked = true;
                }
            }
        }

        private boolean backlogPending() {
            txLock.lock();
            try {
                return backlogEnd > backlogStart;
            } finally {
                txLock.unlock();
            }
        }

        private void flush(int fd) {
            txLock.lock();
            try {
                if (connFd != fd || backlogEnd == backlogStart) {
                    return;
                }
                TxScratch.setIov(flushIov, 0, backlog.address() + backlogStart, backlogEnd - backlogStart);
                flushMsg.fill((byte) 0);
                flushMsg.set(ValueLayout.JAVA_LONG, 16, flushIov.address());
                flushMsg.set(ValueLayout.JAVA_LONG, 24, 1);
                long sent = Libc.sendmsgRaw(callState, fd, flushMsg, Libc.MSG_DONTWAIT | Libc.MSG_NOSIGNAL);
                if (sent > 0) {
                    backlogStart += (int) sent;
                    if (backlogStart == backlogEnd) {
                        backlogStart = backlogEnd = backlogFrames = 0;
                    }
                }
            } finally {
                txLock.unlock();
            }
        }

        /** Ends the stream: a listener waits for the next peer, a connector stays down (as QEMU). */
        private void disconnect(String why) {
            int fd;
            txLock.lock();
            try {
                fd = connFd;
                connFd = -1;
                dropped.addAndGet(backlogFrames);
                backlogStart = backlogEnd = backlogFrames = 0;
            } finally {
                txLock.unlock();
            }
            Libc.closeQuietly(fd);
            streamLength = 0;
            String next = listening ? "waiting for the next peer" : "the link stays down";
            notices.accept("socket backend " + description + ": " + (why == null ? "the peer closed the connection" : why) + "; " + next);
            synchronized (state) {
                state.notifyAll();
            }
        }
    }

    /** A parsed [host]:port with its address family. */
    private record Endpoint(InetAddress address, int port) {
        int family() {
            return address instanceof Inet6Address ? Libc.AF_INET6 : Libc.AF_INET;
        }

        MemorySegment sockaddr(Arena arena) {
            ValueLayout.OfShort bePort = JAVA_SHORT.withOrder(ByteOrder.BIG_ENDIAN);
            byte[] raw = address.getAddress();
            if (address instanceof Inet4Address) {
                MemorySegment sa = arena.allocate(16, 8);
                sa.set(JAVA_SHORT, 0, (short) Libc.AF_INET);
                sa.set(bePort, 2, (short) port);
                MemorySegment.copy(raw, 0, sa, JAVA_BYTE, 4, 4);
                return sa;
            }
            MemorySegment sa = arena.allocate(28, 8);
            sa.set(JAVA_SHORT, 0, (short) Libc.AF_INET6);
            sa.set(bePort, 2, (short) port);
            MemorySegment.copy(raw, 0, sa, JAVA_BYTE, 8, 16);
            sa.set(JAVA_INT, 24, ((Inet6Address) address).getScopeId());
            return sa;
        }

        /** "host:port", "[v6]:port", or ":port" (every address for listen, this host for connect, as QEMU). */
        static Endpoint parse(String text, boolean listen) {
            int colon = text.lastIndexOf(':');
            if (colon < 0) {
                throw new NetBackendException("'" + text + "' is not host:port");
            }
            String host = text.substring(0, colon);
            int port;
            try {
                port = Integer.parseInt(text.substring(colon + 1));
            } catch (NumberFormatException e) {
                port = -1;
            }
            if (port < (listen ? 0 : 1) || port > 65535) {
                throw new NetBackendException("'" + text + "': '" + text.substring(colon + 1) + "' is not a port number");
            }
            if (host.startsWith("[") && host.endsWith("]")) {
                host = host.substring(1, host.length() - 1);
            }
            try {
                InetAddress address = host.isEmpty() ? InetAddress.getByAddress(new byte[4]) : InetAddress.getByName(host);
                return new Endpoint(address, port);
            } catch (UnknownHostException e) {
                throw new NetBackendException("'" + text + "': cannot resolve host '" + host + "'");
            }
        }
    }
}
