package dev.jkvm.devices.legacy.serial;

/**
 * The host side of a serial port, what QEMU calls a character device: where guest output goes
 * and where guest input comes from.
 */
public interface SerialBackend extends AutoCloseable {
    /** One byte the guest transmitted; called on a vCPU thread, so it must not block for long. */
    void write(int b);

    /**
     * Starts feeding host input into the UART. {@code quit} is run when the user asks to leave
     * (Ctrl-A x). Backends without input ignore this.
     */
    default void connect(Serial16550 uart, Runnable quit) {
    }

    @Override
    void close();
}
