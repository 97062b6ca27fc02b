package dev.jkvm.vmm;

/**
 * Why a VM stopped and the status a jkvm process exits with for it, using QEMU's conventions:
 * isa-debug-exit gives (value << 1) | 1, power-off and -no-reboot resets give 0, failures 1.
 *
 * @param debugValue the value written to isa-debug-exit, or -1 for other reasons
 */
public record ExitStatus(int code, Reason reason, String detail, long debugValue) {
    public enum Reason {
        /** The guest wrote to isa-debug-exit. */
        DEBUG_EXIT,
        /** ACPI S5, a KVM shutdown event, or anything else that is a clean power-off. */
        POWER_OFF,
        /** The guest reset and -no-reboot asked jkvm to exit instead of rebooting. */
        RESET,
        /** The host ended the VM: close(), a signal, or Ctrl-A x on the console. */
        HOST_STOP,
        /** jkvm could not go on: a KVM internal error, a failed entry, an unexpected exit. */
        ERROR
    }

    /** QEMU exits with (value << 1) | 1 for isa-debug-exit; the OS keeps the low 8 bits of that. */
    public static ExitStatus debugExit(long value) {
        return new ExitStatus((int) (((value << 1) | 1) & 0xff), Reason.DEBUG_EXIT, "isa-debug-exit value " + value, value);
    }

    public static ExitStatus powerOff(String detail) {
        return new ExitStatus(0, Reason.POWER_OFF, detail, -1);
    }

    public static ExitStatus reset(String detail) {
        return new ExitStatus(0, Reason.RESET, detail, -1);
    }

    public static ExitStatus hostStop(String detail) {
        return new ExitStatus(0, Reason.HOST_STOP, detail, -1);
    }

    public static ExitStatus error(String detail) {
        return new ExitStatus(1, Reason.ERROR, detail, -1);
    }
}
