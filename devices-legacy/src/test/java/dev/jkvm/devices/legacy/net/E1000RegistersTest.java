package dev.jkvm.devices.legacy.net;

import dev.jkvm.vmm.pci.BarKind;
import dev.jkvm.vmm.pci.PciConfiguration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import static dev.jkvm.devices.legacy.net.E1000Registers.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Identity, EEPROM (both doors), PHY, CTRL/STATUS and the link, interrupts, statistics, the I/O window, resets. */
class E1000RegistersTest {
    private final E1000Harness h = new E1000Harness();

    @AfterEach
    void tearDown() {
        h.close();
    }

    @Test
    void pciIdentityAndBarsAreThe82540EmAsQemuHasIt() {
        PciConfiguration c = h.nic.configuration();
        assertEquals(0x8086, c.get16(PciConfiguration.VENDOR_ID));
        assertEquals(0x100e, c.get16(PciConfiguration.DEVICE_ID));
        assertEquals(0x03, c.get8(PciConfiguration.REVISION));
        assertEquals(0x020000, c.get32(PciConfiguration.REVISION) >>> 8);
        assertEquals(0x1af4, c.get16(PciConfiguration.SUBSYSTEM_VENDOR_ID));
        assertEquals(0x1100, c.get16(PciConfiguration.SUBSYSTEM_ID));
        assertEquals(1, c.get8(PciConfiguration.INTERRUPT_PIN));
        assertEquals(BarKind.MEMORY32, c.barKind(0));
        assertEquals(0x20000, c.barSize(0));
        assertEquals(BarKind.IO, c.barKind(1));
        assertEquals(0x40, c.barSize(1));
    }

    // ---- EEPROM ----

    @Test
    void eerdReadsTheMacAndWordsThatSumToBaba() {
        int sum = 0;
        int[] words = new int[64];
        for (int i = 0; i < 64; i++) {
            h.w(EERD, i << EERD_ADDR_SHIFT | EERD_START);
            int v = h.r(EERD);
            assertTrue((v & EERD_DONE) != 0, "DONE");
            assertEquals(i, v >>> EERD_ADDR_SHIFT & 0xff, "the address stays in the register");
            words[i] = v >>> EERD_DATA_SHIFT;
            sum += words[i];
        }
        assertEquals(0xbaba, sum & 0xffff);
        assertEquals(0x5452, words[0]);
        assertEquals(0x1200, words[1]);
        assertEquals(0x5634, words[2]);
        assertEquals(0x100e, words[13]);
        assertEquals(0x8086, words[14]);
        h.w(EERD, 5 << EERD_ADDR_SHIFT);
        assertEquals(0, h.r(EERD) & EERD_DONE, "no START, no read");
    }

    /** The Microwire READ as Linux's e1000 does it on the 82540: request, select, opcode and address out, 16 bits in. */
    private int eecdRead(int word, boolean request) {
        int eecd = h.r(EECD) & ~(EECD_SK | EECD_CS | EECD_DI | EECD_DO | EECD_GNT | EECD_PRES);
        if (request) {
            eecd |= EECD_REQ;
            h.w(EECD, eecd);
            assertTrue((h.r(EECD) & EECD_GNT) != 0, "granted");
        }
        eecd |= EECD_CS;
        h.w(EECD, eecd);
        shiftOut(eecd, 0b110, 3);
        shiftOut(eecd, word, E1000Eeprom.ADDRESS_BITS);
        int v = 0;
        for (int i = 0; i < 16; i++) {
            h.w(EECD, eecd | EECD_SK);
            v = v << 1 | ((h.r(EECD) & EECD_DO) != 0 ? 1 : 0);
            h.w(EECD, eecd);
        }
        h.w(EECD, eecd & ~EECD_CS);
        h.w(EECD, eecd & ~(EECD_CS | EECD_REQ));
        return v;
    }

    private void shiftOut(int eecd, int data, int bits) {
        for (int i = bits - 1; i >= 0; i--) {
            int di = (data >>> i & 1) != 0 ? EECD_DI : 0;
            h.w(EECD, eecd | di);
            h.w(EECD, eecd | di | EECD_SK);
            h.w(EECD, eecd | di);
        }
        h.w(EECD, eecd);
    }

    @Test
    void eecdBitBangingReadsEveryWordAsEerdDoes() {
        int eecd = h.r(EECD);
        assertTrue((eecd & EECD_PRES) != 0, "present");
        assertEquals(0, eecd & EECD_GNT, "no grant without a request");
        assertEquals(0, eecd & (1 << 9), "SIZE 0: a 64-word part, 6 address bits");
        for (int i = 0; i < 64; i++) {
            h.w(EERD, i << EERD_ADDR_SHIFT | EERD_START);
            assertEquals(h.r(EERD) >>> 16, eecdRead(i, true), "word " + i);
        }
        assertEquals(0, h.r(EECD) & EECD_GNT, "released");
        assertEquals(0x5452, eecdRead(0, false), "decoded without REQ too, as QEMU does");
    }

    @Test
    void eecdReadRunsOnIntoTheNextWordAndIgnoresOtherCommands() {
        int eecd = EECD_REQ | EECD_CS;
        h.w(EECD, EECD_REQ);
        h.w(EECD, eecd);
        shiftOut(eecd, 0, 2);                  // zeros before the start bit are ignored
        shiftOut(eecd, 0b110, 3);
        shiftOut(eecd, 2, 6);
        long v = 0;
        for (int i = 0; i < 32; i++) {
            h.w(EECD, eecd | EECD_SK);
            v = v << 1 | ((h.r(EECD) & EECD_DO) != 0 ? 1 : 0);
            h.w(EECD, eecd);
        }
        assertEquals(0x5634L << 16, v & 0xffff0000L, "word 2");
        assertEquals(0x0000, v & 0xffff, "then word 3");
        h.w(EECD, EECD_REQ);
        // An erase/write command (opcode 11b, 01b) is clocked in and does nothing.
        h.w(EECD, eecd);
        shiftOut(eecd, 0b111, 3);
        shiftOut(eecd, 0, 6);
        h.w(EECD, EECD_REQ);
        assertEquals(0x5452, eecdRead(0, true));
    }

    // ---- PHY ----

    private int mdic(int op, int phy, int reg, int data) {
        h.w(MDIC, data | reg << MDIC_REG_SHIFT | phy << MDIC_PHY_SHIFT | op << MDIC_OP_SHIFT);
        int v = h.r(MDIC);
        assertTrue((v & MDIC_READY) != 0, "READY");
        return v;
    }

    @Test
    void mdicReadsThe82540PhyWithLinkUpAndAutonegComplete() {
        assertEquals(0x796d, mdic(MDIC_OP_READ, 1, E1000Phy.BMSR, 0) & 0xffff);
        assertEquals(0x0141, mdic(MDIC_OP_READ, 1, E1000Phy.PHYSID1, 0) & 0xffff);
        assertEquals(0x0c20, mdic(MDIC_OP_READ, 1, E1000Phy.PHYSID2, 0) & 0xffff);
        assertEquals(0x1140, mdic(MDIC_OP_READ, 1, E1000Phy.BMCR, 0) & 0xffff);
        assertEquals(0x0de1, mdic(MDIC_OP_READ, 1, E1000Phy.ANAR, 0) & 0xffff);
        assertEquals(0x41e0, mdic(MDIC_OP_READ, 1, E1000Phy.ANLPAR, 0) & 0xffff);
        assertEquals(0x0e00, mdic(MDIC_OP_READ, 1, E1000Phy.CTRL1000, 0) & 0xffff);
        assertEquals(0x3c00, mdic(MDIC_OP_READ, 1, E1000Phy.STAT1000, 0) & 0xffff);
        assertEquals(0xac00, mdic(MDIC_OP_READ, 1, E1000Phy.M88_SPEC_STATUS, 0) & 0xffff);
        assertEquals(0, mdic(MDIC_OP_READ, 1, E1000Phy.BMSR, 0) & MDIC_ERROR);
    }

    @Test
    void mdicErrorsForAnotherPhyAnUnknownRegisterOrAReadOnlyOne() {
        assertTrue((mdic(MDIC_OP_READ, 2, E1000Phy.BMSR, 0) & MDIC_ERROR) != 0, "PHY address 2");
        assertTrue((mdic(MDIC_OP_READ, 1, 0x1c, 0) & MDIC_ERROR) != 0, "register 0x1c");
        assertTrue((mdic(MDIC_OP_WRITE, 1, E1000Phy.BMSR, 0) & MDIC_ERROR) != 0, "BMSR is read-only");
        assertTrue((mdic(3, 1, E1000Phy.BMSR, 0) & MDIC_ERROR) != 0, "opcode 11b");
        assertEquals(0, mdic(MDIC_OP_WRITE, 1, E1000Phy.ANAR, 0x01e1) & MDIC_ERROR);
        assertEquals(0x01e1, mdic(MDIC_OP_READ, 1, E1000Phy.ANAR, 0) & 0xffff);
        h.w(MDIC, MDIC_INT_EN | 1 << MDIC_PHY_SHIFT | MDIC_OP_READ << MDIC_OP_SHIFT);
        assertEquals(ICR_MDAC, h.r(ICR) & ICR_MDAC, "MDIC.I raises MDAC");
    }

    @Test
    void phyPowerDownAndLoopbackAndResetFollowBmcr() {
        h.r(ICR);
        mdic(MDIC_OP_WRITE, 1, E1000Phy.BMCR, 0x1140 | E1000Phy.BMCR_PDOWN);
        assertEquals(0, h.r(STATUS) & STATUS_LU, "powered down: no link");
        assertEquals(0, mdic(MDIC_OP_READ, 1, E1000Phy.BMSR, 0) & E1000Phy.BMSR_LINK);
        assertEquals(ICR_LSC, h.r(ICR) & ICR_LSC);
        mdic(MDIC_OP_WRITE, 1, E1000Phy.BMCR, E1000Phy.BMCR_RESET);
        assertEquals(0x1140, mdic(MDIC_OP_READ, 1, E1000Phy.BMCR, 0) & 0xffff, "reset self-clears to defaults");
        assertEquals(STATUS_LU, h.r(STATUS) & STATUS_LU);
    }

    // ---- CTRL, STATUS, link ----

    @Test
    void statusReadsLinkUpFullDuplex1000AsQemu() {
        assertEquals(0x80080783, h.r(STATUS));
        assertEquals(CTRL_DEFAULT, h.r(CTRL));
    }

    @Test
    void linkFollowsSluLrstAndPhyResetAndRaisesLsc() {
        h.r(ICR);
        h.w(CTRL, CTRL_DEFAULT & ~CTRL_SLU);
        assertEquals(0, h.r(STATUS) & STATUS_LU);
        assertEquals(ICR_LSC, h.r(ICR));
        h.w(CTRL, CTRL_DEFAULT);
        assertEquals(STATUS_LU, h.r(STATUS) & STATUS_LU);
        assertEquals(ICR_LSC, h.r(ICR));
        h.w(CTRL, CTRL_DEFAULT | CTRL_LRST);
        assertEquals(0, h.r(STATUS) & STATUS_LU);
        h.w(CTRL, CTRL_DEFAULT | CTRL_PHY_RST);
        assertEquals(0, h.r(STATUS) & STATUS_LU);
        h.w(CTRL, CTRL_DEFAULT);
        assertEquals(STATUS_LU, h.r(STATUS) & STATUS_LU);
    }

    @Test
    void ctrlRstSelfClearsAndPutsEveryRegisterBack() {
        h.w(IMS, ICR_RXT0);
        h.w(RCTL, RCTL_EN | RCTL_BAM);
        h.w(TDLEN, 4096);
        h.w(RA, 0x11223344);
        h.w(MTA + 8, 0xff);
        h.w(E1000Registers.VET, 0x88a8);
        h.w(ITR, 1000);
        h.w(ICS, ICR_RXT0);
        assertTrue(h.line.high());
        h.w(CTRL, h.r(CTRL) | CTRL_RST);
        assertEquals(0, h.r(CTRL) & CTRL_RST, "self-clearing");
        assertFalse(h.line.high(), "interrupt dropped");
        assertEquals(0, h.r(IMS));
        assertEquals(0, h.r(ICR));
        assertEquals(0, h.r(RCTL));
        assertEquals(0, h.r(TDLEN));
        assertEquals(0x12005452, h.r(RA), "RAL0 reloaded from the EEPROM");
        assertEquals(0x80005634, h.r(RA + 4));
        assertEquals(0, h.r(MTA + 8));
        assertEquals(0x8100, h.r(E1000Registers.VET));
        assertEquals(0, h.r(ITR));
        assertEquals(0x80080783, h.r(STATUS));
    }

    @Test
    void pciResetIsPowerOn() {
        h.w(IMS, ICR_LSC);
        h.w(ICS, ICR_LSC);
        h.w(RDLEN, 1024);
        int mdicValue = E1000Phy.BMCR_LOOPBACK | 1 << MDIC_PHY_SHIFT | MDIC_OP_WRITE << MDIC_OP_SHIFT;
        h.w(MDIC, mdicValue);
        h.nic.reset();
        assertFalse(h.line.high());
        assertEquals(0, h.r(RDLEN));
        assertEquals(0, h.r(IMS));
        assertEquals(0x1140, mdic(MDIC_OP_READ, 1, E1000Phy.BMCR, 0) & 0xffff, "the PHY too");
    }

    // ---- interrupts ----

    @Test
    void icrIsPendingAndClearedOnReadTheLineIsIcrAndIms() {
        h.w(ICS, ICR_TXDW | ICR_RXT0);
        assertFalse(h.line.high(), "masked");
        assertEquals(ICR_TXDW | ICR_RXT0, h.r(ICS), "ICS reads as ICR, without clearing");
        h.w(IMS, ICR_RXT0);
        assertTrue(h.line.high());
        assertEquals(ICR_RXT0, h.r(IMS));
        h.w(IMC, ICR_RXT0);
        assertFalse(h.line.high());
        assertEquals(0, h.r(IMC), "write-only");
        h.w(IMS, ICR_TXDW | ICR_RXT0);
        assertTrue(h.line.high());
        h.w(ICR, ICR_TXDW);                    // write 1 to clear
        assertTrue(h.line.high(), "RXT0 still pending");
        assertEquals(ICR_RXT0, h.r(ICR));
        assertFalse(h.line.high(), "the read cleared it");
        assertEquals(0, h.r(ICR));
        h.w(ICS, 0xffffffff);
        assertEquals(ICR_VALID, h.r(ICR), "only defined causes");
    }

    @Test
    void intxDisableInThePciCommandRegisterHoldsTheLineLow() {
        h.w(IMS, ICR_LSC);
        h.w(ICS, ICR_LSC);
        assertTrue(h.line.high());
        int cmd = h.nic.configuration().get16(PciConfiguration.COMMAND);
        h.nic.writeConfig(PciConfiguration.COMMAND, 2, cmd | PciConfiguration.COMMAND_INTX_DISABLE);
        assertFalse(h.line.high());
        h.nic.writeConfig(PciConfiguration.COMMAND, 2, cmd);
        assertTrue(h.line.high());
    }

    // ---- statistics, the I/O window, odd accesses ----

    @Test
    void statisticsReadAsRegistersAndClearOnRead() {
        for (int off = E1000Stats.BASE; off < E1000Stats.BASE + E1000Stats.SIZE; off += 4) {
            assertEquals(0, h.r(off), "0x" + Integer.toHexString(off));
        }
        h.rxRing(8, RCTL_BAM | RCTL_SECRC);
        assertTrue(h.backend.offer(Frames.ethernet(Frames.BROADCAST, Frames.PEER, 0x0806, 46)));
        assertTrue(h.backend.offer(Frames.ethernet(Frames.OURS, Frames.PEER, 0x0806, 100)));
        assertEquals(2, h.r(E1000Stats.GPRC));
        assertEquals(0, h.r(E1000Stats.GPRC), "cleared by the read");
        assertEquals(2, h.r(E1000Stats.TPR));
        assertEquals(1, h.r(E1000Stats.BPRC));
        assertEquals(64 + 118, h.r(E1000Stats.GORCL), "octets with the FCS");
        assertEquals(64 + 118, h.r(E1000Stats.GORCL), "the low half does not clear");
        assertEquals(0, h.r(E1000Stats.GORCH));
        assertEquals(0, h.r(E1000Stats.GORCL), "the high half cleared both");
        assertEquals(1, h.r(E1000Stats.PRC64));
        h.w(E1000Stats.TPR, 5);
        assertEquals(0, h.r(E1000Stats.TPR), "read-only");
    }

    @Test
    void theIoBarReachesEveryRegisterThroughIoaddrAndIodata() {
        var io = h.nic.bar(E1000.IO_BAR);
        io.write(IOADDR, 4, STATUS);
        assertEquals(STATUS, io.read(IOADDR, 4));
        assertEquals(Integer.toUnsignedLong(h.r(STATUS)), io.read(IODATA, 4));
        io.write(IOADDR, 4, IMS);
        io.write(IODATA, 4, ICR_RXO);
        assertEquals(ICR_RXO, h.r(IMS));
        io.write(IOADDR, 4, 0x7fffffffL);
        assertEquals(0x1fffc, io.read(IOADDR, 4), "17 address bits, dword aligned");
        assertEquals(0, io.read(8, 4), "reserved");
        assertEquals(0, io.read(IODATA, 2), "dword accesses only");
    }

    @Test
    void oddWidthsNeverThrowNarrowReadsTakeBytesNarrowWritesAreIgnored() {
        var mmio = h.nic.bar(E1000.MMIO_BAR);
        assertEquals(0x83, mmio.read(STATUS, 1));
        assertEquals(0x8008, mmio.read(STATUS + 2, 2));
        assertEquals(Integer.toUnsignedLong(CTRL_DEFAULT), mmio.read(CTRL, 8), "CTRL, then the reserved 0x04");
        mmio.write(IMS, 2, 0xffff);
        assertEquals(0, h.r(IMS));
        assertEquals(0, mmio.read(STATUS + 3, 2), "straddles two registers");
        mmio.write(IMS, 8, 0x0000_0001_0000_0004L);   // IMS then IMC (0xd4 is reserved: nothing)
        assertEquals(4, h.r(IMS));
        assertEquals(0, h.nic.metrics().internalErrors.sum());
    }
}
