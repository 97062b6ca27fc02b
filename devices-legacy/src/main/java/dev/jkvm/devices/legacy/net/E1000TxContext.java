package dev.jkvm.devices.legacy.net;

/**
 * One TCP/IP context (manual 3.3.6), as a context descriptor loads it: where the IP and TCP/UDP
 * checksums start, go and end, and for segmentation the header length, MSS and payload length.
 * The device keeps two, one for segmentation (TSE) and one for checksum-only packets, as QEMU's
 * e1000 does, so a driver may interleave both kinds of packet. Mutable and reused (a driver may
 * send a context per packet): only the transmit thread touches it.
 */
final class E1000TxContext {
    /** TUCMD bits in the context descriptor's command byte. */
    static final int TUCMD_TCP = 0x01;
    static final int TUCMD_IP = 0x02;
    static final int TUCMD_TSE = 0x04;

    int ipcss;
    int ipcso;
    int ipcse;
    int tucss;
    int tucso;
    int tucse;
    int paylen;
    int hdrLen;
    int mss;
    /** IPv4 (else IPv6) and TCP (else UDP): which header fields segmentation updates. */
    boolean ipv4;
    boolean tcp;

    /** Loads a context descriptor (16 bytes, little-endian). */
    void load(byte[] d) {
        ipcss = d[0] & 0xff;
        ipcso = d[1] & 0xff;
        ipcse = (d[2] & 0xff) | (d[3] & 0xff) << 8;
        tucss = d[4] & 0xff;
        tucso = d[5] & 0xff;
        tucse = (d[6] & 0xff) | (d[7] & 0xff) << 8;
        paylen = (d[8] & 0xff) | (d[9] & 0xff) << 8 | (d[10] & 0x0f) << 16;
        int tucmd = d[11] & 0xff;
        ipv4 = (tucmd & TUCMD_IP) != 0;
        tcp = (tucmd & TUCMD_TCP) != 0;
        hdrLen = d[13] & 0xff;
        mss = (d[14] & 0xff) | (d[15] & 0xff) << 8;
    }

    void clear() {
        ipcss = 0;
        ipcso = 0;
        ipcse = 0;
        tucss = 0;
        tucso = 0;
        tucse = 0;
        paylen = 0;
        hdrLen = 0;
        mss = 0;
        ipv4 = false;
        tcp = false;
    }
}
