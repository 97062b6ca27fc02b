package dev.jkvm.devices.virtio.block;

import java.util.concurrent.atomic.LongAdder;

/** Counters for one virtio-blk device, readable while it runs. */
public final class BlockMetrics {
    public final LongAdder reads = new LongAdder();
    public final LongAdder writes = new LongAdder();
    public final LongAdder readBytes = new LongAdder();
    public final LongAdder writeBytes = new LongAdder();
    public final LongAdder flushes = new LongAdder();
    public final LongAdder discards = new LongAdder();
    public final LongAdder ioErrors = new LongAdder();
    public final LongAdder rejected = new LongAdder();

    @Override
    public String toString() {
        return String.format("reads=%d (%d B) writes=%d (%d B) flushes=%d discards=%d ioerrors=%d rejected=%d",
                reads.sum(), readBytes.sum(), writes.sum(), writeBytes.sum(), flushes.sum(), discards.sum(), ioErrors.sum(), rejected.sum());
    }
}
