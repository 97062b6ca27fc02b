package dev.jkvm.devices.virtio;

import dev.jkvm.devices.virtio.queue.SplitVirtqueue;
import dev.jkvm.devices.virtio.queue.VirtqueueViolation;
import dev.jkvm.memory.GuestMemory;

/**
 * The driver's side of a split virtqueue, laid out in guest memory as a guest would (virtio 1.2,
 * 2.7): a descriptor table, an available ring and a used ring. Tests add chains with it, publish
 * them, and read what the device put in the used ring. Descriptors are handed out round-robin, so
 * a test may keep at most {@code size} descriptors in flight.
 */
public final class DriverRing {
    public static final int NEXT = 1;
    public static final int WRITE = 2;
    public static final int INDIRECT = 4;

    /** One buffer of a chain: guest address, length (as the descriptor's 32 bits), device-writable or not. */
    public record Seg(long addr, long len, boolean writable) {
    }

    public static Seg r(long addr, long len) {
        return new Seg(addr, len, false);
    }

    public static Seg w(long addr, long len) {
        return new Seg(addr, len, true);
    }

    public final GuestMemory mem;
    public final int size;
    public final long desc;
    public final long avail;
    public final long used;
    private int availIdx;
    private int nextDesc;

    /** Lays the rings out from {@code base} (16-byte aligned): table, then avail, then used on the next page. */
    public DriverRing(GuestMemory mem, int size, long base) {
        this(mem, size, base, base + 16L * size, (base + 16L * size + 6 + 2L * size + 4095) & ~4095L);
    }

    public DriverRing(GuestMemory mem, int size, long desc, long avail, long used) {
        this.mem = mem;
        this.size = size;
        this.desc = desc;
        this.avail = avail;
        this.used = used;
        mem.fill(desc, 16L * size, (byte) 0);
        mem.fill(avail, 6 + 2L * size, (byte) 0);
        mem.fill(used, 6 + 8L * size, (byte) 0);
    }

    /** Bytes from {@code desc} to the end of the used ring, for placing the next thing. */
    public long end() {
        return used + 6 + 8L * size;
    }

    public void enable(SplitVirtqueue queue, boolean eventIdx) throws VirtqueueViolation {
        queue.enable(size, desc, avail, used, eventIdx);
    }

    public static void writeDesc(GuestMemory mem, long table, int i, long addr, long len, int flags, int next) {
        long d = table + 16L * i;
        mem.write64(d, addr);
        mem.write32(d + 8, (int) len);
        mem.write16(d + 12, flags);
        mem.write16(d + 14, next);
    }

    public void writeDesc(int i, long addr, long len, int flags, int next) {
        writeDesc(mem, desc, i, addr, len, flags, next);
    }

    /** Writes a chain into consecutive free descriptors without publishing it; returns its head. */
    public int writeChain(Seg... segs) {
        int head = nextDesc;
        for (int k = 0; k < segs.length; k++) {
            int i = (head + k) % size;
            int next = (head + k + 1) % size;
            int flags = (segs[k].writable() ? WRITE : 0) | (k + 1 < segs.length ? NEXT : 0);
            writeDesc(i, segs[k].addr(), segs[k].len(), flags, k + 1 < segs.length ? next : 0);
        }
        nextDesc = (head + segs.length) % size;
        return head;
    }

    /** Writes an indirect table at {@code table} holding the chain, and a head descriptor that points to it. */
    public int writeIndirect(long table, Seg... segs) {
        for (int k = 0; k < segs.length; k++) {
            int flags = (segs[k].writable() ? WRITE : 0) | (k + 1 < segs.length ? NEXT : 0);
            writeDesc(mem, table, k, segs[k].addr(), segs[k].len(), flags, k + 1 < segs.length ? k + 1 : 0);
        }
        int head = nextDesc;
        writeDesc(head, table, 16L * segs.length, INDIRECT, 0);
        nextDesc = (head + 1) % size;
        return head;
    }

    /** Writes and publishes a chain; returns its head. */
    public int add(Seg... segs) {
        int head = writeChain(segs);
        publish(head);
        return head;
    }

    /** Puts {@code head} in the next available slot and moves the available index past it. */
    public void publish(int head) {
        putAvail(head);
        setAvailIdx(availIdx + 1);
    }

    /** Puts {@code head} in the next available slot without publishing it. */
    public void putAvail(int head) {
        mem.write16(avail + 4 + 2L * (availIdx % size), head);
    }

    public void putAvailAt(int slot, int head) {
        mem.write16(avail + 4 + 2L * (slot % size), head);
    }

    public void setAvailIdx(int idx) {
        availIdx = idx & 0xffff;
        mem.write16Release(avail + 2, availIdx);
    }

    public int availIdx() {
        return availIdx;
    }

    public void setAvailFlags(int flags) {
        mem.write16(avail, flags);
    }

    public void setUsedEvent(int idx) {
        mem.write16(avail + 4 + 2L * size, idx);
    }

    public int availEvent() {
        return mem.read16(used + 4 + 8L * size);
    }

    public int usedFlags() {
        return mem.read16(used);
    }

    public int usedIdx() {
        return mem.read16(used + 2);
    }

    /** The id of used element number {@code n} (an index into the ring, taken modulo its size). */
    public int usedId(int n) {
        return mem.read32(used + 4 + 8L * (n % size));
    }

    public int usedLen(int n) {
        return mem.read32(used + 4 + 8L * (n % size) + 4);
    }
}
