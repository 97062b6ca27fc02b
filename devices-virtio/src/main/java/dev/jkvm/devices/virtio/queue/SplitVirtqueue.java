package dev.jkvm.devices.virtio.queue;

import dev.jkvm.memory.GuestMemory;

import java.lang.invoke.VarHandle;

/**
 * The device side of a split virtqueue (virtio 1.2, 2.7). The driver fills a descriptor table
 * and an available ring; the device takes chains from the available ring ({@link #pop}) and
 * returns them through the used ring ({@link #addUsed}).
 *
 * <p>Everything the driver wrote is distrusted: ring addresses are checked when the queue is
 * enabled, each descriptor's buffer is checked against guest RAM, chains longer than the queue
 * (which is how a loop shows) and nested or malformed indirect tables are violations, and so is
 * a device-readable buffer after a device-writable one. A violation is reported as a
 * {@link VirtqueueViolation}; the caller puts the device into DEVICE_NEEDS_RESET.
 *
 * <p>Threads: one thread pops; any thread may complete, under this object's lock.
 */
public final class SplitVirtqueue {
    public static final int DESC_F_NEXT = 1;
    public static final int DESC_F_WRITE = 2;
    public static final int DESC_F_INDIRECT = 4;
    public static final int AVAIL_F_NO_INTERRUPT = 1;
    public static final int USED_F_NO_NOTIFY = 1;
    private static final int DESC_SIZE = 16;
    /** No request of any jkvm device needs more; a larger indirect table is hostile. */
    private static final int MAX_INDIRECT = 1024;

    private final GuestMemory memory;
    private final int maxSize;
    private int size;
    private long descTable;
    private long availRing;
    private long usedRing;
    private boolean eventIdx;
    private boolean enabled;
    private int lastAvail;
    private int usedIdx;
    private int signalledUsed;
    private boolean signalledValid;

    public SplitVirtqueue(GuestMemory memory, int maxSize) {
        if (Integer.bitCount(maxSize) != 1 || maxSize > 32768) {
            throw new IllegalArgumentException("queue size must be a power of two up to 32768");
        }
        this.memory = memory;
        this.maxSize = maxSize;
        this.size = maxSize;
    }

    public int maxSize() {
        return maxSize;
    }

    public int size() {
        return size;
    }

    /**
     * Checks and takes the driver's configuration when it enables the queue: a power-of-two size
     * no larger than the maximum, and rings that are aligned and lie wholly in guest RAM.
     */
    public synchronized void enable(int queueSize, long desc, long avail, long used, boolean withEventIdx) throws VirtqueueViolation {
        if (queueSize <= 0 || queueSize > maxSize || Integer.bitCount(queueSize) != 1) {
            throw new VirtqueueViolation("queue size " + queueSize + " is not a power of two up to " + maxSize);
        }
        if ((desc & 15) != 0 || (avail & 1) != 0 || (used & 3) != 0) {
            throw new VirtqueueViolation(String.format("misaligned rings: desc 0x%x avail 0x%x used 0x%x", desc, avail, used));
        }
        if (!memory.contains(desc, (long) DESC_SIZE * queueSize)
                || !memory.contains(avail, 6 + 2L * queueSize)
                || !memory.contains(used, 6 + 8L * queueSize)) {
            throw new VirtqueueViolation(String.format("rings outside guest RAM: desc 0x%x avail 0x%x used 0x%x", desc, avail, used));
        }
        this.size = queueSize;
        this.descTable = desc;
        this.availRing = avail;
        this.usedRing = used;
        this.eventIdx = withEventIdx;
        this.lastAvail = 0;
        this.usedIdx = 0;
        this.signalledValid = false;
        this.enabled = true;
    }

    public synchronized void reset() {
        enabled = false;
        size = maxSize;
        lastAvail = 0;
        usedIdx = 0;
        signalledValid = false;
    }

    public synchronized boolean isEnabled() {
        return enabled;
    }

    /** True when the driver has made chains available that were not popped yet. */
    public boolean hasAvailable() {
        return enabled && memory.read16Acquire(availRing + 2) != lastAvail;
    }

    /** The next available chain, or null when there is none. */
    public DescriptorChain pop() throws VirtqueueViolation {
        if (!enabled) {
            return null;
        }
        int availIdx = memory.read16Acquire(availRing + 2);
        if (availIdx == lastAvail) {
            if (!eventIdx) {
                return null;
            }
            // The avail_event the last pop stored must be visible before the index is read again,
            // or the driver can skip its kick while the device goes to sleep on an empty ring.
            VarHandle.fullFence();
            availIdx = memory.read16Acquire(availRing + 2);
            if (availIdx == lastAvail) {
                return null;
            }
        }
        if (((availIdx - lastAvail) & 0xffff) > size) {
            throw new VirtqueueViolation("available index moved by " + ((availIdx - lastAvail) & 0xffff) + " in a queue of " + size);
        }
        int head = memory.read16(availRing + 4 + 2L * (lastAvail % size));
        if (head >= size) {
            throw new VirtqueueViolation("available ring names descriptor " + head + " of " + size);
        }
        lastAvail = (lastAvail + 1) & 0xffff;
        if (eventIdx) {
            // avail_event: ask to be kicked only once the driver passes what was just taken.
            memory.write16(usedRing + 4 + 8L * size, lastAvail);
        }
        return readChain(head);
    }

    private DescriptorChain readChain(int head) throws VirtqueueViolation {
        long[] addresses = new long[8];
        int[] lengths = new int[8];
        int count = 0;
        int readable = 0;
        boolean sawWritable = false;
        long table = descTable;
        int tableSize = size;
        boolean indirect = false;
        int index = head;
        int visited = 0;
        while (true) {
            if (++visited > tableSize) {
                throw new VirtqueueViolation("descriptor chain from " + head + " is longer than its table (a loop?)");
            }
            long d = table + (long) DESC_SIZE * index;
            long addr = memory.read64(d);
            int len = memory.read32(d + 8);
            int flags = memory.read16(d + 12);
            int next = memory.read16(d + 14);
            if ((flags & DESC_F_INDIRECT) != 0) {
                if (indirect) {
                    throw new VirtqueueViolation("nested indirect descriptor table");
                }
                if ((flags & DESC_F_NEXT) != 0 || count > 0) {
                    throw new VirtqueueViolation("indirect descriptor chained to others");
                }
                long entries = Integer.toUnsignedLong(len) / DESC_SIZE;
                if (len == 0 || Integer.toUnsignedLong(len) % DESC_SIZE != 0 || entries > MAX_INDIRECT
                        || !memory.contains(addr, Integer.toUnsignedLong(len))) {
                    throw new VirtqueueViolation(String.format("bad indirect table at 0x%x length %d", addr, Integer.toUnsignedLong(len)));
                }
                indirect = true;
                table = addr;
                tableSize = (int) entries;
                index = 0;
                visited = 0;
                continue;
            }
            long length = Integer.toUnsignedLong(len);
            // The spec allows it, but no driver has a use for it and QEMU resets the device over
            // it; differential runs need the same outcome.
            if (length == 0) {
                throw new VirtqueueViolation("descriptor " + index + " has length 0");
            }
            if (!memory.contains(addr, length)) {
                throw new VirtqueueViolation(String.format("descriptor %d buffer 0x%x+%d lies outside guest RAM", index, addr, length));
            }
            boolean writable = (flags & DESC_F_WRITE) != 0;
            if (!writable && sawWritable) {
                throw new VirtqueueViolation("device-readable descriptor after a device-writable one");
            }
            sawWritable |= writable;
            if (count == addresses.length) {
                addresses = java.util.Arrays.copyOf(addresses, count * 2);
                lengths = java.util.Arrays.copyOf(lengths, count * 2);
            }
            addresses[count] = addr;
            lengths[count] = len;
            count++;
            if (!writable) {
                readable++;
            }
            if ((flags & DESC_F_NEXT) == 0) {
                break;
            }
            if (next >= tableSize) {
                throw new VirtqueueViolation("descriptor " + index + " points to " + next + " outside a table of " + tableSize);
            }
            index = next;
        }
        return new DescriptorChain(memory, head, addresses, lengths, count, readable);
    }

    /** Returns a chain to the driver with {@code written} bytes of its writable part filled. */
    public synchronized void addUsed(int head, int written) {
        if (!enabled) {
            return;
        }
        long elem = usedRing + 4 + 8L * (usedIdx % size);
        memory.write32(elem, head);
        memory.write32(elem + 4, written);
        usedIdx = (usedIdx + 1) & 0xffff;
        memory.write16Release(usedRing + 2, usedIdx);
    }

    /**
     * Returns {@code count} chains with one store of used.idx, so the driver sees all of them or
     * none: a virtio-net receive merged over several buffers (MRG_RXBUF) needs that, since the
     * driver reads the following buffers as soon as it sees the first.
     */
    public synchronized void addUsed(int[] heads, int[] written, int count) {
        if (!enabled || count <= 0) {
            return;
        }
        for (int i = 0; i < count; i++) {
            long elem = usedRing + 4 + 8L * (((usedIdx + i) & 0xffff) % size);
            memory.write32(elem, heads[i]);
            memory.write32(elem + 4, written[i]);
        }
        usedIdx = (usedIdx + count) & 0xffff;
        memory.write16Release(usedRing + 2, usedIdx);
    }

    /**
     * Whether the driver wants an interrupt for what was used since the last one: the
     * NO_INTERRUPT flag, or with EVENT_IDX whether used_event was passed (vring_need_event).
     */
    public synchronized boolean needsInterrupt() {
        if (!enabled) {
            return false;
        }
        // The store of used.idx must be visible before the driver's used_event is read back.
        VarHandle.fullFence();
        if (!eventIdx) {
            return (memory.read16(availRing) & AVAIL_F_NO_INTERRUPT) == 0;
        }
        int usedEvent = memory.read16(availRing + 4 + 2L * size);
        int old = signalledUsed;
        boolean valid = signalledValid;
        signalledUsed = usedIdx;
        signalledValid = true;
        return !valid || ((usedIdx - usedEvent - 1) & 0xffff) < ((usedIdx - old) & 0xffff);
    }

    /** Asks the driver not to kick while the device is busy draining the ring anyway. */
    public synchronized void suppressKicks(boolean suppress) {
        if (!enabled || eventIdx) {
            return;
        }
        memory.write16(usedRing, suppress ? USED_F_NO_NOTIFY : 0);
        VarHandle.fullFence();
    }

    public synchronized int usedIndex() {
        return usedIdx;
    }

    public int lastAvailIndex() {
        return lastAvail;
    }
}
