package dev.jkvm.devices.virtio.net;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Which incoming frames the driver asked for (virtio 1.2, 5.1.6.5.1 and 5.1.6.5.2): the
 * promiscuous and all-multicast modes and the MAC filter table of VIRTIO_NET_CTRL_RX and
 * VIRTIO_NET_CTRL_MAC. Written by the control queue's thread, read by the backend's; every field
 * is replaced whole, so a reader sees either the old or the new setting.
 *
 * <p>Like QEMU, the device starts promiscuous (a driver that never sets a receive mode gets
 * everything) and the table holds at most {@link #TABLE_ENTRIES} addresses of each kind: a longer
 * list turns on all-unicast or all-multicast for that kind, as the spec's "non-perfect" filtering allows.
 */
final class RxFilter {
    static final int TABLE_ENTRIES = 64;
    static final long BROADCAST = 0xffffffffffffL;
    private static final long[] NONE = new long[0];

    private volatile long mac;
    private volatile boolean promiscuous = true;
    private volatile boolean allMulticast;
    private volatile boolean allUnicast;
    private volatile boolean multicastOverflow;
    private volatile long[] unicast = NONE;
    private volatile long[] multicast = NONE;

    RxFilter(long mac) {
        this.mac = mac;
    }

    /** Back to the state after a device reset, with {@code mac} as the address. */
    void reset(long newMac) {
        mac = newMac;
        promiscuous = true;
        allMulticast = false;
        allUnicast = false;
        multicastOverflow = false;
        unicast = NONE;
        multicast = NONE;
    }

    long mac() {
        return mac;
    }

    void setMac(long newMac) {
        mac = newMac;
    }

    void setPromiscuous(boolean on) {
        promiscuous = on;
    }

    void setAllMulticast(boolean on) {
        allMulticast = on;
    }

    boolean promiscuous() {
        return promiscuous;
    }

    boolean allMulticast() {
        return allMulticast;
    }

    /** Installs a MAC table; lists longer than the table hold accept every address of their kind. */
    void setTable(long[] unicastMacs, long[] multicastMacs) {
        boolean uniOverflow = unicastMacs.length > TABLE_ENTRIES;
        boolean multiOverflow = multicastMacs.length > TABLE_ENTRIES;
        unicast = uniOverflow ? NONE : unicastMacs.clone();
        multicast = multiOverflow ? NONE : multicastMacs.clone();
        allUnicast = uniOverflow;
        // all-multicast from an overflowing table is kept apart from the driver's ALLMULTI switch
        multicastOverflow = multiOverflow;
    }

    int tableSize() {
        return unicast.length + multicast.length;
    }

    /** Whether a frame with this Ethernet header (at least 14 bytes) is for the guest. */
    boolean accepts(MemorySegment ethernet) {
        if (promiscuous) {
            return true;
        }
        long dst = destination(ethernet);
        if (dst == BROADCAST) {
            return true;
        }
        if ((dst & 0x010000000000L) != 0) {
            return allMulticast || multicastOverflow || contains(multicast, dst);
        }
        return dst == mac || allUnicast || contains(unicast, dst);
    }

    static long destination(MemorySegment ethernet) {
        long v = 0;
        for (int i = 0; i < 6; i++) {
            v = (v << 8) | (ethernet.get(ValueLayout.JAVA_BYTE, i) & 0xff);
        }
        return v;
    }

    private static boolean contains(long[] table, long mac) {
        for (long m : table) {
            if (m == mac) {
                return true;
            }
        }
        return false;
    }
}
