package dev.jkvm.vmm.pci;

/**
 * A PCI function's 256-byte type-0 configuration space, with a writable mask and a
 * write-1-to-clear mask per byte: a guest write changes exactly the bits the hardware would let it
 * change. BAR registers get their masks from the BAR's size, so sizing by writing all ones reads
 * back the size, as on real hardware, with no special case.
 */
public final class PciConfiguration {
    public static final int SIZE = 256;

    public static final int VENDOR_ID = 0x00;
    public static final int DEVICE_ID = 0x02;
    public static final int COMMAND = 0x04;
    public static final int STATUS = 0x06;
    public static final int REVISION = 0x08;
    public static final int CLASS_PROG = 0x09;
    public static final int CACHE_LINE = 0x0c;
    public static final int LATENCY = 0x0d;
    public static final int HEADER_TYPE = 0x0e;
    public static final int BAR0 = 0x10;
    public static final int SUBSYSTEM_VENDOR_ID = 0x2c;
    public static final int SUBSYSTEM_ID = 0x2e;
    public static final int CAPABILITIES = 0x34;
    public static final int INTERRUPT_LINE = 0x3c;
    public static final int INTERRUPT_PIN = 0x3d;
    public static final int FIRST_CAPABILITY = 0x40;

    public static final int COMMAND_IO = 0x1;
    public static final int COMMAND_MEMORY = 0x2;
    public static final int COMMAND_BUS_MASTER = 0x4;
    public static final int COMMAND_INTX_DISABLE = 0x400;
    public static final int STATUS_INTERRUPT = 0x8;
    public static final int STATUS_CAPABILITIES = 0x10;
    public static final int BAR_COUNT = 6;

    private final byte[] data = new byte[SIZE];
    private final byte[] writable = new byte[SIZE];
    private final byte[] writeOneToClear = new byte[SIZE];
    private final BarKind[] barKinds = new BarKind[BAR_COUNT];
    private final long[] barSizes = new long[BAR_COUNT];
    private byte[] powerOn;
    private int lastCapability;
    private int nextCapability = FIRST_CAPABILITY;

    /**
     * @param classCode class, subclass and programming interface, as 0xCCSSPP
     */
    public PciConfiguration(int vendor, int device, int classCode, int revision, int subsystemVendor, int subsystemId) {
        set16(VENDOR_ID, vendor);
        set16(DEVICE_ID, device);
        set8(REVISION, revision);
        set8(CLASS_PROG, classCode);
        set8(CLASS_PROG + 1, classCode >>> 8);
        set8(CLASS_PROG + 2, classCode >>> 16);
        set16(SUBSYSTEM_VENDOR_ID, subsystemVendor);
        set16(SUBSYSTEM_ID, subsystemId);
        setWritable(COMMAND, 2, COMMAND_IO | COMMAND_MEMORY | COMMAND_BUS_MASTER | 0x40 | 0x100 | COMMAND_INTX_DISABLE);
        // Status error bits: master/target aborts, parity, SERR; the guest clears them by writing 1.
        setWriteOneToClear(STATUS, 2, 0xf900);
        setWritable(CACHE_LINE, 1, 0xff);
        setWritable(LATENCY, 1, 0xff);
        setWritable(INTERRUPT_LINE, 1, 0xff);
    }

    /** Remembers the current bytes as the power-on state; the bus calls it when the function is placed. */
    public void markPowerOnState() {
        powerOn = data.clone();
    }

    /** Back to the power-on bytes: BARs unassigned, decoding off, capabilities as built. */
    public void restorePowerOnState() {
        if (powerOn != null) {
            System.arraycopy(powerOn, 0, data, 0, SIZE);
        }
    }

    // ---- device-side accessors (no masks) ----

    public int get8(int offset) {
        return data[offset] & 0xff;
    }

    public int get16(int offset) {
        return get8(offset) | (get8(offset + 1) << 8);
    }

    public int get32(int offset) {
        return get16(offset) | (get16(offset + 2) << 16);
    }

    public void set8(int offset, int value) {
        data[offset] = (byte) value;
    }

    public void set16(int offset, int value) {
        set8(offset, value);
        set8(offset + 1, value >>> 8);
    }

    public void set32(int offset, int value) {
        set16(offset, value);
        set16(offset + 2, value >>> 16);
    }

    /** Lets the guest change the bits of {@code mask} in [offset, offset+size). */
    public void setWritable(int offset, int size, long mask) {
        for (int i = 0; i < size; i++) {
            writable[offset + i] = (byte) (mask >>> (8 * i));
        }
    }

    public void setWriteOneToClear(int offset, int size, long mask) {
        for (int i = 0; i < size; i++) {
            writeOneToClear[offset + i] = (byte) (mask >>> (8 * i));
        }
    }

    public void setInterruptPin(int pin) {
        set8(INTERRUPT_PIN, pin);
    }

    public void setMultiFunction(boolean on) {
        set8(HEADER_TYPE, on ? 0x80 : 0);
    }

    // ---- guest-side accessors (masks apply) ----

    /** A guest read; offsets outside the space or misaligned accesses read as all ones. */
    public long read(int offset, int size) {
        if (offset < 0 || offset + size > SIZE) {
            return size >= 8 ? -1L : (1L << (8 * size)) - 1;
        }
        long v = 0;
        for (int i = 0; i < size; i++) {
            v |= (long) get8(offset + i) << (8 * i);
        }
        return v;
    }

    /** A guest write: only writable bits change, write-1-to-clear bits clear where the guest wrote 1. */
    public void write(int offset, int size, long value) {
        if (offset < 0 || offset + size > SIZE) {
            return;
        }
        for (int i = 0; i < size; i++) {
            int b = (int) (value >>> (8 * i)) & 0xff;
            int at = offset + i;
            int w = writable[at] & 0xff;
            int c = writeOneToClear[at] & 0xff;
            int old = data[at] & 0xff;
            data[at] = (byte) (((old & ~w) | (b & w)) & ~(b & c));
        }
    }

    // ---- BARs ----

    /** Declares BAR {@code index}; {@code size} is a power of two (16+ bytes for memory, 4+ for I/O). */
    public void addBar(int index, BarKind kind, long size, boolean prefetchable) {
        if (index < 0 || index >= BAR_COUNT || (kind == BarKind.MEMORY64 && index == BAR_COUNT - 1)) {
            throw new IllegalArgumentException("bad BAR index " + index);
        }
        if (Long.bitCount(size) != 1 || size < (kind == BarKind.IO ? 4 : 16) || (kind == BarKind.IO && size > 256)
                || (kind == BarKind.MEMORY32 && size > (1L << 31))) {
            throw new IllegalArgumentException("bad BAR size " + size + " for " + kind);
        }
        if (barKinds[index] != null || (index > 0 && barKinds[index - 1] == BarKind.MEMORY64)) {
            throw new IllegalArgumentException("BAR " + index + " already in use");
        }
        barKinds[index] = kind;
        barSizes[index] = size;
        int reg = BAR0 + 4 * index;
        long addressMask = ~(size - 1);
        switch (kind) {
            case IO -> {
                set32(reg, 0x1);
                setWritable(reg, 4, addressMask & 0xfffcL);
            }
            case MEMORY32 -> {
                set32(reg, prefetchable ? 0x8 : 0);
                setWritable(reg, 4, addressMask & 0xfffffff0L);
            }
            case MEMORY64 -> {
                set32(reg, 0x4 | (prefetchable ? 0x8 : 0));
                setWritable(reg, 4, addressMask & 0xfffffff0L);
                setWritable(reg + 4, 4, addressMask >>> 32);
            }
        }
    }

    public BarKind barKind(int index) {
        return barKinds[index];
    }

    public long barSize(int index) {
        return barSizes[index];
    }

    /** The address BAR {@code index} currently holds (the guest may be halfway through sizing it). */
    public long barAddress(int index) {
        int reg = BAR0 + 4 * index;
        return switch (barKinds[index]) {
            case IO -> get32(reg) & 0xfffcL;
            case MEMORY32 -> get32(reg) & 0xfffffff0L;
            case MEMORY64 -> (Integer.toUnsignedLong(get32(reg + 4)) << 32) | (get32(reg) & 0xfffffff0L);
        };
    }

    /** Sets a BAR's address as firmware would, before the guest runs. */
    public void setBarAddress(int index, long address) {
        int reg = BAR0 + 4 * index;
        int low = get32(reg) & (barKinds[index] == BarKind.IO ? 0x3 : 0xf);
        set32(reg, (int) (address & ~(barSizes[index] - 1)) | low);
        if (barKinds[index] == BarKind.MEMORY64) {
            set32(reg + 4, (int) (address >>> 32));
        }
    }

    /** True when the command register lets this BAR decode. */
    public boolean barDecodes(int index) {
        int command = get16(COMMAND);
        return barKinds[index] == BarKind.IO ? (command & COMMAND_IO) != 0 : (command & COMMAND_MEMORY) != 0;
    }

    /** True when [offset, offset+size) touches the BAR registers. */
    public static boolean touchesBars(int offset, int size) {
        return offset < BAR0 + 4 * BAR_COUNT && offset + size > BAR0;
    }

    public static boolean touchesCommand(int offset, int size) {
        return offset < COMMAND + 2 && offset + size > COMMAND;
    }

    // ---- capabilities ----

    /** Appends a capability of {@code length} bytes to the list; returns its offset. */
    public int addCapability(int id, int length) {
        int offset = nextCapability;
        if (length < 2 || offset + length > SIZE) {
            throw new IllegalArgumentException("no room for capability " + id);
        }
        nextCapability = (offset + length + 3) & ~3;
        set8(offset, id);
        set8(offset + 1, 0);
        if (lastCapability == 0) {
            set8(CAPABILITIES, offset);
            set16(STATUS, get16(STATUS) | STATUS_CAPABILITIES);
        } else {
            set8(lastCapability + 1, offset);
        }
        lastCapability = offset;
        return offset;
    }

    /** Reflects INTx state in the status register, as the PCI spec asks. */
    public void setInterruptStatus(boolean asserted) {
        int status = get16(STATUS);
        set16(STATUS, asserted ? status | STATUS_INTERRUPT : status & ~STATUS_INTERRUPT);
    }
}
