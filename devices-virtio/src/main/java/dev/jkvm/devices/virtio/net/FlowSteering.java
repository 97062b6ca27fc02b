package dev.jkvm.devices.virtio.net;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Automatic receive steering for multiqueue (virtio 1.2, 5.1.6.5.5): a frame of a flow the guest
 * last sent on transmitqN is received on receiveqN; a flow not seen yet goes to a queue chosen by
 * its hash. Flows are keyed by a hash of their addresses and ports that is the same in both
 * directions, in a small table where collisions merely steer to another active queue.
 *
 * <p>Written by the transmit threads and read by the backend's thread without locks: an entry is
 * one int, and a stale one only costs locality.
 */
final class FlowSteering {
    static final int TABLE_SIZE = 256;
    private static final int ETHERTYPE_IPV4 = 0x0800;
    private static final int ETHERTYPE_IPV6 = 0x86dd;
    private static final int ETHERTYPE_VLAN = 0x8100;
    private static final int PROTO_TCP = 6;
    private static final int PROTO_UDP = 17;

    /** Queue pair + 1 of the last transmit per hash bucket; 0 when none. */
    private final int[] lastTransmit = new int[TABLE_SIZE];

    void clear() {
        java.util.Arrays.fill(lastTransmit, 0);
    }

    /** Notes that the guest sent this frame (Ethernet header first) on queue pair {@code pair}. */
    void transmitted(MemorySegment ethernet, int pair) {
        int h = flowHash(ethernet);
        if (h != -1) {
            lastTransmit[h & (TABLE_SIZE - 1)] = pair + 1;
        }
    }

    /** The queue pair, below {@code activePairs}, whose receive queue should take this frame. */
    int receivePair(MemorySegment ethernet, int activePairs) {
        if (activePairs <= 1) {
            return 0;
        }
        int h = flowHash(ethernet);
        if (h == -1) {
            return 0;
        }
        int last = lastTransmit[h & (TABLE_SIZE - 1)] - 1;
        if (last >= 0 && last < activePairs) {
            return last;
        }
        return Integer.remainderUnsigned(h >>> 8, activePairs);
    }

    /**
     * A hash of (protocol, addresses, ports) that does not depend on the direction, or -1 for a
     * frame that is not IPv4/IPv6 or is too short to tell. Reads only within the segment.
     */
    static int flowHash(MemorySegment eth) {
        long size = eth.byteSize();
        if (size < 14) {
            return -1;
        }
        int type = be16(eth, 12);
        int l3 = 14;
        if (type == ETHERTYPE_VLAN) {
            if (size < 18) {
                return -1;
            }
            type = be16(eth, 16);
            l3 = 18;
        }
        int proto;
        int addr;
        int l4;
        if (type == ETHERTYPE_IPV4) {
            if (size < l3 + 20) {
                return -1;
            }
            int ihl = (u8(eth, l3) & 0x0f) * 4;
            proto = u8(eth, l3 + 9);
            addr = be32(eth, l3 + 12) ^ be32(eth, l3 + 16);
            boolean fragment = (be16(eth, l3 + 6) & 0x3fff) != 0;
            l4 = fragment || ihl < 20 ? -1 : l3 + ihl;
        } else if (type == ETHERTYPE_IPV6) {
            if (size < l3 + 40) {
                return -1;
            }
            proto = u8(eth, l3 + 6);
            addr = 0;
            for (int i = 0; i < 32; i += 4) {
                addr ^= be32(eth, l3 + 8 + i);
            }
            l4 = l3 + 40;
        } else {
            return -1;
        }
        int ports = 0;
        if ((proto == PROTO_TCP || proto == PROTO_UDP) && l4 > 0 && size >= l4 + 4) {
            ports = be16(eth, l4) ^ be16(eth, l4 + 2);
        }
        int h = mix(addr * 31 + proto) ^ mix(ports + 0x9e3779b9);
        return h & 0x7fffffff;
    }

    private static int mix(int x) {
        x ^= x >>> 16;
        x *= 0x7feb352d;
        x ^= x >>> 15;
        x *= 0x846ca68b;
        x ^= x >>> 16;
        return x;
    }

    private static int u8(MemorySegment s, long at) {
        return s.get(ValueLayout.JAVA_BYTE, at) & 0xff;
    }

    private static int be16(MemorySegment s, long at) {
        return u8(s, at) << 8 | u8(s, at + 1);
    }

    private static int be32(MemorySegment s, long at) {
        return be16(s, at) << 16 | be16(s, at + 2);
    }
}
