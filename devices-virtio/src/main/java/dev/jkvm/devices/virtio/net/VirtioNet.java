package dev.jkvm.devices.virtio.net;

import dev.jkvm.vmm.device.Threads;
import dev.jkvm.backends.net.MacAddress;
import dev.jkvm.backends.net.MultiQueueNetBackend;
import dev.jkvm.backends.net.NetBackend;
import dev.jkvm.devices.virtio.VirtioContext;
import dev.jkvm.devices.virtio.VirtioDevice;
import dev.jkvm.devices.virtio.VirtioFeatures;
import dev.jkvm.devices.virtio.queue.DescriptorChain;
import dev.jkvm.devices.virtio.queue.SplitVirtqueue;
import dev.jkvm.devices.virtio.queue.VirtqueueViolation;
import dev.jkvm.os.Libc;
import dev.jkvm.vmm.device.EventFd;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * virtio-net (virtio 1.2, 5.1) on a {@link NetBackend}: queue pairs (receiveqN = 2N, transmitqN =
 * 2N+1) and a control queue after them.
 *
 * <p>Transmit: one thread per transmit queue sleeps on its doorbell, takes every available chain
 * and hands the device-readable buffers to {@link NetBackend#send} as slices of guest RAM (no
 * copy), the virtio-net header first when the backend takes it, stripped otherwise.
 *
 * <p>Receive: the backend's thread calls a {@link #receiver(int)}; a frame is copied into the
 * buffers of one chain, or of several with MRG_RXBUF, and returned through the used ring. With no
 * buffer posted the frame is refused and the backend keeps it; when the driver then posts buffers
 * and kicks the receive queue, the control thread calls {@link NetBackend#wakeup}. Chains taken
 * from the ring but not filled yet (too few for a merged frame, or one too small for this frame)
 * stay with the device for the next frame: the device never gives back a chain it did not fill.
 *
 * <p>Multiqueue: on a {@link MultiQueueNetBackend} each queue pair has its own backend queue (its
 * receive thread, wakeup and send), the host spreads flows over them, and VQ_PAIRS_SET reaches the
 * backend as {@link MultiQueueNetBackend#setActiveQueues}. On any other backend the pairs share it:
 * one receiver steers each flow to the receive queue of the pair it was last sent on
 * ({@link FlowSteering}), and the transmit threads call {@link NetBackend#send} concurrently.
 *
 * <p>Control: the same thread that watches the receive doorbells runs the control queue
 * (VIRTIO_NET_CTRL_RX promiscuous/all-multicast, VIRTIO_NET_CTRL_MAC table and address,
 * VIRTIO_NET_CTRL_MQ queue pairs) and answers each command with an ack byte.
 *
 * <p>Offloads (CSUM, GUEST_CSUM, HOST/GUEST_TSO4/6) are offered only when the backend passes the
 * virtio-net header through ({@link NetBackend.Offloads}); the device never computes checksums or
 * segments frames for the host, it only completes a checksum for a driver that cannot take a
 * partial one.
 *
 * <p>A driver that breaks the rules (a device-writable buffer to transmit, a chain without the
 * header, a frame beyond {@link #MAX_FRAME_BYTES}, a device-readable buffer to receive into, a
 * control command without its ack byte) gets DEVICE_NEEDS_RESET; the device stops using its queues
 * and drops frames until the driver resets it. A reset joins every device thread and, before it
 * returns, waits for a frame being copied in: afterwards the receiver drops (and counts) frames
 * without touching guest memory, while the backend keeps running.
 */
public final class VirtioNet implements VirtioDevice {
    public static final int DEVICE_ID = 1;
    public static final int PCI_CLASS = 0x020000;
    public static final int DEFAULT_QUEUE_SIZE = 256;
    /** Queue pairs one device can have: 2 per pair plus the control queue and configuration must fit 64 MSI-X vectors. */
    public static final int MAX_QUEUE_PAIRS = 31;

    public static final int F_CSUM = 0;
    public static final int F_GUEST_CSUM = 1;
    public static final int F_MTU = 3;
    public static final int F_MAC = 5;
    public static final int F_GUEST_TSO4 = 7;
    public static final int F_GUEST_TSO6 = 8;
    public static final int F_GUEST_ECN = 9;
    public static final int F_GUEST_UFO = 10;
    public static final int F_HOST_TSO4 = 11;
    public static final int F_HOST_TSO6 = 12;
    public static final int F_HOST_ECN = 13;
    public static final int F_HOST_UFO = 14;
    public static final int F_MRG_RXBUF = 15;
    public static final int F_STATUS = 16;
    public static final int F_CTRL_VQ = 17;
    public static final int F_CTRL_RX = 18;
    public static final int F_CTRL_VLAN = 19;
    public static final int F_MQ = 22;
    public static final int F_CTRL_MAC_ADDR = 23;

    /** struct virtio_net_hdr_v1: flags, gso_type, hdr_len, gso_size, csum_start, csum_offset, num_buffers. */
    public static final int HEADER_BYTES = 12;
    public static final int HDR_F_NEEDS_CSUM = 1;
    public static final int HDR_F_DATA_VALID = 2;
    public static final int GSO_NONE = 0;
    public static final int GSO_TCPV4 = 1;
    public static final int GSO_UDP = 3;
    public static final int GSO_TCPV6 = 4;
    public static final int GSO_ECN = 0x80;

    static final int ETH_HLEN = 14;
    /** The largest frame either way: a 64 KiB TSO packet with an Ethernet header and one VLAN tag. */
    public static final int MAX_FRAME_BYTES = 65536 + 18;

    public static final int S_LINK_UP = 1;
    /** mac[6], status, max_virtqueue_pairs, mtu. */
    static final int CONFIG_SIZE = 12;

    public static final int CTRL_OK = 0;
    public static final int CTRL_ERR = 1;
    public static final int CTRL_RX = 0;
    public static final int CTRL_RX_PROMISC = 0;
    public static final int CTRL_RX_ALLMULTI = 1;
    public static final int CTRL_MAC = 1;
    public static final int CTRL_MAC_TABLE_SET = 0;
    public static final int CTRL_MAC_ADDR_SET = 1;
    public static final int CTRL_MQ = 4;
    public static final int CTRL_MQ_VQ_PAIRS_SET = 0;
    /** Command data beyond this is refused unread (a MAC table of 64 + 64 entries needs 776 bytes). */
    static final int MAX_CTRL_DATA = 64 * 1024;
    /** Used transmit buffers returned before the driver is told, while a burst drains. */
    private static final int TX_NOTIFY_BATCH = 64;

    private final String id;
    private final NetBackend backend;
    private final MacAddress configuredMac;
    private final int maxPairs;
    private final int queueSize;
    private final int mtu;
    private final long offered;
    private final NetMetrics metrics = new NetMetrics();
    private final RxFilter filter;
    private final FlowSteering steering = new FlowSteering();
    /** Per queue pair: its backend queue and receive state. */
    private final Lane[] lanes;
    /** The backend has a queue per pair (a multi-queue tap), so the host steers receive flows. */
    private final MultiQueueNetBackend multiQueue;

    private final Object lifecycle = new Object();
    private final List<Thread> threads = new ArrayList<>();
    private VirtioContext context;
    private EventFd stop;
    private boolean backendStarted;
    private volatile boolean stopping;
    /** The driver broke a rule: the device waits for a reset. */
    private volatile boolean broken;
    private volatile int activePairs = 1;

    /**
     * The negotiated view of an active device; null while reset. A receive reads it again under its
     * lane's lock, and a reset clears it before taking every lane's lock, so after a reset no frame
     * is being written into guest memory and none will be.
     */
    private volatile Session session;

    /**
     * One queue pair's receive side, guarded by its own monitor: the backend queue that delivers to
     * it and is woken for it, the chains taken from its ring but not filled yet (in ring order), and
     * scratch space for the frame being copied in.
     */
    private static final class Lane {
        final int pair;
        final NetBackend backend;
        final ArrayDeque<DescriptorChain> held = new ArrayDeque<>();
        final byte[] header = new byte[HEADER_BYTES];
        final MemorySegment headerSegment = MemorySegment.ofArray(header);
        final int[] usedHeads;
        final int[] usedLengths;
        NetBackend.Receiver receiver;
        /** A frame was refused for want of buffers: the next kick of this receive queue wakes the backend. */
        volatile boolean starved;

        Lane(int pair, NetBackend backend, int queueSize) {
            this.pair = pair;
            this.backend = backend;
            this.usedHeads = new int[queueSize];
            this.usedLengths = new int[queueSize];
        }
    }

    /** What the driver accepted, fixed from DRIVER_OK to the reset. */
    private record Session(VirtioContext ctx, long features, boolean headerToBackend, boolean mergeable, boolean mq, int pairs,
                           int controlQueue, boolean hostCsum, boolean hostTso4, boolean hostTso6, boolean guestCsum,
                           boolean guestTso4, boolean guestTso6, boolean ctrlRx, boolean ctrlMacAddr) {
        int activePairs(int requested) {
            return mq ? requested : 1;
        }
    }

    /**
     * @param id         names the device and its threads (the -netdev id)
     * @param queuePairs 1, or up to {@link #MAX_QUEUE_PAIRS} to offer MQ; with a {@link MultiQueueNetBackend}
     *                   at most its {@link MultiQueueNetBackend#queueCount()}, one backend queue per pair
     * @param queueSize  the maximum size of every queue (a power of two)
     * @param mtu        MTU advice for the driver (offers VIRTIO_NET_F_MTU), or 0 for none
     */
    public VirtioNet(String id, NetBackend backend, MacAddress mac, int queuePairs, int queueSize, int mtu) {
        if (queuePairs < 1 || queuePairs > MAX_QUEUE_PAIRS) {
            throw new IllegalArgumentException("virtio-net: " + queuePairs + " queue pairs (1 to " + MAX_QUEUE_PAIRS + ")");
        }
        if (queueSize < 2 || queueSize > 32768 || Integer.bitCount(queueSize) != 1) {
            throw new IllegalArgumentException("virtio-net: queue size " + queueSize + " is not a power of two up to 32768");
        }
        if (mtu != 0 && (mtu < 68 || mtu > 65535)) {
            throw new IllegalArgumentException("virtio-net: mtu " + mtu + " (68 to 65535)");
        }
        this.id = id;
        this.backend = backend;
        this.configuredMac = mac;
        this.maxPairs = queuePairs;
        this.queueSize = queueSize;
        this.mtu = mtu;
        this.filter = new RxFilter(mac.value());
        this.offered = offer(backend.offloads(), queuePairs, mtu);
        if (queuePairs > 1 && backend instanceof MultiQueueNetBackend m) {
            if (queuePairs > m.queueCount()) {
                throw new IllegalArgumentException("virtio-net: " + queuePairs + " queue pairs on a backend with "
                        + m.queueCount() + " queues");
            }
            this.multiQueue = m;
        } else {
            this.multiQueue = null;
        }
        this.lanes = new Lane[queuePairs];
        for (int p = 0; p < queuePairs; p++) {
            Lane lane = new Lane(p, multiQueue != null ? multiQueue.queue(p) : backend, queueSize);
            lane.receiver = multiQueue != null ? frame -> receive(lane, frame) : frame -> receive(null, frame);
            lanes[p] = lane;
        }
    }

    public VirtioNet(String id, NetBackend backend, MacAddress mac) {
        this(id, backend, mac, 1, DEFAULT_QUEUE_SIZE, 0);
    }

    private static long offer(NetBackend.Offloads o, int pairs, int mtu) {
        long f = bit(F_MAC) | bit(F_STATUS) | bit(F_MRG_RXBUF) | bit(F_CTRL_VQ) | bit(F_CTRL_RX) | bit(F_CTRL_MAC_ADDR);
        if (pairs > 1) {
            f |= bit(F_MQ);
        }
        if (mtu > 0) {
            f |= bit(F_MTU);
        }
        // Offloads need the header to reach a host that understands it; TSO needs checksum offload.
        if (o.vnetHeader() && o.checksum()) {
            f |= bit(F_CSUM) | bit(F_GUEST_CSUM);
            if (o.tso4()) {
                f |= bit(F_HOST_TSO4) | bit(F_GUEST_TSO4);
            }
            if (o.tso6()) {
                f |= bit(F_HOST_TSO6) | bit(F_GUEST_TSO6);
            }
        }
        return f;
    }

    private static long bit(int feature) {
        return VirtioFeatures.bit(feature);
    }

    private static boolean has(long features, int feature) {
        return VirtioFeatures.has(features, feature);
    }

    public NetMetrics metrics() {
        return metrics;
    }

    /**
     * Where the backend delivers frames for the guest: safe from any thread, before, during and
     * after activity (frames are dropped and counted while the device is reset). The device starts
     * the backend with it at the first DRIVER_OK; tests may call it directly.
     */
    public NetBackend.Receiver receiver() {
        return lanes[0].receiver;
    }

    /** The receiver of queue pair {@code pair}'s backend queue (a multi-queue backend); else the one receiver. */
    public NetBackend.Receiver receiver(int pair) {
        return multiQueue != null ? lanes[pair].receiver : lanes[0].receiver;
    }

    public NetBackend backend() {
        return backend;
    }

    /** The MAC address the guest uses now (the configured one, or what VIRTIO_NET_CTRL_MAC_ADDR_SET chose). */
    public MacAddress mac() {
        return new MacAddress(filter.mac());
    }

    public int queuePairs() {
        return maxPairs;
    }

    /** Queue pairs in use: 1 until the driver sends VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET. */
    public int activeQueuePairs() {
        Session s = session;
        return s == null ? 1 : s.activePairs(activePairs);
    }

    public boolean promiscuous() {
        return filter.promiscuous();
    }

    public boolean allMulticast() {
        return filter.allMulticast();
    }

    /** Addresses in the MAC filter table (unicast and multicast). */
    public int macTableSize() {
        return filter.tableSize();
    }

    // ---- VirtioDevice ----

    @Override
    public int deviceId() {
        return DEVICE_ID;
    }

    @Override
    public String name() {
        return "virtio-net-" + id;
    }

    @Override
    public int pciClass() {
        return PCI_CLASS;
    }

    @Override
    public long deviceFeatures() {
        return offered;
    }

    @Override
    public int queueCount() {
        return 2 * maxPairs + 1;
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
        byte[] mac = new MacAddress(filter.mac()).bytes();
        System.arraycopy(mac, 0, c, 0, 6);
        c[6] = S_LINK_UP;
        c[8] = (byte) maxPairs;
        c[9] = (byte) (maxPairs >>> 8);
        c[10] = (byte) mtu;
        c[11] = (byte) (mtu >>> 8);
        return VirtioDevice.configBytes(c, offset, size);
    }

    @Override
    public void writeConfig(int offset, int size, long value) {
        // The modern configuration is read-only; the MAC changes through VIRTIO_NET_CTRL_MAC_ADDR_SET.
    }

    /** The dependencies of virtio 1.2, 5.1.3.1 that a driver must respect. */
    @Override
    public boolean acceptFeatures(long f) {
        boolean ctrl = has(f, F_CTRL_VQ);
        if (!ctrl && (has(f, F_CTRL_RX) || has(f, F_CTRL_MAC_ADDR) || has(f, F_MQ))) {
            return false;
        }
        if ((has(f, F_GUEST_TSO4) || has(f, F_GUEST_TSO6)) && !has(f, F_GUEST_CSUM)) {
            return false;
        }
        return (!has(f, F_HOST_TSO4) && !has(f, F_HOST_TSO6)) || has(f, F_CSUM);
    }

    // ---- lifecycle ----

    @Override
    public void activate(VirtioContext ctx) {
        synchronized (lifecycle) {
            long f = ctx.features();
            boolean mq = has(f, F_MQ);
            int pairs = mq ? maxPairs : 1;
            boolean offloads = has(f, F_CSUM) || has(f, F_GUEST_CSUM) || has(f, F_HOST_TSO4) || has(f, F_HOST_TSO6)
                    || has(f, F_GUEST_TSO4) || has(f, F_GUEST_TSO6);
            boolean vnet = backend.offloads().vnetHeader();
            Session s = new Session(ctx, f, vnet && offloads, has(f, F_MRG_RXBUF), mq, pairs,
                    has(f, F_CTRL_VQ) ? 2 * pairs : -1, has(f, F_CSUM), has(f, F_HOST_TSO4), has(f, F_HOST_TSO6),
                    has(f, F_GUEST_CSUM), has(f, F_GUEST_TSO4), has(f, F_GUEST_TSO6), has(f, F_CTRL_RX), has(f, F_CTRL_MAC_ADDR));
            // The backend first: if it fails, the device stays as it was (reset, dropping frames).
            if (vnet) {
                // The header first: receive offloads need it in use.
                backend.useVnetHeader(s.headerToBackend() ? HEADER_BYTES : 0);
                backend.setReceiveOffloads(s.headerToBackend()
                        ? new NetBackend.Offloads(true, s.guestCsum(), s.guestTso4(), s.guestTso6(), false)
                        : NetBackend.Offloads.NONE);
            }
            if (multiQueue != null) {
                multiQueue.setActiveQueues(1);
            }
            stop = new EventFd();
            context = ctx;
            stopping = false;
            broken = false;
            activePairs = 1;
            steering.clear();
            for (Lane lane : lanes) {
                synchronized (lane) {
                    lane.held.clear();
                    lane.starved = false;
                }
            }
            session = s;
            for (int p = 0; p < pairs; p++) {
                if (ctx.queue(2 * p + 1).isEnabled()) {
                    int pair = p;
                    threads.add(Thread.ofPlatform().name(name() + "-tx" + p).daemon(true).start(() -> transmitLoop(s, pair)));
                }
            }
            EventFd stopFd = stop;
            threads.add(Thread.ofPlatform().name(name() + "-ctl").daemon(true).start(() -> controlLoop(s, stopFd)));
            boolean start = !backendStarted;
            backendStarted = true;
            for (int p = 0; p < (multiQueue != null ? lanes.length : 1); p++) {
                if (start) {
                    lanes[p].backend.start(lanes[p].receiver);
                } else {
                    // A frame refused before the reset may still be waiting in the backend.
                    lanes[p].backend.wakeup();
                }
            }
        }
    }

    /**
     * Stops the threads and waits for them, and for a frame being copied in; afterwards nothing of
     * this device touches guest memory, and frames the backend offers are dropped and counted.
     * The device threads are not interrupted: a backend may use interruptible channels.
     */
    @Override
    public void reset() {
        List<Thread> toJoin;
        Session s;
        synchronized (lifecycle) {
            if (context == null) {
                return;
            }
            stopping = true;
            s = session;
            session = null;
            for (Lane lane : lanes) {
                synchronized (lane) {
                    // waits for a frame being copied in on this lane
                    lane.held.clear();
                    lane.starved = false;
                }
            }
            stop.signal();
            for (int p = 0; p < (s == null ? 0 : s.pairs()); p++) {
                context.doorbell(2 * p + 1).signal();
            }
            toJoin = new ArrayList<>(threads);
            threads.clear();
        }
        for (Thread t : toJoin) {
            Threads.joinUninterruptibly(t);
        }
        synchronized (lifecycle) {
            stop.close();
            stop = null;
            context = null;
            activePairs = 1;
            filter.reset(configuredMac.value());
            steering.clear();
            try {
                if (backend.offloads().vnetHeader()) {
                    backend.setReceiveOffloads(NetBackend.Offloads.NONE);
                }
                if (multiQueue != null) {
                    multiQueue.setActiveQueues(1);
                }
            } catch (RuntimeException e) {
                // a backend that is closing already; the next activation sets both again
            }
        }
        // A frame refused before the reset is offered again now, and dropped: the backend does not
        // sit on stale frames (nor stop reading its host side) until the driver comes back.
        for (int p = 0; p < (multiQueue != null ? lanes.length : 1); p++) {
            wake(lanes[p].backend);
        }
    }

    /** The machine is going away; the backend belongs to the machine, which closes it after this. */
    @Override
    public void close() {
        reset();
    }

    private void violation(VirtioContext ctx, String what) {
        broken = true;
        ctx.fail("virtio-net " + id + " " + what);
    }

    // ---- receive ----

    /**
     * A frame from the backend: for {@code lane}'s receive queue, or, with {@code lane} null (one
     * backend for all pairs), for the queue its flow steers to.
     */
    private boolean receive(Lane lane, MemorySegment frame) {
        Session s = session;
        if (s == null || broken) {
            metrics.rxDroppedInactive.increment();
            return true;
        }
        int headerIn = s.headerToBackend() ? HEADER_BYTES : 0;
        long total = frame.byteSize();
        if (total < headerIn + ETH_HLEN) {
            metrics.rxDroppedMalformed.increment();
            return true;
        }
        if (total - headerIn > MAX_FRAME_BYTES) {
            metrics.rxDroppedTooBig.increment();
            return true;
        }
        MemorySegment eth = headerIn == 0 ? frame : frame.asSlice(headerIn);
        int active = s.activePairs(activePairs);
        Lane target = lane != null ? lane : lanes[steering.receivePair(eth, active)];
        if (target.pair >= active) {
            // A backend queue that was just deactivated: its frames are no longer the guest's.
            metrics.rxDroppedInactive.increment();
            return true;
        }
        synchronized (target) {
            if (session != s || broken) {
                metrics.rxDroppedInactive.increment();
                return true;
            }
            try {
                return deliver(s, target, frame, headerIn, eth);
            } catch (VirtqueueViolation v) {
                violation(s.ctx(), "receive queue " + 2 * target.pair + ": " + v.getMessage());
            } catch (RuntimeException e) {
                violation(s.ctx(), "receive queue " + 2 * target.pair + ": " + e);
            }
            metrics.rxDroppedInactive.increment();
            return true;
        }
    }

    private boolean deliver(Session s, Lane lane, MemorySegment frame, int headerIn, MemorySegment eth) throws VirtqueueViolation {
        if (s.ctrlRx() && !filter.accepts(eth)) {
            metrics.rxDroppedFiltered.increment();
            return true;
        }
        byte[] h = lane.header;
        Arrays.fill(h, (byte) 0);
        if (headerIn > 0) {
            MemorySegment.copy(frame, ValueLayout.JAVA_BYTE, 0, h, 0, HEADER_BYTES);
            int gso = h[1] & 0xff;
            if (gso != GSO_NONE && !(gso == GSO_TCPV4 && s.guestTso4()) && !(gso == GSO_TCPV6 && s.guestTso6())) {
                metrics.rxDroppedOffload.increment();
                return true;
            }
            if (!s.guestCsum()) {
                if ((h[0] & HDR_F_NEEDS_CSUM) != 0) {
                    eth = Checksum.complete(eth, le16(h, 6), le16(h, 8));
                    if (eth == null) {
                        metrics.rxDroppedMalformed.increment();
                        return true;
                    }
                }
                // Without GUEST_CSUM the header's flags and checksum fields must be zero (5.1.6.4.1).
                Arrays.fill(h, (byte) 0);
            }
        }
        SplitVirtqueue queue = s.ctx().queue(2 * lane.pair);
        if (!queue.isEnabled()) {
            metrics.rxDroppedInactive.increment();
            return true;
        }
        return s.mergeable() ? deliverMerged(s, lane, queue, eth) : deliverSingle(s, lane, queue, eth);
    }

    /** Without MRG_RXBUF: header and frame in one chain, or the frame is dropped and the chain kept for the next. */
    private boolean deliverSingle(Session s, Lane lane, SplitVirtqueue queue, MemorySegment eth) throws VirtqueueViolation {
        DescriptorChain chain = lane.held.peekFirst();
        if (chain == null) {
            chain = nextReceiveChain(lane, queue);
            if (chain == null) {
                metrics.rxNoBuffer.increment();
                return false;
            }
            lane.held.addFirst(chain);
        }
        long need = HEADER_BYTES + eth.byteSize();
        if (chain.writableBytes() < need) {
            metrics.rxDroppedTooBig.increment();
            return true;
        }
        lane.held.pollFirst();
        put16(lane.header, 10, 1);
        copyOut(lane, chain, eth, 0, need);
        queue.addUsed(chain.head(), (int) need);
        s.ctx().notifyQueue(2 * lane.pair);
        metrics.rxPackets.increment();
        metrics.rxBytes.add(eth.byteSize());
        return true;
    }

    /** With MRG_RXBUF: as many chains as the frame needs, published together, num_buffers in the first. */
    private boolean deliverMerged(Session s, Lane lane, SplitVirtqueue queue, MemorySegment eth) throws VirtqueueViolation {
        ArrayDeque<DescriptorChain> held = lane.held;
        long need = HEADER_BYTES + eth.byteSize();
        long have = 0;
        int n = 0;
        for (DescriptorChain c : held) {
            if (have >= need) {
                break;
            }
            have += c.writableBytes();
            n++;
        }
        while (have < need) {
            if (held.size() >= queue.size()) {
                // Every buffer the ring can hold is here and the frame still does not fit.
                metrics.rxDroppedTooBig.increment();
                return true;
            }
            DescriptorChain c = nextReceiveChain(lane, queue);
            if (c == null) {
                metrics.rxNoBuffer.increment();
                return false;
            }
            held.addLast(c);
            have += c.writableBytes();
            n++;
        }
        put16(lane.header, 10, n);
        long at = 0;
        for (int i = 0; i < n; i++) {
            DescriptorChain c = held.pollFirst();
            long take = Math.min(c.writableBytes(), need - at);
            copyOut(lane, c, eth, at, take);
            lane.usedHeads[i] = c.head();
            lane.usedLengths[i] = (int) take;
            at += take;
        }
        queue.addUsed(lane.usedHeads, lane.usedLengths, n);
        s.ctx().notifyQueue(2 * lane.pair);
        metrics.rxPackets.increment();
        metrics.rxBytes.add(eth.byteSize());
        return true;
    }

    /**
     * The next chain of a receive queue, or null when the ring is empty. Before giving up it marks
     * the lane starved and looks once more, so a kick that races with the refusal still wakes the
     * backend: either this look sees the new buffers, or the control thread sees the mark.
     */
    private static DescriptorChain nextReceiveChain(Lane lane, SplitVirtqueue queue) throws VirtqueueViolation {
        DescriptorChain c = queue.pop();
        if (c == null) {
            lane.starved = true;
            VarHandle.fullFence();
            c = queue.pop();
            if (c == null) {
                return null;
            }
        }
        if (c.readableSegments() != 0) {
            throw new VirtqueueViolation("device-readable buffer in a receive chain");
        }
        if (c.writableBytes() == 0) {
            throw new VirtqueueViolation("receive chain without buffer space");
        }
        return c;
    }

    /**
     * Writes bytes [from, from+length) of the stream "header, then frame" into the chain's
     * device-writable buffers, from their start; the caller checked that they hold {@code length}.
     */
    private static void copyOut(Lane lane, DescriptorChain chain, MemorySegment eth, long from, long length) {
        long pos = from;
        long done = 0;
        for (int i = chain.readableSegments(); i < chain.segmentCount() && done < length; i++) {
            MemorySegment dst = chain.slice(i);
            long dstAt = 0;
            long room = dst.byteSize();
            while (room > 0 && done < length) {
                long chunk;
                if (pos < HEADER_BYTES) {
                    chunk = Math.min(Math.min(HEADER_BYTES - pos, room), length - done);
                    MemorySegment.copy(lane.headerSegment, pos, dst, dstAt, chunk);
                } else {
                    chunk = Math.min(Math.min(eth.byteSize() - (pos - HEADER_BYTES), room), length - done);
                    MemorySegment.copy(eth, pos - HEADER_BYTES, dst, dstAt, chunk);
                }
                pos += chunk;
                dstAt += chunk;
                room -= chunk;
                done += chunk;
            }
        }
    }

    // ---- transmit ----

    /** Per transmit thread: the segment array handed to the backend and small buffers, reused for every frame. */
    private static final class TxScratch {
        MemorySegment[] segments = new MemorySegment[16];
        final byte[] header = new byte[HEADER_BYTES];
        final byte[] peek = new byte[64];
    }

    private void transmitLoop(Session s, int pair) {
        int qi = 2 * pair + 1;
        SplitVirtqueue queue = s.ctx().queue(qi);
        TxScratch scratch = new TxScratch();
        try (Arena arena = Arena.ofConfined()) {
            EventFd.Reader doorbell = s.ctx().doorbell(qi).reader(arena);
            while (!stopping && !broken) {
                if (pair < s.activePairs(activePairs)) {
                    drainTransmit(s, pair, qi, queue, scratch);
                }
                if (stopping || broken || doorbell.read() < 0) {
                    return;
                }
            }
        } catch (VirtqueueViolation v) {
            violation(s.ctx(), "transmit queue " + qi + ": " + v.getMessage());
        } catch (RuntimeException e) {
            violation(s.ctx(), "transmit queue " + qi + ": " + e);
        }
    }

    private void drainTransmit(Session s, int pair, int qi, SplitVirtqueue queue, TxScratch scratch) throws VirtqueueViolation {
        int unsignalled = 0;
        DescriptorChain chain;
        while (!stopping && !broken && pair < s.activePairs(activePairs) && (chain = queue.pop()) != null) {
            transmit(s, pair, chain, scratch);
            queue.addUsed(chain.head(), 0);
            if (++unsignalled == TX_NOTIFY_BATCH) {
                s.ctx().notifyQueue(qi);
                unsignalled = 0;
            }
        }
        if (unsignalled > 0) {
            s.ctx().notifyQueue(qi);
        }
    }

    private void transmit(Session s, int pair, DescriptorChain chain, TxScratch scratch) throws VirtqueueViolation {
        if (chain.readableSegments() != chain.segmentCount()) {
            throw new VirtqueueViolation("device-writable buffer in a transmit chain");
        }
        long bytes = chain.readableBytes();
        if (bytes < HEADER_BYTES) {
            throw new VirtqueueViolation("transmit chain of " + bytes + " bytes has no room for the " + HEADER_BYTES + "-byte header");
        }
        long frame = bytes - HEADER_BYTES;
        if (frame > MAX_FRAME_BYTES) {
            throw new VirtqueueViolation("transmit frame of " + frame + " bytes exceeds " + MAX_FRAME_BYTES);
        }
        byte[] h = scratch.header;
        chain.read(0, h, 0, HEADER_BYTES);
        int flags = h[0] & 0xff;
        int gso = h[1] & 0xff;
        boolean csumOk = (flags & HDR_F_NEEDS_CSUM) == 0 || s.hostCsum();
        boolean gsoOk = gso == GSO_NONE || (gso == GSO_TCPV4 && s.hostTso4()) || (gso == GSO_TCPV6 && s.hostTso6());
        if (!csumOk || !gsoOk || frame < ETH_HLEN) {
            // A bad frame, not a broken ring: drop it and carry on.
            metrics.txDroppedMalformed.increment();
            return;
        }
        int count = gather(chain, s.headerToBackend() ? 0 : HEADER_BYTES, scratch);
        if (multiQueue == null && s.activePairs(activePairs) > 1) {
            int n = (int) Math.min(scratch.peek.length, frame);
            chain.read(HEADER_BYTES, scratch.peek, 0, n);
            steering.transmitted(MemorySegment.ofArray(scratch.peek).asSlice(0, n), pair);
        }
        boolean sent;
        try {
            sent = lanes[pair].backend.send(scratch.segments, count);
        } catch (RuntimeException e) {
            sent = false;
        }
        Arrays.fill(scratch.segments, 0, count, null);
        if (sent) {
            metrics.txPackets.increment();
            metrics.txBytes.add(frame);
        } else {
            metrics.txDroppedBackend.increment();
        }
    }

    /** Host slices of the chain's readable buffers after the first {@code skip} bytes, into scratch.segments. */
    private static int gather(DescriptorChain chain, long skip, TxScratch scratch) {
        int count = 0;
        long left = skip;
        for (int i = 0; i < chain.readableSegments(); i++) {
            long len = Integer.toUnsignedLong(chain.length(i));
            if (left >= len) {
                left -= len;
                continue;
            }
            if (count == scratch.segments.length) {
                scratch.segments = Arrays.copyOf(scratch.segments, count * 2);
            }
            MemorySegment slice = chain.slice(i);
            scratch.segments[count++] = left == 0 ? slice : slice.asSlice(left);
            left = 0;
        }
        return count;
    }

    // ---- receive kicks and the control queue ----

    /** Watches the receive doorbells (to wake the backend) and the control queue, until the reset. */
    private void controlLoop(Session s, EventFd stopFd) {
        VirtioContext ctx = s.ctx();
        List<EventFd> fds = new ArrayList<>();
        List<Lane> kicked = new ArrayList<>();
        fds.add(stopFd);
        kicked.add(null);
        for (int p = 0; p < s.pairs(); p++) {
            if (ctx.queue(2 * p).isEnabled()) {
                fds.add(ctx.doorbell(2 * p));
                kicked.add(lanes[p]);
            }
        }
        boolean control = s.controlQueue() >= 0 && ctx.queue(s.controlQueue()).isEnabled();
        if (control) {
            fds.add(ctx.doorbell(s.controlQueue()));
        }
        int n = fds.size();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment pollFds = arena.allocate(8L * n, 8);
            EventFd.Reader[] readers = new EventFd.Reader[n];
            for (int i = 0; i < n; i++) {
                readers[i] = fds.get(i).reader(arena);
                pollFds.set(ValueLayout.JAVA_INT, 8L * i, fds.get(i).fd());
                pollFds.set(ValueLayout.JAVA_SHORT, 8L * i + 4, (short) Libc.POLLIN);
            }
            while (!stopping && !broken) {
                for (int i = 0; i < n; i++) {
                    pollFds.set(ValueLayout.JAVA_SHORT, 8L * i + 6, (short) 0);
                }
                if (Libc.poll(pollFds, n, -1) <= 0) {
                    continue;
                }
                if (stopping || broken || pollFds.get(ValueLayout.JAVA_SHORT, 6) != 0) {
                    return;
                }
                boolean controlKick = false;
                for (int i = 1; i < n; i++) {
                    if (pollFds.get(ValueLayout.JAVA_SHORT, 8L * i + 6) != 0) {
                        if (readers[i].read() < 0) {
                            return;
                        }
                        if (i < kicked.size()) {
                            receiveKicked(kicked.get(i));
                        } else {
                            controlKick = true;
                        }
                    }
                }
                if (controlKick) {
                    drainControl(s);
                }
            }
        } catch (VirtqueueViolation v) {
            violation(ctx, "control queue: " + v.getMessage());
        } catch (RuntimeException e) {
            violation(ctx, "control: " + e);
        }
    }

    /** The driver posted receive buffers: if a frame was refused, the backend may offer it again. */
    private static void receiveKicked(Lane lane) {
        if (lane.starved) {
            lane.starved = false;
            wake(lane.backend);
        }
    }

    private static void wake(NetBackend b) {
        try {
            b.wakeup();
        } catch (RuntimeException e) {
            // the backend's own trouble, not the driver's
        }
    }

    private void drainControl(Session s) throws VirtqueueViolation {
        int qi = s.controlQueue();
        SplitVirtqueue queue = s.ctx().queue(qi);
        DescriptorChain chain;
        while (!stopping && !broken && (chain = queue.pop()) != null) {
            if (chain.readableBytes() < 2 || chain.writableBytes() < 1) {
                throw new VirtqueueViolation("control command without its class/command header or ack byte");
            }
            int ack = command(s, chain);
            chain.write(0, new byte[] {(byte) ack}, 0, 1);
            queue.addUsed(chain.head(), 1);
            s.ctx().notifyQueue(qi);
        }
    }

    /** Runs one control command; returns the ack (VIRTIO_NET_OK or VIRTIO_NET_ERR). */
    private int command(Session s, DescriptorChain chain) {
        metrics.ctrlCommands.increment();
        byte[] head = new byte[2];
        chain.read(0, head, 0, 2);
        long dataBytes = chain.readableBytes() - 2;
        int ack = CTRL_ERR;
        if (dataBytes <= MAX_CTRL_DATA) {
            byte[] data = new byte[(int) dataBytes];
            chain.read(2, data, 0, data.length);
            ack = execute(s, head[0] & 0xff, head[1] & 0xff, data);
        }
        if (ack != CTRL_OK) {
            metrics.ctrlErrors.increment();
        }
        return ack;
    }

    private int execute(Session s, int cls, int cmd, byte[] data) {
        switch (cls) {
            case CTRL_RX -> {
                if (!s.ctrlRx() || data.length != 1) {
                    return CTRL_ERR;
                }
                boolean on = data[0] != 0;
                switch (cmd) {
                    case CTRL_RX_PROMISC -> filter.setPromiscuous(on);
                    case CTRL_RX_ALLMULTI -> filter.setAllMulticast(on);
                    default -> {
                        // ALLUNI, NOMULTI, NOUNI, NOBCAST need CTRL_RX_EXTRA, which is not offered
                        return CTRL_ERR;
                    }
                }
                return CTRL_OK;
            }
            case CTRL_MAC -> {
                if (cmd == CTRL_MAC_TABLE_SET && s.ctrlRx()) {
                    return macTable(data);
                }
                if (cmd == CTRL_MAC_ADDR_SET && s.ctrlMacAddr() && data.length == 6) {
                    filter.setMac(mac(data, 0));
                    return CTRL_OK;
                }
                return CTRL_ERR;
            }
            case CTRL_MQ -> {
                if (cmd != CTRL_MQ_VQ_PAIRS_SET || !s.mq() || data.length != 2) {
                    return CTRL_ERR;
                }
                int pairs = le16(data, 0);
                if (pairs < 1 || pairs > s.pairs()) {
                    return CTRL_ERR;
                }
                if (multiQueue != null) {
                    multiQueue.setActiveQueues(pairs);
                }
                activePairs = pairs;
                for (int p = 0; p < s.pairs(); p++) {
                    // Transmit threads of queues that just became active may have chains waiting,
                    s.ctx().doorbell(2 * p + 1).signal();
                    // and a frame refused for one receive queue may now belong to another.
                    if (multiQueue != null || p == 0) {
                        wake(lanes[p].backend);
                    }
                }
                return CTRL_OK;
            }
            default -> {
                return CTRL_ERR;
            }
        }
    }

    /** VIRTIO_NET_CTRL_MAC_TABLE_SET: a counted unicast list, then a counted multicast list, nothing after. */
    private int macTable(byte[] data) {
        if (data.length < 8) {
            return CTRL_ERR;
        }
        long uni = le32(data, 0);
        if (uni > (data.length - 8) / 6) {
            return CTRL_ERR;
        }
        int multiAt = 4 + 6 * (int) uni;
        long multi = le32(data, multiAt);
        if (multi != (data.length - multiAt - 4) / 6 || (data.length - multiAt - 4) % 6 != 0) {
            return CTRL_ERR;
        }
        long[] u = new long[(int) uni];
        for (int i = 0; i < u.length; i++) {
            u[i] = mac(data, 4 + 6 * i);
        }
        long[] m = new long[(int) multi];
        for (int i = 0; i < m.length; i++) {
            m[i] = mac(data, multiAt + 4 + 6 * i);
        }
        filter.setTable(u, m);
        return CTRL_OK;
    }

    private static long mac(byte[] b, int at) {
        long v = 0;
        for (int i = 0; i < 6; i++) {
            v = (v << 8) | (b[at + i] & 0xff);
        }
        return v;
    }

    private static int le16(byte[] b, int at) {
        return (b[at] & 0xff) | (b[at + 1] & 0xff) << 8;
    }

    private static long le32(byte[] b, int at) {
        return ((b[at] & 0xff) | (b[at + 1] & 0xff) << 8 | (b[at + 2] & 0xff) << 16 | (long) (b[at + 3] & 0xff) << 24);
    }

    private static void put16(byte[] b, int at, int v) {
        b[at] = (byte) v;
        b[at + 1] = (byte) (v >>> 8);
    }
}
