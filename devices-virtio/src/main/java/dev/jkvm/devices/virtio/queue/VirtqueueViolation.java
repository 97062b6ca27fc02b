package dev.jkvm.devices.virtio.queue;

/**
 * The driver broke the virtqueue rules: an index out of range, a descriptor outside guest RAM,
 * a loop, a buffer the device must write that is read-only. The device stops using the queue and
 * asks for a reset (DEVICE_NEEDS_RESET); the VMM keeps running.
 */
public final class VirtqueueViolation extends Exception {
    public VirtqueueViolation(String message) {
        super(message, null, false, false);
    }
}
