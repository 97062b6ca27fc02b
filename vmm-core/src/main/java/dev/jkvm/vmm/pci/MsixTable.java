package dev.jkvm.vmm.pci;

import dev.jkvm.vmm.device.BusDevice;
import dev.jkvm.vmm.device.MsiController;
import dev.jkvm.vmm.device.MsiVector;

/**
 * An MSI-X capability with its vector table and pending-bit array, which live in a BAR of the
 * device's choosing. Each table entry the guest programs becomes an MSI vector (a GSI route and an
 * irqfd); {@link #notify(int)} raises it, or records it as pending while the vector or the whole
 * function is masked, and delivers it when unmasked, as the PCI spec requires.
 *
 * <p>Table writes come from vCPU threads, notifications from device threads; one lock serialises
 * them, and the enable and mask bits are mirrored into fields so notify never reads config space.
 */
public final class MsixTable {
    public static final int CAPABILITY_ID = 0x11;
    public static final int ENTRY_SIZE = 16;
    private static final int CONTROL_ENABLE = 0x8000;
    private static final int CONTROL_FUNCTION_MASK = 0x4000;
    private static final int VECTOR_MASKED = 0x1;

    private final PciConfiguration config;
    private final int capability;
    private final MsiController controller;
    private final String owner;
    private final int size;
    private final long[] address;
    private final int[] data;
    private final int[] vectorControl;
    private final boolean[] pending;
    private final MsiVector[] vectors;
    private boolean enabled;
    private boolean functionMasked;

    /**
     * Adds the capability to {@code config}; the table sits at {@code tableOffset} in BAR
     * {@code tableBar} and the PBA at {@code pbaOffset} in BAR {@code pbaBar} (offsets 8-byte aligned).
     */
    public MsixTable(PciConfiguration config, MsiController controller, String owner, int vectorCount,
                     int tableBar, long tableOffset, int pbaBar, long pbaOffset) {
        if (vectorCount < 1 || vectorCount > 2048 || (tableOffset & 7) != 0 || (pbaOffset & 7) != 0) {
            throw new IllegalArgumentException("bad MSI-X layout");
        }
        this.config = config;
        this.controller = controller;
        this.owner = owner;
        this.size = vectorCount;
        this.address = new long[vectorCount];
        this.data = new int[vectorCount];
        this.vectorControl = new int[vectorCount];
        this.pending = new boolean[vectorCount];
        this.vectors = new MsiVector[vectorCount];
        java.util.Arrays.fill(vectorControl, VECTOR_MASKED);
        capability = config.addCapability(CAPABILITY_ID, 12);
        config.set16(capability + 2, vectorCount - 1);
        config.setWritable(capability + 2, 2, CONTROL_ENABLE | CONTROL_FUNCTION_MASK);
        config.set32(capability + 4, (int) tableOffset | tableBar);
        config.set32(capability + 8, (int) pbaOffset | pbaBar);
    }

    public int size() {
        return size;
    }

    public int capabilityOffset() {
        return capability;
    }

    /** Bytes the table takes in its BAR. */
    public long tableBytes() {
        return (long) size * ENTRY_SIZE;
    }

    /** Bytes the pending-bit array takes in its BAR (whole qwords). */
    public long pbaBytes() {
        return ((size + 63) / 64) * 8L;
    }

    /** Call after every guest config write: picks up the enable and function-mask bits. */
    public synchronized void configChanged() {
        int control = config.get16(capability + 2);
        enabled = (control & CONTROL_ENABLE) != 0;
        functionMasked = (control & CONTROL_FUNCTION_MASK) != 0;
        deliverPending();
    }

    public synchronized boolean enabled() {
        return enabled;
    }

    /**
     * Raises vector {@code v}. Returns false when MSI-X is disabled, so the caller falls back to
     * INTx; a masked vector is left pending and counts as handled.
     */
    public synchronized boolean notify(int v) {
        if (!enabled) {
            return false;
        }
        if (v < 0 || v >= size) {
            return true;
        }
        if (functionMasked || (vectorControl[v] & VECTOR_MASKED) != 0) {
            pending[v] = true;
        } else if (vectors[v] != null) {
            vectors[v].trigger();
        }
        return true;
    }

    private void deliverPending() {
        if (!enabled || functionMasked) {
            return;
        }
        for (int v = 0; v < size; v++) {
            if (pending[v] && (vectorControl[v] & VECTOR_MASKED) == 0) {
                pending[v] = false;
                if (vectors[v] != null) {
                    vectors[v].trigger();
                }
            }
        }
    }

    /** The table as a BAR region (offsets relative to the table's start). */
    public BusDevice tableRegion() {
        return new BusDevice() {
            public long read(long offset, int accessSize) {
                return readTable(offset, accessSize);
            }

            public void write(long offset, int accessSize, long value) {
                writeTable(offset, accessSize, value);
            }
        };
    }

    /** The pending-bit array as a BAR region; read-only. */
    public BusDevice pbaRegion() {
        return new BusDevice() {
            public long read(long offset, int accessSize) {
                return readPba(offset, accessSize);
            }

            public void write(long offset, int accessSize, long value) {
                // the PBA is read-only
            }
        };
    }

    private synchronized long readTable(long offset, int accessSize) {
        if ((accessSize != 4 && accessSize != 8) || (offset & (accessSize - 1)) != 0 || offset + accessSize > tableBytes()) {
            return accessSize >= 8 ? -1L : (1L << (8 * accessSize)) - 1;
        }
        int v = (int) (offset / ENTRY_SIZE);
        int field = (int) (offset % ENTRY_SIZE);
        long lo = field32(v, field);
        return accessSize == 8 ? lo | (field32(v, field + 4) << 32) : lo;
    }

    private long field32(int v, int field) {
        return switch (field) {
            case 0 -> address[v] & 0xffffffffL;
            case 4 -> address[v] >>> 32;
            case 8 -> Integer.toUnsignedLong(data[v]);
            default -> Integer.toUnsignedLong(vectorControl[v]);
        };
    }

    private synchronized void writeTable(long offset, int accessSize, long value) {
        if ((accessSize != 4 && accessSize != 8) || (offset & (accessSize - 1)) != 0 || offset + accessSize > tableBytes()) {
            return;
        }
        int v = (int) (offset / ENTRY_SIZE);
        int field = (int) (offset % ENTRY_SIZE);
        writeField(v, field, value & 0xffffffffL);
        if (accessSize == 8) {
            writeField(v, field + 4, value >>> 32);
        }
    }

    private void writeField(int v, int field, long value) {
        switch (field) {
            case 0 -> setMessage(v, (address[v] & ~0xffffffffL) | (value & 0xfffffffcL), data[v]);
            case 4 -> setMessage(v, (address[v] & 0xffffffffL) | (value << 32), data[v]);
            case 8 -> setMessage(v, address[v], (int) value);
            default -> {
                vectorControl[v] = (int) value & VECTOR_MASKED;
                deliverPending();
            }
        }
    }

    private void setMessage(int v, long newAddress, int newData) {
        if (newAddress == address[v] && newData == data[v] && vectors[v] != null) {
            return;
        }
        address[v] = newAddress;
        data[v] = newData;
        if (vectors[v] == null) {
            vectors[v] = controller.allocate(owner + " MSI-X " + v);
        }
        vectors[v].route(newAddress, newData);
    }

    private synchronized long readPba(long offset, int accessSize) {
        if ((accessSize != 4 && accessSize != 8) || (offset & (accessSize - 1)) != 0 || offset + accessSize > pbaBytes()) {
            return accessSize >= 8 ? -1L : (1L << (8 * accessSize)) - 1;
        }
        long bits = 0;
        for (int i = 0; i < accessSize * 8; i++) {
            int v = (int) (offset * 8 + i);
            if (v < size && pending[v]) {
                bits |= 1L << i;
            }
        }
        return bits;
    }

    /** After a reset: every entry masked and cleared, nothing pending, MSI-X off (config space was restored). */
    public synchronized void reset() {
        java.util.Arrays.fill(address, 0);
        java.util.Arrays.fill(data, 0);
        java.util.Arrays.fill(vectorControl, VECTOR_MASKED);
        java.util.Arrays.fill(pending, false);
        configChanged();
    }

    /** Whether vector {@code v} is pending, for tests. */
    public synchronized boolean isPending(int v) {
        return pending[v];
    }

    public synchronized void close() {
        for (int v = 0; v < size; v++) {
            if (vectors[v] != null) {
                vectors[v].close();
                vectors[v] = null;
            }
        }
    }
}
