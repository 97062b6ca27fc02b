package dev.jkvm.devices.virtio;

/**
 * What one virtio device type implements (block, net, balloon); the transport (virtio-pci) does
 * feature negotiation, queue set-up, status and interrupts, and calls in here.
 */
public interface VirtioDevice {
    /** The virtio device ID: 1 network, 2 block, 5 memory balloon. */
    int deviceId();

    String name();

    /** PCI class code (0xCCSSPP) for the transport to present. */
    int pciClass();

    /** Features the device offers; the transport adds VERSION_1 and the ring features it supports. */
    long deviceFeatures();

    int queueCount();

    int queueMaxSize();

    /** Bytes of device-specific configuration space. */
    int configSize();

    long readConfig(int offset, int size);

    /**
     * {@code size} bytes of a device's configuration image from {@code offset}, little-endian
     * as virtio's fields are; bytes outside the image read as 0 (the transport checked the
     * access against {@link #configSize()}, but the device does not rely on it).
     */
    static long configBytes(byte[] config, int offset, int size) {
        long v = 0;
        for (int i = 0; i < size; i++) {
            int at = offset + i;
            if (at >= 0 && at < config.length) {
                v |= (config[at] & 0xffL) << (8 * i);
            }
        }
        return v;
    }

    void writeConfig(int offset, int size, long value);

    /** At FEATURES_OK: whether the device can work with exactly these features. */
    default boolean acceptFeatures(long features) {
        return true;
    }

    /** At DRIVER_OK: start serving the queues the driver enabled. */
    void activate(VirtioContext context);

    /** The driver reset the device: stop all work; when this returns no thread touches guest memory for it. */
    void reset();

    /** The machine is going away. */
    void close();
}
