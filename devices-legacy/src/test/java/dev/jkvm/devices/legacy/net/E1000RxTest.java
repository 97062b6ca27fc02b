package dev.jkvm.devices.legacy.net;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.zip.CRC32;

import static dev.jkvm.devices.legacy.net.E1000Registers.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The receive ring: descriptors, multi-buffer frames, FCS, refusal and redelivery, causes, filters, VLAN stripping. */
class E1000RxTest {
    private static final int DD_EOP_IXSM = E1000Rx.STA_DD | E1000Rx.STA_EOP | E1000Rx.STA_IXSM;
    private final E1000Harness h = new E1000Harness();

    @AfterEach
    void tearDown() {
        h.close();
    }

    @Test
    void theBackendStartsWhenReceiveIsFirstEnabled() {
        assertEquals(0, h.backend.starts.get());
        h.rxRing(8, RCTL_SECRC);
        assertEquals(1, h.backend.starts.get());
        h.w(RCTL, 0);
        h.w(RCTL, RCTL_EN);
        assertEquals(1, h.backend.starts.get(), "once");
    }

    @Test
    void aFrameLandsInOneDescriptorWithDdEopIxsmAndRxt0() {
        h.rxRing(8, RCTL_SECRC);
        h.w(IMS, ICR_RXT0);
        byte[] f = Frames.ethernet(Frames.OURS, Frames.PEER, 0x0800, 100);
        assertTrue(h.backend.offer(f));
        assertEquals(DD_EOP_IXSM, h.rxStatus(0));
        assertEquals(f.length, h.rxLength(0));
        assertEquals(0, h.memory.read8(E1000Harness.RX_RING + 13), "errors");
        assertArrayEquals(f, h.rxBuffer(0, 2048, f.length));
        assertEquals(1, h.r(RDH));
        assertTrue(h.line.high());
        assertEquals(ICR_RXT0, h.r(ICR) & ICR_RXT0);
        assertEquals(1, h.nic.metrics().rxPackets.sum());
    }

    @Test
    void shortFramesArePaddedTo60AndTheFcsIsAppendedWithoutSecrc() {
        h.rxRing(8, 0);
        byte[] arp = Frames.ethernet(Frames.OURS, Frames.PEER, 0x0806, 28);
        assertTrue(h.backend.offer(arp));
        assertEquals(64, h.rxLength(0), "60 + FCS");
        byte[] got = h.rxBuffer(0, 2048, 64);
        byte[] padded = Arrays.copyOf(arp, 60);
        assertArrayEquals(padded, Arrays.copyOf(got, 60));
        CRC32 crc = new CRC32();
        crc.update(padded);
        long fcs = (got[60] & 0xff) | (got[61] & 0xff) << 8 | (got[62] & 0xff) << 16 | (long) (got[63] & 0xff) << 24;
        assertEquals(crc.getValue(), fcs);
    }

    @Test
    void aFrameLongerThanTheBufferSpansDescriptors() {
        int rctl = 3 << RCTL_BSIZE_SHIFT | RCTL_SECRC;     // 256-byte buffers
        assertEquals(256, E1000Rx.bufferSize(rctl));
        h.rxRing(8, rctl);
        byte[] f = Frames.ethernet(Frames.OURS, Frames.PEER, 0x0800, 600 - 14);
        assertTrue(h.backend.offer(f));
        assertEquals(E1000Rx.STA_DD, h.rxStatus(0));
        assertEquals(E1000Rx.STA_DD, h.rxStatus(1));
        assertEquals(DD_EOP_IXSM, h.rxStatus(2));
        assertEquals(256, h.rxLength(0));
        assertEquals(256, h.rxLength(1));
        assertEquals(88, h.rxLength(2));
        byte[] got = h.rxBuffer(0, 256, 600);
        assertArrayEquals(f, got);
        assertEquals(3, h.r(RDH));
    }

    @Test
    void bufferSizesFollowBsizeAndBsex() {
        assertEquals(2048, E1000Rx.bufferSize(0));
        assertEquals(1024, E1000Rx.bufferSize(1 << RCTL_BSIZE_SHIFT));
        assertEquals(512, E1000Rx.bufferSize(2 << RCTL_BSIZE_SHIFT));
        assertEquals(16384, E1000Rx.bufferSize(RCTL_BSEX | 1 << RCTL_BSIZE_SHIFT));
        assertEquals(8192, E1000Rx.bufferSize(RCTL_BSEX | 2 << RCTL_BSIZE_SHIFT));
        assertEquals(4096, E1000Rx.bufferSize(RCTL_BSEX | 3 << RCTL_BSIZE_SHIFT));
    }

    @Test
    void aFullRingRefusesTheFrameRaisesRxoAndTakesItAgainOnceRdtMoves() {
        h.rxRing(8, RCTL_SECRC);                 // RDT 7: seven descriptors for the device
        byte[] f = Frames.ethernet(Frames.OURS, Frames.PEER, 0x0800, 100);
        for (int i = 0; i < 7; i++) {
            assertTrue(h.backend.offer(f));
        }
        h.r(ICR);
        int wakeups = h.backend.wakeups.get();
        assertFalse(h.backend.offer(f), "refused: the backend keeps it");
        assertEquals(ICR_RXO, h.r(ICR) & ICR_RXO);
        assertEquals(1, h.r(E1000Stats.RNBC));
        assertEquals(0, h.r(E1000Stats.MPC), "nothing was lost");
        assertEquals(7, h.r(RDH));
        // The driver takes descriptor 0 back and returns it: RDT moves on, the backend is woken.
        h.w(RDT, 0);
        assertEquals(wakeups + 1, h.backend.wakeups.get());
        assertTrue(h.backend.offer(f));
        assertEquals(DD_EOP_IXSM, h.rxStatus(7));
        assertEquals(0, h.r(RDH));
        assertEquals(1, h.nic.metrics().rxNoBuffer.sum());
    }

    @Test
    void rxdmt0WhenFreeDescriptorsFallToTheThreshold() {
        h.rxRing(8, RCTL_SECRC);                 // 7 free, threshold 8/2 = 4
        byte[] f = Frames.ethernet(Frames.OURS, Frames.PEER, 0x0800, 100);
        h.backend.offer(f);
        h.backend.offer(f);
        assertEquals(0, h.r(ICR) & ICR_RXDMT0, "5 left");
        h.backend.offer(f);
        assertEquals(ICR_RXDMT0, h.r(ICR) & ICR_RXDMT0, "4 left");
    }

    @Test
    void framesAreDroppedWhileReceiveIsOffTheLinkIsDownOrMasteringIsOff() {
        byte[] f = Frames.ethernet(Frames.OURS, Frames.PEER, 0x0800, 100);
        h.rxRing(8, RCTL_SECRC);
        h.w(RCTL, RCTL_SECRC);
        assertTrue(h.backend.offer(f));
        h.w(RCTL, RCTL_SECRC | RCTL_EN);
        h.w(CTRL, CTRL_DEFAULT & ~CTRL_SLU);
        assertTrue(h.backend.offer(f));
        h.w(CTRL, CTRL_DEFAULT);
        h.nic.writeConfig(dev.jkvm.vmm.pci.PciConfiguration.COMMAND, 2, dev.jkvm.vmm.pci.PciConfiguration.COMMAND_MEMORY);
        assertTrue(h.backend.offer(f));
        assertEquals(0, h.r(RDH));
        assertEquals(3, h.nic.metrics().rxDroppedInactive.sum());
    }

    @Test
    void oversizedFramesNeedLpe() {
        h.rxRing(8, RCTL_SECRC);
        byte[] big = Frames.ethernet(Frames.OURS, Frames.PEER, 0x0800, 3000);
        assertTrue(h.backend.offer(big));
        assertEquals(0, h.r(RDH));
        assertEquals(1, h.r(E1000Stats.ROC));
        h.w(RCTL, RCTL_SECRC | RCTL_EN | RCTL_LPE);
        assertTrue(h.backend.offer(big));
        assertEquals(2, h.r(RDH), "two 2 KiB buffers");
        assertEquals(DD_EOP_IXSM, h.rxStatus(1));
    }

    // ---- filtering ----

    private boolean lands(byte[] dst) {
        int before = h.r(RDH);
        h.backend.offer(Frames.ethernet(dst, Frames.PEER, 0x0800, 50));
        return h.r(RDH) != before;
    }

    @Test
    void unicastPassesForOurAddressesOrWithUpe() {
        h.rxRing(16, RCTL_SECRC);
        byte[] other = {0x52, 0x54, 0, 0x12, 0x34, 0x57};
        assertTrue(lands(Frames.OURS));
        assertFalse(lands(other));
        h.w(RA + 8, 0x12005452);
        h.w(RA + 12, 0x5734);
        assertFalse(lands(other), "entry 1 without AV");
        h.w(RA + 12, 0x5734 | RAH_AV | 1 << 16);
        assertFalse(lands(other), "a source-address entry (AS 01b) does not match destinations");
        h.w(RA + 12, 0x5734 | RAH_AV);
        assertTrue(lands(other));
        h.w(RA + 12, 0);
        h.w(RCTL, RCTL_SECRC | RCTL_EN | RCTL_UPE);
        assertTrue(lands(new byte[] {2, 0, 0, 0, 0, 1}));
        assertEquals(3, h.nic.metrics().rxDroppedFiltered.sum(), "three refused by the filter");
    }

    @Test
    void broadcastNeedsBamMulticastNeedsTheHashOrMpe() {
        h.rxRing(16, RCTL_SECRC);
        byte[] mdns = {0x01, 0x00, 0x5e, 0x00, 0x00, (byte) 0xfb};
        assertFalse(lands(Frames.BROADCAST));
        assertFalse(lands(mdns));
        h.w(RCTL, RCTL_SECRC | RCTL_EN | RCTL_BAM);
        assertTrue(lands(Frames.BROADCAST));
        // MO 00: hash = address bits 47:36, (0xfb00 >> 4) & 0xfff = 0xfb0: MTA[125] bit 16.
        h.w(MTA + 4 * 125, 1 << 16);
        assertTrue(lands(mdns));
        h.w(MTA + 4 * 125, 0);
        assertFalse(lands(mdns));
        h.w(RCTL, RCTL_SECRC | RCTL_EN | RCTL_MPE);
        assertTrue(lands(mdns));
        // MO 11: bits 43:32 = 0xfb00 & 0xfff = 0xb00: MTA[88] bit 0.
        h.w(RCTL, RCTL_SECRC | RCTL_EN | 3 << RCTL_MO_SHIFT);
        h.w(MTA + 4 * 88, 1);
        assertTrue(lands(mdns));
        assertEquals(3, h.r(E1000Stats.MPRC));
        assertEquals(1, h.r(E1000Stats.BPRC));
    }

    @Test
    void vlanTagsAreStrippedWithVmeAndFilteredWithVfe() {
        h.rxRing(16, RCTL_SECRC);
        byte[] plain = Frames.ethernet(Frames.OURS, Frames.PEER, 0x0800, 60);
        byte[] tagged = new byte[plain.length + 4];
        System.arraycopy(plain, 0, tagged, 0, 12);
        Frames.put16(tagged, 12, 0x8100);
        Frames.put16(tagged, 14, 0x2005);          // priority 1, VLAN 5
        System.arraycopy(plain, 12, tagged, 16, plain.length - 12);
        h.w(CTRL, CTRL_DEFAULT | CTRL_VME);
        assertTrue(h.backend.offer(tagged));
        assertEquals(DD_EOP_IXSM | E1000Rx.STA_VP, h.rxStatus(0));
        assertEquals(0x2005, h.memory.read16(E1000Harness.RX_RING + 14), "the tag in the special field");
        assertEquals(plain.length, h.rxLength(0));
        assertArrayEquals(plain, h.rxBuffer(0, 2048, plain.length));
        h.w(RCTL, RCTL_SECRC | RCTL_EN | RCTL_VFE);
        assertTrue(h.backend.offer(tagged));
        assertEquals(1, h.r(RDH), "VLAN 5 not in the VFTA");
        h.w(VFTA, 1 << 5);
        assertTrue(h.backend.offer(tagged));
        assertEquals(2, h.r(RDH));
    }
}
