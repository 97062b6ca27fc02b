package dev.jkvm.devices.legacy.net;

import dev.jkvm.backends.net.MacAddress;

import static dev.jkvm.devices.legacy.net.E1000Registers.MTA;
import static dev.jkvm.devices.legacy.net.E1000Registers.MTA_ENTRIES;
import static dev.jkvm.devices.legacy.net.E1000Registers.RA;
import static dev.jkvm.devices.legacy.net.E1000Registers.RAH_AS_MASK;
import static dev.jkvm.devices.legacy.net.E1000Registers.RAH_AV;
import static dev.jkvm.devices.legacy.net.E1000Registers.RA_ENTRIES;
import static dev.jkvm.devices.legacy.net.E1000Registers.RCTL_BAM;
import static dev.jkvm.devices.legacy.net.E1000Registers.RCTL_MO_SHIFT;
import static dev.jkvm.devices.legacy.net.E1000Registers.RCTL_MPE;
import static dev.jkvm.devices.legacy.net.E1000Registers.RCTL_UPE;
import static dev.jkvm.devices.legacy.net.E1000Registers.RCTL_VFE;
import static dev.jkvm.devices.legacy.net.E1000Registers.VFTA;
import static dev.jkvm.devices.legacy.net.E1000Registers.VFTA_ENTRIES;

/**
 * Receive address filtering (manual 3.2.1, 13.5): the 16 exact receive addresses (RAL/RAH with
 * AV; only destination entries, AS = 00b, match), the 4096-bit multicast hash table (MTA, which
 * 12 address bits per RCTL.MO), broadcast per RCTL.BAM, promiscuous unicast/multicast per UPE/MPE,
 * and the VLAN filter table (VFTA) when RCTL.VFE is set and the frame carries a tag. Not
 * thread-safe: the device calls it under its lock.
 */
final class E1000Filter {
    private final int[] ral = new int[RA_ENTRIES];
    private final int[] rah = new int[RA_ENTRIES];
    private final int[] mta = new int[MTA_ENTRIES];
    private final int[] vfta = new int[VFTA_ENTRIES];

    static boolean contains(int offset) {
        return (offset >= MTA && offset < MTA + 4 * MTA_ENTRIES) || (offset >= RA && offset < RA + 8 * RA_ENTRIES)
                || (offset >= VFTA && offset < VFTA + 4 * VFTA_ENTRIES);
    }

    /** Power-on (or EEPROM reload) state: entry 0 holds the EEPROM's MAC, valid; the tables are clear. */
    void reset(MacAddress mac) {
        java.util.Arrays.fill(ral, 0);
        java.util.Arrays.fill(rah, 0);
        java.util.Arrays.fill(mta, 0);
        java.util.Arrays.fill(vfta, 0);
        byte[] b = mac.bytes();
        ral[0] = (b[0] & 0xff) | (b[1] & 0xff) << 8 | (b[2] & 0xff) << 16 | (b[3] & 0xff) << 24;
        rah[0] = (b[4] & 0xff) | (b[5] & 0xff) << 8 | RAH_AV;
    }

    int read(int offset) {
        if (offset >= RA && offset < RA + 8 * RA_ENTRIES) {
            int i = (offset - RA) >>> 3;
            return (offset & 4) == 0 ? ral[i] : rah[i];
        }
        if (offset >= MTA && offset < MTA + 4 * MTA_ENTRIES) {
            return mta[(offset - MTA) >>> 2];
        }
        return vfta[(offset - VFTA) >>> 2];
    }

    void write(int offset, int value) {
        if (offset >= RA && offset < RA + 8 * RA_ENTRIES) {
            int i = (offset - RA) >>> 3;
            if ((offset & 4) == 0) {
                ral[i] = value;
            } else {
                rah[i] = value & (0xffff | RAH_AS_MASK | RAH_AV);
            }
        } else if (offset >= MTA && offset < MTA + 4 * MTA_ENTRIES) {
            mta[(offset - MTA) >>> 2] = value;
        } else {
            vfta[(offset - VFTA) >>> 2] = value;
        }
    }

    /**
     * Whether a frame (at least 14 bytes from {@code at}) passes, under these RCTL bits; {@code vet}
     * is the VLAN ethertype (VET), whose frames the VLAN filter table judges first.
     */
    boolean accepts(byte[] f, int at, int rctl, int vet) {
        if ((rctl & RCTL_VFE) != 0 && be16(f, at + 12) == vet) {
            int vid = be16(f, at + 14) & 0xfff;
            if ((vfta[vid >>> 5] & (1 << (vid & 31))) == 0) {
                return false;
            }
        }
        boolean multicast = (f[at] & 1) != 0;
        if (multicast && isBroadcast(f, at)) {
            if ((rctl & RCTL_BAM) != 0) {
                return true;
            }
        } else if ((rctl & (multicast ? RCTL_MPE : RCTL_UPE)) != 0) {
            return true;
        }
        for (int i = 0; i < RA_ENTRIES; i++) {
            if ((rah[i] & RAH_AV) != 0 && (rah[i] & RAH_AS_MASK) == 0 && matches(f, at, ral[i], rah[i])) {
                return true;
            }
        }
        if (!multicast) {
            return false;
        }
        // The hash takes 12 bits of the last two address bytes, which ones per the multicast offset.
        int shift = switch (rctl >>> RCTL_MO_SHIFT & 3) {
            case 0 -> 4;
            case 1 -> 3;
            case 2 -> 2;
            default -> 0;
        };
        int hash = ((f[at + 5] & 0xff) << 8 | (f[at + 4] & 0xff)) >>> shift & 0xfff;
        return (mta[hash >>> 5] & (1 << (hash & 31))) != 0;
    }

    private static boolean matches(byte[] f, int at, int low, int high) {
        for (int i = 0; i < 4; i++) {
            if ((f[at + i] & 0xff) != (low >>> (8 * i) & 0xff)) {
                return false;
            }
        }
        return (f[at + 4] & 0xff) == (high & 0xff) && (f[at + 5] & 0xff) == (high >>> 8 & 0xff);
    }

    private static boolean isBroadcast(byte[] f, int at) {
        for (int i = 0; i < 6; i++) {
            if (f[at + i] != (byte) 0xff) {
                return false;
            }
        }
        return true;
    }

    static int be16(byte[] b, int at) {
        return (b[at] & 0xff) << 8 | (b[at + 1] & 0xff);
    }
}
