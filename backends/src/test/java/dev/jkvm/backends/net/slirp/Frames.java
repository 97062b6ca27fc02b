package dev.jkvm.backends.net.slirp;

import java.nio.ByteBuffer;
import java.util.Arrays;

/** Builds and reads the Ethernet frames a guest would send and receive: ARP, IPv4, UDP, TCP, DHCP. */
final class Frames {
    static final int ETH_ARP = 0x0806;
    static final int ETH_IPV4 = 0x0800;
    static final int ETH_IPV6 = 0x86dd;
    static final int PROTO_TCP = 6;
    static final int PROTO_UDP = 17;
    static final byte[] BROADCAST = {-1, -1, -1, -1, -1, -1};

    static final int TCP_FIN = 0x01;
    static final int TCP_SYN = 0x02;
    static final int TCP_RST = 0x04;
    static final int TCP_PSH = 0x08;
    static final int TCP_ACK = 0x10;

    private Frames() {
    }

    static byte[] mac(String text) {
        String[] p = text.split(":");
        byte[] b = new byte[6];
        for (int i = 0; i < 6; i++) {
            b[i] = (byte) Integer.parseInt(p[i], 16);
        }
        return b;
    }

    static int ip(String text) {
        return UserNetOptions.parseIpv4(text);
    }

    private static ByteBuffer ethernet(byte[] dst, byte[] src, int type, int payload) {
        ByteBuffer b = ByteBuffer.allocate(14 + payload);
        b.put(dst).put(src).putShort((short) type);
        return b;
    }

    static byte[] arp(int op, byte[] ethDst, byte[] senderMac, int senderIp, byte[] targetMac, int targetIp) {
        ByteBuffer b = ethernet(ethDst, senderMac, ETH_ARP, 28);
        b.putShort((short) 1).putShort((short) ETH_IPV4).put((byte) 6).put((byte) 4).putShort((short) op);
        b.put(senderMac).putInt(senderIp).put(targetMac).putInt(targetIp);
        return b.array();
    }

    static byte[] arpRequest(byte[] senderMac, int senderIp, int targetIp) {
        return arp(1, BROADCAST, senderMac, senderIp, new byte[6], targetIp);
    }

    static byte[] ipv4(byte[] srcMac, byte[] dstMac, int src, int dst, int protocol, byte[] l4) {
        ByteBuffer b = ethernet(dstMac, srcMac, ETH_IPV4, 20 + l4.length);
        int start = b.position();
        b.put((byte) 0x45).put((byte) 0).putShort((short) (20 + l4.length)).putShort((short) 0x1234).putShort((short) 0x4000)
                .put((byte) 64).put((byte) protocol).putShort((short) 0).putInt(src).putInt(dst);
        b.putShort(start + 10, (short) checksum(b.array(), start, 20, 0));
        b.put(l4);
        return b.array();
    }

    static byte[] udp(byte[] srcMac, byte[] dstMac, int src, int srcPort, int dst, int dstPort, byte[] payload) {
        ByteBuffer u = ByteBuffer.allocate(8 + payload.length);
        u.putShort((short) srcPort).putShort((short) dstPort).putShort((short) (8 + payload.length)).putShort((short) 0).put(payload);
        int sum = checksum(u.array(), 0, u.capacity(), pseudoHeader(src, dst, PROTO_UDP, u.capacity()));
        u.putShort(6, (short) (sum == 0 ? 0xffff : sum));
        return ipv4(srcMac, dstMac, src, dst, PROTO_UDP, u.array());
    }

    static byte[] tcp(byte[] srcMac, byte[] dstMac, int src, int srcPort, int dst, int dstPort, long seq, long ack, int flags,
            byte[] payload) {
        ByteBuffer t = ByteBuffer.allocate(20 + payload.length);
        t.putShort((short) srcPort).putShort((short) dstPort).putInt((int) seq).putInt((int) ack)
                .put((byte) (5 << 4)).put((byte) flags).putShort((short) 65535).putShort((short) 0).putShort((short) 0).put(payload);
        t.putShort(16, (short) checksum(t.array(), 0, t.capacity(), pseudoHeader(src, dst, PROTO_TCP, t.capacity())));
        return ipv4(srcMac, dstMac, src, dst, PROTO_TCP, t.array());
    }

    /** DHCPDISCOVER from {@code mac}, broadcast, as a freshly booted guest sends it. */
    static byte[] dhcpDiscover(byte[] mac, int xid) {
        ByteBuffer b = ByteBuffer.allocate(548);
        b.put((byte) 1).put((byte) 1).put((byte) 6).put((byte) 0).putInt(xid).putShort((short) 0).putShort((short) 0x8000);
        b.position(28).put(mac);
        b.position(236).putInt(0x63825363);
        b.put((byte) 53).put((byte) 1).put((byte) 1);                    // DHCP message type: DISCOVER
        b.put((byte) 55).put((byte) 3).put((byte) 1).put((byte) 3).put((byte) 6); // ask for mask, router, DNS
        b.put((byte) 255);
        return udp(mac, BROADCAST, 0, 68, 0xffffffff, 67, b.array());
    }

    private static int pseudoHeader(int src, int dst, int protocol, int length) {
        return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + length;
    }

    static int checksum(byte[] data, int offset, int length, int initial) {
        long sum = initial & 0xffffffffL;
        for (int i = 0; i < length; i += 2) {
            int hi = data[offset + i] & 0xff;
            int lo = i + 1 < length ? data[offset + i + 1] & 0xff : 0;
            sum += (hi << 8) | lo;
        }
        while ((sum >>> 16) != 0) {
            sum = (sum & 0xffff) + (sum >>> 16);
        }
        return (int) (~sum & 0xffff);
    }

    // ---- reading ----

    static int etherType(byte[] f) {
        return ((f[12] & 0xff) << 8) | (f[13] & 0xff);
    }

    static byte[] ethDst(byte[] f) {
        return Arrays.copyOfRange(f, 0, 6);
    }

    static byte[] ethSrc(byte[] f) {
        return Arrays.copyOfRange(f, 6, 12);
    }

    static ByteBuffer buf(byte[] f) {
        return ByteBuffer.wrap(f);
    }

    static boolean isArp(byte[] f, int op) {
        return f.length >= 42 && etherType(f) == ETH_ARP && buf(f).getShort(20) == op;
    }

    static int arpSenderIp(byte[] f) {
        return buf(f).getInt(28);
    }

    static byte[] arpSenderMac(byte[] f) {
        return Arrays.copyOfRange(f, 22, 28);
    }

    static byte[] arpTargetMac(byte[] f) {
        return Arrays.copyOfRange(f, 32, 38);
    }

    static int arpTargetIp(byte[] f) {
        return buf(f).getInt(38);
    }

    static int ipProtocol(byte[] f) {
        return etherType(f) == ETH_IPV4 ? f[23] & 0xff : -1;
    }

    static int ipHeaderLength(byte[] f) {
        return (f[14] & 0x0f) * 4;
    }

    static int ipSrc(byte[] f) {
        return buf(f).getInt(26);
    }

    static int ipDst(byte[] f) {
        return buf(f).getInt(30);
    }

    /** Offset of the transport header. */
    static int l4(byte[] f) {
        return 14 + ipHeaderLength(f);
    }

    static int srcPort(byte[] f) {
        return buf(f).getShort(l4(f)) & 0xffff;
    }

    static int dstPort(byte[] f) {
        return buf(f).getShort(l4(f) + 2) & 0xffff;
    }

    static boolean isUdp(byte[] f, int dstPort) {
        return ipProtocol(f) == PROTO_UDP && dstPort(f) == dstPort;
    }

    static byte[] udpPayload(byte[] f) {
        int at = l4(f);
        int len = buf(f).getShort(at + 4) & 0xffff;
        return Arrays.copyOfRange(f, at + 8, at + len);
    }

    static boolean isTcp(byte[] f, int dstPort) {
        return ipProtocol(f) == PROTO_TCP && dstPort(f) == dstPort;
    }

    static long tcpSeq(byte[] f) {
        return buf(f).getInt(l4(f) + 4) & 0xffffffffL;
    }

    static long tcpAck(byte[] f) {
        return buf(f).getInt(l4(f) + 8) & 0xffffffffL;
    }

    static int tcpFlags(byte[] f) {
        return f[l4(f) + 13] & 0x3f;
    }

    static byte[] tcpPayload(byte[] f) {
        int at = l4(f);
        int dataOffset = ((f[at + 12] & 0xf0) >> 4) * 4;
        int ipLen = buf(f).getShort(16) & 0xffff;
        return Arrays.copyOfRange(f, at + dataOffset, 14 + ipLen);
    }

    /** The DHCP options of a BOOTP reply inside {@code f}, as option code -> value (null when absent). */
    static byte[] dhcpOption(byte[] f, int code) {
        int bootp = l4(f) + 8;
        int at = bootp + 240;
        while (at < f.length) {
            int c = f[at] & 0xff;
            if (c == 255) {
                break;
            }
            if (c == 0) {
                at++;
                continue;
            }
            int len = f[at + 1] & 0xff;
            if (c == code) {
                return Arrays.copyOfRange(f, at + 2, at + 2 + len);
            }
            at += 2 + len;
        }
        return null;
    }

    static int bootpField(byte[] f, int offset) {
        return buf(f).getInt(l4(f) + 8 + offset);
    }
}
