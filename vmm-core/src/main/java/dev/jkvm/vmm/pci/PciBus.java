package dev.jkvm.vmm.pci;

import dev.jkvm.vmm.DeviceBus;
import dev.jkvm.vmm.device.BusDevice;
import dev.jkvm.vmm.device.InterruptLine;

import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;

/**
 * PCI bus 0 behind configuration mechanism #1 (ports 0xCF8 and 0xCFC): function lookup, BAR
 * placement on the PIO and MMIO buses as the guest programs BARs and the command register, and
 * INTx delivery through the chipset's PIRQ routing. Configuration cycles come from vCPU threads;
 * one lock orders them.
 */
public final class PciBus {
    public static final int CONFIG_ADDRESS_PORT = 0xcf8;
    public static final int CONFIG_DATA_PORT = 0xcfc;
    /** Where firmware-style BAR assignment puts I/O BARs and 32-bit memory BARs. */
    public static final long IO_WINDOW_START = 0xc000;
    public static final long IO_WINDOW_END = 0x10000;
    public static final long MMIO32_WINDOW_START = 0xc0000000L;
    public static final long MMIO32_WINDOW_END = 0xfec00000L;

    private final DeviceBus pio;
    private final DeviceBus mmio;
    private final IntFunction<InterruptLine> isaIrq;
    private final PciFunction[][] functions = new PciFunction[32][8];
    private final DeviceBus.Mapping[][][] barMappings = new DeviceBus.Mapping[32][8][PciConfiguration.BAR_COUNT];
    private final int[] assertedPerPirq = new int[4];
    private final int[] pirqIrq = {-1, -1, -1, -1};
    private final boolean[][] intxAsserted = new boolean[32][8];
    /**
     * INTx has its own lock: devices raise lines from their I/O threads while holding their own
     * locks, and config cycles call into devices while holding the bus lock; one shared lock
     * would let those two orders deadlock.
     */
    private final Object intxLock = new Object();
    private volatile PirqRouter pirqRouter = pirq -> -1;
    private BusDevice resetControl;
    private int configAddress;
    private long barConflicts;

    /** @param isaIrq the irqchip input for an ISA IRQ number (PIRQs are steered to those) */
    public PciBus(DeviceBus pio, DeviceBus mmio, IntFunction<InterruptLine> isaIrq) {
        this.pio = pio;
        this.mmio = mmio;
        this.isaIrq = isaIrq;
        pio.register(CONFIG_ADDRESS_PORT, 4, "pci-config-address", new BusDevice() {
            public long read(long offset, int size) {
                return readAddressPort(offset, size);
            }

            public void write(long offset, int size, long value) {
                writeAddressPort(offset, size, value);
            }
        });
        pio.register(CONFIG_DATA_PORT, 4, "pci-config-data", new BusDevice() {
            public long read(long offset, int size) {
                return readData((int) offset, size);
            }

            public void write(long offset, int size, long value) {
                writeData((int) offset, size, value);
            }
        });
    }

    /** The chipset that steers PIRQ A-D; it calls {@link #pirqRoutingChanged()} when the guest reprograms it. */
    public synchronized void setPirqRouter(PirqRouter router) {
        this.pirqRouter = router;
        pirqRoutingChanged();
    }

    /** Byte accesses to 0xCF9 are the PIIX reset control register, not the config address. */
    public synchronized void setResetControl(BusDevice handler) {
        this.resetControl = handler;
    }

    // ---- placement ----

    /** Places a function; the slot must be free (function 0 of a slot is what the guest probes first). */
    public synchronized void add(PciAddress address, PciFunction function) {
        if (functions[address.slot()][address.function()] != null) {
            throw new IllegalArgumentException("PCI address " + address + " is already taken by "
                    + functions[address.slot()][address.function()].name());
        }
        functions[address.slot()][address.function()] = function;
        function.configuration().markPowerOnState();
        int slot = address.slot();
        int fn = address.function();
        function.attached(address, level -> setIntx(function, slot, fn, level));
    }

    /** The lowest slot with nothing in it, or -1. */
    public synchronized int freeSlot() {
        for (int s = 0; s < 32; s++) {
            boolean free = true;
            for (int f = 0; f < 8; f++) {
                free &= functions[s][f] == null;
            }
            if (free) {
                return s;
            }
        }
        return -1;
    }

    public synchronized List<PciFunction> functions() {
        List<PciFunction> all = new ArrayList<>();
        for (PciFunction[] slot : functions) {
            for (PciFunction f : slot) {
                if (f != null) {
                    all.add(f);
                }
            }
        }
        return all;
    }

    /** BAR placements the bus refused because they overlapped something else. */
    public synchronized long barConflicts() {
        return barConflicts;
    }

    // ---- configuration mechanism #1 ----

    private synchronized long readAddressPort(long offset, int size) {
        if (offset == 0 && size == 4) {
            return Integer.toUnsignedLong(configAddress);
        }
        return resetControl != null && offset == 1 && size == 1 ? resetControl.read(0, 1) : ones(size);
    }

    private synchronized void writeAddressPort(long offset, int size, long value) {
        if (offset == 0 && size == 4) {
            configAddress = (int) value & 0x80fffffc;
        } else if (resetControl != null && offset == 1 && size == 1) {
            resetControl.write(0, 1, value);
        }
    }

    private PciFunction addressed() {
        if (configAddress >= 0 || ((configAddress >>> 16) & 0xff) != 0) {
            return null;
        }
        return functions[(configAddress >>> 11) & 0x1f][(configAddress >>> 8) & 7];
    }

    private synchronized long readData(int portOffset, int size) {
        PciFunction f = addressed();
        int offset = (configAddress & 0xfc) + portOffset;
        if (f == null || offset + size > PciConfiguration.SIZE) {
            return ones(size);
        }
        return f.readConfig(offset, size);
    }

    private synchronized void writeData(int portOffset, int size, long value) {
        PciFunction f = addressed();
        int offset = (configAddress & 0xfc) + portOffset;
        if (f == null || offset + size > PciConfiguration.SIZE) {
            return;
        }
        f.writeConfig(offset, size, value);
        if (PciConfiguration.touchesBars(offset, size) || PciConfiguration.touchesCommand(offset, size)) {
            updateBars((configAddress >>> 11) & 0x1f, (configAddress >>> 8) & 7);
        }
    }

    /** Config-space access by (slot, function), for firmware-style set-up and tests. */
    public synchronized long configRead(PciAddress a, int offset, int size) {
        PciFunction f = functions[a.slot()][a.function()];
        return f == null ? ones(size) : f.readConfig(offset, size);
    }

    public synchronized void configWrite(PciAddress a, int offset, int size, long value) {
        PciFunction f = functions[a.slot()][a.function()];
        if (f != null) {
            f.writeConfig(offset, size, value);
            updateBars(a.slot(), a.function());
        }
    }

    // ---- BARs ----

    /** Where BAR {@code index} should decode now, or -1: disabled, unassigned, or mid-sizing. */
    private static long effectiveAddress(PciConfiguration c, int index) {
        if (!c.barDecodes(index)) {
            return -1;
        }
        long base = c.barAddress(index);
        long last = base + c.barSize(index) - 1;
        long limit = switch (c.barKind(index)) {
            case IO -> 0xffff;
            case MEMORY32 -> 0xffffffffL;
            case MEMORY64 -> (1L << 52) - 1;
        };
        // Sizing writes all ones, which leaves the BAR at the very top: QEMU treats that as unmapped too.
        if (base == 0 || last >= limit || last < base) {
            return -1;
        }
        return base;
    }

    private void updateBars(int slot, int fn) {
        PciFunction f = functions[slot][fn];
        PciConfiguration c = f.configuration();
        for (int i = 0; i < PciConfiguration.BAR_COUNT; i++) {
            if (c.barKind(i) == null || f.bar(i) == null) {
                continue;
            }
            long want = effectiveAddress(c, i);
            DeviceBus.Mapping current = barMappings[slot][fn][i];
            if (current != null && current.base() == want) {
                continue;
            }
            DeviceBus bus = c.barKind(i) == BarKind.IO ? pio : mmio;
            if (current != null) {
                bus.unregister(current);
                barMappings[slot][fn][i] = null;
                f.barMoved(i, current.base(), false);
            }
            if (want >= 0) {
                try {
                    barMappings[slot][fn][i] = bus.register(want, c.barSize(i), f.name() + " BAR" + i, f.bar(i));
                    f.barMoved(i, want, true);
                } catch (DeviceBus.ConflictException e) {
                    // A guest may place a BAR on top of another device; that BAR then decodes nothing.
                    barConflicts++;
                }
            }
        }
    }

    /**
     * Firmware's job, done before the guest runs: gives every BAR an address (largest first, so each
     * is naturally aligned), enables I/O and memory decoding, and fills in the interrupt line.
     */
    public synchronized void assignResources() {
        record Bar(int slot, int fn, int index, long size, BarKind kind) {
        }
        List<Bar> bars = new ArrayList<>();
        for (int s = 0; s < 32; s++) {
            for (int fn = 0; fn < 8; fn++) {
                PciFunction f = functions[s][fn];
                if (f == null) {
                    continue;
                }
                for (int i = 0; i < PciConfiguration.BAR_COUNT; i++) {
                    if (f.configuration().barKind(i) != null) {
                        bars.add(new Bar(s, fn, i, f.configuration().barSize(i), f.configuration().barKind(i)));
                    }
                }
            }
        }
        bars.sort((a, b) -> Long.compare(b.size(), a.size()));
        long nextIo = IO_WINDOW_START;
        long nextMem = MMIO32_WINDOW_START;
        for (Bar b : bars) {
            PciConfiguration c = functions[b.slot()][b.fn()].configuration();
            if (b.kind() == BarKind.IO) {
                nextIo = align(nextIo, b.size());
                if (nextIo + b.size() > IO_WINDOW_END) {
                    throw new IllegalStateException("PCI I/O window full");
                }
                c.setBarAddress(b.index(), nextIo);
                nextIo += b.size();
            } else {
                nextMem = align(nextMem, b.size());
                if (nextMem + b.size() > MMIO32_WINDOW_END) {
                    throw new IllegalStateException("PCI memory window full");
                }
                c.setBarAddress(b.index(), nextMem);
                nextMem += b.size();
            }
        }
        for (int s = 0; s < 32; s++) {
            for (int fn = 0; fn < 8; fn++) {
                PciFunction f = functions[s][fn];
                if (f == null) {
                    continue;
                }
                PciConfiguration c = f.configuration();
                int pin = c.get8(PciConfiguration.INTERRUPT_PIN);
                if (pin >= 1 && pin <= 4) {
                    int irq = pirqRouter.irqForPirq(pirqFor(s, pin));
                    c.set8(PciConfiguration.INTERRUPT_LINE, irq < 0 ? 0xff : irq);
                }
                boolean hasBars = false;
                for (int i = 0; i < PciConfiguration.BAR_COUNT; i++) {
                    hasBars |= c.barKind(i) != null;
                }
                if (hasBars) {
                    c.set16(PciConfiguration.COMMAND, c.get16(PciConfiguration.COMMAND)
                            | PciConfiguration.COMMAND_IO | PciConfiguration.COMMAND_MEMORY);
                    updateBars(s, fn);
                }
            }
        }
    }

    private static long align(long v, long alignment) {
        return (v + alignment - 1) & ~(alignment - 1);
    }

    // ---- INTx ----

    /** The PIIX swizzle: INTA of slot 1 is PIRQA, of slot 2 PIRQB, and so on. */
    public static int pirqFor(int slot, int pin) {
        return (pin - 1 + slot - 1) & 3;
    }

    private void setIntx(PciFunction f, int slot, int fn, boolean level) {
        int pin = f.configuration().get8(PciConfiguration.INTERRUPT_PIN);
        synchronized (intxLock) {
            if (pin < 1 || pin > 4 || intxAsserted[slot][fn] == level) {
                return;
            }
            intxAsserted[slot][fn] = level;
            f.configuration().setInterruptStatus(level);
            int pirq = pirqFor(slot, pin);
            boolean before = assertedPerPirq[pirq] > 0;
            assertedPerPirq[pirq] += level ? 1 : -1;
            boolean after = assertedPerPirq[pirq] > 0;
            if (before != after && pirqIrq[pirq] >= 0) {
                isaIrq.apply(pirqIrq[pirq]).set(after);
            }
        }
    }

    /** Re-steers every PIRQ after the chipset's routing registers changed, moving asserted levels along. */
    public void pirqRoutingChanged() {
        synchronized (intxLock) {
            steerPirqs();
        }
    }

    private void steerPirqs() {
        for (int pirq = 0; pirq < 4; pirq++) {
            int irq = pirqRouter.irqForPirq(pirq);
            if (irq == pirqIrq[pirq]) {
                continue;
            }
            boolean asserted = assertedPerPirq[pirq] > 0;
            if (asserted && pirqIrq[pirq] >= 0) {
                isaIrq.apply(pirqIrq[pirq]).set(false);
            }
            pirqIrq[pirq] = irq;
            if (asserted && irq >= 0) {
                isaIrq.apply(irq).set(true);
            }
        }
    }

    /**
     * A machine reset: every function's configuration space back to its power-on bytes (so every
     * BAR is unmapped), then the function's own reset. Firmware-style set-up is the caller's, after.
     */
    public synchronized void reset() {
        for (int s = 0; s < 32; s++) {
            for (int fn = 0; fn < 8; fn++) {
                PciFunction f = functions[s][fn];
                if (f != null) {
                    f.configuration().restorePowerOnState();
                    updateBars(s, fn);
                    f.reset();
                }
            }
        }
    }

    public synchronized void close() {
        for (PciFunction f : functions()) {
            f.close();
        }
    }

    private static long ones(int size) {
        return size >= 8 ? -1L : (1L << (8 * size)) - 1;
    }
}
