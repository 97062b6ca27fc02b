package dev.jkvm.devices.legacy.pci;

import dev.jkvm.vmm.device.BusDevice;
import dev.jkvm.vmm.pci.PciConfiguration;
import dev.jkvm.vmm.pci.PciFunction;

/**
 * The i440FX host bridge at 00:00.0, as QEMU's "pc" machine presents it. Guests only need its
 * identity; the PAM and SMRAM registers firmware programs are plain storage here, since jkvm maps
 * the BIOS area as RAM.
 */
public final class I440fxHostBridge implements PciFunction {
    public static final int VENDOR_INTEL = 0x8086;
    public static final int DEVICE_I440FX = 0x1237;
    /** QEMU's subsystem IDs for its chipset functions. */
    static final int SUBSYSTEM_VENDOR = 0x1af4;
    static final int SUBSYSTEM_ID = 0x1100;

    private final PciConfiguration config = new PciConfiguration(VENDOR_INTEL, DEVICE_I440FX, 0x060000, 0x02,
            SUBSYSTEM_VENDOR, SUBSYSTEM_ID);

    public I440fxHostBridge() {
        config.setWritable(0x59, 7, 0xffffffffffffffL);
        config.setWritable(0x72, 1, 0xff);
    }

    @Override
    public String name() {
        return "i440fx";
    }

    @Override
    public PciConfiguration configuration() {
        return config;
    }

    @Override
    public BusDevice bar(int index) {
        return null;
    }
}
