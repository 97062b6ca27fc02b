package dev.jkvm.devices.virtio;

import dev.jkvm.devices.virtio.queue.SplitVirtqueue;
import dev.jkvm.memory.GuestMemory;
import dev.jkvm.vmm.device.EventFd;

/** What the transport gives an active device: its queues, their doorbells, and interrupts. */
public interface VirtioContext {
    GuestMemory memory();

    long features();

    SplitVirtqueue queue(int index);

    /** The eventfd the driver's doorbell for this queue signals. */
    EventFd doorbell(int index);

    /** Tells the driver it has used buffers on this queue (subject to its suppression choices). */
    void notifyQueue(int index);

    /** The device's configuration changed. */
    void configChanged();

    /** The driver broke a rule: the device enters DEVICE_NEEDS_RESET and tells the driver. */
    void fail(String reason);
}
