package dev.jkvm.devices.legacy.net;

/**
 * The 8254x register map (PCI/PCI-X Family of Gigabit Ethernet Controllers Software Developer's
 * Manual, chapter 13): byte offsets in BAR0 and the bits the 82540EM model acts on. Every register
 * is 32 bits wide.
 */
final class E1000Registers {
    private E1000Registers() {
    }

    /** BAR0, the register space: 128 KiB of memory. */
    static final int MMIO_SIZE = 0x20000;
    /** BAR1, the I/O window: IOADDR at 0 selects a register, IODATA at 4 reads or writes it. */
    static final int IO_SIZE = 0x40;
    static final int IOADDR = 0x00;
    static final int IODATA = 0x04;

    // ---- general ----
    static final int CTRL = 0x0000;
    static final int STATUS = 0x0008;
    static final int EECD = 0x0010;
    static final int EERD = 0x0014;
    static final int CTRL_EXT = 0x0018;
    static final int MDIC = 0x0020;
    static final int FCAL = 0x0028;
    static final int FCAH = 0x002c;
    static final int FCT = 0x0030;
    static final int VET = 0x0038;
    static final int ICR = 0x00c0;
    static final int ITR = 0x00c4;
    static final int ICS = 0x00c8;
    static final int IMS = 0x00d0;
    static final int IMC = 0x00d8;
    static final int RCTL = 0x0100;
    static final int FCTTV = 0x0170;
    static final int TXCW = 0x0178;
    static final int RXCW = 0x0180;
    static final int TCTL = 0x0400;
    static final int TIPG = 0x0410;
    static final int AIFS = 0x0458;
    static final int LEDCTL = 0x0e00;
    static final int PBA = 0x1000;
    static final int FCRTL = 0x2160;
    static final int FCRTH = 0x2168;

    // ---- receive ring ----
    static final int RDBAL = 0x2800;
    static final int RDBAH = 0x2804;
    static final int RDLEN = 0x2808;
    static final int RDH = 0x2810;
    static final int RDT = 0x2818;
    static final int RDTR = 0x2820;
    static final int RXDCTL = 0x2828;
    static final int RADV = 0x282c;
    static final int RSRPD = 0x2c00;

    // ---- transmit ring ----
    static final int TDBAL = 0x3800;
    static final int TDBAH = 0x3804;
    static final int TDLEN = 0x3808;
    static final int TDH = 0x3810;
    static final int TDT = 0x3818;
    static final int TIDV = 0x3820;
    static final int TXDCTL = 0x3828;
    static final int TADV = 0x382c;
    static final int TSPMT = 0x3830;

    // ---- filters and wake-up ----
    static final int RXCSUM = 0x5000;
    /** Multicast Table Array: 128 registers of 32 bits, one bit per 12-bit hash. */
    static final int MTA = 0x5200;
    static final int MTA_ENTRIES = 128;
    /** Receive Address Low/High pairs: 16 exact addresses. */
    static final int RA = 0x5400;
    static final int RA_ENTRIES = 16;
    /** VLAN Filter Table Array: 128 registers, one bit per VLAN id. */
    static final int VFTA = 0x5600;
    static final int VFTA_ENTRIES = 128;
    static final int WUC = 0x5800;
    static final int WUFC = 0x5808;
    static final int WUS = 0x5810;
    static final int MANC = 0x5820;
    static final int IPAV = 0x5838;
    static final int IP4AT = 0x5840;
    static final int IP6AT = 0x5880;
    static final int WUPL = 0x5900;
    static final int WUPM = 0x5a00;
    static final int FFLT = 0x5f00;

    // ---- CTRL ----
    static final int CTRL_FD = 1 << 0;
    static final int CTRL_LRST = 1 << 3;
    static final int CTRL_ASDE = 1 << 5;
    static final int CTRL_SLU = 1 << 6;
    static final int CTRL_SPEED_1000 = 2 << 8;
    static final int CTRL_SWDPIN0 = 1 << 18;
    static final int CTRL_SWDPIN2 = 1 << 20;
    static final int CTRL_RST = 1 << 26;
    static final int CTRL_VME = 1 << 30;
    static final int CTRL_PHY_RST = 1 << 31;
    /** Power-on CTRL as QEMU's e1000 has it: link set up, 1000 Mb/s, the software pins it reports. */
    static final int CTRL_DEFAULT = CTRL_SWDPIN2 | CTRL_SWDPIN0 | CTRL_SPEED_1000 | CTRL_SLU;

    // ---- STATUS ----
    static final int STATUS_FD = 1 << 0;
    static final int STATUS_LU = 1 << 1;
    static final int STATUS_SPEED_1000 = 2 << 6;
    /** Auto-speed detection value: 1x is 1000 Mb/s; both bits set, as QEMU reports it. */
    static final int STATUS_ASDV_1000 = 3 << 8;
    static final int STATUS_MTXCKOK = 1 << 10;
    /** Bits QEMU also reports (GIO master enable and bit 31); reserved on the 82540, kept for parity. */
    static final int STATUS_QEMU_EXTRA = (1 << 19) | (1 << 31);
    /** 0x80080783 with the link up, as QEMU's e1000 reads. */
    static final int STATUS_LINK_UP = STATUS_QEMU_EXTRA | STATUS_MTXCKOK | STATUS_ASDV_1000 | STATUS_SPEED_1000 | STATUS_FD
            | STATUS_LU;

    // ---- EECD / EERD ----
    static final int EECD_SK = 1 << 0;
    static final int EECD_CS = 1 << 1;
    static final int EECD_DI = 1 << 2;
    static final int EECD_DO = 1 << 3;
    static final int EECD_FWE_MASK = 3 << 4;
    static final int EECD_REQ = 1 << 6;
    static final int EECD_GNT = 1 << 7;
    static final int EECD_PRES = 1 << 8;
    static final int EERD_START = 1 << 0;
    static final int EERD_DONE = 1 << 4;
    static final int EERD_ADDR_SHIFT = 8;
    static final int EERD_DATA_SHIFT = 16;

    // ---- MDIC ----
    static final int MDIC_DATA_MASK = 0xffff;
    static final int MDIC_REG_SHIFT = 16;
    static final int MDIC_PHY_SHIFT = 21;
    static final int MDIC_OP_SHIFT = 26;
    static final int MDIC_OP_WRITE = 1;
    static final int MDIC_OP_READ = 2;
    static final int MDIC_READY = 1 << 28;
    static final int MDIC_INT_EN = 1 << 29;
    static final int MDIC_ERROR = 1 << 30;

    // ---- interrupt causes (ICR, ICS, IMS, IMC) ----
    static final int ICR_TXDW = 1 << 0;
    static final int ICR_TXQE = 1 << 1;
    static final int ICR_LSC = 1 << 2;
    static final int ICR_RXDMT0 = 1 << 4;
    static final int ICR_RXO = 1 << 6;
    static final int ICR_RXT0 = 1 << 7;
    static final int ICR_MDAC = 1 << 9;
    /** The causes the 82540 defines (bits 0-4, 6, 7, 9, 10, 12-16); the rest read 0. */
    static final int ICR_VALID = 0x1f6df;

    // ---- RCTL ----
    static final int RCTL_EN = 1 << 1;
    static final int RCTL_SBP = 1 << 2;
    static final int RCTL_UPE = 1 << 3;
    static final int RCTL_MPE = 1 << 4;
    static final int RCTL_LPE = 1 << 5;
    static final int RCTL_RDMTS_SHIFT = 8;
    static final int RCTL_MO_SHIFT = 12;
    static final int RCTL_BAM = 1 << 15;
    static final int RCTL_BSIZE_SHIFT = 16;
    static final int RCTL_VFE = 1 << 18;
    static final int RCTL_BSEX = 1 << 25;
    static final int RCTL_SECRC = 1 << 26;

    // ---- TCTL ----
    static final int TCTL_EN = 1 << 1;
    static final int TCTL_PSP = 1 << 3;

    // ---- RAH ----
    static final int RAH_AS_MASK = 3 << 16;
    static final int RAH_AV = 1 << 31;

    /** Descriptor ring lengths are multiples of 128 bytes (bits 19:7); the low bits read 0. */
    static final int DLEN_MASK = 0xfff80;
    static final int DESCRIPTOR_BYTES = 16;
}
