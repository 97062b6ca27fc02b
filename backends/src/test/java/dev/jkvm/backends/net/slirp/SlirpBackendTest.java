package dev.jkvm.backends.net.slirp;

import dev.jkvm.backends.net.NetBackend;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The user-mode backend driven the way a guest's NIC would drive it, with Ethernet frames built here; no VM. */
class SlirpBackendTest {
    static final byte[] GUEST_MAC = Frames.mac("52:54:00:12:34:56");
    static final byte[] SLIRP_MAC = Frames.mac("52:55:0a:00:02:02");
    static final int GUEST = Frames.ip("10.0.2.15");
    static final int HOST = Frames.ip("10.0.2.2");
    static final int DNS = Frames.ip("10.0.2.3");

    private final List<AutoCloseable> open = new ArrayList<>();

    @AfterEach
    void closeAll() throws Exception {
        for (AutoCloseable c : open.reversed()) {
            c.close();
        }
    }

    private TestGuest guest(UserNetOptions options) {
        TestGuest g = new TestGuest(new SlirpBackend(options), GUEST_MAC, GUEST);
        open.add(g);
        return g;
    }

    private TestGuest guest() {
        return guest(UserNetOptions.defaults());
    }

    private static UserNetOptions withForwards(boolean restrict, String... rules) {
        return UserNetOptions.parse(null, null, null, null, restrict, List.of(rules));
    }

    @Test
    void arpForTheGatewayAndDnsIsAnsweredWithSlirpsMacs() throws Exception {
        TestGuest g = guest();
        g.send(Frames.arpRequest(GUEST_MAC, GUEST, HOST));
        byte[] reply = g.await("ARP reply for 10.0.2.2", f -> Frames.isArp(f, 2));
        assertArrayEquals(GUEST_MAC, Frames.ethDst(reply));
        assertArrayEquals(SLIRP_MAC, Frames.ethSrc(reply));
        assertArrayEquals(SLIRP_MAC, Frames.arpSenderMac(reply));
        assertEquals(HOST, Frames.arpSenderIp(reply));
        assertArrayEquals(GUEST_MAC, Frames.arpTargetMac(reply));
        assertEquals(GUEST, Frames.arpTargetIp(reply));

        // Gathered from two buffers, as a device with a split descriptor chain sends it.
        g.sendSplit(Frames.arpRequest(GUEST_MAC, GUEST, DNS), 20);
        byte[] dns = g.await("ARP reply for 10.0.2.3", f -> Frames.isArp(f, 2));
        assertArrayEquals(Frames.mac("52:55:0a:00:02:03"), Frames.arpSenderMac(dns));
        assertEquals(DNS, Frames.arpSenderIp(dns));
        assertEquals(0, g.backend.dropped());
    }

    @Test
    void dhcpDiscoverIsOfferedTheFirstLeaseWithRouterAndDns() throws Exception {
        TestGuest g = guest();
        g.send(Frames.dhcpDiscover(GUEST_MAC, 0x1234abcd));
        byte[] offer = g.await("DHCP OFFER", f -> Frames.isUdp(f, 68));
        assertEquals(2, offer[Frames.l4(offer) + 8], "BOOTREPLY");
        assertEquals(0x1234abcd, Frames.bootpField(offer, 4), "xid");
        assertEquals(GUEST, Frames.bootpField(offer, 16), "yiaddr");
        assertArrayEquals(new byte[] {2}, Frames.dhcpOption(offer, 53), "DHCPOFFER");
        assertArrayEquals(ipBytes("10.0.2.2"), Frames.dhcpOption(offer, 3), "router");
        assertArrayEquals(ipBytes("10.0.2.3"), Frames.dhcpOption(offer, 6), "DNS");
        assertArrayEquals(ipBytes("255.255.255.0"), Frames.dhcpOption(offer, 1), "netmask");
        assertEquals(HOST, Frames.ipSrc(offer));
        assertArrayEquals(SLIRP_MAC, Frames.ethSrc(offer));
    }

    @Test
    void customNetworkReachesSlirpsConfiguration() throws Exception {
        UserNetOptions o = UserNetOptions.parse("10.9.0.0/16", "10.9.0.1", "10.9.0.53", "10.9.1.100", false, List.of());
        TestGuest g = guest(o);
        g.send(Frames.dhcpDiscover(GUEST_MAC, 7));
        byte[] offer = g.await("DHCP OFFER", f -> Frames.isUdp(f, 68));
        assertEquals(Frames.ip("10.9.1.100"), Frames.bootpField(offer, 16));
        assertArrayEquals(ipBytes("10.9.0.1"), Frames.dhcpOption(offer, 3));
        assertArrayEquals(ipBytes("10.9.0.53"), Frames.dhcpOption(offer, 6));
        assertArrayEquals(ipBytes("255.255.0.0"), Frames.dhcpOption(offer, 1));

        g.send(Frames.arpRequest(GUEST_MAC, Frames.ip("10.9.1.100"), Frames.ip("10.9.0.1")));
        byte[] reply = g.await("ARP reply", f -> Frames.isArp(f, 2));
        assertArrayEquals(Frames.mac("52:55:0a:09:00:01"), Frames.arpSenderMac(reply));
    }

    @Test
    void udpHostForwardDeliversToTheGuestAndCarriesTheEchoBack() throws Exception {
        int port = freeUdpPort();
        TestGuest g = guest(withForwards(false, "udp::" + port + "-:7"));
        try (DatagramSocket host = new DatagramSocket(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))) {
            host.setSoTimeout((int) TestGuest.TIMEOUT.toMillis());
            byte[] hello = "hello, guest".getBytes(StandardCharsets.US_ASCII);
            host.send(new DatagramPacket(hello, hello.length, InetAddress.getLoopbackAddress(), port));

            // slirp does not know the guest's MAC yet: it asks (ARP), the guest answers, then the datagram comes.
            byte[] in = g.await("UDP to port 7", f -> Frames.isUdp(f, 7));
            assertArrayEquals(GUEST_MAC, Frames.ethDst(in));
            assertEquals(GUEST, Frames.ipDst(in));
            assertEquals(HOST, Frames.ipSrc(in), "the host's loopback appears as slirp's host address");
            assertEquals(host.getLocalPort(), Frames.srcPort(in));
            assertArrayEquals(hello, Frames.udpPayload(in));

            // The guest echoes it back, as an echo service on port 7 would.
            g.send(Frames.udp(GUEST_MAC, Frames.ethSrc(in), GUEST, 7, Frames.ipSrc(in), Frames.srcPort(in), Frames.udpPayload(in)));
            DatagramPacket echo = new DatagramPacket(new byte[100], 100);
            host.receive(echo);
            assertEquals("hello, guest", new String(echo.getData(), 0, echo.getLength(), StandardCharsets.US_ASCII));
            assertEquals(port, echo.getPort());
        }
    }

    @Test
    void tcpHostForwardCompletesAHandshakeAndCarriesDataBothWays() throws Exception {
        int port = freeTcpPort();
        TestGuest g = guest(withForwards(false, "tcp:127.0.0.1:" + port + "-:22"));
        try (Socket host = new Socket()) {
            host.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 5000);
            host.setSoTimeout((int) TestGuest.TIMEOUT.toMillis());

            byte[] syn = g.await("SYN to port 22", f -> Frames.isTcp(f, 22) && (Frames.tcpFlags(f) & Frames.TCP_SYN) != 0);
            int peer = Frames.ipSrc(syn);
            int peerPort = Frames.srcPort(syn);
            byte[] slirpMac = Frames.ethSrc(syn);
            long slirpSeq = Frames.tcpSeq(syn) + 1;
            long guestSeq = 1000;
            g.send(Frames.tcp(GUEST_MAC, slirpMac, GUEST, 22, peer, peerPort, guestSeq, slirpSeq, Frames.TCP_SYN | Frames.TCP_ACK, new byte[0]));
            guestSeq++;

            host.getOutputStream().write("ping".getBytes(StandardCharsets.US_ASCII));
            byte[] data = g.await("data from the host", f -> Frames.isTcp(f, 22) && Frames.tcpPayload(f).length > 0);
            assertEquals("ping", new String(Frames.tcpPayload(data), StandardCharsets.US_ASCII));
            assertEquals(slirpSeq, Frames.tcpSeq(data));
            slirpSeq += 4;

            g.send(Frames.tcp(GUEST_MAC, slirpMac, GUEST, 22, peer, peerPort, guestSeq, slirpSeq, Frames.TCP_PSH | Frames.TCP_ACK,
                    "pong".getBytes(StandardCharsets.US_ASCII)));
            InputStream in = host.getInputStream();
            assertEquals("pong", new String(in.readNBytes(4), StandardCharsets.US_ASCII));
        }
    }

    @Test
    void restrictOnKeepsTheGuestFromReachingTheHost() throws Exception {
        assertTrue(reachesHostLoopback(false), "without restrict= the guest's datagram reaches the host");
        assertFalse(reachesHostLoopback(true), "with restrict=on it must not");
    }

    /** The guest sends UDP to slirp's host address, which slirp maps to the host's 127.0.0.1. */
    private boolean reachesHostLoopback(boolean restrict) throws Exception {
        try (TestGuest g = new TestGuest(new SlirpBackend(withForwards(restrict)), GUEST_MAC, GUEST);
                DatagramSocket host = new DatagramSocket(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))) {
            // DHCP keeps working in restricted mode: the guest still gets its address.
            g.send(Frames.dhcpDiscover(GUEST_MAC, 99));
            assertEquals(GUEST, Frames.bootpField(g.await("DHCP OFFER", f -> Frames.isUdp(f, 68)), 16));

            g.send(Frames.udp(GUEST_MAC, SLIRP_MAC, GUEST, 4444, HOST, host.getLocalPort(), "out".getBytes(StandardCharsets.US_ASCII)));
            // restrict=off delivers within milliseconds; restrict=on is given a generous second to prove nothing comes.
            host.setSoTimeout(restrict ? 1000 : (int) TestGuest.TIMEOUT.toMillis());
            try {
                host.receive(new DatagramPacket(new byte[16], 16));
                return true;
            } catch (SocketTimeoutException e) {
                return false;
            }
        }
    }

    @Test
    void aRefusedFrameIsKeptInOrderAndDeliveredAfterWakeup() throws Exception {
        TestGuest g = guest();
        // One exchange first: the wakeup that start() sends has then been seen, so every offer counted below is ours.
        g.send(Frames.arpRequest(GUEST_MAC, GUEST, HOST));
        g.await("ARP reply", f -> Frames.isArp(f, 2));
        g.offers.set(0);
        g.accept = false;
        g.send(Frames.arpRequest(GUEST_MAC, GUEST, HOST));
        g.send(Frames.arpRequest(GUEST_MAC, GUEST, DNS));
        SlirpBackend b = (SlirpBackend) g.backend;
        assertEquals(2, b.pendingToGuest(), "both replies are kept");
        assertEquals(1, g.offers.get(), "the second is not offered while the first waits");

        // Buffers arrive, but until wakeup() the backend does not know: a new frame queues behind the old ones.
        g.accept = true;
        g.send(Frames.arpRequest(GUEST_MAC, GUEST, HOST));
        assertEquals(3, b.pendingToGuest());
        assertEquals(1, g.offers.get());
        assertTrue(g.frames.isEmpty());

        b.wakeup();
        int[] expected = {HOST, DNS, HOST};
        for (int ip : expected) {
            assertEquals(ip, Frames.arpSenderIp(g.await("ARP reply", f -> Frames.isArp(f, 2))));
        }
        assertEquals(0, b.pendingToGuest());
        assertEquals(0, b.dropped());
        assertEquals(1, b.refusals());
    }

    @Test
    void framesBeyondTheBoundAreDroppedAndCounted() throws Exception {
        TestGuest g = guest();
        g.accept = false;
        SlirpBackend b = (SlirpBackend) g.backend;
        int total = SlirpBackend.RX_SLOTS + 44;
        for (int i = 0; i < total; i++) {
            g.send(Frames.arpRequest(GUEST_MAC, GUEST, HOST));
        }
        assertEquals(SlirpBackend.RX_SLOTS, b.pendingToGuest());
        assertEquals(total - SlirpBackend.RX_SLOTS, b.dropped(), "each ARP request was either kept or dropped");

        g.accept = true;
        b.wakeup();
        for (int i = 0; i < SlirpBackend.RX_SLOTS; i++) {
            g.await("ARP reply " + i, f -> Frames.isArp(f, 2));
        }
        assertEquals(0, b.pendingToGuest());
    }

    @Test
    void framesBeforeStartWaitForTheReceiver() throws Exception {
        SlirpBackend b = new SlirpBackend(UserNetOptions.defaults());
        open.add(b);
        b.send(new java.lang.foreign.MemorySegment[] {
                java.lang.foreign.MemorySegment.ofArray(Frames.arpRequest(GUEST_MAC, GUEST, HOST))}, 1);
        assertEquals(1, b.pendingToGuest());
        TestGuest g = new TestGuest(b, GUEST_MAC, GUEST);
        assertEquals(HOST, Frames.arpSenderIp(g.await("ARP reply", f -> Frames.isArp(f, 2))));
    }

    @Test
    void slirpsTimersFireOnTheSlirpThread() throws Exception {
        TestGuest g = guest();
        SlirpBackend b = (SlirpBackend) g.backend;
        // libslirp arms one timer at start: IPv6 router advertisements, every 200-600 s.
        assertEquals(1, b.armedTimers());
        b.advanceClock(601_000_000_000L);
        byte[] ra = g.await("IPv6 router advertisement", f -> Frames.etherType(f) == Frames.ETH_IPV6 && f.length > 54 && (f[54] & 0xff) == 134);
        assertArrayEquals(Frames.mac("33:33:00:00:00:01"), Frames.ethDst(ra), "to all nodes");
        assertEquals(1, b.armedTimers(), "the handler re-armed its timer");
    }

    @Test
    void twoNetdevsShareTheOneSlirpThread() throws Exception {
        TestGuest a = guest();
        TestGuest c = new TestGuest(new SlirpBackend(UserNetOptions.parse("192.168.7.0/24", null, null, null, false, List.of())),
                GUEST_MAC, Frames.ip("192.168.7.15"));
        open.add(c);
        assertSlirpThreads(1, "two netdevs");
        a.send(Frames.arpRequest(GUEST_MAC, GUEST, HOST));
        c.send(Frames.arpRequest(GUEST_MAC, Frames.ip("192.168.7.15"), Frames.ip("192.168.7.2")));
        assertEquals(HOST, Frames.arpSenderIp(a.await("ARP reply", f -> Frames.isArp(f, 2))));
        assertEquals(Frames.ip("192.168.7.2"), Frames.arpSenderIp(c.await("ARP reply", f -> Frames.isArp(f, 2))));
        c.close();
        open.remove(c);
        a.send(Frames.arpRequest(GUEST_MAC, GUEST, DNS));
        assertEquals(DNS, Frames.arpSenderIp(a.await("ARP reply", f -> Frames.isArp(f, 2))));
    }

    @Test
    void aHostPortInUseIsOneLineNamingIt() throws Exception {
        try (ServerSocket taken = new ServerSocket()) {
            taken.bind(new InetSocketAddress(0));
            int port = taken.getLocalPort();
            SlirpException e = assertThrows(SlirpException.class,
                    () -> new SlirpBackend(withForwards(false, "tcp::" + port + "-:22")));
            assertEquals("hostfwd=tcp::" + port + "-:22: tcp port " + port + " on 0.0.0.0 is already in use", e.getMessage());
        }
        try (DatagramSocket taken = new DatagramSocket(new InetSocketAddress(0))) {
            int port = taken.getLocalPort();
            SlirpException e = assertThrows(SlirpException.class,
                    () -> new SlirpBackend(withForwards(false, "udp::" + freeUdpPort() + "-:7", "udp::" + port + "-:7")));
            assertEquals("hostfwd=udp::" + port + "-:7: udp port " + port + " on 0.0.0.0 is already in use", e.getMessage());
        }
        assertNoSlirpThread("a failed open");
    }

    @Test
    void forwardingRulesCanBeAddedAndRemovedWhileRunning() throws Exception {
        TestGuest g = guest();
        SlirpBackend b = (SlirpBackend) g.backend;
        int port = freeUdpPort();
        b.addHostForward("udp:127.0.0.1:" + port + "-:7");
        assertThrows(java.net.BindException.class, () -> new DatagramSocket(new InetSocketAddress(InetAddress.getLoopbackAddress(), port)).close());
        assertTrue(b.removeHostForward("udp:127.0.0.1:" + port));
        assertFalse(b.removeHostForward("udp:127.0.0.1:" + port));
        new DatagramSocket(new InetSocketAddress(InetAddress.getLoopbackAddress(), port)).close();
    }

    @Test
    void noVnetHeader() {
        TestGuest g = guest();
        assertEquals(NetBackend.Offloads.NONE, g.backend.offloads());
        g.backend.useVnetHeader(0);
        assertThrows(IllegalArgumentException.class, () -> g.backend.useVnetHeader(12));
    }

    @Test
    void sendAfterCloseIsADropNotACrash() {
        SlirpBackend b = new SlirpBackend(UserNetOptions.defaults());
        b.close();
        assertFalse(b.send(new java.lang.foreign.MemorySegment[] {
                java.lang.foreign.MemorySegment.ofArray(Frames.arpRequest(GUEST_MAC, GUEST, HOST))}, 1));
        b.wakeup();
        b.close();
        assertEquals(1, b.dropped());
    }

    @Test
    void openAndCloseLeaveNoThreadOrFdBehind() throws Exception {
        cycle();  // loads libslirp and warms up everything that stays for the process
        long fds = openFds();
        for (int i = 0; i < 20; i++) {
            cycle();
            assertNoSlirpThread("cycle " + i);
        }
        assertEquals(fds, openFds(), "fds after 20 open/close cycles: " + Arrays.toString(new java.io.File("/proc/self/fd").list()));
        assertEquals(0, SlirpCallbacks.failures(), "no callback failed");
    }

    private void cycle() throws Exception {
        UserNetOptions o = withForwards(false, "udp:127.0.0.1:" + freeUdpPort() + "-:7", "tcp:127.0.0.1:" + freeTcpPort() + "-:22");
        try (TestGuest g = new TestGuest(new SlirpBackend(o), GUEST_MAC, GUEST)) {
            assertSlirpThreads(1, "open");
            g.send(Frames.arpRequest(GUEST_MAC, GUEST, HOST));
            g.await("ARP reply", f -> Frames.isArp(f, 2));
            // A UDP socket slirp opens for the guest's own traffic must be closed too.
            g.send(Frames.udp(GUEST_MAC, SLIRP_MAC, GUEST, 5555, HOST, 9, new byte[] {1}));
            assertEquals(0, ((SlirpBackend) g.backend).pendingToGuest());
        }
    }

    // ---- helpers ----

    /**
     * Waits (bounded) for the slirp thread to be gone from /proc: Thread.join returns when the Java
     * thread has terminated, a moment before the kernel task exits.
     */
    static void assertNoSlirpThread(String when) throws IOException {
        assertSlirpThreads(0, when);
    }

    /** Waits (bounded) until exactly {@code n} slirp threads are in /proc: an earlier test's may still be leaving. */
    static void assertSlirpThreads(int n, String when) throws IOException {
        long deadline = System.nanoTime() + TestGuest.TIMEOUT.toNanos();
        long seen;
        while ((seen = slirpThreads()) != n) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError(when + ": " + seen + " slirp threads, not " + n + ", after " + TestGuest.TIMEOUT);
            }
            Thread.onSpinWait();
        }
    }

    static long openFds() {
        return new java.io.File("/proc/self/fd").list().length;
    }

    /** Threads of this process named "slirp", Java's or not (from /proc, so nothing is missed). */
    static long slirpThreads() throws IOException {
        long n = 0;
        for (java.io.File task : new java.io.File("/proc/self/task").listFiles()) {
            try {
                if (java.nio.file.Files.readString(task.toPath().resolve("comm")).strip().equals("slirp")) {
                    n++;
                }
            } catch (IOException gone) {
                // a thread that ended while we looked (ENOENT, or ESRCH while it is being reaped)
            }
        }
        return n;
    }

    static int freeUdpPort() throws IOException {
        try (DatagramSocket s = new DatagramSocket(new InetSocketAddress(0))) {
            return s.getLocalPort();
        }
    }

    static int freeTcpPort() throws IOException {
        try (ServerSocket s = new ServerSocket()) {
            s.setReuseAddress(false);
            s.bind(new InetSocketAddress(0));
            return s.getLocalPort();
        }
    }

    static byte[] ipBytes(String text) {
        int v = Frames.ip(text);
        return new byte[] {(byte) (v >>> 24), (byte) (v >>> 16), (byte) (v >>> 8), (byte) v};
    }
}
