package dev.jkvm.devices.legacy.net;

import java.nio.ByteBuffer;

/** Builds and checks Ethernet/IPv4/UDP/TCP frames for the tests. */
final class Frames {
    static final byte[] BROADCAST = {-1, -1, -1, -1, -1, -1};
    static final byte[] OURS = E1000Harness.MAC.bytes();
    static final byte[] PEER = {0x52, 0x55, 10, 0, 2, 2};
    static final int ETH = 14;
    static final int IP = 20;
    static final int TCP = 20;
    static final int UDP = 8;

    private Frames() {
    }

    static byte[] ethernet(byte[] dst, byte[] src, int type, int payloadBytes) {
        byte[] f = new byte[ETH + payloadBytes];
        System.arraycopy(dst, 0, f, 0, 6);
        System.arraycopy(src, 0, f, 6, 6);
        put16(f, 12, type);
        for (int i = ETH; i < f.length; i++) {
            f[i] = (byte) (i * 7 + 3);
        }
        return f;
    }

    /** IPv4 + UDP with checksums left for the device: IP checksum 0, UDP checksum = pseudo-header sum (with length). */
    static byte[] udp4(int payload) {
        byte[] f = ethernet(PEER, OURS, 0x0800, IP + UDP + payload);
        ipHeader(f, 17, IP + UDP + payload, 0x1234);
        put16(f, ETH + IP, 5000);
        put16(f, ETH + IP + 2, 7);
        put16(f, ETH + IP + 4, UDP + payload);
        put16(f, ETH + IP + 6, fold(pseudo(f, 17, UDP + payload)));
        return f;
    }

    /**
     * IPv4 + TCP as a TSO driver leaves it: total length and IP checksum 0, TCP checksum the
     * pseudo-header sum without a length, flags PSH|FIN|ACK.
     */
    static byte[] tcp4ForTso(int payload, long seq) {
        byte[] f = ethernet(PEER, OURS, 0x0800, IP + TCP + payload);
        ipHeader(f, 6, 0, 0x4000);
        int t = ETH + IP;
        put16(f, t, 40000);
        put16(f, t + 2, 80);
        put32(f, t + 4, seq);
        put32(f, t + 8, 99);
        f[t + 12] = 0x50;
        f[t + 13] = 0x19;                      // ACK | PSH | FIN
        put16(f, t + 14, 65535);
        put16(f, t + 16, fold(pseudo(f, 6, 0)));
        put16(f, t + 18, 0);
        return f;
    }

    private static void ipHeader(byte[] f, int proto, int totalLength, int id) {
        int i = ETH;
        f[i] = 0x45;
        f[i + 1] = 0;
        put16(f, i + 2, totalLength);
        put16(f, i + 4, id);
        put16(f, i + 6, 0x4000);
        f[i + 8] = 64;
        f[i + 9] = (byte) proto;
        put16(f, i + 10, 0);
        System.arraycopy(new byte[] {10, 0, 2, 15}, 0, f, i + 12, 4);
        System.arraycopy(new byte[] {10, 0, 2, 2}, 0, f, i + 16, 4);
    }

    /** The pseudo-header sum for this frame's addresses, protocol and an L4 length. */
    static long pseudo(byte[] f, int proto, int l4Length) {
        long s = 0;
        for (int i = 0; i < 8; i += 2) {
            s += be16(f, ETH + 12 + i);
        }
        return s + proto + l4Length;
    }

    static long sum(byte[] f, int from, int to) {
        long s = 0;
        int i = from;
        for (; i + 1 < to; i += 2) {
            s += be16(f, i);
        }
        if (i < to) {
            s += (f[i] & 0xff) << 8;
        }
        return s;
    }

    static int fold(long s) {
        while ((s >>> 16) != 0) {
            s = (s & 0xffff) + (s >>> 16);
        }
        return (int) s;
    }

    /** True when the IPv4 header checksum verifies. */
    static boolean ipChecksumOk(byte[] f) {
        return fold(sum(f, ETH, ETH + IP)) == 0xffff;
    }

    /** True when the TCP or UDP checksum verifies over the pseudo-header and the segment. */
    static boolean l4ChecksumOk(byte[] f) {
        int proto = f[ETH + 9] & 0xff;
        int l4 = be16(f, ETH + 2) - IP;
        return fold(pseudo(f, proto, l4) + sum(f, ETH + IP, ETH + IP + l4)) == 0xffff;
    }

    static int be16(byte[] b, int at) {
        return (b[at] & 0xff) << 8 | (b[at + 1] & 0xff);
    }

    static long be32(byte[] b, int at) {
        return ByteBuffer.wrap(b, at, 4).getInt() & 0xffffffffL;
    }

    static void put16(byte[] b, int at, int v) {
        b[at] = (byte) (v >>> 8);
        b[at + 1] = (byte) v;
    }

    static void put32(byte[] b, int at, long v) {
        put16(b, at, (int) (v >>> 16));
        put16(b, at + 2, (int) v);
    }
}
