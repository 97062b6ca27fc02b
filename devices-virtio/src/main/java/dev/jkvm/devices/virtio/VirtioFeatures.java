package dev.jkvm.devices.virtio;

/** Feature bits shared by every virtio device (virtio 1.2, section 6). */
public final class VirtioFeatures {
    private VirtioFeatures() {
    }

    public static final int RING_INDIRECT_DESC = 28;
    public static final int RING_EVENT_IDX = 29;
    public static final int VERSION_1 = 32;
    public static final int ACCESS_PLATFORM = 33;
    public static final int RING_PACKED = 34;

    public static long bit(int feature) {
        return 1L << feature;
    }

    public static boolean has(long features, int feature) {
        return (features & bit(feature)) != 0;
    }
}
