package dev.jkvm.vmm.device;

/**
 * One message-signalled interrupt a device can raise: the guest programs its address and data
 * (through an MSI-X table), the device triggers it from any thread.
 */
public interface MsiVector extends AutoCloseable {
    /** Points the vector at a message; called when the guest rewrites the table entry. */
    void route(long address, int data);

    /** Raises the interrupt; cheap (one eventfd write), allocation-free, any thread. */
    void trigger();

    /** The eventfd that raises this vector, for handing to a thread or process outside the JVM. */
    EventFd eventFd();

    @Override
    void close();
}
