package dev.jkvm.backends.net;

import dev.jkvm.os.Errno;
import dev.jkvm.os.Libc;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The tap backend against the real kernel: each test makes a tap, moves it into a network
 * namespace of its own with 10.99.0.1/24, and plays the guest (10.99.0.2, 52:54:00:12:34:56)
 * through the backend. Needs root and /dev/net/tun; skipped, saying why, where they are missing.
 */
class TapBackendTest {
    static final byte[] GUEST_MAC = MacAddress.QEMU_FIRST.bytes();
    static final byte[] GUEST_IP = {10, 99, 0, 2};
    static final byte[] HOST_IP = {10, 99, 0, 1};

    private final List<AutoCloseable> toClose = new ArrayList<>();
    private final List<String> namespaces = new ArrayList<>();
    private final List<String> notices = new CopyOnWriteArrayList<>();
    private final Arena arena = Arena.ofShared();

    @TempDir
    Path dir;

    @BeforeAll
    static void needsRootAndTun() {
        assumeTrue(Files.exists(Path.of("/dev/net/tun")), "no /dev/net/tun on this machine: tap tests skipped");
        assumeTrue("root".equals(System.getProperty("user.name")), "not root: creating a tap needs CAP_NET_ADMIN; tap tests skipped");
        assumeTrue(Stream.of("/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip").anyMatch(p -> Files.isExecutable(Path.of(p))),
                "no `ip` (iproute2): tap tests skipped (scripts/test installs it)");
    }

    @AfterEach
    void tearDown() throws Exception {
        for (AutoCloseable c : toClose.reversed()) {
            c.close();
        }
        for (String ns : namespaces) {
            run("ip", "netns", "del", ns);
        }
        arena.close();
    }

    private static String uniqueName(String prefix) {
        return prefix + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt(1 << 24)).substring(2);
    }

    private TapBackend open(TapBackend.Options options) {
        TapBackend tap = TapBackend.open(options, notices::add);
        toClose.add(tap);
        return tap;
    }

    private static void run(String... command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), String.join(" ", command) + " did not finish");
        assertEquals(0, p.exitValue(), String.join(" ", command) + ": " + out);
    }

    /** Moves the tap into a new namespace as 10.99.0.1/24, up. */
    private String hostSide(String ifname) throws Exception {
        String ns = uniqueName("jkvmns");
        run("ip", "netns", "add", ns);
        namespaces.add(ns);
        run("ip", "link", "set", ifname, "netns", ns);
        run("ip", "-n", ns, "addr", "add", "10.99.0.1/24", "dev", ifname);
        run("ip", "-n", ns, "link", "set", ifname, "up");
        return ns;
    }

    /** An ARP request from the guest: who has 10.99.0.1? */
    static byte[] arpRequest() {
        ByteBuffer b = ByteBuffer.allocate(60);  // padded to Ethernet's minimum, as a NIC sends it
        b.put(new byte[] {-1, -1, -1, -1, -1, -1}).put(GUEST_MAC).putShort((short) 0x0806);
        b.putShort((short) 1).putShort((short) 0x0800).put((byte) 6).put((byte) 4).putShort((short) 1);
        b.put(GUEST_MAC).put(GUEST_IP).put(new byte[6]).put(HOST_IP);
        return b.array();
    }

    /** The kernel's answer: an ARP reply to our MAC saying 10.99.0.1 is at the tap's MAC. */
    static boolean isArpReply(byte[] f, int offset) {
        ByteBuffer b = ByteBuffer.wrap(f);
        return f.length >= offset + 42
                && b.getShort(offset + 12) == 0x0806
                && b.getShort(offset + 20) == 2
                && Arrays2.equals(f, offset + 28, HOST_IP)
                && Arrays2.equals(f, offset + 38, GUEST_IP)
                && Arrays2.equals(f, offset, GUEST_MAC);
    }

    private boolean send(NetBackend backend, byte[]... parts) {
        MemorySegment[] segments = new MemorySegment[parts.length];
        for (int i = 0; i < parts.length; i++) {
            segments[i] = arena.allocate(Math.max(1, parts[i].length)).asSlice(0, parts[i].length);
            MemorySegment.copy(parts[i], 0, segments[i], JAVA_BYTE, 0, parts[i].length);
        }
        return backend.send(segments, segments.length);
    }

    @Test
    void theKernelAnswersAnArpRequestFromTheGuest() throws Exception {
        String name = uniqueName("jkvmt");
        TapBackend tap = open(new TapBackend.Options(name, "no", "no", false, 1, -1));
        assertEquals(name, tap.ifname());
        assertEquals(NetBackend.Offloads.NONE, tap.offloads(), "vnet_hdr=off");
        hostSide(name);
        FrameCollector rx = new FrameCollector();
        tap.start(rx);
        byte[] request = arpRequest();
        // Split as a driver's descriptors would split it.
        assertTrue(send(tap, Arrays2.slice(request, 0, 14), Arrays2.slice(request, 14, 60)));
        byte[] reply = rx.next(f -> isArpReply(f, 0));
        assertEquals(42, reply.length, "the kernel's frame as it is (unpadded), with no header in front");
        assertEquals(0, tap.dropped());
        assertTrue(notices.isEmpty(), notices.toString());
    }

    @Test
    void vnetHeaderPassesThroughAndReceiveOffloadsReachTheKernel() throws Exception {
        String name = uniqueName("jkvmt");
        TapBackend tap = open(TapBackend.Options.named(name));
        assertTrue(tap.hasVnetHeader());
        assertEquals(new NetBackend.Offloads(true, true, true, true, false), tap.offloads());
        String ns = hostSide(name);
        FrameCollector rx = new FrameCollector();
        tap.start(rx);

        // Before the device turns the header on the backend strips the kernel's (10 bytes) and adds zeros.
        assertTrue(send(tap, arpRequest()));
        assertEquals(42, rx.next(f -> isArpReply(f, 0)).length);

        // virtio 1.0: a 12-byte header in front of every frame, both ways.
        tap.useVnetHeader(12);
        assertTrue(send(tap, new byte[12], arpRequest()));
        byte[] reply = rx.next(f -> isArpReply(f, 12));
        assertArrayEquals(new byte[12], Arrays2.slice(reply, 0, 12), "no offload in an ARP reply: flags 0, GSO_NONE");

        // A UDP datagram from the host side: with no receive offloads its checksum is complete.
        run("ip", "-n", ns, "neigh", "replace", "10.99.0.2", "lladdr", MacAddress.QEMU_FIRST.toString(), "dev", name, "nud", "permanent");
        run("ip", "netns", "exec", ns, "bash", "-c", "echo one > /dev/udp/10.99.0.2/4000");
        byte[] full = rx.next(f -> isUdpTo(f, 12, 4000));
        assertEquals(0, full[0], "flags: checksum already complete");

        // The guest takes partial checksums and TSO: the kernel now leaves the UDP checksum to it.
        tap.setReceiveOffloads(new NetBackend.Offloads(true, true, true, true, false));
        assertEquals(TapBackend.TUN_F_CSUM | TapBackend.TUN_F_TSO4 | TapBackend.TUN_F_TSO6, tap.receiveOffloadFlags());
        run("ip", "netns", "exec", ns, "bash", "-c", "echo two > /dev/udp/10.99.0.2/4001");
        byte[] partial = rx.next(f -> isUdpTo(f, 12, 4001));
        ByteBuffer h = ByteBuffer.wrap(partial).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(1, partial[0], "flags: VIRTIO_NET_HDR_F_NEEDS_CSUM");
        assertEquals(14 + 20, h.getShort(6), "csum_start: the UDP header");
        assertEquals(6, h.getShort(8), "csum_offset: UDP's checksum field");

        // A device reset: offloads off, header off; frames are plain again.
        tap.useVnetHeader(0);
        assertEquals(0, tap.receiveOffloadFlags());
        assertTrue(send(tap, arpRequest()));
        rx.next(f -> isArpReply(f, 0));
        assertThrows(IllegalStateException.class, () -> tap.setReceiveOffloads(new NetBackend.Offloads(true, true, false, false, false)),
                "offloads need the header");
        assertThrows(IllegalArgumentException.class, () -> tap.useVnetHeader(11));
    }

    private static boolean isUdpTo(byte[] f, int offset, int port) {
        ByteBuffer b = ByteBuffer.wrap(f);
        return f.length >= offset + 42 && b.getShort(offset + 12) == 0x0800 && f[offset + 23] == 17
                && Short.toUnsignedInt(b.getShort(offset + 36)) == port;
    }

    @Test
    void multiQueueOpensOneFdPerQueueAndSpreadsOverActiveQueues() throws Exception {
        long before = tunFds();
        String name = uniqueName("jkvmq");
        TapBackend tap = open(new TapBackend.Options(name, "no", "no", true, 3, -1));
        assertEquals(3, tap.queueCount());
        assertEquals(before + 3, tunFds(), "one /dev/net/tun fd per queue");
        int flags = Integer.decode(Files.readString(Path.of("/sys/class/net", name, "tun_flags")).trim());
        assertEquals(TapBackend.IFF_MULTI_QUEUE, flags & TapBackend.IFF_MULTI_QUEUE);
        assertEquals(1, txQueues(name), "until the driver enables more, only queue 0 takes frames");

        tap.setActiveQueues(3);
        assertEquals(3, txQueues(name));
        String ns = hostSide(name);
        FrameCollector rx = new FrameCollector();
        for (int q = 0; q < 3; q++) {
            tap.queue(q).start(rx);
        }
        for (int q = 0; q < 3; q++) {
            assertTrue(send(tap.queue(q), arpRequest()), "send on queue " + q);
            rx.next(f -> isArpReply(f, 0));
        }
        tap.setActiveQueues(1);
        assertEquals(1, txQueues(name, ns));
        assertTrue(send(tap, arpRequest()));
        rx.next(f -> isArpReply(f, 0));
        assertThrows(IllegalArgumentException.class, () -> tap.setActiveQueues(4));
    }

    private static long tunFds() throws IOException {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.filter(p -> {
                try {
                    return Files.readSymbolicLink(p).toString().equals("/dev/net/tun");
                } catch (IOException e) {
                    return false;
                }
            }).count();
        }
    }

    private static long txQueues(String ifname) throws IOException {
        try (Stream<Path> q = Files.list(Path.of("/sys/class/net", ifname, "queues"))) {
            return q.filter(p -> p.getFileName().toString().startsWith("tx-")).count();
        }
    }

    /** The same, for a tap that now lives in another namespace (its sysfs is only visible there). */
    private static long txQueues(String ifname, String ns) throws Exception {
        Process p = new ProcessBuilder("ip", "netns", "exec", ns, "sh", "-c", "ls /sys/class/net/" + ifname + "/queues | grep -c '^tx-'").start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        return Long.parseLong(out);
    }

    @Test
    void theKernelPicksTheNameWhenNoneIsGivenAndTheBackendSaysWhichOne() {
        TapBackend tap = open(new TapBackend.Options(null, "no", "no", true, 1, -1));
        assertTrue(tap.ifname().startsWith("tap"), tap.ifname());
        assertTrue(Files.exists(Path.of("/sys/class/net", tap.ifname())));
        assertEquals(List.of("tap interface " + tap.ifname() + " created"), notices);
    }

    @Test
    void clearErrorsForABusyNameAndANameThatIsNotATap() {
        String name = uniqueName("jkvmb");
        open(new TapBackend.Options(name, "no", "no", true, 1, -1));
        NetBackendException busy = assertThrows(NetBackendException.class, () -> open(new TapBackend.Options(name, "no", "no", true, 1, -1)));
        assertEquals("tap " + name + " is busy: another process has it open (or it has no queue left)", busy.getMessage());
        NetBackendException notTap = assertThrows(NetBackendException.class, () -> open(new TapBackend.Options("lo", "no", "no", true, 1, -1)));
        assertTrue(notTap.getMessage().startsWith("cannot open lo as a tap: an interface of that name exists that is not a tap"), notTap.getMessage());
        assertEquals("no permission to create tap tap0: run as root or give jkvm CAP_NET_ADMIN", TapBackend.setIffError(Errno.EPERM, "tap0"));
        assertEquals("no permission to create a tap interface: run as root or give jkvm CAP_NET_ADMIN", TapBackend.setIffError(Errno.EPERM, "tap%d"));
        assertThrows(NetBackendException.class, () -> new TapBackend.Options("a-name-that-is-too-long", null, null, true, 1, -1));
        assertThrows(NetBackendException.class, () -> new TapBackend.Options(null, null, null, true, 2, 5));
    }

    @Test
    void scriptsRunWithTheInterfaceNameAndAFailingScriptIsAnError() throws Exception {
        Path log = dir.resolve("log");
        Path up = script("up", "echo \"up $1\" >> " + log);
        Path down = script("down", "echo \"down $1\" >> " + log);
        String name = uniqueName("jkvms");
        TapBackend tap = TapBackend.open(new TapBackend.Options(name, up.toString(), down.toString(), true, 1, -1), notices::add);
        assertEquals(List.of("up " + name), Files.readAllLines(log));
        tap.close();
        assertEquals(List.of("up " + name, "down " + name), Files.readAllLines(log));
        assertFalse(Files.exists(Path.of("/sys/class/net", name)), "the tap went with its last fd");

        Path failing = script("fail", "exit 3");
        NetBackendException e = assertThrows(NetBackendException.class,
                () -> TapBackend.open(new TapBackend.Options(name, failing.toString(), "no", true, 1, -1), notices::add));
        assertEquals("network script " + failing + " " + name + " failed with status 3", e.getMessage());
        assertFalse(Files.exists(Path.of("/sys/class/net", name)), "a failed open leaves no tap behind");
    }

    private Path script(String name, String body) throws IOException {
        Path p = dir.resolve(name);
        Files.writeString(p, "#!/bin/sh\n" + body + "\n");
        p.toFile().setExecutable(true);
        return p;
    }

    @Test
    void anInheritedFdIsUsedAsItIs() throws Exception {
        String name = uniqueName("jkvmf");
        int fd = Libc.open("/dev/net/tun", Libc.O_RDWR | Libc.O_CLOEXEC, 0);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ifr = a.allocate(40, 8);
            byte[] n = name.getBytes(StandardCharsets.US_ASCII);
            MemorySegment.copy(n, 0, ifr, JAVA_BYTE, 0, n.length);
            ifr.set(JAVA_SHORT, 16, (short) (TapBackend.IFF_TAP | TapBackend.IFF_NO_PI | TapBackend.IFF_VNET_HDR));
            Libc.ioctl("TUNSETIFF", fd, TapBackend.TUNSETIFF, ifr);
        }
        TapBackend tap = open(new TapBackend.Options(null, null, null, true, 1, fd));
        assertEquals(name, tap.ifname());
        assertTrue(tap.hasVnetHeader(), "the fd's own IFF_VNET_HDR");
        hostSide(name);
        FrameCollector rx = new FrameCollector();
        tap.start(rx);
        assertTrue(send(tap, arpRequest()));
        rx.next(f -> isArpReply(f, 0));
        assertTrue(notices.isEmpty(), "fd= runs no script: " + notices);

        int notATap = Libc.eventfd(0, Libc.EFD_CLOEXEC);
        try {
            NetBackendException e = assertThrows(NetBackendException.class, () -> open(new TapBackend.Options(null, null, null, true, 1, notATap)));
            assertTrue(e.getMessage().startsWith("fd=" + notATap + " is not an open tap device"), e.getMessage());
        } finally {
            Libc.close(notATap);
        }
    }

    @Test
    void aRefusedFrameWaitsForWakeup() throws Exception {
        String name = uniqueName("jkvmw");
        TapBackend tap = open(new TapBackend.Options(name, "no", "no", false, 1, -1));
        hostSide(name);
        FrameCollector rx = new FrameCollector();
        rx.accepting.set(false);
        tap.start(rx);
        assertTrue(send(tap, arpRequest()));
        rx.awaitRefusals(1);
        rx.accepting.set(true);
        tap.wakeup();
        rx.next(f -> isArpReply(f, 0));
        assertEquals(0, tap.dropped());
    }

    /** Small byte-array helpers. */
    static final class Arrays2 {
        static boolean equals(byte[] f, int at, byte[] expected) {
            return java.util.Arrays.equals(f, at, at + expected.length, expected, 0, expected.length);
        }

        static byte[] slice(byte[] b, int from, int to) {
            return java.util.Arrays.copyOfRange(b, from, to);
        }
    }
}
