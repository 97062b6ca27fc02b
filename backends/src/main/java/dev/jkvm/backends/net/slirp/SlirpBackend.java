package dev.jkvm.backends.net.slirp;

import dev.jkvm.backends.net.NetBackend;
import dev.jkvm.os.Errno;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * -netdev user: user-mode networking through libslirp, as in QEMU. The guest sees a virtual
 * network (10.0.2.0/24 by default) with slirp's gateway at .2 (MAC 52:55:0a:00:02:02), a DNS
 * forwarder at .3 and a DHCP server handing out .15 onwards; its TCP and UDP leave through the
 * host's sockets, and hostfwd= rules let the host reach guest ports. No root, no tap.
 *
 * <p>Threads. All libslirp calls happen on the process's one {@link SlirpLoop} thread ("slirp").
 * {@link #send} (a device's TX thread) copies the frame into a preallocated slot, queues it and
 * signals the loop's eventfd; it never calls libslirp. Frames for the guest are offered to the
 * {@link NetBackend.Receiver} on the slirp thread. A refused frame is kept, in order, in a bounded
 * ring (later frames queue behind it) and offered again after {@link #wakeup()}; when the ring is
 * full further frames are dropped and counted: TCP retransmits, as with a real NIC.
 *
 * <p>No virtio-net header: {@link #offloads()} is {@link NetBackend.Offloads#NONE}.
 */
public final class SlirpBackend implements NetBackend {
    /** MTU and MRU slirp is configured with (its default): frames are at most 1514 bytes. */
    public static final int MTU = 1500;
    /** Bytes per frame slot: a 1514-byte frame plus a VLAN tag fits with room to spare. */
    private static final int SLOT_BYTES = 2048;
    /** Guest-to-slirp frames queued for the slirp thread at most. */
    static final int TX_SLOTS = 256;
    /** Frames the guest refused, kept for {@link #wakeup()}, at most. */
    static final int RX_SLOTS = 256;

    private static final long CLOCK_BASE = System.nanoTime();
    private static final AtomicLong IDS = new AtomicLong();

    private final UserNetOptions options;
    /** This instance's number: the opaque pointer libslirp passes back to every callback. */
    private final long id;
    private final LibSlirp lib;
    private final SlirpLoop loop;
    /** Frame slots: written by device threads (TX) and by the slirp thread (RX ring), hence shared. */
    private final Arena arena;
    private final ArrayBlockingQueue<Frame> txFree = new ArrayBlockingQueue<>(TX_SLOTS);
    private final ArrayBlockingQueue<Frame> txReady = new ArrayBlockingQueue<>(TX_SLOTS);
    private final Frame[] rxRing = new Frame[RX_SLOTS];
    private final AtomicBoolean closed = new AtomicBoolean();
    /** Calls of send()/wakeup() in progress: close() waits for them before the eventfd and slots go. */
    private final AtomicInteger inFlight = new AtomicInteger();
    private final LongAdder txDropped = new LongAdder();
    private final LongAdder rxDropped = new LongAdder();
    private final LongAdder delivered = new LongAdder();
    private final LongAdder refused = new LongAdder();
    private final AtomicLong guestErrors = new AtomicLong();
    private volatile String lastGuestError;
    private volatile Receiver receiver;
    private volatile boolean wakeRequested;
    /** Added to the clock slirp sees; tests move time forward to make slirp's timers fire. */
    private volatile long clockOffsetNanos;

    // Slirp-thread state.
    /** The Slirp pointer, 0 when not open. */
    private long slirp;
    private int rxHead;
    private int rxCount;
    private final Map<Long, Timer> timers = new HashMap<>();
    private long nextTimerToken = 1;

    private static final class Frame {
        final MemorySegment buffer;
        int length;

        Frame(MemorySegment buffer) {
            this.buffer = buffer;
        }
    }

    /** A libslirp timer: one-shot, armed by timer_mod, fired through slirp_handle_timer. */
    private static final class Timer {
        final int id;
        final long cbOpaque;
        boolean armed;
        long expireMillis;

        Timer(int id, long cbOpaque) {
            this.id = id;
            this.cbOpaque = cbOpaque;
        }
    }

    /**
     * Creates the slirp stack and binds the forwarding rules.
     *
     * @throws SlirpUnavailableException when libslirp is not installed (one line naming the package)
     * @throws SlirpException when a forwarding rule's host port cannot be bound
     */
    public SlirpBackend(UserNetOptions options) {
        this.options = Objects.requireNonNull(options);
        this.lib = LibSlirp.get();
        this.id = IDS.incrementAndGet();
        this.arena = Arena.ofShared();
        MemorySegment tx = arena.allocate((long) SLOT_BYTES * TX_SLOTS, 64);
        for (int i = 0; i < TX_SLOTS; i++) {
            txFree.add(new Frame(tx.asSlice((long) i * SLOT_BYTES, SLOT_BYTES)));
        }
        MemorySegment rx = arena.allocate((long) SLOT_BYTES * RX_SLOTS, 64);
        for (int i = 0; i < RX_SLOTS; i++) {
            rxRing[i] = new Frame(rx.asSlice((long) i * SLOT_BYTES, SLOT_BYTES));
        }
        this.loop = SlirpLoop.acquire(lib);
        try {
            loop.call(() -> {
                openOnLoop();
                return null;
            });
        } catch (RuntimeException | Error e) {
            SlirpLoop.release(loop);
            arena.close();
            throw e;
        }
    }

    /** The libslirp version in use, for messages ("4.7.0"); loads the library. */
    public static String libraryVersion() {
        return LibSlirp.get().version();
    }

    public UserNetOptions options() {
        return options;
    }

    private void openOnLoop() {
        SlirpCallbacks.register(id, this);
        try (Arena temp = Arena.ofConfined()) {
            MemorySegment cfg = temp.allocate(LibSlirp.CONFIG);
            LibSlirp.fillConfig(cfg, options, MTU);
            long s = lib.slirpNew(cfg, id);
            if (s == 0) {
                SlirpCallbacks.unregister(id);
                throw new SlirpException("libslirp " + lib.version() + " refused the configuration");
            }
            slirp = s;
            for (UserNetOptions.HostForward f : options.forwards()) {
                int errno = lib.addHostfwd(s, f);
                if (errno != 0) {
                    cleanupOnLoop();
                    throw new SlirpException(bindError(f, errno));
                }
            }
        }
        loop.add(this);
    }

    private static String bindError(UserNetOptions.HostForward f, int errno) {
        String where = "hostfwd=" + f.rule() + ": " + f.protocol() + " port " + f.hostPort() + " on "
                + UserNetOptions.format(f.hostAddr());
        return switch (errno) {
            case Errno.EADDRINUSE -> where + " is already in use";
            case Errno.EACCES -> where + " needs privileges to bind (ports below 1024)";
            case -1 -> where + " cannot be bound";
            default -> where + " cannot be bound: " + Errno.describe(errno);
        };
    }

    /** Adds a forwarding rule while running (QEMU's hostfwd_add). */
    public void addHostForward(String rule) {
        UserNetOptions.HostForward f = options.parseHostForward(rule);
        loop.call(() -> {
            int errno = lib.addHostfwd(liveSlirp(), f);
            if (errno != 0) {
                throw new SlirpException(bindError(f, errno));
            }
            return null;
        });
    }

    /**
     * Removes a forwarding rule while running (QEMU's hostfwd_remove), given as
     * [tcp|udp]:[hostaddr]:hostport; returns false when no rule listens there.
     */
    public boolean removeHostForward(String hostSide) {
        UserNetOptions.HostForward f = options.parseHostForward(hostSide + "-:1");
        return loop.call(() -> lib.removeHostfwd(liveSlirp(), f.udp(), f.hostAddr(), f.hostPort()));
    }

    private long liveSlirp() {
        if (slirp == 0) {
            throw new IllegalStateException("-netdev user is closed");
        }
        return slirp;
    }

    // ---- NetBackend ----

    @Override
    public void start(Receiver receiver) {
        this.receiver = Objects.requireNonNull(receiver);
        wakeup();
    }

    @Override
    public void wakeup() {
        inFlight.incrementAndGet();
        try {
            if (!closed.get()) {
                wakeRequested = true;
                loop.signal();
            }
        } finally {
            inFlight.decrementAndGet();
        }
    }

    @Override
    public boolean send(MemorySegment[] buffers, int count) {
        inFlight.incrementAndGet();
        try {
            if (closed.get()) {
                txDropped.increment();
                return false;
            }
            long total = 0;
            for (int i = 0; i < count; i++) {
                total += buffers[i].byteSize();
            }
            if (total > SLOT_BYTES) {
                txDropped.increment();
                return false;
            }
            Frame f = txFree.poll();
            if (f == null) {
                txDropped.increment();
                return false;
            }
            try {
                long at = 0;
                for (int i = 0; i < count; i++) {
                    long n = buffers[i].byteSize();
                    MemorySegment.copy(buffers[i], 0, f.buffer, at, n);
                    at += n;
                }
            } catch (RuntimeException e) {
                txFree.add(f);
                throw e;
            }
            f.length = (int) total;
            txReady.add(f);
            loop.signal();
            return true;
        } finally {
            inFlight.decrementAndGet();
        }
    }

    @Override
    public Offloads offloads() {
        return Offloads.NONE;
    }

    @Override
    public void useVnetHeader(int headerBytes) {
        if (headerBytes != 0) {
            throw new IllegalArgumentException("-netdev user has no virtio-net header (offloads() is NONE)");
        }
    }

    @Override
    public long dropped() {
        return txDropped.sum() + rxDropped.sum();
    }

    /**
     * Stops and frees the slirp stack: its sockets (forwarding rules included) close and frames
     * still queued either way are dropped. Not from inside {@link Receiver#receive}: that runs in a
     * libslirp call, which cannot free its own stack.
     */
    @Override
    public void close() {
        if (loop.onLoopThread()) {
            throw new IllegalStateException("-netdev user: close() from the slirp thread (inside Receiver.receive)");
        }
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        while (inFlight.get() != 0) {
            Thread.onSpinWait();
        }
        try {
            loop.call(() -> {
                closeOnLoop();
                return null;
            });
        } catch (SlirpException stopped) {
            // The slirp thread died (and said why on stderr); it cleaned up its instances on the way out.
        } finally {
            SlirpLoop.release(loop);
            arena.close();
        }
    }

    // ---- diagnostics ----

    /** Frames the receiver took. */
    public long delivered() {
        return delivered.sum();
    }

    /** Times the receiver said "no buffers" (each refused offer counts). */
    public long refusals() {
        return refused.sum();
    }

    /** Frames from the guest that slirp reported as malformed, and the last such message. */
    public long guestErrors() {
        return guestErrors.get();
    }

    public String lastGuestError() {
        return lastGuestError;
    }

    // ---- slirp thread ----

    SlirpLoop loop() {
        return loop;
    }

    long slirp() {
        return slirp;
    }

    long opaque() {
        return id;
    }

    /** Guest frames into slirp, then (after a wakeup) frames the guest refused before. */
    void fromGuestAndRedeliver() {
        if (wakeRequested) {
            wakeRequested = false;
            redeliver();
        }
        fromGuest();
    }

    /** Frames the guest sent, into slirp (slirp_input), in order. */
    void fromGuest() {
        Frame f;
        while ((f = txReady.poll()) != null) {
            lib.input(slirp, f.buffer, f.length);
            txFree.add(f);
        }
    }

    /** Frames kept for the guest (refused, waiting for a wakeup), once everything sent before this call is in slirp. */
    int pendingToGuest() {
        return loop.call(() -> rxCount);
    }

    private void redeliver() {
        Receiver r = receiver;
        if (r == null) {
            return;
        }
        while (rxCount > 0) {
            Frame f = rxRing[rxHead];
            try {
                if (!r.receive(f.buffer.asSlice(0, f.length))) {
                    refused.increment();
                    return;
                }
                delivered.increment();
            } catch (RuntimeException | Error e) {
                // The device failed on this frame: drop it rather than offer it forever.
                SlirpCallbacks.failed("receive", e);
                rxDropped.increment();
            }
            rxHead = (rxHead + 1) % RX_SLOTS;
            rxCount--;
        }
    }

    /** send_packet: a frame for the guest, valid only during this call. */
    void toGuest(MemorySegment frame) {
        Receiver r = receiver;
        if (rxCount == 0 && r != null) {
            boolean taken;
            try {
                taken = r.receive(frame);
            } catch (RuntimeException | Error e) {
                rxDropped.increment();
                throw e;
            }
            if (taken) {
                delivered.increment();
                return;
            }
            refused.increment();
        }
        if (frame.byteSize() > SLOT_BYTES || rxCount == RX_SLOTS) {
            rxDropped.increment();
            return;
        }
        Frame f = rxRing[(rxHead + rxCount) % RX_SLOTS];
        MemorySegment.copy(frame, 0, f.buffer, 0, frame.byteSize());
        f.length = (int) frame.byteSize();
        rxCount++;
    }

    void guestError(String message) {
        guestErrors.incrementAndGet();
        lastGuestError = message;
    }

    static long baseClockNanos() {
        return System.nanoTime() - CLOCK_BASE + 1_000_000_000L;
    }

    /** slirp's clock: starts near 1 s (never 0 or negative, which libslirp's unsigned arithmetic dislikes). */
    long clockNanos() {
        return baseClockNanos() + clockOffsetNanos;
    }

    /** For tests: moves slirp's clock forward and lets the loop look at its timers. */
    void advanceClock(long nanos) {
        clockOffsetNanos += nanos;
        wakeup();
    }

    long timerNew(int timerId, long cbOpaque) {
        long token = nextTimerToken++;
        timers.put(token, new Timer(timerId, cbOpaque));
        return token;
    }

    void timerFree(long token) {
        timers.remove(token);
    }

    void timerMod(long token, long expireMillis) {
        Timer t = timers.get(token);
        if (t != null) {
            t.armed = true;
            t.expireMillis = expireMillis;
        }
    }

    /** Fires due timers; returns the milliseconds until the next one (0xffffffff when none is armed). */
    long runTimers() {
        if (timers.isEmpty()) {
            return 0xffffffffL;
        }
        long now = clockNanos() / 1_000_000;
        List<Timer> due = null;
        for (Timer t : timers.values()) {
            if (t.armed && t.expireMillis <= now) {
                if (due == null) {
                    due = new ArrayList<>(2);
                }
                due.add(t);
            }
        }
        if (due != null) {
            for (Timer t : due) {
                // A handler may free or re-arm timers, its own included.
                if (t.armed && t.expireMillis <= now && timers.containsValue(t)) {
                    t.armed = false;
                    lib.handleTimer(slirp, t.id, t.cbOpaque);
                }
            }
            now = clockNanos() / 1_000_000;
        }
        long next = 0xffffffffL;
        for (Timer t : timers.values()) {
            if (t.armed) {
                next = Math.min(next, Math.max(0, t.expireMillis - now));
            }
        }
        return next;
    }

    /** Armed timers, for tests. */
    int armedTimers() {
        return loop.call(() -> (int) timers.values().stream().filter(t -> t.armed).count());
    }

    /** slirp_cleanup and forget this instance; idempotent, slirp thread only. */
    void closeOnLoop() {
        loop.remove(this);
        cleanupOnLoop();
    }

    private void cleanupOnLoop() {
        if (slirp != 0) {
            // Callbacks during cleanup (timer_free, unregister_poll_fd) still find this instance.
            lib.cleanup(slirp);
            slirp = 0;
        }
        SlirpCallbacks.unregister(id);
        timers.clear();
        rxCount = 0;
    }
}
