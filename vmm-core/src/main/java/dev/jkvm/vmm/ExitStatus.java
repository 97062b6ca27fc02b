package dev.jkvm.vmm;

/**
 * Why a VM stopped and the status a jkvm process exits with for it, using QEMU's conventions:
 * isa-debug-exit gives (value << 1) | 1, power-off and -no-reboot resets give 0, failures 1.
 */
public record ExitStatus(int code, Reason reason, String detail) {
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

    public static ExitStatus debugExit(int value) {
        return new ExitStatus(((value & 0xff) << 1) | 1, Reason.DEBUG_EXIT, "isa-debug-exit value " + (value & 0xff));
    }

    public static ExitStatus powerOff(String detail) {
        return new ExitStatus(0, Reason.POWER_OFF, detail);
    }

    public static ExitStatus reset(String detail) {
        return new ExitStatus(0, Reason.RESET, detail);
    }

    public static ExitStatus hostStop(String detail) {
        return new ExitStatus(0, Reason.HOST_STOP, detail);
    }

    public static ExitStatus error(String detail) {
        return new ExitStatus(1, Reason.ERROR, detail);
    }

    /** For a debug exit, the byte the guest wrote; -1 otherwise. */
    public int debugExitValue() {
        return reason == Reason.DEBUG_EXIT ? code >>> 1 : -1;
    }
}
