package dev.jkvm.devices.virtio;

import dev.jkvm.vmm.device.BusDevice;
import dev.jkvm.vmm.pci.PciFunction;

import java.util.HashMap;
import java.util.Map;

/**
 * What a guest's virtio-pci driver does, through configuration space and BAR accesses only: it
 * walks the capability list to find the structures (virtio 1.2, 4.1.4), then reads and writes
 * the common configuration, notifies and programs MSI-X.
 */
public final class VirtioPciDriver {
    public static final int ACKNOWLEDGE = 1;
    public static final int DRIVER = 2;
    public static final int DRIVER_OK = 4;
    public static final int FEATURES_OK = 8;
    public static final int NEEDS_RESET = 0x40;
    public static final int FAILED = 0x80;
    public static final int NO_VECTOR = 0xffff;

    // common configuration layout (struct virtio_pci_common_cfg)
    public static final int DEVICE_FEATURE_SELECT = 0x00;
    public static final int DEVICE_FEATURE = 0x04;
    public static final int DRIVER_FEATURE_SELECT = 0x08;
    public static final int DRIVER_FEATURE = 0x0c;
    public static final int CONFIG_MSIX_VECTOR = 0x10;
    public static final int NUM_QUEUES = 0x12;
    public static final int DEVICE_STATUS = 0x14;
    public static final int CONFIG_GENERATION = 0x15;
    public static final int QUEUE_SELECT = 0x16;
    public static final int QUEUE_SIZE = 0x18;
    public static final int QUEUE_MSIX_VECTOR = 0x1a;
    public static final int QUEUE_ENABLE = 0x1c;
    public static final int QUEUE_NOTIFY_OFF = 0x1e;
    public static final int QUEUE_DESC = 0x20;
    public static final int QUEUE_DRIVER = 0x28;
    public static final int QUEUE_DEVICE = 0x30;

    /** One virtio vendor capability as found in configuration space. */
    public record Cap(int at, int type, int bar, long offset, long length, int capLen) {
    }

    public final PciFunction fn;
    public final Map<Integer, Cap> caps = new HashMap<>();
    public final int capCount;
    public int notifyMultiplier;
    public int msixCap = -1;

    public VirtioPciDriver(PciFunction fn) {
        this.fn = fn;
        int count = 0;
        if ((cfg(0x06, 2) & 0x10) == 0) {
            throw new AssertionError("no capability list");
        }
        int p = (int) cfg(0x34, 1) & 0xfc;
        int guard = 0;
        while (p != 0) {
            if (++guard > 48) {
                throw new AssertionError("capability list loops");
            }
            int id = (int) cfg(p, 1);
            int next = (int) cfg(p + 1, 1);
            if (id == 0x09) {
                int type = (int) cfg(p + 3, 1);
                Cap c = new Cap(p, type, (int) cfg(p + 4, 1), cfg(p + 8, 4), cfg(p + 12, 4), (int) cfg(p + 2, 1));
                // the first capability of each type is the one a driver uses
                caps.putIfAbsent(type, c);
                if (type == 2) {
                    notifyMultiplier = (int) cfg(p + 16, 4);
                }
                count++;
            } else if (id == 0x11) {
                msixCap = p;
            }
            p = next & 0xfc;
        }
        capCount = count;
    }

    public long cfg(int offset, int size) {
        return fn.readConfig(offset, size);
    }

    public void setCfg(int offset, int size, long value) {
        fn.writeConfig(offset, size, value);
    }

    public Cap cap(int type) {
        Cap c = caps.get(type);
        if (c == null) {
            throw new AssertionError("no virtio capability of type " + type);
        }
        return c;
    }

    private BusDevice bar(Cap c) {
        return fn.bar(c.bar());
    }

    public long common(int offset, int size) {
        Cap c = cap(1);
        return bar(c).read(c.offset() + offset, size);
    }

    public void setCommon(int offset, int size, long value) {
        Cap c = cap(1);
        bar(c).write(c.offset() + offset, size, value);
    }

    public int status() {
        return (int) common(DEVICE_STATUS, 1);
    }

    public void setStatus(int value) {
        setCommon(DEVICE_STATUS, 1, value);
    }

    public long deviceFeatures() {
        setCommon(DEVICE_FEATURE_SELECT, 4, 0);
        long lo = common(DEVICE_FEATURE, 4);
        setCommon(DEVICE_FEATURE_SELECT, 4, 1);
        long hi = common(DEVICE_FEATURE, 4);
        return lo | hi << 32;
    }

    public void setDriverFeatures(long features) {
        setCommon(DRIVER_FEATURE_SELECT, 4, 0);
        setCommon(DRIVER_FEATURE, 4, features & 0xffffffffL);
        setCommon(DRIVER_FEATURE_SELECT, 4, 1);
        setCommon(DRIVER_FEATURE, 4, features >>> 32);
    }

    /** Reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK; true when the device kept FEATURES_OK. */
    public boolean negotiate(long features) {
        setStatus(0);
        setStatus(ACKNOWLEDGE);
        setStatus(ACKNOWLEDGE | DRIVER);
        setDriverFeatures(features);
        setStatus(ACKNOWLEDGE | DRIVER | FEATURES_OK);
        return (status() & FEATURES_OK) != 0;
    }

    public void selectQueue(int q) {
        setCommon(QUEUE_SELECT, 2, q);
    }

    /** Programs and enables queue {@code q} with the ring's layout, addresses as two 32-bit halves each. */
    public void setUpQueue(int q, DriverRing ring, int vector) {
        selectQueue(q);
        setCommon(QUEUE_SIZE, 2, ring.size);
        setCommon(QUEUE_MSIX_VECTOR, 2, vector);
        write64(QUEUE_DESC, ring.desc);
        write64(QUEUE_DRIVER, ring.avail);
        write64(QUEUE_DEVICE, ring.used);
        setCommon(QUEUE_ENABLE, 2, 1);
    }

    public void write64(int offset, long value) {
        setCommon(offset, 4, value & 0xffffffffL);
        setCommon(offset + 4, 4, value >>> 32);
    }

    public long read64(int offset) {
        return common(offset, 4) | common(offset + 4, 4) << 32;
    }

    public void driverOk() {
        setStatus(status() | DRIVER_OK);
    }

    /** Writes queue {@code q}'s index to its notification address, as Linux's vp_notify does. */
    public void notify(int q) {
        selectQueue(q);
        long off = common(QUEUE_NOTIFY_OFF, 2);
        Cap c = cap(2);
        bar(c).write(c.offset() + off * notifyMultiplier, 2, q);
    }

    public int isr() {
        Cap c = cap(3);
        return (int) bar(c).read(c.offset(), 1);
    }

    public long deviceConfig(int offset, int size) {
        Cap c = cap(4);
        return bar(c).read(c.offset() + offset, size);
    }

    // ---- MSI-X ----

    public int msixTableSize() {
        return (int) (cfg(msixCap + 2, 2) & 0x7ff) + 1;
    }

    public void enableMsix(boolean on) {
        long control = cfg(msixCap + 2, 2);
        setCfg(msixCap + 2, 2, on ? control | 0x8000 : control & ~0x8000L);
    }

    /** Programs table entry {@code v} with a message whose data is {@code data}, unmasked. */
    public void programVector(int v, int data) {
        long table = cfg(msixCap + 4, 4);
        BusDevice b = fn.bar((int) (table & 7));
        long at = (table & ~7L) + 16L * v;
        b.write(at, 4, 0xfee00000L);
        b.write(at + 4, 4, 0);
        b.write(at + 8, 4, data);
        b.write(at + 12, 4, 0);
    }
}
