package dev.jkvm.backends.net;

import java.lang.foreign.MemorySegment;

/**
 * The host side of a NIC, what QEMU calls a -netdev: where the guest's Ethernet frames go and
 * where frames for the guest come from. Implementations: tap, user-mode (libslirp), socket.
 *
 * <p>Frames may carry a virtio-net header in front of the Ethernet header when both sides agree
 * ({@link #offloads()} and {@link #useVnetHeader}); with tap that header passes through to the
 * kernel (IFF_VNET_HDR), so checksum offload and TSO work end to end.
 *
 * <p>Threads: {@link #send} comes from a device's TX thread; frames for the guest are delivered
 * to the {@link Receiver} on the backend's own thread.
 */
public interface NetBackend extends AutoCloseable {
    /** Where a backend delivers frames for the guest. */
    interface Receiver {
        /**
         * Offers one frame. Returns true when the device took it (copied into guest buffers, or
         * counted as dropped by its own policy); false when the guest has no receive buffers posted
         * right now: the backend keeps the frame and offers it again after {@link #wakeup()}.
         */
        boolean receive(MemorySegment frame);
    }

    /** Starts delivering frames to {@code receiver}; called once the device is ready. */
    void start(Receiver receiver);

    /** The device has new receive buffers: a frame that was refused may now be offered again. */
    void wakeup();

    /**
     * Sends one frame gathered from guest buffers (the virtio-net header first when the header is
     * in use). Returns false when the frame was dropped (the backend's queue is full, or the host
     * refused it); the device counts drops.
     */
    boolean send(MemorySegment[] buffers, int count);

    /** What this backend can pass through: checksum offload and segmentation via the vnet header. */
    Offloads offloads();

    /**
     * From now on, frames in both directions start with a virtio-net header of this many bytes
     * (10 or 12); 0 turns it off. Only valid when {@link #offloads()} says the header is supported.
     */
    void useVnetHeader(int headerBytes);

    /**
     * What the guest's driver takes in frames for it, as it negotiated (virtio-net's GUEST_CSUM,
     * GUEST_TSO4, GUEST_TSO6, GUEST_UFO): from now on the backend may deliver frames whose checksum
     * is still to be filled in (NEEDS_CSUM) and frames larger than the MTU (GSO), as their virtio-net
     * header says. Needs the header in use ({@link #useVnetHeader}) and a subset of {@link #offloads()};
     * {@link Offloads#NONE} turns them all off again (as at a device reset). The {@code vnetHeader}
     * field is ignored. Backends that never produce such frames (user, socket) keep the default.
     */
    default void setReceiveOffloads(Offloads accepted) {
    }

    /** Frames the backend had to drop (host-side queue full, guest not receiving), for diagnostics. */
    long dropped();

    @Override
    void close();

    /** Offload capabilities a backend offers the device. */
    record Offloads(boolean vnetHeader, boolean checksum, boolean tso4, boolean tso6, boolean ufo) {
        public static final Offloads NONE = new Offloads(false, false, false, false, false);
    }
}
