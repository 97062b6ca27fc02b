package dev.jkvm.backends.net;

import dev.jkvm.os.Errno;
import dev.jkvm.os.Libc;
import dev.jkvm.os.NativeException;

import java.io.File;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * -netdev tap: a host tap interface through /dev/net/tun, as QEMU's net/tap-linux.c opens it
 * (IFF_TAP | IFF_NO_PI, IFF_VNET_HDR when it can, IFF_MULTI_QUEUE with one fd per queue pair).
 *
 * <p>Receive: one thread per queue polls the tap fd and its wakeup eventfd, reads each frame into
 * a {@link FrameQueue} slot sized for a 64 KiB GSO frame plus header, and offers it to the
 * device. A refused frame stays queued until {@link #wakeup()}; the fd is read only while the
 * queue has room, so beyond that the kernel holds frames back (and drops them when its own queue
 * is full, as for any slow receiver).
 *
 * <p>Transmit: one writev per frame straight from the guest's buffers.
 *
 * <p>The vnet header: with IFF_VNET_HDR the kernel puts a header before every frame. While the
 * device does not use one ({@link #useVnetHeader} 0) the tap keeps a 10-byte header that this
 * class strips on receive and fills with zeros on send; once the device uses 10 or 12 bytes the
 * tap is set to the same size (TUNSETVNETHDRSZ) and headers pass through untouched, so checksum
 * offload and TSO work end to end once {@link #setReceiveOffloads} allows them (TUNSETOFFLOAD).
 */
public final class TapBackend implements MultiQueueNetBackend {
    static final long TUNSETIFF = 0x400454caL;
    static final long TUNGETFEATURES = 0x800454cfL;
    static final long TUNSETOFFLOAD = 0x400454d0L;
    static final long TUNGETIFF = 0x800454d2L;
    static final long TUNSETVNETHDRSZ = 0x400454d8L;
    static final long TUNSETQUEUE = 0x400454d9L;
    static final int IFF_TAP = 0x0002;
    static final int IFF_NO_PI = 0x1000;
    static final int IFF_VNET_HDR = 0x4000;
    static final int IFF_MULTI_QUEUE = 0x0100;
    static final int IFF_ATTACH_QUEUE = 0x0200;
    static final int IFF_DETACH_QUEUE = 0x0400;
    static final int TUN_F_CSUM = 0x01;
    static final int TUN_F_TSO4 = 0x02;
    static final int TUN_F_TSO6 = 0x04;
    static final int TUN_F_UFO = 0x10;
    private static final int IFNAMSIZ = 16;
    private static final long IFREQ_BYTES = 40;
    /** The kernel's limit on queues of one tun device (MAX_TAP_QUEUES). */
    public static final int MAX_QUEUES = 256;
    /** The smallest virtio-net header, the size a tap starts with. */
    private static final int BASE_VNET_HDR = 10;
    /** A frame as large as TSO makes it, with room to spare, as QEMU's NET_BUFSIZE. */
    static final int MAX_FRAME = 4096 + 65536;
    private static final int READ_BYTES = MAX_FRAME + 12;
    /** Frames one queue may hold for a guest that is not taking them: a few 64 KiB ones, or many small ones. */
    private static final int RX_RING_BYTES = 4 * READ_BYTES;
    private static final int RX_MAX_FRAMES = 256;
    private static final int READ_BATCH = 64;
    private static final MemorySegment ZERO_HEADER = Arena.global().allocate(16, 8);

    public static final String DEFAULT_SCRIPT = "/etc/qemu-ifup";
    public static final String DEFAULT_DOWNSCRIPT = "/etc/qemu-ifdown";

    /**
     * How to open the tap; the fields of -netdev tap.
     *
     * @param ifname     the interface name, or null for the kernel's next "tapN"
     * @param script     run as "script IFNAME" once the tap exists; null for QEMU's default
     *                   (/etc/qemu-ifup, skipped when it does not exist), "no" or "" for none
     * @param downscript run at close the same way; null for /etc/qemu-ifdown
     * @param vnetHdr    use IFF_VNET_HDR when the kernel has it (QEMU's default)
     * @param queues     queue pairs: more than 1 opens a multi-queue tap with one fd each
     * @param fd         an already-open tap fd to use instead (fd=), or -1
     */
    public record Options(String ifname, String script, String downscript, boolean vnetHdr, int queues, int fd) {
        public Options {
            if (queues < 1 || queues > MAX_QUEUES) {
                throw new NetBackendException("queues=" + queues + " must be from 1 to " + MAX_QUEUES);
            }
            if (fd >= 0 && queues > 1) {
                throw new NetBackendException("fd= gives one queue; queues=" + queues + " needs a multi-queue tap jkvm opens itself");
            }
            if (ifname != null && (ifname.isEmpty() || ifname.getBytes(StandardCharsets.UTF_8).length >= IFNAMSIZ || ifname.contains("/"))) {
                throw new NetBackendException("ifname=" + ifname + " is not an interface name (1 to 15 characters, no '/')");
            }
        }

        /** A tap named by the kernel, no scripts, vnet header when available, one queue. */
        public static Options named(String ifname) {
            return new Options(ifname, "no", "no", true, 1, -1);
        }
    }

    /** The header mode frames were read under; a frame read under another generation is dropped. */
    private record HeaderMode(int generation, int tapHeader, int deviceHeader, int offloadFlags) {
        int strip() {
            return tapHeader - deviceHeader;
        }
    }

    private final String ifname;
    private final boolean hostVnetHdr;
    private final Queue[] queues;
    private final String downscript;
    private final Consumer<String> notices;
    private final Object modeLock = new Object();
    /** Seqlock around header-mode changes: odd while a change is under way. */
    private volatile int modeChanging;
    private volatile HeaderMode mode;
    private int activeQueues = 1;
    private volatile boolean closed;

    private TapBackend(String ifname, boolean hostVnetHdr, int[] fds, String downscript, Consumer<String> notices) {
        this.ifname = ifname;
        this.hostVnetHdr = hostVnetHdr;
        this.downscript = downscript;
        this.notices = notices;
        this.mode = new HeaderMode(0, hostVnetHdr ? BASE_VNET_HDR : 0, 0, 0);
        this.queues = new Queue[fds.length];
        for (int i = 0; i < fds.length; i++) {
            queues[i] = new Queue(i, fds[i]);
        }
    }

    /**
     * Opens (or creates) the tap and runs its script. Every problem is a one-line
     * {@link NetBackendException}; {@code notices} hears what the user should know but that is not
     * an error (the kernel's choice of name, a default script that does not exist).
     */
    public static TapBackend open(Options options, Consumer<String> notices) {
        if (options.fd() >= 0) {
            return fromFd(options.fd(), notices);
        }
        List<Integer> fds = new ArrayList<>();
        try {
            int first = openTun();
            fds.add(first);
            int features = tunFeatures(first);
            boolean vnet = options.vnetHdr() && (features & IFF_VNET_HDR) != 0;
            if (options.vnetHdr() && !vnet) {
                notices.accept("this kernel's tun driver has no IFF_VNET_HDR: no checksum or segmentation offload");
            }
            boolean multi = options.queues() > 1;
            if (multi && (features & IFF_MULTI_QUEUE) == 0) {
                throw new NetBackendException("this kernel's tun driver has no multi-queue support (queues=" + options.queues() + ")");
            }
            int flags = IFF_TAP | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0) | (multi ? IFF_MULTI_QUEUE : 0);
            String requested = options.ifname() == null ? "tap%d" : options.ifname();
            String name = setIff(first, requested, flags);
            for (int q = 1; q < options.queues(); q++) {
                int fd = openTun();
                fds.add(fd);
                setIff(fd, name, flags);
            }
            int[] fdArray = fds.stream().mapToInt(Integer::intValue).toArray();
            if (vnet) {
                setVnetHeaderSize(first, BASE_VNET_HDR);
            }
            // As QEMU does: no receive offloads until the device says its guest takes them.
            Libc.ioctl("TUNSETOFFLOAD", first, TUNSETOFFLOAD, 0L);
            for (int q = 1; q < fdArray.length; q++) {
                setQueue(fdArray[q], false);
            }
            if (options.ifname() == null) {
                notices.accept("tap interface " + name + " created");
            }
            String up = scriptPath(options.script(), DEFAULT_SCRIPT);
            if (options.script() == null && up == null) {
                notices.accept("no " + DEFAULT_SCRIPT + ", so no script configures " + name + " (script=no says this is intended)");
            }
            if (up != null) {
                runScript(up, name);
            }
            return new TapBackend(name, vnet, fdArray, scriptPath(options.downscript(), DEFAULT_DOWNSCRIPT), notices);
        } catch (RuntimeException e) {
            for (int fd : fds) {
                Libc.closeQuietly(fd);
            }
            if (e instanceof NativeException n) {
                throw new NetBackendException("tap: " + n.getMessage());
            }
            throw e;
        }
    }

    /** fd=: a tap someone else opened and handed down; its flags say whether it has a vnet header. */
    private static TapBackend fromFd(int fd, Consumer<String> notices) {
        String name;
        int flags;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ifr = arena.allocate(IFREQ_BYTES, 8);
            MemorySegment state = Libc.allocateCallState(arena);
            if (Libc.ioctlRaw(state, fd, TUNGETIFF, ifr) < 0) {
                throw new NetBackendException("fd=" + fd + " is not an open tap device (TUNGETIFF: " + Errno.describe(Libc.errno(state)) + ")");
            }
            name = ifr.getString(0);
            flags = Short.toUnsignedInt(ifr.get(JAVA_SHORT, IFNAMSIZ));
        }
        if ((flags & IFF_TAP) == 0) {
            throw new NetBackendException("fd=" + fd + " is a tun device (" + name + "), not a tap: jkvm needs Ethernet frames");
        }
        if ((flags & IFF_NO_PI) == 0) {
            throw new NetBackendException("fd=" + fd + " (" + name + ") was opened without IFF_NO_PI");
        }
        boolean vnet = (flags & IFF_VNET_HDR) != 0;
        try {
            Libc.fcntl(fd, Libc.F_SETFL, Libc.fcntl(fd, Libc.F_GETFL, 0) | Libc.O_NONBLOCK);
            if (vnet) {
                setVnetHeaderSize(fd, BASE_VNET_HDR);
            }
            Libc.ioctl("TUNSETOFFLOAD", fd, TUNSETOFFLOAD, 0L);
        } catch (NativeException e) {
            throw new NetBackendException("fd=" + fd + ": " + e.getMessage());
        }
        return new TapBackend(name, vnet, new int[] {fd}, null, notices);
    }

    private static int openTun() {
        try {
            return Libc.open("/dev/net/tun", Libc.O_RDWR | Libc.O_CLOEXEC | Libc.O_NONBLOCK, 0);
        } catch (NativeException e) {
            throw new NetBackendException(switch (e.errno()) {
                case Errno.ENOENT, Errno.ENODEV, Errno.ENXIO -> "no /dev/net/tun: the kernel's tun driver is missing (modprobe tun)";
                case Errno.EACCES, Errno.EPERM -> "no permission to open /dev/net/tun: run as root or give jkvm CAP_NET_ADMIN";
                default -> "cannot open /dev/net/tun: " + Errno.describe(e.errno());
            });
        }
    }

    private static int tunFeatures(int fd) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment features = arena.allocate(JAVA_INT);
            Libc.ioctl("TUNGETFEATURES", fd, TUNGETFEATURES, features);
            return features.get(JAVA_INT, 0);
        }
    }

    /** TUNSETIFF; returns the name the interface got (the kernel fills in "tap%d"). */
    private static String setIff(int fd, String name, int flags) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ifr = arena.allocate(IFREQ_BYTES, 8);
            byte[] bytes = name.getBytes(StandardCharsets.UTF_8);
            MemorySegment.copy(bytes, 0, ifr, JAVA_BYTE, 0, bytes.length);
            ifr.set(JAVA_SHORT, IFNAMSIZ, (short) flags);
            MemorySegment state = Libc.allocateCallState(arena);
            if (Libc.ioctlRaw(state, fd, TUNSETIFF, ifr) < 0) {
                throw new NetBackendException(setIffError(Libc.errno(state), name));
            }
            return ifr.getString(0);
        }
    }

    /** The one line for a failed TUNSETIFF. */
    static String setIffError(int errno, String name) {
        String shown = name.contains("%d") ? "a tap interface" : "tap " + name;
        return switch (errno) {
            case Errno.EPERM, Errno.EACCES -> "no permission to create " + shown + ": run as root or give jkvm CAP_NET_ADMIN";
            case Errno.EBUSY -> shown + " is busy: another process has it open (or it has no queue left)";
            case Errno.EINVAL -> "cannot open " + name + " as a tap: an interface of that name exists that is not a tap, "
                    + "or a tap with another multi-queue or vnet_hdr setting";
            default -> "cannot create " + shown + ": TUNSETIFF: " + Errno.describe(errno);
        };
    }

    private static void setVnetHeaderSize(int fd, int bytes) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment size = arena.allocate(JAVA_INT);
            size.set(JAVA_INT, 0, bytes);
            Libc.ioctl("TUNSETVNETHDRSZ", fd, TUNSETVNETHDRSZ, size);
        }
    }

    private static void setQueue(int fd, boolean attach) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ifr = arena.allocate(IFREQ_BYTES, 8);
            ifr.set(JAVA_SHORT, IFNAMSIZ, (short) (attach ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE));
            Libc.ioctl("TUNSETQUEUE", fd, TUNSETQUEUE, ifr);
        }
    }

    /** The script to run: null when none ("no", "", or a default that does not exist). */
    private static String scriptPath(String configured, String defaultPath) {
        if (configured == null) {
            return Files.isRegularFile(Path.of(defaultPath)) ? defaultPath : null;
        }
        if (configured.isEmpty() || configured.equals("no")) {
            return null;
        }
        return configured;
    }

    /** Runs "script IFNAME" as QEMU does, with the VMM's stdout and stderr and no stdin. */
    private static void runScript(String script, String ifname) {
        Process p;
        try {
            p = new ProcessBuilder(script, ifname)
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .redirectOutput(ProcessBuilder.Redirect.INHERIT)
                    .redirectError(ProcessBuilder.Redirect.INHERIT)
                    .start();
        } catch (IOException e) {
            throw new NetBackendException("could not launch network script " + script + ": " + e.getMessage());
        }
        try {
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new NetBackendException("network script " + script + " did not finish in 60 s");
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new NetBackendException("interrupted while network script " + script + " ran");
        }
        if (p.exitValue() != 0) {
            throw new NetBackendException("network script " + script + " " + ifname + " failed with status " + p.exitValue());
        }
    }

    /** The interface's name (the kernel's choice when no ifname= was given). */
    public String ifname() {
        return ifname;
    }

    /** Whether the tap has IFF_VNET_HDR, so that {@link #useVnetHeader} and offloads can be used. */
    public boolean hasVnetHeader() {
        return hostVnetHdr;
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
        if (count < 1 || count > queues.length) {
            throw new IllegalArgumentException("tap " + ifname + " has " + queues.length + " queues, not " + count);
        }
        synchronized (modeLock) {
            if (closed || count == activeQueues) {
                return;
            }
            for (int q = 1; q < queues.length; q++) {
                boolean want = q < count;
                boolean was = q < activeQueues;
                if (want != was) {
                    queues[q].setAttached(want);
                }
            }
            activeQueues = count;
        }
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
        return hostVnetHdr ? new Offloads(true, true, true, true, false) : Offloads.NONE;
    }

    @Override
    public void useVnetHeader(int headerBytes) {
        if (headerBytes != 0 && headerBytes != 10 && headerBytes != 12) {
            throw new IllegalArgumentException("a virtio-net header is 10 or 12 bytes, not " + headerBytes);
        }
        if (headerBytes != 0 && !hostVnetHdr) {
            throw new IllegalStateException("tap " + ifname + " has no vnet header (vnet_hdr=off or no kernel support)");
        }
        synchronized (modeLock) {
            HeaderMode old = mode;
            if (old.deviceHeader() == headerBytes || closed) {
                return;
            }
            int tapHeader = hostVnetHdr ? Math.max(headerBytes, BASE_VNET_HDR) : 0;
            int offloads = headerBytes == 0 ? 0 : old.offloadFlags();
            changeMode(() -> {
                if (tapHeader != old.tapHeader()) {
                    setVnetHeaderSize(queues[0].fd, tapHeader);
                }
                if (offloads != old.offloadFlags()) {
                    Libc.ioctl("TUNSETOFFLOAD", queues[0].fd, TUNSETOFFLOAD, offloads);
                }
            }, new HeaderMode(old.generation() + 1, tapHeader, headerBytes, offloads));
        }
    }

    @Override
    public void setReceiveOffloads(Offloads accepted) {
        int flags = (accepted.checksum() ? TUN_F_CSUM : 0) | (accepted.tso4() ? TUN_F_TSO4 : 0)
                | (accepted.tso6() ? TUN_F_TSO6 : 0) | (accepted.ufo() ? TUN_F_UFO : 0);
        Offloads offered = offloads();
        if ((accepted.checksum() && !offered.checksum()) || (accepted.tso4() && !offered.tso4())
                || (accepted.tso6() && !offered.tso6()) || (accepted.ufo() && !offered.ufo())) {
            throw new IllegalArgumentException("tap " + ifname + " offers " + offered + ", not " + accepted);
        }
        if ((flags & (TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_UFO)) != 0 && (flags & TUN_F_CSUM) == 0) {
            throw new IllegalArgumentException("segmentation offload needs checksum offload too (virtio-net's GUEST_TSO needs GUEST_CSUM)");
        }
        synchronized (modeLock) {
            HeaderMode old = mode;
            if (old.offloadFlags() == flags || closed) {
                return;
            }
            if (flags != 0 && old.deviceHeader() == 0) {
                throw new IllegalStateException("receive offloads need the vnet header in use (useVnetHeader first)");
            }
            changeMode(() -> Libc.ioctl("TUNSETOFFLOAD", queues[0].fd, TUNSETOFFLOAD, flags),
                    new HeaderMode(old.generation() + 1, old.tapHeader(), old.deviceHeader(), flags));
        }
    }

    /** The TUN_F_* flags in force, for tests and diagnostics. */
    int receiveOffloadFlags() {
        return mode.offloadFlags();
    }

    private void changeMode(Runnable ioctls, HeaderMode next) {
        modeChanging++;
        try {
            ioctls.run();
            mode = next;
        } finally {
            modeChanging++;
        }
    }

    @Override
    public long dropped() {
        long sum = 0;
        for (Queue q : queues) {
            sum += q.dropped();
        }
        return sum;
    }

    @Override
    public void close() {
        synchronized (modeLock) {
            if (closed) {
                return;
            }
            closed = true;
        }
        for (Queue q : queues) {
            q.stop();
        }
        if (downscript != null) {
            try {
                runScript(downscript, ifname);
            } catch (NetBackendException e) {
                notices.accept(e.getMessage());
            }
        }
        for (Queue q : queues) {
            q.closeFds();
        }
    }

    /** One queue pair: an fd, its receive thread and its drop count. */
    private final class Queue implements NetBackend {
        private final int index;
        private final int fd;
        private final EventSignal signal = new EventSignal();
        private final AtomicBoolean wakeRequested = new AtomicBoolean();
        private final AtomicLong dropped = new AtomicLong();
        private volatile Receiver receiver;
        private volatile boolean stopping;
        /** Whether the kernel hands this queue frames; a detached queue's fd polls as an error. */
        private volatile boolean attached;
        private Thread thread;
        private boolean reportedReceiverFailure;

        Queue(int index, int fd) {
            this.index = index;
            this.fd = fd;
            this.attached = index == 0;
        }

        /** TUNSETQUEUE; the receive thread stops polling a detached fd (it would poll as an error). */
        void setAttached(boolean attach) {
            if (attach) {
                setQueue(fd, true);
                attached = true;
            } else {
                attached = false;
                setQueue(fd, false);
            }
            signal.signal();
        }

        @Override
        public synchronized void start(Receiver receiver) {
            if (closed) {
                throw new IllegalStateException("tap " + ifname + " is closed");
            }
            this.receiver = receiver;
            if (thread == null) {
                thread = Thread.ofPlatform().daemon().name("net-tap-" + ifname + "-rx" + index).start(this::receiveLoop);
            } else {
                wakeup();
            }
        }

        @Override
        public void wakeup() {
            if (!wakeRequested.getAndSet(true)) {
                signal.signal();
            }
        }

        @Override
        public boolean send(MemorySegment[] buffers, int count) {
            if (closed) {
                dropped.incrementAndGet();
                return false;
            }
            HeaderMode m = mode;
            int pad = m.tapHeader() - m.deviceHeader();
            int entries = count + (pad > 0 ? 1 : 0);
            if (entries > Libc.IOV_MAX) {
                dropped.incrementAndGet();
                return false;
            }
            TxScratch tx = TxScratch.get();
            MemorySegment iov = tx.iov(entries);
            int i = 0;
            if (pad > 0) {
                TxScratch.setIov(iov, i++, ZERO_HEADER.address(), pad);
            }
            for (int b = 0; b < count; b++) {
                MemorySegment s = buffers[b];
                if (!s.isNative()) {
                    throw new IllegalArgumentException("frames are sent from native memory (guest RAM), not a heap segment");
                }
                TxScratch.setIov(iov, i++, s.address(), s.byteSize());
            }
            if (Libc.writevRaw(tx.callState, fd, iov, entries) < 0) {
                dropped.incrementAndGet();
                return false;
            }
            return true;
        }

        @Override
        public Offloads offloads() {
            return TapBackend.this.offloads();
        }

        @Override
        public void useVnetHeader(int headerBytes) {
            TapBackend.this.useVnetHeader(headerBytes);
        }

        @Override
        public void setReceiveOffloads(Offloads accepted) {
            TapBackend.this.setReceiveOffloads(accepted);
        }

        @Override
        public long dropped() {
            return dropped.get();
        }

        @Override
        public void close() {
            // The queues live and die with the tap.
        }

        void stop() {
            Thread t;
            synchronized (this) {
                stopping = true;
                t = thread;
            }
            signal.signal();
            if (t != null) {
                try {
                    t.join(TimeUnit.SECONDS.toMillis(10));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }

        void closeFds() {
            Libc.closeQuietly(fd);
            signal.close();
        }

        private void receiveLoop() {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment callState = Libc.allocateCallState(arena);
                MemorySegment pollfds = arena.allocate(16, 8);
                MemorySegment scratch = arena.allocate(8, 8);
                FrameQueue pending = new FrameQueue(arena, RX_RING_BYTES, RX_MAX_FRAMES);
                boolean blocked = false;
                while (!stopping) {
                    if (wakeRequested.get() && wakeRequested.getAndSet(false)) {
                        blocked = false;
                    }
                    blocked = deliver(pending, blocked);
                    MemorySegment slot = attached ? pending.reserve(READ_BYTES) : null;
                    pollfds.set(JAVA_INT, 0, signal.fd());
                    pollfds.set(JAVA_SHORT, 4, (short) Libc.POLLIN);
                    pollfds.set(JAVA_SHORT, 6, (short) 0);
                    // A negative fd is skipped by poll: the tap is not read while the queue is full.
                    pollfds.set(JAVA_INT, 8, slot == null ? -1 : fd);
                    pollfds.set(JAVA_SHORT, 12, (short) Libc.POLLIN);
                    pollfds.set(JAVA_SHORT, 14, (short) 0);
                    if (Libc.poll(pollfds, 2, -1) <= 0) {
                        continue;
                    }
                    if (pollfds.get(JAVA_SHORT, 6) != 0) {
                        signal.drain(callState, scratch);
                    }
                    short revents = pollfds.get(JAVA_SHORT, 14);
                    if (slot == null || revents == 0) {
                        continue;
                    }
                    if ((revents & (Libc.POLLERR | Libc.POLLHUP | Libc.POLLNVAL)) != 0 && (revents & Libc.POLLIN) == 0) {
                        if (!attached) {
                            continue;
                        }
                        notices.accept("tap " + ifname + " queue " + index + " went away (poll revents 0x"
                                + Integer.toHexString(revents) + "): no more frames for the guest from it");
                        return;
                    }
                    for (int n = 0; n < READ_BATCH && slot != null && !stopping; n++) {
                        int before = modeChanging;
                        HeaderMode m = mode;
                        long got = Libc.readRaw(callState, fd, slot, READ_BYTES);
                        if (got < 0) {
                            int e = Libc.errno(callState);
                            if (e == Errno.EAGAIN || e == Errno.EINTR || !attached) {
                                break;
                            }
                            notices.accept("tap " + ifname + " queue " + index + ": read: " + Errno.describe(e) + ": no more frames for the guest from it");
                            return;
                        }
                        if (got == 0) {
                            break;
                        }
                        if ((before & 1) != 0 || before != modeChanging || got <= m.strip()) {
                            // Read while the header size changed under it, or a runt: its header cannot be trusted.
                            dropped.incrementAndGet();
                            continue;
                        }
                        pending.commit((int) got, m.generation());
                        blocked = deliver(pending, blocked);
                        slot = pending.reserve(READ_BYTES);
                    }
                }
            } catch (RuntimeException e) {
                notices.accept("tap " + ifname + " queue " + index + " receive thread failed: " + e);
            }
        }

        /** Offers queued frames in order until one is refused; returns whether delivery is now blocked. */
        private boolean deliver(FrameQueue pending, boolean blocked) {
            while (!blocked && !pending.isEmpty()) {
                HeaderMode m = mode;
                if (pending.peekTag() != m.generation()) {
                    pending.pop();
                    dropped.incrementAndGet();
                    continue;
                }
                MemorySegment frame = pending.peek();
                boolean taken;
                try {
                    taken = receiver.receive(frame.asSlice(m.strip()));
                } catch (RuntimeException e) {
                    if (!reportedReceiverFailure) {
                        reportedReceiverFailure = true;
                        notices.accept("tap " + ifname + ": the NIC failed to take a frame: " + e);
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
            return blocked;
        }
    }
}
