package dev.jkvm.devices.virtio.net;

import java.util.concurrent.atomic.LongAdder;

/**
 * Counters for one virtio-net device, readable while it runs. Every frame the device does not
 * pass on is counted under one reason; a frame refused for lack of receive buffers is not a drop
 * (the backend keeps it and offers it again), it is counted in {@link #rxNoBuffer}.
 */
public final class NetMetrics {
    /** Frames written into guest buffers, and their bytes (without the virtio-net header). */
    public final LongAdder rxPackets = new LongAdder();
    public final LongAdder rxBytes = new LongAdder();
    /** Offers refused because the receive queue had no (or not enough) buffers; the backend retries. */
    public final LongAdder rxNoBuffer = new LongAdder();
    /** Larger than the guest's buffer (without MRG_RXBUF), than all of its ring, or than any frame can be. */
    public final LongAdder rxDroppedTooBig = new LongAdder();
    /** The device was reset, not yet started, waiting for a reset, or the receive queue is disabled. */
    public final LongAdder rxDroppedInactive = new LongAdder();
    /** Not for this NIC: its MAC, the filter table, broadcast, or the promiscuous/all-multicast modes. */
    public final LongAdder rxDroppedFiltered = new LongAdder();
    /** A segmentation offload the driver did not accept (GSO frame without GUEST_TSO4/6, ECN, UFO). */
    public final LongAdder rxDroppedOffload = new LongAdder();
    /** Shorter than an Ethernet header, or a checksum request that points outside the frame. */
    public final LongAdder rxDroppedMalformed = new LongAdder();
    /** Frames handed to the backend, and their bytes (without the virtio-net header). */
    public final LongAdder txPackets = new LongAdder();
    public final LongAdder txBytes = new LongAdder();
    /** The backend refused the frame (its queue full, the host said no) or failed. */
    public final LongAdder txDroppedBackend = new LongAdder();
    /** Shorter than an Ethernet header, or a header asking for an offload that was not negotiated. */
    public final LongAdder txDroppedMalformed = new LongAdder();
    /** Control queue commands, and those answered VIRTIO_NET_ERR. */
    public final LongAdder ctrlCommands = new LongAdder();
    public final LongAdder ctrlErrors = new LongAdder();

    /** Frames the device dropped on the way in, for every reason. */
    public long rxDropped() {
        return rxDroppedTooBig.sum() + rxDroppedInactive.sum() + rxDroppedFiltered.sum() + rxDroppedOffload.sum()
                + rxDroppedMalformed.sum();
    }

    public long txDropped() {
        return txDroppedBackend.sum() + txDroppedMalformed.sum();
    }

    @Override
    public String toString() {
        return String.format("rx=%d (%d B) rx_no_buffer=%d rx_dropped: too_big=%d inactive=%d filtered=%d offload=%d malformed=%d"
                        + " tx=%d (%d B) tx_dropped: backend=%d malformed=%d ctrl=%d ctrl_err=%d",
                rxPackets.sum(), rxBytes.sum(), rxNoBuffer.sum(), rxDroppedTooBig.sum(), rxDroppedInactive.sum(),
                rxDroppedFiltered.sum(), rxDroppedOffload.sum(), rxDroppedMalformed.sum(), txPackets.sum(), txBytes.sum(),
                txDroppedBackend.sum(), txDroppedMalformed.sum(), ctrlCommands.sum(), ctrlErrors.sum());
    }
}
