package dev.jkvm.machine;

/**
 * A machine that cannot be built as configured: a missing kernel, too much memory, a device that
 * does not fit. The message is one line a user can act on; the CLI prints it as it is.
 */
public final class MachineException extends RuntimeException {
    public MachineException(String message) {
        super(message, null, false, false);
    }

    public MachineException(String message, Throwable cause) {
        super(message, cause, false, false);
    }
}
