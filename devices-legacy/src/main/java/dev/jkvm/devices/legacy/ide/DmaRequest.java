package dev.jkvm.devices.legacy.ide;

import java.lang.foreign.MemorySegment;

/** A device's DMA data phase, run by the channel's bus master once the guest starts it. */
interface DmaRequest {
    /** True when the device sends data (the bus master writes guest memory: RWCON = 1). */
    boolean toMemory();

    /** Bytes the command moves. */
    long bytes();

    /** Moves the data between the device and these guest buffers (exactly {@link #bytes()} in all); false on an I/O error. */
    boolean transfer(MemorySegment[] buffers, int count);

    /** Ends the command: {@code ok} false when the PRD table was unusable or the transfer failed. */
    void finish(boolean ok);
}
