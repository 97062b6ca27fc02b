package dev.jkvm.vmm.device;

/** What a device may ask of the VM as a whole: power off with a status, or reset. */
public interface VmControl {
    /** Ends the VM with status (value << 1) | 1, as QEMU's isa-debug-exit does. */
    void debugExit(long value);

    /** ACPI S5 or a power button: the VM ends with status 0. */
    void powerOff(String detail);

    /** A reset request (keyboard controller, port 0xCF9, triple fault). */
    void reset(String detail);
}
