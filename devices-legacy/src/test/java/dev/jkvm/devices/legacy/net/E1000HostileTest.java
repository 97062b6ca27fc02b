package dev.jkvm.devices.legacy.net;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static dev.jkvm.devices.legacy.net.E1000Harness.RAM;
import static dev.jkvm.devices.legacy.net.E1000Harness.RX_RING;
import static dev.jkvm.devices.legacy.net.E1000Harness.TX_BUFFERS;
import static dev.jkvm.devices.legacy.net.E1000Registers.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** A hostile driver: bad rings, indexes and buffers put a direction into the error state; nothing throws. */
class E1000HostileTest {
    private final E1000Harness h = new E1000Harness();
    private final byte[] frame = Frames.ethernet(Frames.OURS, Frames.PEER, 0x0800, 100);

    @AfterEach
    void tearDown() {
        h.close();
    }

    private void awaitTxFault() {
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (!h.nic.transmitFaulted()) {
            if (System.nanoTime() > deadline) {
                fail("no transmit fault; TDH " + h.r(TDH));
            }
            Thread.onSpinWait();
        }
    }

    @Test
    void rdtBeyondTheRingFaultsReceiveUntilCtrlRst() {
        h.rxRing(8, RCTL_SECRC);
        h.w(RDT, 100);
        assertTrue(h.backend.offer(frame), "dropped, not refused");
        assertTrue(h.nic.receiveFaulted());
        assertEquals(1, h.nic.metrics().ringFaults.sum());
        assertTrue(h.nic.lastFault().contains("RDT"), h.nic.lastFault());
        h.w(RDT, 7);
        assertTrue(h.backend.offer(frame));
        assertEquals(0, h.r(RDH), "still stopped");
        h.w(CTRL, CTRL_DEFAULT | CTRL_RST);
        assertFalse(h.nic.receiveFaulted());
        h.rxRing(8, RCTL_SECRC);
        assertTrue(h.backend.offer(frame));
        assertEquals(1, h.r(RDH), "working again");
    }

    @Test
    void aReceiveRingOutsideRamFaultsAndReenablingRctlRecovers() {
        h.rxRing(8, RCTL_SECRC);
        h.w(RDBAL, 0xfff00000);
        h.w(RDBAH, 0x7);
        assertTrue(h.backend.offer(frame));
        assertTrue(h.nic.receiveFaulted());
        h.w(RCTL, 0);
        h.rxRing(8, RCTL_SECRC);
        assertFalse(h.nic.receiveFaulted(), "RCTL.EN set again starts afresh");
        assertTrue(h.backend.offer(frame));
        assertEquals(1, h.r(RDH));
    }

    @Test
    void aReceiveBufferOutsideRamFaultsWithoutWritingAnything() {
        h.rxRing(8, RCTL_SECRC);
        h.memory.write64(RX_RING, RAM - 64);          // a 2 KiB buffer that runs off the end of RAM
        assertTrue(h.backend.offer(frame));
        assertTrue(h.nic.receiveFaulted());
        assertEquals(0, h.rxStatus(0));
        h.memory.write64(RX_RING, 0xffff_ffff_ffff_f000L);
        h.w(CTRL, CTRL_DEFAULT | CTRL_RST);
        h.rxRing(8, RCTL_SECRC);
        h.memory.write64(RX_RING, 0xffff_ffff_ffff_f000L);
        assertTrue(h.backend.offer(frame));
        assertTrue(h.nic.receiveFaulted(), "an address that would wrap");
        assertEquals(0, h.nic.metrics().internalErrors.sum());
    }

    @Test
    void aTransmitRingOutsideRamFaultsTransmit() {
        h.txRing(8, 0);
        h.w(TDBAH, 0x10);
        h.w(TDT, 1);
        awaitTxFault();
        assertEquals(0, h.r(TDH));
        assertTrue(h.nic.lastFault().contains("transmit ring"), h.nic.lastFault());
    }

    @Test
    void tdtBeyondTheRingFaultsAndTctlEnRecovers() {
        h.txRing(8, 0);
        h.w(TDT, 9);
        awaitTxFault();
        h.w(TCTL, 0);
        h.txRing(8, 0);
        assertFalse(h.nic.transmitFaulted());
        h.memory.write(TX_BUFFERS, frame, 0, frame.length);
        h.txLegacy(TX_BUFFERS, frame.length, E1000Tx.CMD_EOP | E1000Tx.CMD_RS);
        h.txGo();
        assertEquals(1, h.backend.sent.size());
    }

    @Test
    void aTransmitBufferOutsideRamFaultsAndSendsNothing() {
        h.txRing(8, 0);
        h.memory.write(TX_BUFFERS, frame, 0, frame.length);
        h.txLegacy(TX_BUFFERS, 20, 0);
        h.txLegacy(0xffff_fff0_0000L, 8192, E1000Tx.CMD_EOP | E1000Tx.CMD_RS);
        h.w(TDT, h.txTail);
        awaitTxFault();
        assertEquals(1, h.r(TDH), "stopped at the bad descriptor");
        assertEquals(0, h.backend.sent.size());
        assertEquals(0, h.memory.read8(E1000Harness.TX_RING + 16 + 12), "not written back");
        // A reset clears the fault and the half-built packet.
        h.w(CTRL, CTRL_DEFAULT | CTRL_RST);
        h.txRing(8, 0);
        h.txLegacy(TX_BUFFERS, frame.length, E1000Tx.CMD_EOP | E1000Tx.CMD_RS);
        h.txGo();
        assertEquals(frame.length, h.backend.sent.get(0).length);
    }

    @Test
    void aHugeChainOfDescriptorsIsCappedAndDropped() {
        h.txRing(64, 0);
        for (int i = 0; i < 40; i++) {
            h.txLegacy(TX_BUFFERS, 4096, i == 39 ? E1000Tx.CMD_EOP | E1000Tx.CMD_RS : 0);
        }
        h.txGo();
        assertEquals(0, h.backend.sent.size(), "160 KiB: more than a packet may be");
        assertEquals(1, h.nic.metrics().txDroppedMalformed.sum());
        assertFalse(h.nic.transmitFaulted());
    }

    @Test
    void randomRegisterTrafficNeverThrowsNorFailsInside() {
        Random r = new Random(42);
        var mmio = h.nic.bar(E1000.MMIO_BAR);
        var io = h.nic.bar(E1000.IO_BAR);
        int[] sizes = {1, 2, 3, 4, 8};
        h.rxRing(8, RCTL_SECRC);
        for (int i = 0; i < 200_000; i++) {
            int offset = r.nextInt(MMIO_SIZE);
            if (r.nextInt(4) == 0) {
                offset = new int[] {CTRL, RCTL, RDT, RDH, RDLEN, RDBAL, TDT, TDH, TDLEN, TDBAL, TCTL, ICR, IMS, EECD, EERD, MDIC}
                        [r.nextInt(16)] & ~(r.nextInt(2) == 0 ? CTRL_RST : 0);
            }
            int size = sizes[r.nextInt(sizes.length)];
            long value = r.nextLong();
            if (offset == CTRL && r.nextInt(8) != 0) {
                value &= ~(long) CTRL_RST;
            }
            if (offset + size > MMIO_SIZE) {
                continue;
            }
            if (r.nextBoolean()) {
                mmio.write(offset, size, value);
            } else {
                mmio.read(offset, size);
            }
            if (r.nextInt(64) == 0) {
                io.write(r.nextInt(0x40) & ~3, 4, value & 0xffffffffL);
                io.read(r.nextInt(0x40) & ~3, 4);
            }
            if (r.nextInt(256) == 0) {
                h.backend.offer(frame);
            }
        }
        assertEquals(0, h.nic.metrics().internalErrors.sum(), h.nic.metrics().toString());
    }
}
