package dev.jkvm.devices.legacy.platform;

import dev.jkvm.vmm.device.BusDevice;
import dev.jkvm.vmm.device.VmControl;

/**
 * The PIIX reset control register at port 0xCF9 (one byte inside the PCI configuration address
 * port, which {@code PciBus.setResetControl} routes here): bit 1 picks a hard (1) or soft (0)
 * reset, writing bit 2 performs it. jkvm resets the whole machine either way, as QEMU does.
 * ACPI's reset register is this port with value 0x06.
 */
public final class PiixResetControl implements BusDevice {
    public static final int PORT = 0xcf9;
    static final int HARD_RESET = 0x02;
    static final int DO_RESET = 0x04;

    private final VmControl vm;
    private int value;

    public PiixResetControl(VmControl vm) {
        this.vm = vm;
    }

    @Override
    public synchronized long read(long offset, int size) {
        return value;
    }

    @Override
    public void write(long offset, int size, long v) {
        int b = (int) v & 0xff;
        boolean reset;
        synchronized (this) {
            reset = (b & DO_RESET) != 0;
            // Only the reset type is kept; the reset bit itself is a strobe.
            value = b & HARD_RESET;
        }
        if (reset) {
            vm.reset(String.format("PIIX reset control 0xcf9 = 0x%02x (%s reset)", b, (b & HARD_RESET) != 0 ? "hard" : "soft"));
        }
    }

    /** After a machine reset the register reads 0. */
    public synchronized void reset() {
        value = 0;
    }
}
