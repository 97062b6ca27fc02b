package dev.jkvm.devices.legacy.net;

import static dev.jkvm.devices.legacy.net.E1000Registers.MDIC_DATA_MASK;
import static dev.jkvm.devices.legacy.net.E1000Registers.MDIC_ERROR;
import static dev.jkvm.devices.legacy.net.E1000Registers.MDIC_OP_READ;
import static dev.jkvm.devices.legacy.net.E1000Registers.MDIC_OP_SHIFT;
import static dev.jkvm.devices.legacy.net.E1000Registers.MDIC_OP_WRITE;
import static dev.jkvm.devices.legacy.net.E1000Registers.MDIC_PHY_SHIFT;
import static dev.jkvm.devices.legacy.net.E1000Registers.MDIC_READY;
import static dev.jkvm.devices.legacy.net.E1000Registers.MDIC_REG_SHIFT;

/**
 * The 82540EM's internal PHY (a Marvell 88E1011 core, PHY address 1) as seen through MDIC: the MII
 * registers and the three Marvell-specific ones Linux's e1000 touches, with the values QEMU's e1000
 * models. Auto-negotiation is always complete and the link is up unless the MAC holds it down, so
 * restarting auto-negotiation completes at once instead of taking the link down for 500 ms.
 *
 * <p>An access completes immediately (READY in the returned MDIC value); another PHY address, an
 * opcode other than read/write, or a register the PHY does not have (or a write to a read-only
 * one) sets ERROR, as QEMU does. Not thread-safe: the device calls it under its lock.
 */
final class E1000Phy {
    static final int ADDRESS = 1;

    static final int BMCR = 0x00;
    static final int BMSR = 0x01;
    static final int PHYSID1 = 0x02;
    static final int PHYSID2 = 0x03;
    static final int ANAR = 0x04;
    static final int ANLPAR = 0x05;
    static final int ANER = 0x06;
    static final int CTRL1000 = 0x09;
    static final int STAT1000 = 0x0a;
    static final int EXTSTAT = 0x0f;
    static final int M88_SPEC_CTRL = 0x10;
    static final int M88_SPEC_STATUS = 0x11;
    static final int M88_EXT_SPEC_CTRL = 0x14;
    static final int M88_RX_ERR_COUNT = 0x15;

    static final int BMCR_SPEED1000 = 0x0040;
    static final int BMCR_FD = 0x0100;
    static final int BMCR_ANRESTART = 0x0200;
    static final int BMCR_PDOWN = 0x0800;
    static final int BMCR_AUTOEN = 0x1000;
    static final int BMCR_LOOPBACK = 0x4000;
    static final int BMCR_RESET = 0x8000;
    static final int BMSR_LINK = 0x0004;
    static final int BMSR_AN_COMPLETE = 0x0020;
    /** BMSR without link and auto-negotiation status: 10/100 half and full, extended status, preamble suppression, AN able, extended capabilities. */
    static final int BMSR_CAPABILITIES = 0x7949;
    /** The 82540EM's PHY identifier (Marvell OUI, model 0x0c2). */
    static final int ID1 = 0x0141;
    static final int ID2 = 0x0c20;
    static final int ANLPAR_ACK = 0x4000;
    static final int M88_SPEC_STATUS_LINK = 0x0400;

    private static final int BMCR_DEFAULT = BMCR_SPEED1000 | BMCR_FD | BMCR_AUTOEN;
    /** 10/100 half and full, pause and asymmetric pause, 802.3. */
    private static final int ANAR_DEFAULT = 0x0de1;
    /** The partner offers 10/100 half and full. */
    private static final int ANLPAR_PARTNER = 0x01e0;
    /** 1000BASE-T full and half advertised, manual master, master. */
    private static final int CTRL1000_DEFAULT = 0x0e00;
    /** Partner 1000 half and full, local and remote receiver OK. */
    private static final int STAT1000_LINK = 0x3c00;
    /** 1000BASE-T full and half capable. */
    private static final int EXTSTAT_VALUE = 0x3000;
    private static final int M88_SPEC_CTRL_DEFAULT = 0x0360;
    /** 1000 Mb/s, full duplex, speed and duplex resolved, link up. */
    private static final int M88_SPEC_STATUS_LINK_UP = 0xac00;
    private static final int M88_EXT_SPEC_CTRL_DEFAULT = 0x0d60;

    private int bmcr;
    private int anar;
    private int ctrl1000;
    private int specCtrl;
    private int extSpecCtrl;
    private boolean link = true;

    E1000Phy() {
        reset();
    }

    /** Power-on values (PHY reset: CTRL.PHY_RST, BMCR.RESET, a device reset). */
    void reset() {
        bmcr = BMCR_DEFAULT;
        anar = ANAR_DEFAULT;
        ctrl1000 = CTRL1000_DEFAULT;
        specCtrl = M88_SPEC_CTRL_DEFAULT;
        extSpecCtrl = M88_EXT_SPEC_CTRL_DEFAULT;
    }

    /** The link as the MAC sees it; the status registers follow. */
    void setLink(boolean up) {
        link = up;
    }

    boolean poweredDown() {
        return (bmcr & BMCR_PDOWN) != 0;
    }

    boolean loopback() {
        return (bmcr & BMCR_LOOPBACK) != 0;
    }

    /**
     * One MDIC access: data 15:0, register 20:16, PHY address 25:21, opcode 27:26. Returns what
     * MDIC reads afterwards: the request with READY, the data for a read, ERROR on a bad request.
     */
    int access(int mdic) {
        int phy = mdic >>> MDIC_PHY_SHIFT & 0x1f;
        int reg = mdic >>> MDIC_REG_SHIFT & 0x1f;
        int op = mdic >>> MDIC_OP_SHIFT & 3;
        int result = mdic & ~(MDIC_READY | MDIC_ERROR);
        if (phy != ADDRESS) {
            result |= MDIC_ERROR;
        } else if (op == MDIC_OP_READ) {
            int v = read(reg);
            result = v < 0 ? result | MDIC_ERROR : (result & ~MDIC_DATA_MASK) | v;
        } else if (op != MDIC_OP_WRITE || !write(reg, mdic & MDIC_DATA_MASK)) {
            result |= MDIC_ERROR;
        }
        return result | MDIC_READY;
    }

    /** A register's value, or -1 for one this PHY does not have. */
    int read(int reg) {
        return switch (reg) {
            case BMCR -> bmcr;
            case BMSR -> BMSR_CAPABILITIES | (link ? BMSR_LINK | BMSR_AN_COMPLETE : 0);
            case PHYSID1 -> ID1;
            case PHYSID2 -> ID2;
            case ANAR -> anar;
            case ANLPAR -> link ? ANLPAR_PARTNER | ANLPAR_ACK : 0;
            case ANER -> 0;
            case CTRL1000 -> ctrl1000;
            case STAT1000 -> link ? STAT1000_LINK : 0;
            case EXTSTAT -> EXTSTAT_VALUE;
            case M88_SPEC_CTRL -> specCtrl;
            case M88_SPEC_STATUS -> link ? M88_SPEC_STATUS_LINK_UP : 0;
            case M88_EXT_SPEC_CTRL -> extSpecCtrl;
            case M88_RX_ERR_COUNT -> 0;
            default -> -1;
        };
    }

    /** Writes a register; false if it is not writable. */
    boolean write(int reg, int value) {
        switch (reg) {
            case BMCR -> {
                if ((value & BMCR_RESET) != 0) {
                    reset();        // self-clearing; the other bits written with it are lost
                } else {
                    // Bits 5:0 are reserved; restarting auto-negotiation completes at once.
                    bmcr = value & ~(0x3f | BMCR_ANRESTART);
                }
            }
            case ANAR -> anar = value;
            case CTRL1000 -> ctrl1000 = value;
            case M88_SPEC_CTRL -> specCtrl = value;
            case M88_EXT_SPEC_CTRL -> extSpecCtrl = value;
            default -> {
                return false;
            }
        }
        return true;
    }
}
