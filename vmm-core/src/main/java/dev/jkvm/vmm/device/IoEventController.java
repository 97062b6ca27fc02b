package dev.jkvm.vmm.device;

/**
 * Doorbells that do not exit to user space: a guest write of {@code length} bytes to
 * {@code address} (with value {@code dataMatch}, if given) just signals an eventfd that a device
 * thread waits on. The VM implements it with KVM_IOEVENTFD.
 */
public interface IoEventController {
    /** Registers a doorbell; a write that matches no longer reaches the bus. Null dataMatch matches any value. */
    Registration register(long address, int length, boolean pio, Long dataMatch, EventFd eventFd);

    interface Registration extends AutoCloseable {
        /** Unregisters: writes reach the bus again. */
        @Override
        void close();
    }
}
