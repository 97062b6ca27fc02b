package dev.jkvm.vmm;

import dev.jkvm.vmm.device.BusDevice;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.LongAdder;

/**
 * A port-I/O or MMIO address space. Registration is rare and takes a lock; lookup happens on every
 * exit and takes none: it reads an immutable snapshot, sorted by base, and binary-searches it.
 *
 * <p>An access that no device claims reads as all ones and is otherwise ignored, as on a PC bus
 * with nothing on it; both kinds are counted.
 */
public final class DeviceBus {
    /** A device's claim on [base, base+length). */
    public record Mapping(long base, long length, String name, BusDevice device) {
        public Mapping {
            if (length <= 0) {
                throw new IllegalArgumentException("empty range for " + name);
            }
            if (Long.compareUnsigned(base + length - 1, base) < 0) {
                throw new IllegalArgumentException("range of " + name + " wraps around");
            }
        }

        /** The last address inside the range (inclusive, so that ranges may end at 2^64). */
        public long last() {
            return base + length - 1;
        }

        @Override
        public String toString() {
            return String.format("%s [0x%x-0x%x]", name, base, last());
        }
    }

    /** Thrown when a new range overlaps one already registered. */
    public static final class ConflictException extends IllegalArgumentException {
        public ConflictException(String message) {
            super(message);
        }
    }

    private static final class Snapshot {
        final long[] bases;
        final long[] lasts;
        final BusDevice[] devices;
        final Mapping[] mappings;

        Snapshot(Mapping[] sorted) {
            this.mappings = sorted;
            this.bases = new long[sorted.length];
            this.lasts = new long[sorted.length];
            this.devices = new BusDevice[sorted.length];
            for (int i = 0; i < sorted.length; i++) {
                bases[i] = sorted[i].base();
                lasts[i] = sorted[i].last();
                devices[i] = sorted[i].device();
            }
        }

        /** Index of the mapping that holds all of [addr, addr+size), or -1. Addresses compare unsigned. */
        int find(long addr, int size) {
            int lo = 0;
            int hi = bases.length - 1;
            while (lo <= hi) {
                int mid = (lo + hi) >>> 1;
                if (Long.compareUnsigned(bases[mid], addr) <= 0) {
                    lo = mid + 1;
                } else {
                    hi = mid - 1;
                }
            }
            if (hi < 0) {
                return -1;
            }
            // base <= addr here; the access fits when addr <= last and the span left covers size bytes.
            return Long.compareUnsigned(addr, lasts[hi]) <= 0 && Long.compareUnsigned(lasts[hi] - addr, size - 1) >= 0 ? hi : -1;
        }
    }

    private final String name;
    private volatile Snapshot snapshot = new Snapshot(new Mapping[0]);
    // LongAdder: vCPUs that all poll an unclaimed port must not fight over one counter's cache line.
    private final LongAdder unhandledReads = new LongAdder();
    private final LongAdder unhandledWrites = new LongAdder();
    private final LongAdder deviceFailures = new LongAdder();
    private volatile BusErrorListener errorListener = BusErrorListener.STDERR;

    /** Told when a device throws; the default prints one line to stderr. */
    public interface BusErrorListener {
        BusErrorListener STDERR = (bus, mapping, address, write, error) ->
                System.err.printf("jkvm: %s device %s failed on %s at 0x%x: %s%n",
                        bus, mapping.name(), write ? "write" : "read", address, error);

        void deviceFailed(String bus, Mapping mapping, long address, boolean write, RuntimeException error);
    }

    public DeviceBus(String name) {
        this.name = name;
    }

    public String name() {
        return name;
    }

    public void setErrorListener(BusErrorListener listener) {
        this.errorListener = listener;
    }

    /** Claims [base, base+length) for a device; a claim that overlaps another is refused. */
    public synchronized Mapping register(long base, long length, String deviceName, BusDevice device) {
        Mapping m = new Mapping(base, length, deviceName, device);
        for (Mapping other : snapshot.mappings) {
            if (Long.compareUnsigned(m.base(), other.last()) <= 0 && Long.compareUnsigned(other.base(), m.last()) <= 0) {
                throw new ConflictException(name + " range " + m + " overlaps " + other);
            }
        }
        List<Mapping> list = new ArrayList<>(Arrays.asList(snapshot.mappings));
        list.add(m);
        list.sort((a, b) -> Long.compareUnsigned(a.base(), b.base()));
        snapshot = new Snapshot(list.toArray(Mapping[]::new));
        return m;
    }

    /** Removes a claim; returns false when it was not registered. */
    public synchronized boolean unregister(Mapping mapping) {
        List<Mapping> list = new ArrayList<>(Arrays.asList(snapshot.mappings));
        if (!list.remove(mapping)) {
            return false;
        }
        snapshot = new Snapshot(list.toArray(Mapping[]::new));
        return true;
    }

    /** The mapping that holds all of [addr, addr+size), or null. */
    public Mapping find(long addr, int size) {
        Snapshot s = snapshot;
        int i = s.find(addr, size);
        return i < 0 ? null : s.mappings[i];
    }

    public List<Mapping> mappings() {
        return List.of(snapshot.mappings);
    }

    /** Dispatches a read; unclaimed addresses and failing devices read as all ones. */
    public long read(long addr, int size) {
        Snapshot s = snapshot;
        int i = s.find(addr, size);
        if (i < 0) {
            unhandledReads.increment();
            return ones(size);
        }
        try {
            return s.devices[i].read(addr - s.bases[i], size);
        } catch (RuntimeException e) {
            deviceFailures.increment();
            errorListener.deviceFailed(name, s.mappings[i], addr, false, e);
            return ones(size);
        }
    }

    /** Dispatches a write; unclaimed addresses ignore it. */
    public void write(long addr, int size, long value) {
        Snapshot s = snapshot;
        int i = s.find(addr, size);
        if (i < 0) {
            unhandledWrites.increment();
            return;
        }
        try {
            s.devices[i].write(addr - s.bases[i], size, value);
        } catch (RuntimeException e) {
            deviceFailures.increment();
            errorListener.deviceFailed(name, s.mappings[i], addr, true, e);
        }
    }

    private static long ones(int size) {
        return size >= 8 ? -1L : (1L << (size * 8)) - 1;
    }

    public long unhandledReads() {
        return unhandledReads.sum();
    }

    public long unhandledWrites() {
        return unhandledWrites.sum();
    }

    public long deviceFailures() {
        return deviceFailures.sum();
    }
}
