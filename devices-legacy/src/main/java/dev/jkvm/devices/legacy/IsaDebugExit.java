package dev.jkvm.devices.legacy;

import dev.jkvm.vmm.device.BusDevice;
import dev.jkvm.vmm.device.VmControl;

/**
 * QEMU's isa-debug-exit: any write ends the VM with status (value << 1) | 1, so a guest can
 * report a result to the host without a network or a disk. Reads return 0, as in QEMU.
 */
public final class IsaDebugExit implements BusDevice {
    /** QEMU's defaults: -device isa-debug-exit,iobase=0x501,iosize=0x02. */
    public static final int DEFAULT_IOBASE = 0x501;
    public static final int DEFAULT_IOSIZE = 0x02;

    private final VmControl vm;

    public IsaDebugExit(VmControl vm) {
        this.vm = vm;
    }

    @Override
    public long read(long offset, int size) {
        return 0;
    }

    @Override
    public void write(long offset, int size, long value) {
        vm.debugExit(value);
    }
}
