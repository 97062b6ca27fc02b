package dev.jkvm.devices.legacy.net;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static dev.jkvm.devices.legacy.net.E1000Harness.TX_BUFFERS;
import static dev.jkvm.devices.legacy.net.E1000Registers.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Transmit: legacy descriptors, checksum offload, TCP segmentation, VLAN insertion, padding, loopback. */
class E1000TxTest {
    private static final int EOP = E1000Tx.CMD_EOP;
    private static final int IFCS = E1000Tx.CMD_IFCS;
    private static final int RS = E1000Tx.CMD_RS;
    private static final int TSE = E1000Tx.CMD_TSE;
    private static final int VLE = E1000Tx.CMD_VLE;
    private static final int DEXT = E1000Tx.CMD_DEXT;
    private static final int IXSM_TXSM = E1000Tx.POPTS_IXSM | E1000Tx.POPTS_TXSM;

    private final E1000Harness h = new E1000Harness();

    @AfterEach
    void tearDown() {
        h.close();
    }

    private void context(int ipcss, int ipcso, int ipcse, int tucss, int tucso, int tucse, int tucmd, int paylen, int hdrLen, int mss) {
        long low = ipcss | ipcso << 8 | (long) ipcse << 16 | (long) tucss << 32 | (long) tucso << 40 | (long) tucse << 48;
        h.txDescriptor(low, paylen | (DEXT | tucmd) << 24, hdrLen << 8 | mss << 16);
    }

    private void data(long addr, int len, int dcmd, int popts) {
        h.txDescriptor(addr, len | 1 << 20 | (DEXT | dcmd) << 24, popts << 8);
    }

    /** The IPv4/TCP context for frames from {@link Frames#tcp4ForTso}. */
    private void tsoContext(int payload, int mss) {
        context(14, 24, 33, 34, 50, 0, E1000TxContext.TUCMD_TCP | E1000TxContext.TUCMD_IP | E1000TxContext.TUCMD_TSE,
                payload, 54, mss);
    }

    @Test
    void aLegacyDescriptorSendsItsBytesAndIsWrittenBack() {
        h.txRing(8, 0);
        h.w(IMS, ICR_TXDW);
        byte[] f = Frames.ethernet(Frames.PEER, Frames.OURS, 0x0806, 28);
        h.memory.write(TX_BUFFERS, f, 0, f.length);
        h.txLegacy(TX_BUFFERS, f.length, EOP | IFCS | RS);
        h.txGo();
        assertEquals(1, h.backend.sent.size());
        assertArrayEquals(f, h.backend.sent.get(0), "42 bytes: no padding without PSP");
        assertTrue(h.backend.allNative, "the backend gets native memory");
        assertEquals(E1000Tx.STA_DD, h.memory.read8(E1000Harness.TX_RING + 12) & 0x0f);
        assertEquals(ICR_TXDW | ICR_TXQE, h.r(ICR) & (ICR_TXDW | ICR_TXQE));
        assertEquals(1, h.r(E1000Stats.GPTC));
        assertEquals(1, h.r(E1000Stats.TPT));
        assertEquals(0, h.r(E1000Stats.BPTC), "unicast");
        assertEquals(0, h.r(E1000Stats.MPTC));
        assertEquals(46, h.r(E1000Stats.TOTL));
    }

    @Test
    void pspPadsShortFramesAndAFrameMaySpanDescriptors() {
        h.txRing(8, TCTL_PSP);
        byte[] f = Frames.ethernet(Frames.BROADCAST, Frames.OURS, 0x0806, 28);
        h.memory.write(TX_BUFFERS, f, 0, f.length);
        h.txLegacy(TX_BUFFERS, 20, 0);
        h.txLegacy(TX_BUFFERS + 20, f.length - 20, EOP | RS);
        h.txGo();
        assertEquals(1, h.backend.sent.size());
        assertArrayEquals(Arrays.copyOf(f, 60), h.backend.sent.get(0));
        assertEquals(0, h.memory.read8(E1000Harness.TX_RING + 12), "no RS: no write-back");
        assertEquals(1, h.r(E1000Stats.BPTC));
        assertEquals(1, h.r(E1000Stats.PTC64));
    }

    @Test
    void legacyChecksumInsertionFromCssToTheEnd() {
        h.txRing(8, 0);
        byte[] f = Frames.udp4(100);
        h.memory.write(TX_BUFFERS, f, 0, f.length);
        h.txDescriptor(TX_BUFFERS, f.length | 40 << 16 | (EOP | RS | E1000Tx.CMD_IC) << 24, 34 << 8);
        h.txGo();
        assertTrue(Frames.l4ChecksumOk(h.backend.sent.get(0)));
    }

    @Test
    void ipAndUdpChecksumsAreInsertedFromTheChecksumContext() {
        h.txRing(8, 0);
        byte[] f = Frames.udp4(301);
        assertTrue(!Frames.ipChecksumOk(f) && !Frames.l4ChecksumOk(f));
        h.memory.write(TX_BUFFERS, f, 0, f.length);
        context(14, 24, 33, 34, 40, 0, E1000TxContext.TUCMD_IP, 0, 0, 0);
        data(TX_BUFFERS, 100, 0, IXSM_TXSM);
        data(TX_BUFFERS + 100, f.length - 100, EOP | RS, 0);
        h.txGo();
        byte[] got = h.backend.sent.get(0);
        assertTrue(Frames.ipChecksumOk(got), "IP header checksum");
        assertTrue(Frames.l4ChecksumOk(got), "UDP checksum");
        got[24] = 0;
        got[25] = 0;
        got[40] = f[40];
        got[41] = f[41];
        assertArrayEquals(f, got, "nothing else changed");
    }

    private void checkSegments(byte[] f, int payload, int mss, long seq) {
        int n = (payload + mss - 1) / mss;
        assertEquals(n, h.backend.sent.size(), "segments");
        for (int k = 0; k < n; k++) {
            byte[] s = h.backend.sent.get(k);
            int len = Math.min(mss, payload - k * mss);
            assertEquals(54 + len, s.length, "segment " + k + " length");
            assertEquals(40 + len, Frames.be16(s, 16), "IP total length");
            assertEquals(0x4000 + k, Frames.be16(s, 18), "IP id");
            assertEquals(seq + (long) k * mss, Frames.be32(s, 38), "TCP sequence number");
            assertEquals(k == n - 1 ? 0x19 : 0x10, s[47] & 0xff, "FIN and PSH only on the last");
            assertTrue(Frames.ipChecksumOk(s), "IP checksum of segment " + k);
            assertTrue(Frames.l4ChecksumOk(s), "TCP checksum of segment " + k);
            assertArrayEquals(Arrays.copyOfRange(f, 54 + k * mss, 54 + k * mss + len), Arrays.copyOfRange(s, 54, s.length));
            assertArrayEquals(Arrays.copyOf(f, 16), Arrays.copyOf(s, 16), "Ethernet header and start of IP replicated");
        }
    }

    @Test
    void tsoSegmentsByMssWithHeadersLengthsIdsSequenceNumbersAndChecksums() {
        h.txRing(16, 0);
        int payload = 2500;
        byte[] f = Frames.tcp4ForTso(payload, 0xfffff000L);
        h.memory.write(TX_BUFFERS, f, 0, f.length);
        tsoContext(payload, 1000);
        // A checksum context after it does not replace the segmentation context.
        context(14, 24, 33, 34, 40, 0, E1000TxContext.TUCMD_IP, 0, 0, 0);
        data(TX_BUFFERS, 54, TSE, IXSM_TXSM);
        data(TX_BUFFERS + 54, 1200, TSE, 0);
        data(TX_BUFFERS + 1254, 1300, TSE | EOP | RS, 0);
        h.txGo();
        checkSegments(f, payload, 1000, 0xfffff000L);
        assertEquals(1, h.r(E1000Stats.TSCTC));
        assertEquals(3, h.r(E1000Stats.GPTC));
        assertEquals(3, h.nic.metrics().txTsoSegments.sum());
    }

    @Test
    void tsoWithPayloadAMultipleOfTheMssSendsNoEmptySegment() {
        h.txRing(16, 0);
        byte[] f = Frames.tcp4ForTso(3000, 7);
        h.memory.write(TX_BUFFERS, f, 0, f.length);
        tsoContext(3000, 1000);
        data(TX_BUFFERS, f.length, TSE | EOP | RS, IXSM_TXSM);
        h.txGo();
        checkSegments(f, 3000, 1000, 7);
    }

    @Test
    void aTsoContextThatCannotBeUsedDropsThePacket() {
        h.txRing(16, 0);
        byte[] f = Frames.tcp4ForTso(3000, 7);
        h.memory.write(TX_BUFFERS, f, 0, f.length);
        context(14, 24, 33, 34, 50, 0, E1000TxContext.TUCMD_TCP | E1000TxContext.TUCMD_IP | E1000TxContext.TUCMD_TSE, 3000, 54, 0);
        data(TX_BUFFERS, f.length, TSE | EOP | RS, IXSM_TXSM);
        h.txGo();
        assertEquals(0, h.backend.sent.size(), "MSS 0");
        assertEquals(1, h.r(E1000Stats.TSCTFC));
        assertEquals(E1000Tx.STA_DD, h.memory.read8(E1000Harness.TX_RING + 16 + 12) & 1, "still written back");
    }

    @Test
    void vleInsertsAnEightDotOneQTagWhenVmeIsSet() {
        h.txRing(8, 0);
        byte[] f = Frames.ethernet(Frames.PEER, Frames.OURS, 0x0800, 80);
        h.memory.write(TX_BUFFERS, f, 0, f.length);
        h.w(CTRL, CTRL_DEFAULT | CTRL_VME);
        h.txDescriptor(TX_BUFFERS, f.length | (EOP | RS | VLE) << 24, 0x0123 << 16);
        h.txGo();
        byte[] got = h.backend.sent.get(0);
        assertEquals(f.length + 4, got.length);
        assertArrayEquals(Arrays.copyOf(f, 12), Arrays.copyOf(got, 12));
        assertEquals(0x8100, Frames.be16(got, 12));
        assertEquals(0x0123, Frames.be16(got, 14));
        assertArrayEquals(Arrays.copyOfRange(f, 12, f.length), Arrays.copyOfRange(got, 16, got.length));
    }

    @Test
    void aBackendThatRefusesIsCountedAndTheDescriptorStillCompletes() {
        h.txRing(8, 0);
        h.backend.refuseSends = true;
        byte[] f = Frames.ethernet(Frames.PEER, Frames.OURS, 0x0800, 80);
        h.memory.write(TX_BUFFERS, f, 0, f.length);
        h.txLegacy(TX_BUFFERS, f.length, EOP | RS);
        h.txGo();
        assertEquals(1, h.nic.metrics().txDroppedBackend.sum());
        assertEquals(0, h.r(E1000Stats.GPTC));
    }

    @Test
    void phyLoopbackDeliversTransmittedFramesToOurOwnRing() {
        h.rxRing(8, RCTL_SECRC);
        h.txRing(8, 0);
        h.w(MDIC, (0x1140 | E1000Phy.BMCR_LOOPBACK) | 1 << MDIC_PHY_SHIFT | MDIC_OP_WRITE << MDIC_OP_SHIFT);
        byte[] f = Frames.ethernet(Frames.OURS, Frames.PEER, 0x0800, 80);
        h.memory.write(TX_BUFFERS, f, 0, f.length);
        h.txLegacy(TX_BUFFERS, f.length, EOP | RS);
        h.txGo();
        assertEquals(0, h.backend.sent.size());
        assertEquals(1, h.r(RDH));
        assertArrayEquals(f, h.rxBuffer(0, 2048, f.length));
    }
}
