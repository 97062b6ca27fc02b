package dev.jkvm.machine;

/** A -device the machine adds on top of its built-in ones. */
public sealed interface DeviceConfig {
    /** QEMU's isa-debug-exit: a write of v to iobase ends the VM with status (v << 1) | 1. */
    record IsaDebugExit(int iobase, int iosize) implements DeviceConfig {
        public IsaDebugExit {
            if (iosize < 1 || iosize > 8 || iobase < 0 || iobase + iosize > 0x10000) {
                throw new MachineException(String.format("isa-debug-exit: iobase=0x%x iosize=%d does not fit in the 64 KiB I/O space", iobase, iosize));
            }
        }
    }
}
