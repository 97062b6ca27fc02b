package dev.jkvm.devices.legacy.ide;

import dev.jkvm.vmm.device.BusDevice;
import dev.jkvm.vmm.device.InterruptLine;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * One IDE channel (cable): the command block (eight ports at 0x1F0 or 0x170), the control block
 * (device control / alternate status at 0x3F6 or 0x376), two device positions, the data port's
 * PIO phase, the interrupt line, and the hand-off of DMA commands to the channel's bus master.
 *
 * <p>Register writes reach both positions, as on a real cable; reads come from the selected one.
 * Where no device is attached the registers read as QEMU's do, which is what Linux's probe
 * expects: everything 00h on a channel with no device; on a channel whose other device exists,
 * status and error 00h and the rest the values last written. Commands to an absent device are
 * ignored. INTRQ is the selected device's pending interrupt unless nIEN is set; reading the status
 * register (not the alternate status) acknowledges it.
 *
 * <p>All methods run under the controller's lock (the {@code lock} passed in).
 */
final class IdeChannel {
    private static final ValueLayout.OfShort LE_SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt LE_INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** The PIO and ATAPI data buffer: 256 sectors, the longest LBA28 PIO command, and any ATAPI DRQ block. */
    static final int BUFFER_BYTES = 256 * Ata.SECTOR;

    final int index;
    private final Object lock;
    private final InterruptLine irq;
    private final BusMaster.Channel busMaster;
    private final MemorySegment buffer;
    private final TaskFile[] regs = {new TaskFile(), new TaskFile()};
    private final IdeDevice[] devices = new IdeDevice[2];
    private final boolean[] pending = new boolean[2];
    private int unit;
    private int control;
    private boolean line;

    // The PIO data phase: [pioPos, pioEnd) of the buffer, towards the guest (read) or from it.
    private boolean pioActive;
    private boolean pioToGuest;
    private int pioPos;
    private int pioEnd;
    private Runnable pioDone;

    /** A DMA command waiting for the bus master to be started. */
    private DmaRequest dma;
    private int dmaUnit;

    IdeChannel(int index, Object lock, InterruptLine irq, BusMaster.Channel busMaster, MemorySegment buffer) {
        this.index = index;
        this.lock = lock;
        this.irq = irq;
        this.busMaster = busMaster;
        this.buffer = buffer;
        for (TaskFile r : regs) {
            r.reset(IdeDevice.Kind.NONE);
        }
    }

    TaskFile regs(int position) {
        return regs[position];
    }

    IdeDevice device(int position) {
        return devices[position];
    }

    MemorySegment buffer() {
        return buffer;
    }

    /** Attaches a device (before the guest runs) and gives it its power-on state. */
    void attach(IdeDevice device) {
        if (devices[device.unit] != null) {
            throw new IllegalArgumentException("IDE channel " + index + " unit " + device.unit + " is already in use");
        }
        devices[device.unit] = device;
        device.reset();
    }

    private boolean empty() {
        return devices[0] == null && devices[1] == null;
    }

    // ---- the command block ----

    final BusDevice commandBlock = new BusDevice() {
        @Override
        public long read(long offset, int size) {
            synchronized (lock) {
                return readCommandBlock((int) offset, size);
            }
        }

        @Override
        public void write(long offset, int size, long value) {
            synchronized (lock) {
                writeCommandBlock((int) offset, size, value);
            }
        }
    };

    final BusDevice controlBlock = new BusDevice() {
        @Override
        public long read(long offset, int size) {
            synchronized (lock) {
                return size == 1 ? statusOf(unit) : ones(size);
            }
        }

        @Override
        public void write(long offset, int size, long value) {
            synchronized (lock) {
                if (size == 1) {
                    writeControl((int) value & 0xff);
                }
            }
        }
    };

    private long readCommandBlock(int offset, int size) {
        if (offset == Ata.REG_DATA && (size == 2 || size == 4)) {
            return readData(size);
        }
        if (size != 1) {
            return ones(size);
        }
        boolean hob = (control & Ata.CONTROL_HOB) != 0;
        IdeDevice d = devices[unit];
        return switch (offset) {
            case Ata.REG_DATA -> 0xff;
            case Ata.REG_ERROR_FEATURES -> d == null ? 0 : regs[unit].read(offset, hob);
            case Ata.REG_COUNT, Ata.REG_LBA_LOW, Ata.REG_LBA_MID, Ata.REG_LBA_HIGH -> empty() ? 0 : regs[unit].read(offset, hob);
            case Ata.REG_DEVICE -> empty() ? 0 : regs[unit].device;
            default -> {
                int status = statusOf(unit);
                pending[unit] = false;
                updateLine();
                yield status;
            }
        };
    }

    private int statusOf(int position) {
        return devices[position] == null ? 0 : regs[position].status;
    }

    private void writeCommandBlock(int offset, int size, long value) {
        if (offset == Ata.REG_DATA) {
            if (size == 2 || size == 4) {
                writeData(size, value);
            }
            return;
        }
        if (size != 1) {
            return;
        }
        int v = (int) value & 0xff;
        if (offset == Ata.REG_STATUS_COMMAND) {
            control &= ~Ata.CONTROL_HOB;
            command(v);
            return;
        }
        // Writes while the selected device is busy or moving data are lost, as on a drive.
        if ((statusOf(unit) & (Ata.BSY | Ata.DRQ)) != 0) {
            return;
        }
        control &= ~Ata.CONTROL_HOB;
        if (offset == Ata.REG_DEVICE) {
            regs[0].device = v | Ata.DEVICE_OBSOLETE;
            regs[1].device = v | Ata.DEVICE_OBSOLETE;
            unit = (v & Ata.DEVICE_DEV) != 0 ? 1 : 0;
            updateLine();
        } else {
            regs[0].write(offset, v);
            regs[1].write(offset, v);
        }
    }

    private void command(int command) {
        IdeDevice d = devices[unit];
        if (d == null) {
            return;
        }
        TaskFile r = regs[unit];
        if ((r.status & (Ata.BSY | Ata.DRQ)) != 0) {
            // Only DEVICE RESET gets through to a busy PACKET device; anything else is lost.
            if (command != Ata.DEVICE_RESET || d.kind() != IdeDevice.Kind.ATAPI) {
                return;
            }
        }
        pending[unit] = false;
        updateLine();
        if (command == Ata.EXECUTE_DEVICE_DIAGNOSTIC) {
            diagnostic();
            return;
        }
        d.execute(command);
    }

    /** EXECUTE DEVICE DIAGNOSTIC runs on both devices whichever is selected; an ATA device then interrupts. */
    private void diagnostic() {
        cancelDma();
        stopPio();
        for (int u = 0; u < 2; u++) {
            if (devices[u] != null) {
                devices[u].diagnostic();
            } else {
                regs[u].signature(IdeDevice.Kind.NONE);
            }
        }
        IdeDevice d = devices[unit];
        if (d.kind() == IdeDevice.Kind.ATA) {
            interrupt(unit);
        }
    }

    // ---- device control and reset ----

    private void writeControl(int v) {
        boolean was = (control & Ata.CONTROL_SRST) != 0;
        boolean now = (v & Ata.CONTROL_SRST) != 0;
        control = v & (Ata.CONTROL_NIEN | Ata.CONTROL_SRST | Ata.CONTROL_HOB);
        if (!was && now) {
            // Reset asserted: commands end, both devices are busy until SRST is cleared.
            cancelDma();
            stopPio();
            for (int u = 0; u < 2; u++) {
                pending[u] = false;
                if (devices[u] != null) {
                    devices[u].cancel();
                    regs[u].status = Ata.BSY;
                }
            }
        } else if (was && !now) {
            resetDevices();
        }
        updateLine();
    }

    private void resetDevices() {
        unit = 0;
        for (int u = 0; u < 2; u++) {
            pending[u] = false;
            if (devices[u] != null) {
                devices[u].reset();
            } else {
                regs[u].reset(IdeDevice.Kind.NONE);
            }
        }
    }

    /** Power-on / PCI reset of the channel: devices reset, device control cleared. */
    void hardReset() {
        cancelDma();
        stopPio();
        control = 0;
        resetDevices();
        updateLine();
    }

    // ---- interrupts ----

    /** The device at {@code position} asserts INTRQ (seen on the line while it is selected and nIEN is clear). */
    void interrupt(int position) {
        pending[position] = true;
        updateLine();
    }

    private void updateLine() {
        boolean level = (control & Ata.CONTROL_NIEN) == 0 && devices[unit] != null && pending[unit];
        if (level != line) {
            line = level;
            if (level) {
                busMaster.deviceInterrupted();
            }
            irq.set(level);
        }
    }

    boolean lineLevel() {
        return line;
    }

    // ---- PIO data phase ----

    /**
     * Offers [offset, offset+length) of the buffer to the guest ({@code toGuest}) or lets the guest
     * fill it; {@code done} runs when the last byte has moved. The device sets DRQ itself.
     */
    void pio(int offset, int length, boolean toGuest, Runnable done) {
        if (offset < 0 || length <= 0 || offset + length > buffer.byteSize()) {
            throw new IllegalArgumentException("PIO window " + offset + "+" + length);
        }
        pioActive = true;
        pioToGuest = toGuest;
        pioPos = offset;
        pioEnd = offset + length;
        pioDone = done;
    }

    void stopPio() {
        pioActive = false;
        pioDone = null;
    }

    private boolean pioReady(boolean toGuest) {
        return pioActive && pioToGuest == toGuest && (regs[unit].status & Ata.DRQ) != 0;
    }

    /** 16- or 32-bit data port read; reads outside a data-in phase return 0, as QEMU's do. */
    private long readData(int size) {
        if (!pioReady(true)) {
            return 0;
        }
        long v;
        if (pioEnd - pioPos >= size) {
            v = size == 2 ? Short.toUnsignedLong(buffer.get(LE_SHORT, pioPos)) : Integer.toUnsignedLong(buffer.get(LE_INT, pioPos));
        } else {
            v = 0;
            for (int i = 0; i < pioEnd - pioPos; i++) {
                v |= (long) (buffer.get(ValueLayout.JAVA_BYTE, pioPos + i) & 0xff) << (8 * i);
            }
        }
        advance(size);
        return v;
    }

    private void writeData(int size, long value) {
        if (!pioReady(false)) {
            return;
        }
        int n = Math.min(size, pioEnd - pioPos);
        for (int i = 0; i < n; i++) {
            buffer.set(ValueLayout.JAVA_BYTE, pioPos + i, (byte) (value >>> (8 * i)));
        }
        advance(size);
    }

    private void advance(int size) {
        pioPos += size;
        if (pioPos >= pioEnd) {
            Runnable done = pioDone;
            pioActive = false;
            pioDone = null;
            regs[unit].status &= ~Ata.DRQ;
            if (done != null) {
                done.run();
            }
        }
    }

    // ---- DMA ----

    /** A device command wants the bus master: runs now if the guest already started it, else when it does. */
    void requestDma(int position, DmaRequest request) {
        dma = request;
        dmaUnit = position;
        if (busMaster.active()) {
            runDma();
        }
    }

    /** The guest started the bus master. */
    void busMasterStarted() {
        if (dma != null) {
            runDma();
        }
    }

    private void runDma() {
        DmaRequest r = dma;
        dma = null;
        busMaster.run(r);
    }

    private void cancelDma() {
        dma = null;
    }

    boolean dmaPending() {
        return dma != null;
    }

    int dmaUnit() {
        return dmaUnit;
    }

    int selected() {
        return unit;
    }

    int control() {
        return control;
    }

    void close() {
        for (IdeDevice d : devices) {
            if (d != null) {
                d.close();
            }
        }
    }

    private static long ones(int size) {
        return size >= 8 ? -1L : (1L << (8 * size)) - 1;
    }
}
