package dev.jkvm.devices.virtio.net;

import dev.jkvm.backends.net.MacAddress;
import dev.jkvm.backends.net.NetBackend;
import dev.jkvm.devices.virtio.DriverRing;
import dev.jkvm.devices.virtio.FakeMsi;
import dev.jkvm.devices.virtio.TestGuest;
import dev.jkvm.devices.virtio.VirtioFeatures;
import dev.jkvm.devices.virtio.VirtioPciDriver;
import dev.jkvm.devices.virtio.pci.VirtioPciTransport;
import dev.jkvm.vmm.pci.PciAddress;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

import static dev.jkvm.devices.virtio.DriverRing.r;
import static dev.jkvm.devices.virtio.DriverRing.w;
import static dev.jkvm.devices.virtio.TestGuest.MiB;
import static dev.jkvm.devices.virtio.TestGuest.await;
import static dev.jkvm.devices.virtio.VirtioPciDriver.CONFIG_MSIX_VECTOR;
import static dev.jkvm.devices.virtio.VirtioPciDriver.NEEDS_RESET;
import static dev.jkvm.devices.virtio.VirtioPciDriver.NUM_QUEUES;
import static dev.jkvm.devices.virtio.net.VirtioNet.CTRL_ERR;
import static dev.jkvm.devices.virtio.net.VirtioNet.CTRL_MAC;
import static dev.jkvm.devices.virtio.net.VirtioNet.CTRL_MAC_ADDR_SET;
import static dev.jkvm.devices.virtio.net.VirtioNet.CTRL_MAC_TABLE_SET;
import static dev.jkvm.devices.virtio.net.VirtioNet.CTRL_MQ;
import static dev.jkvm.devices.virtio.net.VirtioNet.CTRL_MQ_VQ_PAIRS_SET;
import static dev.jkvm.devices.virtio.net.VirtioNet.CTRL_OK;
import static dev.jkvm.devices.virtio.net.VirtioNet.CTRL_RX;
import static dev.jkvm.devices.virtio.net.VirtioNet.CTRL_RX_ALLMULTI;
import static dev.jkvm.devices.virtio.net.VirtioNet.CTRL_RX_PROMISC;
import static dev.jkvm.devices.virtio.net.VirtioNet.F_CSUM;
import static dev.jkvm.devices.virtio.net.VirtioNet.F_CTRL_MAC_ADDR;
import static dev.jkvm.devices.virtio.net.VirtioNet.F_CTRL_RX;
import static dev.jkvm.devices.virtio.net.VirtioNet.F_CTRL_VQ;
import static dev.jkvm.devices.virtio.net.VirtioNet.F_GUEST_CSUM;
import static dev.jkvm.devices.virtio.net.VirtioNet.F_GUEST_TSO4;
import static dev.jkvm.devices.virtio.net.VirtioNet.F_GUEST_TSO6;
import static dev.jkvm.devices.virtio.net.VirtioNet.F_HOST_TSO4;
import static dev.jkvm.devices.virtio.net.VirtioNet.F_HOST_TSO6;
import static dev.jkvm.devices.virtio.net.VirtioNet.F_MAC;
import static dev.jkvm.devices.virtio.net.VirtioNet.F_MQ;
import static dev.jkvm.devices.virtio.net.VirtioNet.F_MRG_RXBUF;
import static dev.jkvm.devices.virtio.net.VirtioNet.F_MTU;
import static dev.jkvm.devices.virtio.net.VirtioNet.F_STATUS;
import static dev.jkvm.devices.virtio.net.VirtioNet.GSO_NONE;
import static dev.jkvm.devices.virtio.net.VirtioNet.GSO_TCPV4;
import static dev.jkvm.devices.virtio.net.VirtioNet.HDR_F_NEEDS_CSUM;
import static dev.jkvm.devices.virtio.net.VirtioNet.HEADER_BYTES;
import static dev.jkvm.devices.virtio.net.VirtioNet.MAX_FRAME_BYTES;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** virtio-net driven as a guest drives it (PCI transport, split rings in guest RAM, doorbells) on a recording backend. */
class VirtioNetTest {
    private static final int QSIZE = 64;
    private static final int CONFIG_DATA = 0x300;
    private static final MacAddress MAC = MacAddress.parse("52:54:00:12:34:56");
    private static final long OTHER_MAC = 0x525400abcdefL;
    private static final long BROADCAST = 0xffffffffffffL;
    private static final NetBackend.Offloads TAP = new NetBackend.Offloads(true, true, true, true, false);
    private static final long VERSION_1 = VirtioFeatures.bit(VirtioFeatures.VERSION_1);
    private static final long EVENT_IDX = VirtioFeatures.bit(VirtioFeatures.RING_EVENT_IDX);
    /** What a driver without offloads or multiqueue takes: MAC, link status and the control queue. */
    private static final long BASIC = bit(F_MAC) | bit(F_STATUS) | bit(F_CTRL_VQ) | bit(F_CTRL_RX) | bit(F_CTRL_MAC_ADDR);
    private static final long MRG = bit(F_MRG_RXBUF);

    private static int ids;

    private TestGuest guest;
    private FakeNetBackend backend;
    private NetBackend anyBackend;
    private VirtioNet net;
    private VirtioPciTransport transport;
    private VirtioPciDriver driver;
    private FakeMsi msi;
    private DriverRing[] rings;
    private int ringSize = QSIZE;
    private int controlQueue;
    private String id;

    private static long bit(int feature) {
        return VirtioFeatures.bit(feature);
    }

    private void create(NetBackend.Offloads offloads, int pairs) {
        backend = new FakeNetBackend(offloads);
        create(backend, pairs);
    }

    private void create(NetBackend b, int pairs) {
        anyBackend = b;
        guest = new TestGuest(16 * MiB);
        id = "n" + (++ids);
        net = new VirtioNet(id, b, MAC, pairs, 256, 0);
        msi = new FakeMsi();
        transport = new VirtioPciTransport(net, guest.mem, msi, new FakeMsi.IoEvents());
        transport.attached(new PciAddress(5, 0), new FakeMsi.Line());
        driver = new VirtioPciDriver(transport);
        driver.enableMsix(true);
        for (int v = 0; v < driver.msixTableSize(); v++) {
            driver.programVector(v, CONFIG_DATA + v);
        }
        rings = new DriverRing[net.queueCount()];
    }

    /** Negotiates VERSION_1 and {@code features}, sets up every queue such a driver uses, DRIVER_OK. */
    private void bringUp(long features) {
        assertTrue(driver.negotiate(VERSION_1 | features), "FEATURES_OK");
        driver.setCommon(CONFIG_MSIX_VECTOR, 2, 0);
        int pairs = VirtioFeatures.has(features, F_MQ) ? net.queuePairs() : 1;
        boolean ctrl = VirtioFeatures.has(features, F_CTRL_VQ);
        controlQueue = ctrl ? 2 * pairs : -1;
        Arrays.fill(rings, null);
        for (int q = 0; q < 2 * pairs + (ctrl ? 1 : 0); q++) {
            rings[q] = new DriverRing(guest.mem, ringSize, guest.alloc(3 * 4096, 4096));
            driver.setUpQueue(q, rings[q], q + 1);
        }
        driver.driverOk();
    }

    @AfterEach
    void tearDown() {
        if (transport != null) {
            transport.close();
        }
        if (anyBackend != null) {
            anyBackend.close();
        }
        if (guest != null) {
            guest.close();
        }
    }

    // ---- helpers ----

    private static byte[] macBytes(long mac) {
        return new MacAddress(mac).bytes();
    }

    /** An Ethernet frame of {@code length} bytes to {@code dst}, with a payload pattern from {@code seed}. */
    private static byte[] frame(long dst, int length, int seed) {
        byte[] f = new byte[length];
        System.arraycopy(macBytes(dst), 0, f, 0, 6);
        System.arraycopy(macBytes(0x021122334455L), 0, f, 6, 6);
        f[12] = (byte) 0x88;
        f[13] = (byte) 0xb5;
        for (int i = 14; i < length; i++) {
            f[i] = (byte) (seed * 31 + i);
        }
        return f;
    }

    /** An IPv4 TCP segment from srcIp:sport to dstIp:dport, in a frame to {@code dst}. */
    private static byte[] tcp4(long dst, int srcIp, int dstIp, int sport, int dport) {
        byte[] f = new byte[14 + 20 + 20 + 10];
        System.arraycopy(macBytes(dst), 0, f, 0, 6);
        System.arraycopy(macBytes(0x021122334455L), 0, f, 6, 6);
        f[12] = 0x08;
        f[14] = 0x45;
        f[16] = 0;
        f[17] = (byte) (f.length - 14);
        f[22] = 64;
        f[23] = 6;
        put32be(f, 26, srcIp);
        put32be(f, 30, dstIp);
        put16be(f, 34, sport);
        put16be(f, 36, dport);
        return f;
    }

    private static void put16be(byte[] b, int at, int v) {
        b[at] = (byte) (v >>> 8);
        b[at + 1] = (byte) v;
    }

    private static void put32be(byte[] b, int at, int v) {
        put16be(b, at, v >>> 16);
        put16be(b, at + 2, v);
    }

    private static byte[] header(int flags, int gso, int csumStart, int csumOffset) {
        byte[] h = new byte[HEADER_BYTES];
        h[0] = (byte) flags;
        h[1] = (byte) gso;
        h[6] = (byte) csumStart;
        h[7] = (byte) (csumStart >>> 8);
        h[8] = (byte) csumOffset;
        h[9] = (byte) (csumOffset >>> 8);
        return h;
    }

    private static byte[] header(int flags, int gso) {
        return header(flags, gso, 0, 0);
    }

    /** The header a driver finds in front of a received frame: zeros but num_buffers. */
    private static byte[] rxHeader(int numBuffers) {
        byte[] h = new byte[HEADER_BYTES];
        h[10] = (byte) numBuffers;
        h[11] = (byte) (numBuffers >>> 8);
        return h;
    }

    private static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }

    private long put(byte[] data) {
        long at = guest.alloc(Math.max(1, data.length));
        guest.mem.write(at, data, 0, data.length);
        return at;
    }

    private byte[] read(long gpa, int n) {
        byte[] b = new byte[n];
        guest.mem.read(gpa, b, 0, n);
        return b;
    }

    /** Sends a frame on transmit queue {@code q}, each piece in its own descriptor; returns the head. */
    private int transmit(int q, byte[]... pieces) {
        DriverRing.Seg[] segs = new DriverRing.Seg[pieces.length];
        for (int i = 0; i < pieces.length; i++) {
            segs[i] = r(put(pieces[i]), pieces[i].length);
        }
        int head = rings[q].add(segs);
        driver.notify(q);
        return head;
    }

    /** Posts one single-buffer receive chain per size on receive queue {@code q} and kicks it; returns the buffers. */
    private long[] postRx(int q, int... sizes) {
        long[] at = new long[sizes.length];
        for (int i = 0; i < sizes.length; i++) {
            at[i] = guest.alloc(sizes[i]);
            guest.mem.fill(at[i], sizes[i], (byte) 0xee);
            rings[q].add(w(at[i], sizes[i]));
        }
        driver.notify(q);
        return at;
    }

    private boolean receive(byte[] frame) {
        return net.receiver().receive(MemorySegment.ofArray(frame));
    }

    /** Runs a control command and returns its ack. */
    private int ctrl(int cls, int cmd, byte... data) {
        DriverRing ring = rings[controlQueue];
        long h = put(new byte[] {(byte) cls, (byte) cmd});
        long ack = guest.alloc(1);
        guest.mem.write8(ack, 0xff);
        int before = ring.usedIdx();
        if (data.length > 0) {
            ring.add(r(h, 2), r(put(data), data.length), w(ack, 1));
        } else {
            ring.add(r(h, 2), w(ack, 1));
        }
        driver.notify(controlQueue);
        await("control command " + cls + "/" + cmd, () -> ring.usedIdx() == ((before + 1) & 0xffff));
        assertEquals(1, ring.usedLen(before), "the ack byte was written");
        return guest.mem.read8(ack);
    }

    private static byte[] macTable(long[] unicast, long[] multicast) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (long[] list : new long[][] {unicast, multicast}) {
            out.writeBytes(new byte[] {(byte) list.length, 0, 0, 0});
            for (long m : list) {
                out.writeBytes(macBytes(m));
            }
        }
        return out.toByteArray();
    }

    private List<Thread> deviceThreads() {
        String prefix = "virtio-net-" + id + "-";
        return Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().startsWith(prefix) && t.isAlive()).toList();
    }

    private int queueInterrupts(int q) {
        return msi.triggers(CONFIG_DATA + q + 1);
    }

    private boolean needsReset() {
        return (driver.status() & NEEDS_RESET) != 0;
    }

    // ---- features and configuration ----

    @Test
    void withoutAVnetHeaderBackendNoOffloadIsOfferedAndTheBackendIsNotAskedForOne() {
        create(NetBackend.Offloads.NONE, 1);
        assertEquals(0x1041, driver.cfg(0x02, 2), "virtio 1.0 device ID of a network card");
        assertEquals(0x020000, driver.cfg(0x09, 3), "Ethernet controller");
        assertEquals(3, driver.common(NUM_QUEUES, 2), "receiveq1, transmitq1, controlq");
        long f = driver.deviceFeatures();
        for (int b : new int[] {F_MAC, F_STATUS, F_MRG_RXBUF, F_CTRL_VQ, F_CTRL_RX, F_CTRL_MAC_ADDR, VirtioFeatures.VERSION_1,
                VirtioFeatures.RING_EVENT_IDX, VirtioFeatures.RING_INDIRECT_DESC}) {
            assertTrue(VirtioFeatures.has(f, b), "offers feature " + b);
        }
        for (int b : new int[] {F_CSUM, F_GUEST_CSUM, F_HOST_TSO4, F_HOST_TSO6, F_GUEST_TSO4, F_GUEST_TSO6, F_MQ, F_MTU}) {
            assertFalse(VirtioFeatures.has(f, b), "does not offer feature " + b);
        }
        byte[] mac = new byte[6];
        for (int i = 0; i < 6; i++) {
            mac[i] = (byte) driver.deviceConfig(i, 1);
        }
        assertArrayEquals(MAC.bytes(), mac);
        assertEquals(VirtioNet.S_LINK_UP, driver.deviceConfig(6, 2), "link up");
        assertEquals(1, driver.deviceConfig(8, 2), "max_virtqueue_pairs");

        assertEquals(0, backend.starts.get(), "the backend starts when the driver is ready");
        bringUp(f & ~VERSION_1);
        assertEquals(List.of("start"), backend.calls, "no header or offload calls on a backend without a vnet header");
        assertEquals(2, deviceThreads().size(), "a transmit thread and the control thread: " + deviceThreads());
    }

    @Test
    void aVnetHeaderBackendGetsOffloadsAndIsToldWhatTheDriverTook() {
        create(TAP, 1);
        long f = driver.deviceFeatures();
        for (int b : new int[] {F_CSUM, F_GUEST_CSUM, F_HOST_TSO4, F_HOST_TSO6, F_GUEST_TSO4, F_GUEST_TSO6}) {
            assertTrue(VirtioFeatures.has(f, b), "offers feature " + b);
        }
        long offloads = bit(F_CSUM) | bit(F_GUEST_CSUM) | bit(F_HOST_TSO4) | bit(F_HOST_TSO6) | bit(F_GUEST_TSO4) | bit(F_GUEST_TSO6);
        bringUp(BASIC | MRG | offloads);
        assertEquals(List.of("useVnetHeader(12)", "setReceiveOffloads(" + new NetBackend.Offloads(true, true, true, true, false) + ")", "start"),
                backend.calls);

        backend.calls.clear();
        driver.setStatus(0);
        assertEquals(List.of("setReceiveOffloads(" + NetBackend.Offloads.NONE + ")"), backend.calls, "a reset turns receive offloads off");

        // A driver that takes no offload: no header, frames stripped and padded by the device.
        backend.calls.clear();
        int wakeups = backend.wakeups.get();
        bringUp(BASIC | MRG);
        assertEquals(List.of("useVnetHeader(0)", "setReceiveOffloads(" + NetBackend.Offloads.NONE + ")"), backend.calls);
        assertEquals(1, backend.starts.get(), "started once; later activations wake it");
        assertTrue(backend.wakeups.get() > wakeups);
    }

    @Test
    void aVnetHeaderWithoutChecksumOffloadOffersNoOffload() {
        create(new NetBackend.Offloads(true, false, true, true, false), 1);
        long f = driver.deviceFeatures();
        for (int b : new int[] {F_CSUM, F_GUEST_CSUM, F_HOST_TSO4, F_GUEST_TSO4}) {
            assertFalse(VirtioFeatures.has(f, b), "TSO needs checksum offload: no feature " + b);
        }
    }

    @Test
    void featureSetsThatBreakTheDependenciesAreRefused() {
        create(TAP, 1);
        assertFalse(driver.negotiate(VERSION_1 | bit(F_HOST_TSO4)), "HOST_TSO4 without CSUM");
        assertFalse(driver.negotiate(VERSION_1 | bit(F_GUEST_CSUM) | bit(F_GUEST_TSO6) | bit(F_HOST_TSO6)), "HOST_TSO6 without CSUM");
        assertFalse(driver.negotiate(VERSION_1 | bit(F_GUEST_TSO4)), "GUEST_TSO4 without GUEST_CSUM");
        assertFalse(driver.negotiate(VERSION_1 | bit(F_CTRL_RX)), "CTRL_RX without CTRL_VQ");
        assertFalse(driver.negotiate(VERSION_1 | bit(F_CTRL_MAC_ADDR)), "CTRL_MAC_ADDR without CTRL_VQ");
        assertTrue(driver.negotiate(VERSION_1 | bit(F_CSUM) | bit(F_HOST_TSO4)));
        assertTrue(driver.negotiate(VERSION_1));
    }

    // ---- transmit ----

    @Test
    void transmitHandsTheBackendSlicesOfGuestMemoryWithoutTheHeader() {
        create(NetBackend.Offloads.NONE, 1);
        bringUp(BASIC);
        byte[] f = frame(OTHER_MAC, 300, 1);
        int head = transmit(1, header(0, GSO_NONE), Arrays.copyOfRange(f, 0, 14), Arrays.copyOfRange(f, 14, 100),
                Arrays.copyOfRange(f, 100, 300));
        await("the frame sent", () -> backend.sent.size() == 1);
        FakeNetBackend.Sent s = backend.sent.get(0);
        assertArrayEquals(f, s.bytes());
        assertEquals(3, s.segments(), "one slice per frame descriptor, the header left out");
        assertTrue(s.allNative(), "slices of guest RAM, not copies");
        await("the chain used", () -> rings[1].usedIdx() == 1);
        assertEquals(head, rings[1].usedId(0));
        assertEquals(0, rings[1].usedLen(0), "nothing written into a transmit chain");
        await("a transmit interrupt", () -> queueInterrupts(1) >= 1);

        // Linux pushes the header in front of the frame in one buffer: it is cut off.
        byte[] g = frame(OTHER_MAC, 60, 2);
        transmit(1, concat(header(0, GSO_NONE), g));
        await("the second frame", () -> backend.sent.size() == 2);
        assertArrayEquals(g, backend.sent.get(1).bytes());
        assertEquals(1, backend.sent.get(1).segments());
        assertEquals(2, net.metrics().txPackets.sum());
        assertEquals(360, net.metrics().txBytes.sum());
    }

    @Test
    void withAVnetHeaderBackendTheHeaderGoesThrough() {
        create(TAP, 1);
        bringUp(BASIC | MRG | bit(F_CSUM) | bit(F_HOST_TSO4) | bit(F_GUEST_CSUM));
        byte[] h = header(HDR_F_NEEDS_CSUM, GSO_TCPV4, 34, 16);
        byte[] f = tcp4(OTHER_MAC, 0x0a000001, 0x0a000002, 1000, 80);
        transmit(1, h, f);
        await("the frame sent", () -> backend.sent.size() == 1);
        assertArrayEquals(concat(h, f), backend.sent.get(0).bytes());
        assertEquals(2, backend.sent.get(0).segments());
        assertEquals(f.length, net.metrics().txBytes.sum(), "bytes count the frame, not the header");
    }

    @Test
    void badFramesAreDroppedAndCountedWithoutAReset() {
        create(NetBackend.Offloads.NONE, 1);
        bringUp(BASIC);
        byte[] f = frame(OTHER_MAC, 100, 3);
        transmit(1, header(HDR_F_NEEDS_CSUM, GSO_NONE, 14, 6), f);
        transmit(1, header(0, GSO_TCPV4), f);
        transmit(1, header(0, GSO_NONE), Arrays.copyOf(f, 10));
        backend.refuseSends = true;
        transmit(1, header(0, GSO_NONE), f);
        await("four chains used", () -> rings[1].usedIdx() == 4);
        assertEquals(0, backend.sent.size());
        assertEquals(3, net.metrics().txDroppedMalformed.sum(), "NEEDS_CSUM and GSO not negotiated, a runt");
        assertEquals(1, net.metrics().txDroppedBackend.sum());
        assertEquals(4, net.metrics().txDropped());
        assertFalse(needsReset());
        backend.refuseSends = false;
        transmit(1, header(0, GSO_NONE), f);
        await("a good frame after the bad ones", () -> backend.sent.size() == 1);
    }

    @ParameterizedTest
    @ValueSource(strings = {"writable", "short-header", "too-big"})
    void hostileTransmitChainsNeedAReset(String kind) {
        create(NetBackend.Offloads.NONE, 1);
        bringUp(BASIC);
        long buf = guest.alloc(MAX_FRAME_BYTES + 64);
        long hdr = put(header(0, GSO_NONE));
        switch (kind) {
            case "writable" -> rings[1].add(r(hdr, HEADER_BYTES), w(buf, 100));
            case "short-header" -> rings[1].add(r(buf, 8));
            default -> rings[1].add(r(hdr, HEADER_BYTES), r(buf, MAX_FRAME_BYTES + 1));
        }
        driver.notify(1);
        await("DEVICE_NEEDS_RESET", this::needsReset);
        assertTrue(transport.lastFailure().contains("transmit"), transport.lastFailure());
        assertEquals(0, backend.sent.size());
        assertEquals(0, rings[1].usedIdx(), "the broken chain is not returned");
        assertTrue(receive(frame(MAC.value(), 60, 1)), "frames are dropped while the device waits for its reset");

        // The driver resets the device and starts over.
        bringUp(BASIC);
        assertFalse(needsReset());
        transmit(1, header(0, GSO_NONE), frame(OTHER_MAC, 60, 4));
        await("a frame after the reset", () -> backend.sent.size() == 1);
    }

    // ---- receive ----

    @Test
    void receiveIntoOneBufferWithoutMergeableBuffers() {
        create(NetBackend.Offloads.NONE, 1);
        bringUp(BASIC);
        long[] b = postRx(0, 1526);
        byte[] f = frame(MAC.value(), 100, 5);
        assertTrue(receive(f));
        await("the frame received", () -> rings[0].usedIdx() == 1);
        assertEquals(HEADER_BYTES + 100, rings[0].usedLen(0));
        assertArrayEquals(concat(rxHeader(1), f), read(b[0], HEADER_BYTES + 100), "num_buffers is 1 without MRG_RXBUF");
        assertEquals(0xee, guest.mem.read8(b[0] + HEADER_BYTES + 100), "nothing written after the frame");
        await("a receive interrupt", () -> queueInterrupts(0) >= 1);

        // A chain of a header buffer and a data buffer, as older drivers post them.
        long h = guest.alloc(HEADER_BYTES);
        long d = guest.alloc(1514);
        rings[0].add(w(h, HEADER_BYTES), w(d, 1514));
        byte[] g = frame(BROADCAST, 1514, 6);
        assertTrue(receive(g));
        await("the second frame", () -> rings[0].usedIdx() == 2);
        assertEquals(HEADER_BYTES + 1514, rings[0].usedLen(1));
        assertArrayEquals(rxHeader(1), read(h, HEADER_BYTES));
        assertArrayEquals(g, read(d, 1514));
        assertEquals(2, net.metrics().rxPackets.sum());
        assertEquals(1614, net.metrics().rxBytes.sum());
    }

    @Test
    void aLargeFrameIsMergedOverSeveralBuffers() {
        create(NetBackend.Offloads.NONE, 1);
        bringUp(BASIC | MRG);
        long[] b = postRx(0, 256, 256, 256, 256);
        byte[] f = frame(MAC.value(), 700, 7);
        assertTrue(receive(f));
        await("three buffers used", () -> rings[0].usedIdx() == 3);
        assertEquals(List.of(256, 256, 200), List.of(rings[0].usedLen(0), rings[0].usedLen(1), rings[0].usedLen(2)));
        assertEquals(List.of(0, 1, 2), List.of(rings[0].usedId(0), rings[0].usedId(1), rings[0].usedId(2)), "in ring order");
        assertArrayEquals(concat(rxHeader(3), f), concat(read(b[0], 256), read(b[1], 256), read(b[2], 200)));

        byte[] g = frame(MAC.value(), 50, 8);
        assertTrue(receive(g));
        await("the fourth buffer", () -> rings[0].usedIdx() == 4);
        assertEquals(62, rings[0].usedLen(3));
        assertArrayEquals(concat(rxHeader(1), g), read(b[3], 62));
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void aFrameRefusedForWantOfBuffersArrivesAfterTheDriverPostsSome(boolean eventIdx) {
        create(NetBackend.Offloads.NONE, 1);
        bringUp(BASIC | MRG | (eventIdx ? EVENT_IDX : 0));
        byte[] f = frame(MAC.value(), 1000, 9);
        backend.inject(f);
        await("the frame refused", () -> backend.refusals.get() >= 1);
        assertTrue(net.metrics().rxNoBuffer.sum() >= 1);
        assertEquals(0, net.metrics().rxDropped(), "a refusal is not a drop");
        assertEquals(0, rings[0].usedIdx());

        long[] b = postRx(0, 2048);
        await("the frame delivered", () -> backend.delivered.get() == 1);
        await("the buffer used", () -> rings[0].usedIdx() == 1);
        assertArrayEquals(concat(rxHeader(1), f), read(b[0], HEADER_BYTES + 1000));
        assertTrue(backend.wakeups.get() >= 1, "the receive kick woke the backend");

        // Many frames through a small supply of buffers, topped up as they are used.
        for (int i = 0; i < 40; i++) {
            backend.inject(frame(MAC.value(), 200 + i, i));
        }
        int posted = 0;
        long deadline = System.nanoTime() + TestGuest.TIMEOUT.toNanos();
        while (rings[0].usedIdx() < 41) {
            assertTrue(System.nanoTime() < deadline, "timed out with " + rings[0].usedIdx() + " frames received");
            if (posted < 40 && posted - (rings[0].usedIdx() - 1) < 4) {
                postRx(0, 512);
                posted++;
            }
            Thread.onSpinWait();
        }
        await("every frame delivered", () -> backend.delivered.get() == 41 && backend.idle());
        assertEquals(41, net.metrics().rxPackets.sum());
    }

    @Test
    void aFrameTooBigForTheBufferIsDroppedAndTheBufferKeptForTheNext() {
        create(NetBackend.Offloads.NONE, 1);
        bringUp(BASIC);
        long[] b = postRx(0, 100);
        assertTrue(receive(frame(MAC.value(), 200, 1)), "taken: dropped by the device's policy");
        assertEquals(1, net.metrics().rxDroppedTooBig.sum());
        assertEquals(0, rings[0].usedIdx(), "the buffer is not returned empty");
        byte[] g = frame(MAC.value(), 50, 2);
        assertTrue(receive(g));
        await("the small frame in the kept buffer", () -> rings[0].usedIdx() == 1);
        assertEquals(0, rings[0].usedId(0));
        assertArrayEquals(concat(rxHeader(1), g), read(b[0], 62));

        assertTrue(receive(new byte[HEADER_BYTES + MAX_FRAME_BYTES + 1]), "larger than any frame");
        assertEquals(2, net.metrics().rxDroppedTooBig.sum());
        assertTrue(receive(new byte[10]), "shorter than an Ethernet header");
        assertEquals(1, net.metrics().rxDroppedMalformed.sum());
    }

    @Test
    void aMergedFrameLargerThanTheWholeRingIsDropped() {
        ringSize = 8;
        create(NetBackend.Offloads.NONE, 1);
        bringUp(BASIC | MRG);
        long[] b = postRx(0, 64, 64, 64, 64, 64, 64, 64, 64);
        assertTrue(receive(frame(MAC.value(), 1000, 1)), "512 bytes of buffers can never hold it");
        assertEquals(1, net.metrics().rxDroppedTooBig.sum());
        assertEquals(0, rings[0].usedIdx());
        byte[] g = frame(MAC.value(), 100, 2);
        assertTrue(receive(g));
        await("two buffers used", () -> rings[0].usedIdx() == 2);
        assertArrayEquals(concat(rxHeader(2), g), concat(read(b[0], 64), read(b[1], 48)));
    }

    @Test
    void aReceiveChainWithADeviceReadableBufferNeedsAReset() {
        create(NetBackend.Offloads.NONE, 1);
        bringUp(BASIC);
        rings[0].add(r(guest.alloc(1600), 1600));
        driver.notify(0);
        assertTrue(receive(frame(MAC.value(), 100, 1)));
        await("DEVICE_NEEDS_RESET", this::needsReset);
        assertTrue(transport.lastFailure().contains("receive"), transport.lastFailure());
        assertEquals(1, net.metrics().rxDroppedInactive.sum());
        assertTrue(receive(frame(MAC.value(), 100, 1)));
        assertEquals(2, net.metrics().rxDroppedInactive.sum());
        assertEquals(0, rings[0].usedIdx());
    }

    @Test
    void framesBeforeDriverOkAreDroppedAndCounted() {
        create(NetBackend.Offloads.NONE, 1);
        assertTrue(receive(frame(MAC.value(), 100, 1)));
        assertEquals(1, net.metrics().rxDroppedInactive.sum());
        assertEquals(0, backend.starts.get());
    }

    @Test
    void aPartialChecksumIsCompletedForADriverWithoutGuestCsum() {
        create(TAP, 1);
        bringUp(BASIC | bit(F_CSUM));
        assertEquals("useVnetHeader(12)", backend.calls.get(0), "host checksum offload needs the header");
        assertEquals("setReceiveOffloads(" + new NetBackend.Offloads(true, false, false, false, false) + ")", backend.calls.get(1));
        // IPv4/UDP 10.0.0.1:53 -> 10.0.0.2:4000 with 9 bytes of data and the pseudo-header sum in the checksum field.
        byte[] f = new byte[14 + 20 + 8 + 9];
        System.arraycopy(macBytes(MAC.value()), 0, f, 0, 6);
        f[12] = 0x08;
        f[14] = 0x45;
        f[17] = (byte) (f.length - 14);
        f[23] = 17;
        put32be(f, 26, 0x0a000001);
        put32be(f, 30, 0x0a000002);
        put16be(f, 34, 53);
        put16be(f, 36, 4000);
        put16be(f, 38, 17);
        for (int i = 0; i < 9; i++) {
            f[42 + i] = (byte) (0x41 + i * 7);
        }
        long pseudo = 0x0a00 + 0x0001 + 0x0a00 + 0x0002 + 17 + 17;
        put16be(f, 40, (int) fold(pseudo));
        byte[] expected = f.clone();
        put16be(expected, 40, 0);
        long full = pseudo;
        for (int i = 34; i < expected.length; i += 2) {
            full += (expected[i] & 0xff) << 8 | (i + 1 < expected.length ? expected[i + 1] & 0xff : 0);
        }
        put16be(expected, 40, (int) (~fold(full) & 0xffff));

        long[] b = postRx(0, 1526);
        assertTrue(receive(concat(header(HDR_F_NEEDS_CSUM, GSO_NONE, 34, 6), f)));
        await("the frame received", () -> rings[0].usedIdx() == 1);
        assertArrayEquals(concat(rxHeader(1), expected), read(b[0], HEADER_BYTES + f.length),
                "checksum filled in, header flags cleared");

        // A GSO frame for a driver that did not take GUEST_TSO4 cannot be delivered.
        assertTrue(receive(concat(header(HDR_F_NEEDS_CSUM, GSO_TCPV4, 34, 16), tcp4(MAC.value(), 1, 2, 3, 4))));
        assertEquals(1, net.metrics().rxDroppedOffload.sum());
        assertEquals(1, rings[0].usedIdx());
    }

    private static long fold(long sum) {
        while ((sum >>> 16) != 0) {
            sum = (sum & 0xffff) + (sum >>> 16);
        }
        return sum;
    }

    @Test
    void withGuestCsumTheHeaderReachesTheDriverAsTheHostWroteIt() {
        create(TAP, 1);
        bringUp(BASIC | MRG | bit(F_GUEST_CSUM) | bit(F_GUEST_TSO4));
        long[] b = postRx(0, 4096);
        byte[] h = header(HDR_F_NEEDS_CSUM, GSO_TCPV4, 34, 16);
        h[4] = (byte) 0xb4; // gso_size 1460
        h[5] = 0x05;
        h[10] = 0x7f; // whatever the host left in num_buffers is overwritten
        byte[] f = tcp4(MAC.value(), 1, 2, 3, 4);
        assertTrue(receive(concat(h, f)));
        await("the frame received", () -> rings[0].usedIdx() == 1);
        byte[] expected = h.clone();
        expected[10] = 1;
        assertArrayEquals(concat(expected, f), read(b[0], HEADER_BYTES + f.length));
    }

    // ---- control queue ----

    @Test
    void controlQueueReceiveModesMacTableAndAddress() {
        create(NetBackend.Offloads.NONE, 1);
        bringUp(BASIC | MRG);
        postRx(0, 2048, 2048, 2048, 2048, 2048, 2048, 2048, 2048);
        assertTrue(net.promiscuous(), "promiscuous until the driver sets a receive mode");
        assertTrue(receive(frame(OTHER_MAC, 60, 1)));
        await("a frame for anyone", () -> rings[0].usedIdx() == 1);

        assertEquals(CTRL_OK, ctrl(CTRL_RX, CTRL_RX_PROMISC, (byte) 0));
        assertFalse(net.promiscuous());
        assertTrue(receive(frame(OTHER_MAC, 60, 2)));
        assertEquals(1, net.metrics().rxDroppedFiltered.sum(), "another NIC's unicast");
        assertTrue(receive(frame(MAC.value(), 60, 3)));
        assertTrue(receive(frame(BROADCAST, 60, 4)));
        await("own and broadcast frames", () -> rings[0].usedIdx() == 3);
        long multicast = 0x01005e000001L;
        assertTrue(receive(frame(multicast, 60, 5)));
        assertEquals(2, net.metrics().rxDroppedFiltered.sum(), "multicast not in the table");

        assertEquals(CTRL_OK, ctrl(CTRL_RX, CTRL_RX_ALLMULTI, (byte) 1));
        assertTrue(net.allMulticast());
        assertTrue(receive(frame(multicast, 60, 6)));
        await("all-multicast", () -> rings[0].usedIdx() == 4);

        assertEquals(CTRL_OK, ctrl(CTRL_MAC, CTRL_MAC_TABLE_SET, macTable(new long[] {OTHER_MAC}, new long[0])));
        assertEquals(1, net.macTableSize());
        assertTrue(receive(frame(OTHER_MAC, 60, 7)));
        await("a unicast address from the table", () -> rings[0].usedIdx() == 5);

        long newMac = 0x525400aaaaaaL;
        assertEquals(CTRL_OK, ctrl(CTRL_MAC, CTRL_MAC_ADDR_SET, macBytes(newMac)));
        assertEquals(new MacAddress(newMac), net.mac());
        assertEquals(0xaa, driver.deviceConfig(5, 1), "the configuration shows the new address");
        assertTrue(receive(frame(newMac, 60, 8)));
        await("the new address", () -> rings[0].usedIdx() == 6);
        assertTrue(receive(frame(MAC.value(), 60, 9)));
        assertEquals(3, net.metrics().rxDroppedFiltered.sum(), "the old address is gone");

        assertEquals(CTRL_ERR, ctrl(CTRL_RX, 2, (byte) 1), "ALLUNI needs CTRL_RX_EXTRA");
        assertEquals(CTRL_ERR, ctrl(CTRL_RX, CTRL_RX_PROMISC), "no state byte");
        assertEquals(CTRL_ERR, ctrl(9, 0, (byte) 0), "unknown class");
        byte[] bad = macTable(new long[] {OTHER_MAC}, new long[0]);
        bad[0] = 5;
        assertEquals(CTRL_ERR, ctrl(CTRL_MAC, CTRL_MAC_TABLE_SET, bad), "five entries announced, one given");
        assertEquals(CTRL_ERR, ctrl(CTRL_MAC, CTRL_MAC_ADDR_SET, (byte) 1, (byte) 2), "short address");
        assertEquals(CTRL_ERR, ctrl(CTRL_MQ, CTRL_MQ_VQ_PAIRS_SET, (byte) 1, (byte) 0), "MQ not negotiated");
        assertEquals(6, net.metrics().ctrlErrors.sum());
        assertEquals(10, net.metrics().ctrlCommands.sum());
        assertFalse(needsReset());

        driver.setStatus(0);
        assertEquals(MAC, net.mac(), "a reset restores the configured address");
        assertEquals(0x56, driver.deviceConfig(5, 1));
        assertTrue(net.promiscuous());
        assertEquals(0, net.macTableSize());
    }

    @Test
    void aControlCommandWithoutItsAckByteNeedsAReset() {
        create(NetBackend.Offloads.NONE, 1);
        bringUp(BASIC);
        rings[controlQueue].add(r(put(new byte[] {CTRL_RX, CTRL_RX_PROMISC, 0}), 3));
        driver.notify(controlQueue);
        await("DEVICE_NEEDS_RESET", this::needsReset);
        assertTrue(transport.lastFailure().contains("control"), transport.lastFailure());
    }

    // ---- multiqueue ----

    @Test
    void queuePairsShareOneBackendWithFlowsSteeredBackToTheirQueue() {
        create(NetBackend.Offloads.NONE, 2);
        assertEquals(5, driver.common(NUM_QUEUES, 2), "two pairs and the control queue");
        assertEquals(2, driver.deviceConfig(8, 2), "max_virtqueue_pairs");
        assertTrue(VirtioFeatures.has(driver.deviceFeatures(), F_MQ));
        bringUp(BASIC | MRG | bit(F_MQ));
        assertEquals(4, controlQueue);
        assertEquals(3, deviceThreads().size(), "a transmit thread per pair and the control thread: " + deviceThreads());
        assertEquals(1, net.activeQueuePairs());

        byte[] out = tcp4(OTHER_MAC, 0x0a000001, 0x0a000002, 1000, 80);
        transmit(3, header(0, GSO_NONE), out);
        LockSupportSleep.millis(100);
        assertEquals(0, backend.sent.size(), "transmitq2 is not read before VQ_PAIRS_SET");

        assertEquals(CTRL_OK, ctrl(CTRL_MQ, CTRL_MQ_VQ_PAIRS_SET, (byte) 2, (byte) 0));
        assertEquals(2, net.activeQueuePairs());
        await("the waiting frame sent", () -> backend.sent.size() == 1);
        assertEquals(CTRL_ERR, ctrl(CTRL_MQ, CTRL_MQ_VQ_PAIRS_SET, (byte) 3, (byte) 0), "more than max_virtqueue_pairs");
        assertEquals(CTRL_ERR, ctrl(CTRL_MQ, CTRL_MQ_VQ_PAIRS_SET, (byte) 0, (byte) 0));

        transmit(1, header(0, GSO_NONE), tcp4(OTHER_MAC, 0x0a000003, 0x0a000004, 2000, 443));
        await("the second flow sent", () -> backend.sent.size() == 2);
        postRx(0, 2048, 2048);
        postRx(2, 2048, 2048);
        assertTrue(receive(tcp4(MAC.value(), 0x0a000002, 0x0a000001, 80, 1000)));
        await("the reply on receiveq2", () -> rings[2].usedIdx() == 1);
        assertEquals(0, rings[0].usedIdx());
        assertTrue(receive(tcp4(MAC.value(), 0x0a000004, 0x0a000003, 443, 2000)));
        await("the other reply on receiveq1", () -> rings[0].usedIdx() == 1);
        assertEquals(1, rings[2].usedIdx());
    }

    @Test
    void withoutMqNegotiatedTheControlQueueIsTheThirdQueue() {
        create(NetBackend.Offloads.NONE, 2);
        bringUp(BASIC);
        assertEquals(2, controlQueue);
        assertEquals(CTRL_OK, ctrl(CTRL_RX, CTRL_RX_PROMISC, (byte) 0));
        assertEquals(CTRL_ERR, ctrl(CTRL_MQ, CTRL_MQ_VQ_PAIRS_SET, (byte) 1, (byte) 0));
        assertEquals(2, deviceThreads().size());
    }

    @Test
    void aMultiQueueBackendGivesEachPairItsOwnQueue() {
        FakeMultiQueueBackend mq = new FakeMultiQueueBackend(2, NetBackend.Offloads.NONE);
        create(mq, 2);
        assertThrows(IllegalArgumentException.class, () -> new VirtioNet("x", mq, MAC, 3, 256, 0));
        bringUp(BASIC | MRG | bit(F_MQ));
        assertEquals(1, mq.queues[0].starts.get());
        assertEquals(1, mq.queues[1].starts.get());
        assertNotSame(mq.queues[0].receiver, mq.queues[1].receiver);
        assertEquals(List.of(1), mq.activeQueues);

        postRx(0, 2048);
        postRx(2, 2048);
        assertTrue(net.receiver(1).receive(MemorySegment.ofArray(frame(MAC.value(), 80, 1))));
        assertEquals(1, net.metrics().rxDroppedInactive.sum(), "queue 2 of the backend is not active yet");

        assertEquals(CTRL_OK, ctrl(CTRL_MQ, CTRL_MQ_VQ_PAIRS_SET, (byte) 2, (byte) 0));
        assertEquals(List.of(1, 2), mq.activeQueues);
        transmit(3, header(0, GSO_NONE), frame(OTHER_MAC, 70, 2));
        await("sent on the second backend queue", () -> mq.queues[1].sent.size() == 1);
        assertEquals(0, mq.queues[0].sent.size());

        mq.queues[1].inject(frame(MAC.value(), 90, 3));
        await("received on receiveq2", () -> rings[2].usedIdx() == 1);
        assertEquals(0, rings[0].usedIdx());
        mq.queues[0].inject(frame(MAC.value(), 90, 4));
        await("received on receiveq1", () -> rings[0].usedIdx() == 1);

        driver.setStatus(0);
        assertEquals(List.of(1, 2, 1), mq.activeQueues, "a reset goes back to one queue");
    }

    // ---- reset and threads ----

    @Test
    void aResetWhileTrafficFlowsLeavesNoThreadAndNoWritesBehind() throws Exception {
        create(NetBackend.Offloads.NONE, 1);
        AtomicBoolean flooding = new AtomicBoolean(true);
        Thread flood = Thread.ofPlatform().name("test-flood").start(() -> {
            int i = 0;
            while (flooding.get()) {
                if (backend.idle()) {
                    for (int k = 0; k < 16; k++, i++) {
                        backend.inject(frame(MAC.value(), 100 + i % 1000, i));
                    }
                }
                Thread.onSpinWait();
            }
        });
        try {
            for (int round = 0; round < 8; round++) {
                bringUp(BASIC | MRG | (round % 2 == 0 ? EVENT_IDX : 0));
                long rxArea = guest.alloc(48 * 2048, 4096);
                for (int i = 0; i < 48; i++) {
                    rings[0].add(w(rxArea + 2048L * i, 2048));
                }
                driver.notify(0);
                long sentBefore = backend.sent.size();
                long receivedBefore = net.metrics().rxPackets.sum();
                for (int i = 0; i < 20; i++) {
                    transmit(1, header(0, GSO_NONE), frame(OTHER_MAC, 200, i));
                }
                await("traffic both ways", () -> backend.sent.size() > sentBefore && net.metrics().rxPackets.sum() > receivedBefore);

                Thread vcpu = Thread.ofPlatform().name("vcpu-reset").start(() -> driver.setStatus(0));
                vcpu.join(TestGuest.TIMEOUT.toMillis());
                assertFalse(vcpu.isAlive(), "the reset returned");
                assertEquals(List.of(), deviceThreads(), "no device thread outlives the reset");

                byte[] rxBefore = read(rxArea, 48 * 2048);
                byte[] usedBefore = read(rings[0].used, 6 + 8 * ringSize);
                int txUsed = rings[1].usedIdx();
                long dropped = net.metrics().rxDroppedInactive.sum();
                await("frames dropped after the reset", () -> net.metrics().rxDroppedInactive.sum() > dropped + 10);
                assertArrayEquals(rxBefore, read(rxArea, 48 * 2048), "no frame written into guest memory after the reset");
                assertArrayEquals(usedBefore, read(rings[0].used, 6 + 8 * ringSize));
                assertEquals(txUsed, rings[1].usedIdx());
            }
        } finally {
            flooding.set(false);
            flood.join();
        }
        await("the backend idle", backend::idle);
        assertFalse(backend.closed, "the backend belongs to the machine and keeps running");

        // The driver brings the device up again and traffic resumes.
        bringUp(BASIC | MRG);
        long[] b = postRx(0, 2048);
        byte[] f = frame(MAC.value(), 300, 77);
        backend.inject(f);
        await("a frame after the reset", () -> rings[0].usedIdx() == 1);
        assertArrayEquals(concat(rxHeader(1), f), read(b[0], HEADER_BYTES + 300));
    }

    @Test
    void closeStopsTheThreadsAndLeavesTheBackendOpen() {
        create(NetBackend.Offloads.NONE, 1);
        bringUp(BASIC);
        assertEquals(2, deviceThreads().size());
        transport.close();
        transport = null;
        assertEquals(List.of(), deviceThreads());
        assertFalse(backend.closed);
        assertTrue(receive(frame(MAC.value(), 60, 1)), "a late frame is dropped");
    }

    /** Sleeps without a checked exception. */
    private static final class LockSupportSleep {
        static void millis(long ms) {
            java.util.concurrent.locks.LockSupport.parkNanos(ms * 1_000_000);
        }
    }
}
