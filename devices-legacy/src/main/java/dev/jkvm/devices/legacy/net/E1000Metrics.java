package dev.jkvm.devices.legacy.net;

import java.util.concurrent.atomic.LongAdder;

/**
 * Host-side counters for one e1000, readable while it runs (the guest sees its own statistics
 * registers instead). Every frame the device does not pass on is counted under one reason; a
 * frame refused for lack of receive descriptors is not a drop (the backend keeps it and offers it
 * again), it is counted in {@link #rxNoBuffer}.
 */
public final class E1000Metrics {
    /** Frames written into guest buffers, and their bytes (as received, before an FCS is added). */
    public final LongAdder rxPackets = new LongAdder();
    public final LongAdder rxBytes = new LongAdder();
    /** Offers refused because the ring had too few free descriptors; the backend retries. */
    public final LongAdder rxNoBuffer = new LongAdder();
    /** Receive disabled (RCTL.EN), link down, bus mastering off, no ring (RDLEN 0), or the device closed. */
    public final LongAdder rxDroppedInactive = new LongAdder();
    /** Not for this NIC: its addresses, the multicast table, broadcast, VLAN filter, promiscuous modes. */
    public final LongAdder rxDroppedFiltered = new LongAdder();
    /** Longer than RCTL.LPE allows, than the model takes (16 KiB), or than the whole ring holds. */
    public final LongAdder rxDroppedTooBig = new LongAdder();
    /** Shorter than an Ethernet header. */
    public final LongAdder rxDroppedMalformed = new LongAdder();
    /** The receive ring is in the error state (see {@link #ringFaults}). */
    public final LongAdder rxDroppedFault = new LongAdder();
    /** Frames handed to the backend (or looped back by the PHY), and their bytes. */
    public final LongAdder txPackets = new LongAdder();
    public final LongAdder txBytes = new LongAdder();
    /** TCP segmentation: packets segmented, and the segments they made. */
    public final LongAdder txTsoPackets = new LongAdder();
    public final LongAdder txTsoSegments = new LongAdder();
    /** The backend refused the frame (its queue full, the host said no) or failed. */
    public final LongAdder txDroppedBackend = new LongAdder();
    /** Longer than 64 KiB, shorter than an Ethernet header, a TSO context that cannot be used, a reserved descriptor type. */
    public final LongAdder txDroppedMalformed = new LongAdder();
    /** Times a ring went into the error state: index beyond the ring, ring or buffer outside guest RAM. */
    public final LongAdder ringFaults = new LongAdder();
    /** Register accesses of a width or alignment the device ignores. */
    public final LongAdder badAccesses = new LongAdder();
    /** Exceptions caught inside the model (a bug or a failing backend, never the guest's doing): the VMM carries on. */
    public final LongAdder internalErrors = new LongAdder();

    @Override
    public String toString() {
        return String.format("rx=%d (%d B) rx_no_buffer=%d rx_dropped: inactive=%d filtered=%d too_big=%d malformed=%d fault=%d"
                        + " tx=%d (%d B) tso=%d/%d tx_dropped: backend=%d malformed=%d ring_faults=%d bad_accesses=%d internal_errors=%d",
                rxPackets.sum(), rxBytes.sum(), rxNoBuffer.sum(), rxDroppedInactive.sum(), rxDroppedFiltered.sum(),
                rxDroppedTooBig.sum(), rxDroppedMalformed.sum(), rxDroppedFault.sum(), txPackets.sum(), txBytes.sum(),
                txTsoPackets.sum(), txTsoSegments.sum(), txDroppedBackend.sum(), txDroppedMalformed.sum(), ringFaults.sum(),
                badAccesses.sum(), internalErrors.sum());
    }
}
