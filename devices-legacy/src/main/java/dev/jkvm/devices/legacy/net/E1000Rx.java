package dev.jkvm.devices.legacy.net;

import dev.jkvm.memory.GuestMemory;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.util.Arrays;
import java.util.zip.CRC32;

import static dev.jkvm.devices.legacy.net.E1000Registers.CTRL_VME;
import static dev.jkvm.devices.legacy.net.E1000Registers.DESCRIPTOR_BYTES;
import static dev.jkvm.devices.legacy.net.E1000Registers.ICR_RXDMT0;
import static dev.jkvm.devices.legacy.net.E1000Registers.ICR_RXO;
import static dev.jkvm.devices.legacy.net.E1000Registers.ICR_RXT0;
import static dev.jkvm.devices.legacy.net.E1000Registers.RCTL_BSEX;
import static dev.jkvm.devices.legacy.net.E1000Registers.RCTL_BSIZE_SHIFT;
import static dev.jkvm.devices.legacy.net.E1000Registers.RCTL_LPE;
import static dev.jkvm.devices.legacy.net.E1000Registers.RCTL_RDMTS_SHIFT;
import static dev.jkvm.devices.legacy.net.E1000Registers.RCTL_SBP;
import static dev.jkvm.devices.legacy.net.E1000Registers.RCTL_SECRC;

/**
 * The receive side (manual 3.2): the ring registers and what happens to a frame the backend
 * offers. A frame is padded to 60 bytes, filtered ({@link E1000Filter}), stripped of its VLAN tag
 * when CTRL.VME says so (the tag goes to the descriptor's special field, status VP), given its
 * FCS unless RCTL.SECRC strips it, and written into as many legacy descriptors' buffers (RCTL's
 * BSIZE/BSEX) as it needs; each gets its length and DD, the last EOP and IXSM (checksums are
 * not verified, as in QEMU), errors 0. Then RXT0 (no receive timers: at once) and RXDMT0 when the
 * free descriptors fall to the RDMTS fraction of the ring.
 *
 * <p>When the ring lacks free descriptors for a frame it is refused: the backend keeps it and
 * offers it again after the guest moves RDT ({@link #starved} tells the device to wake the
 * backend then); RXO is raised and RNBC counted, nothing is lost. An index beyond the ring, a ring
 * or buffer outside guest RAM puts the receive side into an error state ({@link #fault}) in which
 * frames are dropped until a reset or RCTL.EN being set again.
 *
 * <p>Not thread-safe: the device calls it under its lock (the backend's thread delivers, vCPUs
 * program the registers).
 */
final class E1000Rx {
    /** Longest frame taken with RCTL.LPE (16 KiB less the FCS); also the model's limit with SBP. */
    static final int MAX_LONG_FRAME = 16384 - 4;
    /** Longest frame without LPE, not counting the FCS: 1500 bytes of payload, a header and one VLAN tag. */
    static final int MAX_STANDARD_FRAME = 1518;
    static final int MIN_FRAME = 60;
    static final int ETH_HLEN = 14;

    static final int STA_DD = 0x01;
    static final int STA_EOP = 0x02;
    static final int STA_IXSM = 0x04;
    static final int STA_VP = 0x08;

    private final GuestMemory memory;
    private final E1000Filter filter;
    private final E1000Stats stats;
    private final E1000Interrupts interrupts;
    private final E1000Metrics metrics;
    private final FaultLog faults;
    /** The frame being delivered, with 4 bytes in front to drop a VLAN tag and 4 behind for the FCS. */
    private final byte[] frame = new byte[4 + MAX_LONG_FRAME + 4];
    private final CRC32 crc = new CRC32();

    int rctl;
    int rdbal;
    int rdbah;
    int rdlen;
    int rdh;
    int rdt;
    /** A frame was refused for want of descriptors: the next RDT write wakes the backend. */
    boolean starved;
    /** Why the ring is unusable, or null. */
    String fault;

    /** Where the device reports a ring entering the error state (counted and logged once). */
    interface FaultLog {
        void ringFault(String what);
    }

    E1000Rx(GuestMemory memory, E1000Filter filter, E1000Stats stats, E1000Interrupts interrupts, E1000Metrics metrics,
            FaultLog faults) {
        this.memory = memory;
        this.filter = filter;
        this.stats = stats;
        this.interrupts = interrupts;
        this.metrics = metrics;
        this.faults = faults;
    }

    void reset() {
        rctl = 0;
        rdbal = 0;
        rdbah = 0;
        rdlen = 0;
        rdh = 0;
        rdt = 0;
        starved = false;
        fault = null;
    }

    /** RCTL's buffer size: BSIZE 00-11 is 2048/1024/512/256 bytes, or with BSEX 16384/8192/4096. */
    static int bufferSize(int rctl) {
        int bsize = rctl >>> RCTL_BSIZE_SHIFT & 3;
        if ((rctl & RCTL_BSEX) != 0) {
            return switch (bsize) {
                case 1 -> 16384;
                case 2 -> 8192;
                case 3 -> 4096;
                default -> 2048;        // reserved; QEMU takes 2048 too
            };
        }
        return 2048 >>> bsize;
    }

    /**
     * Offers a frame; the caller checked that receiving is on. Returns false when the frame must
     * wait for descriptors (the backend keeps it), true when it was stored or dropped.
     */
    boolean deliver(MemorySegment src, int ctrl, int vet) {
        if (fault != null) {
            metrics.rxDroppedFault.increment();
            return true;
        }
        long size = src.byteSize();
        if (size < ETH_HLEN) {
            metrics.rxDroppedMalformed.increment();
            return true;
        }
        boolean longOk = (rctl & (RCTL_LPE | RCTL_SBP)) != 0;
        if (size > MAX_LONG_FRAME || (size > MAX_STANDARD_FRAME && !longOk)) {
            stats.increment(E1000Stats.ROC);
            metrics.rxDroppedTooBig.increment();
            return true;
        }
        int start = 4;
        int len = (int) size;
        MemorySegment.copy(src, ValueLayout.JAVA_BYTE, 0, frame, start, len);
        if (len < MIN_FRAME) {
            // Short frames from a virtual network are padded, as a sender's MAC would have.
            Arrays.fill(frame, start + len, start + MIN_FRAME, (byte) 0);
            len = MIN_FRAME;
        }
        if (!filter.accepts(frame, start, rctl, vet)) {
            metrics.rxDroppedFiltered.increment();
            return true;
        }
        int special = 0;
        int vp = 0;
        if ((ctrl & CTRL_VME) != 0 && E1000Filter.be16(frame, start + 12) == vet) {
            special = E1000Filter.be16(frame, start + 14);
            System.arraycopy(frame, start, frame, start + 4, 12);
            start += 4;
            len -= 4;
            vp = STA_VP;
        }
        int total = len;
        if ((rctl & RCTL_SECRC) == 0) {
            crc.reset();
            crc.update(frame, start, len);
            int fcs = (int) crc.getValue();
            for (int i = 0; i < 4; i++) {
                frame[start + len + i] = (byte) (fcs >>> (8 * i));   // the FCS goes out least significant byte first
            }
            total += 4;
        }
        return store(start, len, total, special, vp);
    }

    private boolean store(int start, int len, int total, int special, int vp) {
        int count = rdlen / DESCRIPTOR_BYTES;
        if (count == 0) {
            metrics.rxDroppedInactive.increment();
            return true;
        }
        if (rdh >= count || rdt >= count) {
            return fail(String.format("RDH %d / RDT %d beyond the %d descriptors of RDLEN", rdh, rdt, count));
        }
        long base = Integer.toUnsignedLong(rdbah) << 32 | Integer.toUnsignedLong(rdbal);
        if (!memory.contains(base, rdlen)) {
            return fail(String.format("receive ring 0x%x+%d is not guest RAM", base, rdlen));
        }
        int bufSize = bufferSize(rctl);
        int need = (total + bufSize - 1) / bufSize;
        if (need > count - 1) {
            // Even a full ring (one descriptor always stays with software) cannot hold it.
            metrics.rxDroppedTooBig.increment();
            return true;
        }
        int free = (rdt - rdh + count) % count;
        if (free < need) {
            starved = true;
            stats.increment(E1000Stats.RNBC);
            metrics.rxNoBuffer.increment();
            interrupts.raise(ICR_RXO);
            return false;
        }
        int at = 0;
        for (int i = 0; i < need; i++) {
            long desc = base + (long) DESCRIPTOR_BYTES * rdh;
            long addr = memory.read64(desc);
            int chunk = Math.min(bufSize, total - at);
            if (!memory.contains(addr, chunk)) {
                return fail(String.format("receive buffer 0x%x+%d (descriptor %d) is not guest RAM", addr, chunk, rdh));
            }
            memory.write(addr, frame, start + at, chunk);
            at += chunk;
            boolean last = at == total;
            memory.write16(desc + 8, chunk);
            memory.write16(desc + 10, 0);
            memory.write8(desc + 13, 0);
            memory.write16(desc + 14, last ? special : 0);
            // The status byte last: a driver polling DD must find the rest written.
            VarHandle.releaseFence();
            memory.write8(desc + 12, STA_DD | (last ? STA_EOP | STA_IXSM | vp : 0));
            rdh = (rdh + 1) % count;
        }
        count(start, len);
        int causes = ICR_RXT0;
        int freeAfter = free - need;
        if (freeAfter <= count >>> ((rctl >>> RCTL_RDMTS_SHIFT & 3) + 1)) {
            causes |= ICR_RXDMT0;
        }
        interrupts.raise(causes);
        return true;
    }

    private void count(int start, int len) {
        metrics.rxPackets.increment();
        metrics.rxBytes.add(len);
        stats.increment(E1000Stats.GPRC);
        stats.increment(E1000Stats.TPR);
        stats.addOctets(E1000Stats.GORCL, len + 4L);
        stats.addOctets(E1000Stats.TORL, len + 4L);
        stats.countSize(E1000Stats.PRC64, len + 4);
        if ((frame[start] & 1) != 0) {
            boolean broadcast = true;
            for (int i = 0; i < 6; i++) {
                broadcast &= frame[start + i] == (byte) 0xff;
            }
            stats.increment(broadcast ? E1000Stats.BPRC : E1000Stats.MPRC);
        }
    }

    private boolean fail(String what) {
        fault = what;
        metrics.rxDroppedFault.increment();
        faults.ringFault("receive: " + what);
        return true;
    }
}
