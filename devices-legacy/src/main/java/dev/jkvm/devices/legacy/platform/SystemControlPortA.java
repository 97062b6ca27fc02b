package dev.jkvm.devices.legacy.platform;

import dev.jkvm.vmm.device.BusDevice;
import dev.jkvm.vmm.device.VmControl;

/**
 * System control port A (port 0x92, the "fast A20 and reset" port of PS/2 machines): bit 1 is the
 * A20 gate, and a 0-to-1 change of bit 0 resets the machine. The guest runs with A20 always on
 * (jkvm enters long mode), so bit 1 is storage; it reads back as written and starts at 1 (A20
 * enabled), as firmware leaves it.
 */
public final class SystemControlPortA implements BusDevice {
    public static final int PORT = 0x92;
    static final int FAST_RESET = 0x01;
    static final int A20 = 0x02;

    private final VmControl vm;
    private int value = A20;

    public SystemControlPortA(VmControl vm) {
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
            reset = (b & FAST_RESET) != 0 && (value & FAST_RESET) == 0;
            value = b;
        }
        if (reset) {
            vm.reset(String.format("port 0x92 fast reset (0x%02x)", b));
        }
    }

    /** After a machine reset: A20 on, reset bit clear. */
    public synchronized void reset() {
        value = A20;
    }
}
