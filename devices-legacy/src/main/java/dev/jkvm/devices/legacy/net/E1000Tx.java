package dev.jkvm.devices.legacy.net;

import dev.jkvm.memory.GuestMemory;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Turns transmit descriptors into Ethernet frames (manual 3.3): legacy descriptors (with the
 * legacy checksum insertion, IC/CSS/CSO), context descriptors that load one of the two TCP/IP
 * contexts, and data descriptors with IP and TCP/UDP checksum insertion (POPTS IXSM/TXSM) and TCP
 * segmentation (TSE): the header is replicated in front of every MSS of payload, and each segment
 * gets its IP total length (or IPv6 payload length) and IP id, its TCP sequence number (FIN and
 * PSH only on the last) or UDP length, and fresh checksums. VLE inserts an 802.1Q tag when
 * CTRL.VME is set; TCTL.PSP pads short frames to 60 bytes.
 *
 * <p>The packet is assembled in one native buffer, allocated once, and handed to the {@link Sink}
 * as a slice of it; the guest's buffers are copied first, so a guest rewriting them meanwhile
 * cannot make a checksum wrong after it was computed. A packet longer than 64 KiB is dropped; a
 * TSO packet needs room for one segment only, however long it is.
 *
 * <p>Only the transmit thread uses an instance; it holds no lock while doing so.
 */
final class E1000Tx {
    /** Where finished frames go; called on the transmit thread. */
    interface Sink {
        void transmit(MemorySegment frame);

        /** A segmentation packet ended: sent as segments, or dropped because its context could not be used. */
        void segmentationEnded(boolean sent);
    }

    static final int MAX_PACKET = 65536;
    static final int ETH_HLEN = 14;
    static final int MIN_FRAME = 60;

    // Command byte (bits 31:24 of the second quadword) of legacy and data descriptors.
    static final int CMD_EOP = 0x01;
    static final int CMD_IFCS = 0x02;
    /** Legacy: insert checksum. Data: TCP segmentation enable. */
    static final int CMD_IC = 0x04;
    static final int CMD_TSE = 0x04;
    static final int CMD_RS = 0x08;
    static final int CMD_DEXT = 0x20;
    static final int CMD_VLE = 0x40;
    static final int DTYP_CONTEXT = 0;
    static final int DTYP_DATA = 1;
    static final int POPTS_IXSM = 0x01;
    static final int POPTS_TXSM = 0x02;
    static final int STA_DD = 0x01;

    private static final int TCP_FIN = 0x01;
    private static final int TCP_PSH = 0x08;
    private static final int IPV6_HEADER = 40;
    /** Room in front of the packet to move the MAC addresses into when a VLAN tag goes in. */
    private static final int HEADROOM = 4;
    private static final int MAX_HEADER = 255;
    private static final ValueLayout.OfShort BE16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfInt BE32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    private final GuestMemory memory;
    private final Sink sink;
    private final E1000Metrics metrics;
    private final MemorySegment buf;
    /** A segmentation packet's header as the driver wrote it, put back in front of every segment. */
    private final byte[] header = new byte[MAX_HEADER];
    private final E1000TxContext checksumContext = new E1000TxContext();
    private final E1000TxContext tsoContext = new E1000TxContext();

    // ---- the packet being assembled; its first descriptor decides how it is sent ----
    private boolean inPacket;
    private boolean extended;
    private boolean segmenting;
    private boolean tsoUsable;
    private int popts;
    private boolean legacyInsert;
    private int legacyCss;
    private int legacyCso;
    private boolean vlan;
    private int vlanTci;
    private int length;
    private boolean oversize;
    private int segments;

    // ---- device settings for the descriptor being processed ----
    private boolean pad;
    private boolean vlanEnabled;
    private int vet;

    E1000Tx(GuestMemory memory, Arena arena, Sink sink, E1000Metrics metrics) {
        this.memory = memory;
        this.sink = sink;
        this.metrics = metrics;
        this.buf = arena.allocate(HEADROOM + MAX_PACKET + MAX_HEADER, 8);
    }

    /**
     * One descriptor (16 bytes as read from the ring). {@code pad} is TCTL.PSP, {@code vme}
     * CTRL.VME, {@code vet} the VLAN ethertype. Throws when a buffer lies outside guest RAM; the
     * packet is then abandoned.
     */
    void process(byte[] d, boolean pad, boolean vme, int vet) throws DmaFault {
        this.pad = pad;
        this.vlanEnabled = vme;
        this.vet = vet;
        long addr = le64(d, 0);
        int cmd = d[11] & 0xff;
        boolean eop = (cmd & CMD_EOP) != 0;
        int special = (d[14] & 0xff) | (d[15] & 0xff) << 8;
        try {
            if ((cmd & CMD_DEXT) == 0) {
                if (!inPacket) {
                    begin(false, 0, false);
                    legacyInsert = (cmd & CMD_IC) != 0;
                    legacyCso = d[10] & 0xff;
                    legacyCss = d[13] & 0xff;
                }
                latchVlan(cmd, eop, special);
                appendPlain(addr, (d[8] & 0xff) | (d[9] & 0xff) << 8);
            } else {
                int dtyp = (d[10] & 0xf0) >>> 4;
                if (dtyp == DTYP_CONTEXT) {
                    ((d[11] & E1000TxContext.TUCMD_TSE) != 0 ? tsoContext : checksumContext).load(d);
                    return;
                }
                if (dtyp != DTYP_DATA) {
                    metrics.txDroppedMalformed.increment();    // a reserved type: consumed, nothing sent
                    return;
                }
                if (!inPacket) {
                    begin(true, d[13] & 0xff, (cmd & CMD_TSE) != 0);
                }
                latchVlan(cmd, eop, special);
                int dtalen = (d[8] & 0xff) | (d[9] & 0xff) << 8 | (d[10] & 0x0f) << 16;
                if (segmenting) {
                    appendSegmented(addr, dtalen);
                } else {
                    appendPlain(addr, dtalen);
                }
            }
            if (eop) {
                if (segmenting) {
                    finishSegmented();
                } else {
                    finishPlain();
                }
            }
        } catch (DmaFault f) {
            endPacket();
            throw f;
        }
    }

    /** Drops a half-assembled packet (the ring was reprogrammed under it). */
    void abandonPacket() {
        endPacket();
    }

    /** Power-on state: no packet, both contexts cleared. */
    void reset() {
        endPacket();
        checksumContext.clear();
        tsoContext.clear();
    }

    boolean inPacket() {
        return inPacket;
    }

    private void begin(boolean extendedDescriptors, int packetOptions, boolean tse) {
        inPacket = true;
        extended = extendedDescriptors;
        popts = packetOptions;
        segmenting = tse;
        tsoUsable = tse && tsoContextUsable();
    }

    private void latchVlan(int cmd, boolean eop, int special) {
        if ((cmd & CMD_VLE) != 0 && (eop || segmenting)) {
            vlan = true;
            vlanTci = special;
        }
    }

    private void endPacket() {
        inPacket = false;
        extended = false;
        segmenting = false;
        tsoUsable = false;
        popts = 0;
        legacyInsert = false;
        vlan = false;
        length = 0;
        oversize = false;
        segments = 0;
    }

    private void checkRam(long addr, long len) throws DmaFault {
        if (len > 0 && !memory.contains(addr, len)) {
            throw new DmaFault(String.format("transmit buffer 0x%x+%d is not guest RAM", addr, len));
        }
    }

    // ---- plain packets ----

    private void appendPlain(long addr, int len) throws DmaFault {
        checkRam(addr, len);
        int take = Math.min(len, MAX_PACKET - length);
        if (take < len) {
            oversize = true;
        }
        if (take > 0) {
            MemorySegment.copy(memory.slice(addr, take), 0, buf, HEADROOM + length, take);
            length += take;
        }
    }

    private void finishPlain() {
        try {
            if (oversize || length < ETH_HLEN) {
                metrics.txDroppedMalformed.increment();
                return;
            }
            if (extended) {
                E1000TxContext c = checksumContext;
                if ((popts & POPTS_TXSM) != 0) {
                    insertChecksum(c.tucss, c.tucse, c.tucso);
                }
                if ((popts & POPTS_IXSM) != 0) {
                    insertChecksum(c.ipcss, c.ipcse, c.ipcso);
                }
            } else if (legacyInsert) {
                insertChecksum(legacyCss, 0, legacyCso);
            }
            emit();
        } finally {
            endPacket();
        }
    }

    /**
     * The checksum of [start, end] (end inclusive; 0 means the end of the packet) stored big-endian
     * at {@code at}. The bytes already there count: drivers put 0 for IP and the pseudo-header sum
     * for TCP/UDP. Nothing is inserted when the fields point outside the packet, as the manual says.
     */
    private void insertChecksum(int start, int end, int at) {
        int n = length;
        if (end != 0 && end + 1 < n) {
            n = end + 1;
        }
        if (start >= n || at + 2 > length) {
            return;
        }
        long sum = InternetChecksum.sum(buf, HEADROOM + start, HEADROOM + n);
        buf.set(BE16, HEADROOM + at, (short) InternetChecksum.finish(sum));
    }

    /** Hands the packet to the sink: padded (PSP) and tagged (VLE with CTRL.VME) as asked. */
    private void emit() {
        int n = length;
        if (pad && n < MIN_FRAME) {
            buf.asSlice(HEADROOM + n, MIN_FRAME - n).fill((byte) 0);
            n = MIN_FRAME;
        }
        long start = HEADROOM;
        if (vlan && vlanEnabled) {
            // The tag goes after the two addresses: move them 4 bytes forward into the headroom.
            MemorySegment.copy(buf, HEADROOM, buf, 0, 12);
            buf.set(BE16, 12, (short) vet);
            buf.set(BE16, 14, (short) vlanTci);
            start = 0;
            n += 4;
        }
        sink.transmit(buf.asSlice(start, n));
    }

    // ---- TCP segmentation ----

    /** The header fields segmentation rewrites must lie inside the header, and an MSS must be given. */
    private boolean tsoContextUsable() {
        E1000TxContext c = tsoContext;
        int h = c.hdrLen;
        if (c.mss == 0 || h < ETH_HLEN) {
            return false;
        }
        boolean ip = c.ipv4 ? c.ipcss + 20 <= h : c.ipcss + IPV6_HEADER <= h;
        boolean l4 = c.tcp ? c.tucss + 20 <= h : c.tucss + 8 <= h;
        boolean tucso = (popts & POPTS_TXSM) == 0 || c.tucso + 2 <= h;
        boolean ipcso = (popts & POPTS_IXSM) == 0 || c.ipcso + 2 <= h;
        return ip && l4 && tucso && ipcso;
    }

    /**
     * Adds payload, sending a full segment (header + MSS) only once more data shows it was not the
     * last one: that way the last segment is known without trusting PAYLEN, and no empty segment
     * is ever sent when the payload is a multiple of the MSS.
     */
    private void appendSegmented(long addr, int len) throws DmaFault {
        checkRam(addr, len);
        if (!tsoUsable) {
            return;                     // the packet is dropped at EOP; its buffers were checked
        }
        int hdr = tsoContext.hdrLen;
        int limit = hdr + tsoContext.mss;
        int done = 0;
        while (done < len) {
            if (length == limit) {
                sendSegment(false);
            }
            int take = Math.min(len - done, limit - length);
            MemorySegment.copy(memory.slice(addr + done, take), 0, buf, HEADROOM + length, take);
            if (length < hdr && length + take >= hdr) {
                MemorySegment.copy(buf, ValueLayout.JAVA_BYTE, HEADROOM, header, 0, hdr);
            }
            length += take;
            done += take;
        }
    }

    private void finishSegmented() {
        try {
            if (!tsoUsable || length < tsoContext.hdrLen) {
                metrics.txDroppedMalformed.increment();
                sink.segmentationEnded(false);
                return;
            }
            sendSegment(true);
            metrics.txTsoPackets.increment();
            sink.segmentationEnded(true);
        } finally {
            endPacket();
        }
    }

    private void sendSegment(boolean last) {
        E1000TxContext c = tsoContext;
        int k = segments;
        if (c.ipv4) {
            put16(c.ipcss + 2, length - c.ipcss);
            put16(c.ipcss + 4, be16(header, c.ipcss + 4) + k);
        } else {
            put16(c.ipcss + 4, length - c.ipcss - IPV6_HEADER);
        }
        if (c.tcp) {
            buf.set(BE32, HEADROOM + c.tucss + 4, be32(header, c.tucss + 4) + k * c.mss);
            if (!last) {
                buf.set(ValueLayout.JAVA_BYTE, HEADROOM + c.tucss + 13, (byte) (header[c.tucss + 13] & ~(TCP_FIN | TCP_PSH)));
            }
        } else {
            put16(c.tucss + 4, length - c.tucss);
        }
        if ((popts & POPTS_TXSM) != 0) {
            // The driver seeded the pseudo-header sum without a length; each segment adds its own.
            put16(c.tucso, InternetChecksum.fold((long) be16(header, c.tucso) + (length - c.tucss)));
            insertChecksum(c.tucss, c.tucse, c.tucso);
        }
        if ((popts & POPTS_IXSM) != 0) {
            insertChecksum(c.ipcss, c.ipcse, c.ipcso);
        }
        emit();
        metrics.txTsoSegments.increment();
        segments++;
        MemorySegment.copy(header, 0, buf, ValueLayout.JAVA_BYTE, HEADROOM, c.hdrLen);
        length = c.hdrLen;
    }

    private void put16(int at, int v) {
        buf.set(BE16, HEADROOM + at, (short) v);
    }

    private static int be16(byte[] b, int at) {
        return (b[at] & 0xff) << 8 | (b[at + 1] & 0xff);
    }

    private static int be32(byte[] b, int at) {
        return be16(b, at) << 16 | be16(b, at + 2);
    }

    private static long le64(byte[] b, int at) {
        long v = 0;
        for (int i = 7; i >= 0; i--) {
            v = v << 8 | (b[at + i] & 0xff);
        }
        return v;
    }
}
