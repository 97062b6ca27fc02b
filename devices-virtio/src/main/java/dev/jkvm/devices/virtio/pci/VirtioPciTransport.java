package dev.jkvm.devices.virtio.pci;

import dev.jkvm.devices.virtio.VirtioContext;
import dev.jkvm.devices.virtio.VirtioDevice;
import dev.jkvm.devices.virtio.VirtioFeatures;
import dev.jkvm.devices.virtio.queue.SplitVirtqueue;
import dev.jkvm.devices.virtio.queue.VirtqueueViolation;
import dev.jkvm.memory.GuestMemory;
import dev.jkvm.vmm.DeviceBus;
import dev.jkvm.vmm.device.BusDevice;
import dev.jkvm.vmm.device.EventFd;
import dev.jkvm.vmm.device.InterruptLine;
import dev.jkvm.vmm.device.IoEventController;
import dev.jkvm.vmm.device.MsiController;
import dev.jkvm.vmm.pci.BarKind;
import dev.jkvm.vmm.pci.MsixTable;
import dev.jkvm.vmm.pci.PciAddress;
import dev.jkvm.vmm.pci.PciConfiguration;
import dev.jkvm.vmm.pci.PciFunction;

import java.util.concurrent.atomic.AtomicIntegerArray;

/**
 * The virtio-pci modern transport (virtio 1.2, 4.1), device ID 0x1040 + type, revision 1, no
 * legacy interface. BAR 4 (64-bit, 16 KiB) holds the common configuration, ISR, device
 * configuration and notification regions; BAR 1 holds the MSI-X table and PBA.
 *
 * <p>Doorbells are KVM ioeventfds on the notify region, so a kick never leaves the kernel; a
 * write that reaches the BAR anyway (other widths, before the BAR is placed) signals the same
 * eventfd. The status register follows the spec's state machine: FEATURES_OK is refused for
 * features the device did not offer or without VERSION_1, and any rule the driver breaks puts the
 * device into DEVICE_NEEDS_RESET with a configuration interrupt.
 */
public final class VirtioPciTransport implements PciFunction, VirtioContext {
    public static final int VENDOR_REDHAT_QUMRANET = 0x1af4;
    public static final int DEVICE_ID_BASE = 0x1040;
    static final int NO_VECTOR = 0xffff;

    static final int STATUS_ACKNOWLEDGE = 1;
    static final int STATUS_DRIVER = 2;
    static final int STATUS_DRIVER_OK = 4;
    static final int STATUS_FEATURES_OK = 8;
    static final int STATUS_NEEDS_RESET = 0x40;
    static final int STATUS_FAILED = 0x80;

    static final int MSIX_BAR = 1;
    static final int REGIONS_BAR = 4;
    static final long REGIONS_BAR_SIZE = 0x4000;
    static final long COMMON_OFFSET = 0x0000;
    static final long ISR_OFFSET = 0x1000;
    static final long DEVICE_OFFSET = 0x2000;
    static final long NOTIFY_OFFSET = 0x3000;
    static final int NOTIFY_MULTIPLIER = 4;
    static final int COMMON_SIZE = 0x40;

    static final int CAP_COMMON = 1;
    static final int CAP_NOTIFY = 2;
    static final int CAP_ISR = 3;
    static final int CAP_DEVICE = 4;
    static final int CAP_PCI_CFG = 5;

    private final VirtioDevice device;
    private final GuestMemory memory;
    private final IoEventController ioEvents;
    private final PciConfiguration config;
    private final MsixTable msix;
    private final SplitVirtqueue[] queues;
    private final EventFd[] doorbells;
    private final IoEventController.Registration[] doorbellRegistrations;
    private final AtomicIntegerArray queueVector;
    private final int[] queueSize;
    private final long[] queueDesc;
    private final long[] queueDriver;
    private final long[] queueDevice;
    private final long offeredFeatures;
    private final int pciCfgCap;
    private final DeviceBus regions = new DeviceBus("virtio-regions");
    private final BusDevice regionsBar;
    private final DeviceBus msixRegions = new DeviceBus("virtio-msix");
    private final BusDevice msixBar;
    private InterruptLine intx = level -> { };
    private int deviceFeatureSelect;
    private int driverFeatureSelect;
    private long driverFeatures;
    private volatile long negotiated;
    private int queueSelect;
    private volatile int configVector = NO_VECTOR;
    private boolean active;
    /**
     * Guards what device threads touch (status, ISR, generation, failure). Register accesses hold
     * this object's monitor and may call into the device, whose reset() waits for its threads, so
     * device threads must never need that monitor: they take only this leaf lock.
     */
    private final Object stateLock = new Object();
    private volatile int status;
    private int configGeneration;
    private int isr;
    private String failure;
    private long failures;

    public VirtioPciTransport(VirtioDevice device, GuestMemory memory, MsiController msi, IoEventController ioEvents) {
        this.device = device;
        this.memory = memory;
        this.ioEvents = ioEvents;
        int n = device.queueCount();
        this.queues = new SplitVirtqueue[n];
        this.doorbells = new EventFd[n];
        this.doorbellRegistrations = new IoEventController.Registration[n];
        this.queueVector = new AtomicIntegerArray(n);
        this.queueSize = new int[n];
        this.queueDesc = new long[n];
        this.queueDriver = new long[n];
        this.queueDevice = new long[n];
        for (int q = 0; q < n; q++) {
            queues[q] = new SplitVirtqueue(memory, device.queueMaxSize());
            doorbells[q] = new EventFd();
        }
        this.offeredFeatures = device.deviceFeatures() | VirtioFeatures.bit(VirtioFeatures.VERSION_1)
                | VirtioFeatures.bit(VirtioFeatures.RING_EVENT_IDX) | VirtioFeatures.bit(VirtioFeatures.RING_INDIRECT_DESC);
        resetRegisters();

        config = new PciConfiguration(VENDOR_REDHAT_QUMRANET, DEVICE_ID_BASE + device.deviceId(), device.pciClass(), 1,
                VENDOR_REDHAT_QUMRANET, 0x1100);
        config.setInterruptPin(1);
        config.addBar(MSIX_BAR, BarKind.MEMORY32, 0x1000, false);
        config.addBar(REGIONS_BAR, BarKind.MEMORY64, REGIONS_BAR_SIZE, true);
        addVirtioCap(CAP_COMMON, COMMON_OFFSET, COMMON_SIZE, 16);
        addVirtioCap(CAP_ISR, ISR_OFFSET, 1, 16);
        if (device.configSize() > 0) {
            addVirtioCap(CAP_DEVICE, DEVICE_OFFSET, device.configSize(), 16);
        }
        int notify = addVirtioCap(CAP_NOTIFY, NOTIFY_OFFSET, (long) NOTIFY_MULTIPLIER * n, 20);
        config.set32(notify + 16, NOTIFY_MULTIPLIER);
        pciCfgCap = addVirtioCap(CAP_PCI_CFG, 0, 0, 20);
        // The PCI configuration access capability: the driver picks bar, offset and length.
        config.setWritable(pciCfgCap + 4, 1, 0xff);
        config.setWritable(pciCfgCap + 8, 8, -1L);
        config.setWritable(pciCfgCap + 16, 4, 0xffffffffL);
        int vectors = Math.min(n + 1, 64);
        msix = new MsixTable(config, msi, device.name(), vectors, MSIX_BAR, 0, MSIX_BAR, 0x800);

        regions.register(COMMON_OFFSET, COMMON_SIZE, "common", region(this::readCommon, this::writeCommon));
        regions.register(ISR_OFFSET, 1, "isr", region((o, s) -> readIsr(), (o, s, v) -> { }));
        if (device.configSize() > 0) {
            regions.register(DEVICE_OFFSET, device.configSize(), "device",
                    region((o, s) -> device.readConfig((int) o, s), (o, s, v) -> device.writeConfig((int) o, s, v)));
        }
        regions.register(NOTIFY_OFFSET, (long) NOTIFY_MULTIPLIER * n, "notify", region((o, s) -> 0, (o, s, v) -> doorbells[(int) (o / NOTIFY_MULTIPLIER)].signal()));
        regionsBar = asDevice(regions);
        msixRegions.register(0, msix.tableBytes(), "msix-table", msix.tableRegion());
        msixRegions.register(0x800, msix.pbaBytes(), "msix-pba", msix.pbaRegion());
        msixBar = asDevice(msixRegions);
    }

    private interface Reader {
        long read(long offset, int size);
    }

    private interface Writer {
        void write(long offset, int size, long value);
    }

    private static BusDevice region(Reader r, Writer w) {
        return new BusDevice() {
            public long read(long offset, int size) {
                return r.read(offset, size);
            }

            public void write(long offset, int size, long value) {
                w.write(offset, size, value);
            }
        };
    }

    private static BusDevice asDevice(DeviceBus bus) {
        return new BusDevice() {
            public long read(long offset, int size) {
                return bus.read(offset, size);
            }

            public void write(long offset, int size, long value) {
                bus.write(offset, size, value);
            }
        };
    }

    private int addVirtioCap(int type, long offset, long length, int capLength) {
        int at = config.addCapability(0x09, capLength);
        config.set8(at + 2, capLength);
        config.set8(at + 3, type);
        config.set8(at + 4, type == CAP_PCI_CFG ? 0 : REGIONS_BAR);
        config.set32(at + 8, (int) offset);
        config.set32(at + 12, (int) length);
        return at;
    }

    // ---- PciFunction ----

    @Override
    public String name() {
        return device.name();
    }

    @Override
    public PciConfiguration configuration() {
        return config;
    }

    @Override
    public BusDevice bar(int index) {
        return index == REGIONS_BAR ? regionsBar : index == MSIX_BAR ? msixBar : null;
    }

    @Override
    public synchronized long readConfig(int offset, int size) {
        if (offset >= pciCfgCap + 16 && offset + size <= pciCfgCap + 20) {
            return pciCfgAccess(offset - pciCfgCap - 16, size, false, 0);
        }
        return config.read(offset, size);
    }

    @Override
    public synchronized void writeConfig(int offset, int size, long value) {
        if (offset >= pciCfgCap + 16 && offset + size <= pciCfgCap + 20) {
            pciCfgAccess(offset - pciCfgCap - 16, size, true, value);
            return;
        }
        config.write(offset, size, value);
        msix.configChanged();
    }

    /** VIRTIO_PCI_CAP_PCI_CFG: a window onto the BAR regions through configuration space. */
    private long pciCfgAccess(int byteInWindow, int size, boolean write, long value) {
        int bar = config.get8(pciCfgCap + 4);
        long off = Integer.toUnsignedLong(config.get32(pciCfgCap + 8)) + byteInWindow;
        int length = config.get32(pciCfgCap + 12);
        if (bar != REGIONS_BAR || (length != 1 && length != 2 && length != 4) || size > length) {
            return write ? 0 : (1L << (8 * size)) - 1;
        }
        if (write) {
            regions.write(off, size, value);
            return 0;
        }
        return regions.read(off, size);
    }

    @Override
    public void attached(PciAddress address, InterruptLine line) {
        this.intx = line;
    }

    @Override
    public synchronized void barMoved(int index, long address, boolean mapped) {
        if (index != REGIONS_BAR) {
            return;
        }
        for (int q = 0; q < queues.length; q++) {
            if (doorbellRegistrations[q] != null) {
                doorbellRegistrations[q].close();
                doorbellRegistrations[q] = null;
            }
            if (mapped) {
                try {
                    doorbellRegistrations[q] = ioEvents.register(address + NOTIFY_OFFSET + (long) q * NOTIFY_MULTIPLIER, 2, false, null, doorbells[q]);
                } catch (RuntimeException e) {
                    // Without an ioeventfd the doorbell still works, through an MMIO exit to the notify region.
                    doorbellRegistrations[q] = null;
                }
            }
        }
    }

    // ---- common configuration ----

    private void resetRegisters() {
        deviceFeatureSelect = 0;
        driverFeatureSelect = 0;
        driverFeatures = 0;
        negotiated = 0;
        queueSelect = 0;
        configVector = NO_VECTOR;
        synchronized (stateLock) {
            status = 0;
            isr = 0;
            failure = null;
        }
        for (int q = 0; q < queues.length; q++) {
            queueVector.set(q, NO_VECTOR);
            queueSize[q] = device.queueMaxSize();
            queueDesc[q] = 0;
            queueDriver[q] = 0;
            queueDevice[q] = 0;
        }
    }

    private boolean selectedValid() {
        return queueSelect < queues.length;
    }

    private int checkVector(int v) {
        return v == NO_VECTOR || v < msix.size() ? v : NO_VECTOR;
    }

    private synchronized long readCommon(long offset, int size) {
        int q = queueSelect;
        long value = switch ((int) offset) {
            case 0x00 -> Integer.toUnsignedLong(deviceFeatureSelect);
            case 0x04 -> Integer.compareUnsigned(deviceFeatureSelect, 2) < 0 ? (offeredFeatures >>> (32 * deviceFeatureSelect)) & 0xffffffffL : 0;
            case 0x08 -> Integer.toUnsignedLong(driverFeatureSelect);
            case 0x0c -> Integer.compareUnsigned(driverFeatureSelect, 2) < 0 ? (driverFeatures >>> (32 * driverFeatureSelect)) & 0xffffffffL : 0;
            case 0x10 -> configVector;
            case 0x12 -> queues.length;
            case 0x14 -> status;
            case 0x15 -> generation();
            case 0x16 -> queueSelect;
            case 0x18 -> selectedValid() ? queueSize[q] : 0;
            case 0x1a -> selectedValid() ? queueVector.get(q) : NO_VECTOR;
            case 0x1c -> selectedValid() && queues[q].isEnabled() ? 1 : 0;
            case 0x1e -> selectedValid() ? q : 0;
            case 0x20 -> selectedValid() ? queueDesc[q] : 0;
            case 0x24 -> selectedValid() ? queueDesc[q] >>> 32 : 0;
            case 0x28 -> selectedValid() ? queueDriver[q] : 0;
            case 0x2c -> selectedValid() ? queueDriver[q] >>> 32 : 0;
            case 0x30 -> selectedValid() ? queueDevice[q] : 0;
            case 0x34 -> selectedValid() ? queueDevice[q] >>> 32 : 0;
            case 0x38 -> selectedValid() ? q : 0;
            default -> 0;
        };
        return size >= 8 ? value : value & ((1L << (8 * size)) - 1);
    }

    private synchronized void writeCommon(long offset, int size, long value) {
        int q = queueSelect;
        boolean queueFieldWritable = selectedValid() && !queues[q].isEnabled() && (status & STATUS_DRIVER_OK) == 0;
        switch ((int) offset) {
            case 0x00 -> deviceFeatureSelect = (int) value;
            case 0x08 -> driverFeatureSelect = (int) value;
            case 0x0c -> {
                if (Integer.compareUnsigned(driverFeatureSelect, 2) < 0 && (status & STATUS_FEATURES_OK) == 0) {
                    int shift = 32 * driverFeatureSelect;
                    driverFeatures = (driverFeatures & ~(0xffffffffL << shift)) | ((value & 0xffffffffL) << shift);
                }
            }
            case 0x10 -> configVector = checkVector((int) value & 0xffff);
            case 0x14 -> writeStatus((int) value & 0xff);
            case 0x16 -> queueSelect = (int) value & 0xffff;
            case 0x18 -> {
                if (queueFieldWritable) {
                    queueSize[q] = (int) value & 0xffff;
                }
            }
            case 0x1a -> {
                if (selectedValid()) {
                    queueVector.set(q, checkVector((int) value & 0xffff));
                }
            }
            case 0x1c -> {
                if (selectedValid() && (value & 0xffff) == 1 && !queues[q].isEnabled()) {
                    enableQueue(q);
                }
            }
            case 0x20 -> queueDesc[q] = queueFieldWritable ? setLow(queueDesc[q], value, size) : queueDesc[q];
            case 0x24 -> queueDesc[q] = queueFieldWritable ? setHigh(queueDesc[q], value) : queueDesc[q];
            case 0x28 -> queueDriver[q] = queueFieldWritable ? setLow(queueDriver[q], value, size) : queueDriver[q];
            case 0x2c -> queueDriver[q] = queueFieldWritable ? setHigh(queueDriver[q], value) : queueDriver[q];
            case 0x30 -> queueDevice[q] = queueFieldWritable ? setLow(queueDevice[q], value, size) : queueDevice[q];
            case 0x34 -> queueDevice[q] = queueFieldWritable ? setHigh(queueDevice[q], value) : queueDevice[q];
            default -> {
                // read-only or reserved
            }
        }
    }

    private static long setLow(long old, long value, int size) {
        return size == 8 ? value : (old & ~0xffffffffL) | (value & 0xffffffffL);
    }

    private static long setHigh(long old, long value) {
        return (old & 0xffffffffL) | (value << 32);
    }

    private void enableQueue(int q) {
        try {
            queues[q].enable(queueSize[q], queueDesc[q], queueDriver[q], queueDevice[q],
                    VirtioFeatures.has(negotiated, VirtioFeatures.RING_EVENT_IDX));
        } catch (VirtqueueViolation v) {
            fail("queue " + q + ": " + v.getMessage());
        }
    }

    private int generation() {
        synchronized (stateLock) {
            return configGeneration & 0xff;
        }
    }

    private void writeStatus(int value) {
        if (value == 0) {
            resetDevice();
            return;
        }
        int old = status;
        int next = value | (old & STATUS_NEEDS_RESET);
        if ((next & STATUS_FEATURES_OK) != 0 && (old & STATUS_FEATURES_OK) == 0) {
            long wanted = driverFeatures;
            boolean ok = VirtioFeatures.has(wanted, VirtioFeatures.VERSION_1)
                    && (wanted & ~offeredFeatures) == 0
                    && device.acceptFeatures(wanted);
            if (ok) {
                negotiated = wanted;
            } else {
                next &= ~STATUS_FEATURES_OK;
            }
        }
        synchronized (stateLock) {
            // a device thread may have flagged NEEDS_RESET meanwhile; keep it
            next |= status & STATUS_NEEDS_RESET;
            status = next;
        }
        if ((next & STATUS_DRIVER_OK) != 0 && (old & STATUS_DRIVER_OK) == 0 && !active && (next & STATUS_NEEDS_RESET) == 0) {
            if ((next & STATUS_FEATURES_OK) == 0) {
                fail("DRIVER_OK without FEATURES_OK");
                return;
            }
            active = true;
            device.activate(this);
        }
    }

    /** A machine reset: as if the driver wrote 0 to device_status, and the MSI-X table cleared. */
    @Override
    public synchronized void reset() {
        resetDevice();
        msix.reset();
    }

    private void resetDevice() {
        if (active) {
            active = false;
            device.reset();
        }
        for (SplitVirtqueue queue : queues) {
            queue.reset();
        }
        resetRegisters();
        intx.set(false);
    }

    // ---- ISR and interrupts ----

    private long readIsr() {
        long value;
        synchronized (stateLock) {
            value = isr;
            isr = 0;
        }
        intx.set(false);
        return value;
    }

    private void raise(int vector, int isrBit) {
        if (msix.notify(vector)) {
            return;
        }
        synchronized (stateLock) {
            isr |= isrBit;
        }
        intx.set(true);
    }

    // ---- VirtioContext ----

    @Override
    public GuestMemory memory() {
        return memory;
    }

    @Override
    public long features() {
        return negotiated;
    }

    @Override
    public SplitVirtqueue queue(int index) {
        return queues[index];
    }

    @Override
    public EventFd doorbell(int index) {
        return doorbells[index];
    }

    @Override
    public void notifyQueue(int index) {
        if (queues[index].needsInterrupt()) {
            raise(queueVector.get(index), 1);
        }
    }

    @Override
    public void configChanged() {
        synchronized (stateLock) {
            configGeneration++;
        }
        raise(configVector, 2);
    }

    /**
     * The driver broke a rule: DEVICE_NEEDS_RESET and a configuration interrupt. The reason is
     * reported on stderr once, when the device enters that state (as QEMU's virtio_error names
     * it); further failures until the driver resets the device are only counted.
     */
    @Override
    public void fail(String reason) {
        synchronized (stateLock) {
            failures++;
            failure = reason;
            if ((status & STATUS_NEEDS_RESET) != 0) {
                return;
            }
            status |= STATUS_NEEDS_RESET;
        }
        raise(configVector, 2);
        System.err.println("jkvm: " + reason + "; the device needs a reset");
    }

    /** How many times the driver broke a rule, and the last reason; for tests and diagnostics. */
    public long failureCount() {
        synchronized (stateLock) {
            return failures;
        }
    }

    public String lastFailure() {
        synchronized (stateLock) {
            return failure;
        }
    }

    public VirtioDevice device() {
        return device;
    }

    @Override
    public synchronized void close() {
        if (active) {
            active = false;
            device.reset();
        }
        device.close();
        for (int q = 0; q < queues.length; q++) {
            if (doorbellRegistrations[q] != null) {
                doorbellRegistrations[q].close();
            }
            doorbells[q].close();
        }
        msix.close();
    }
}
