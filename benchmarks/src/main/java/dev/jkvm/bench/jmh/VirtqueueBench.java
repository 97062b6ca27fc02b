package dev.jkvm.bench.jmh;

import dev.jkvm.devices.virtio.queue.DescriptorChain;
import dev.jkvm.devices.virtio.queue.SplitVirtqueue;
import dev.jkvm.devices.virtio.queue.VirtqueueViolation;
import dev.jkvm.memory.GuestMemory;
import dev.jkvm.memory.GuestRam;
import dev.jkvm.memory.PcMemoryLayout;
import dev.jkvm.memory.RamOptions;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.util.concurrent.TimeUnit;

/**
 * Descriptor-chain parsing and validation, per chain: what a virtio device pays to take one
 * request off the available ring and return it through the used ring. The chain is a virtio-blk
 * read as Linux builds it: a 16-byte header, {@code dataSegments} data buffers, a status byte;
 * either as direct descriptors or in one indirect table.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow", "-XX:+UseSerialGC"})
public class VirtqueueBench {
    private static final int QUEUE = 256;
    private static final long DESC = 0x10000;
    private static final long AVAIL = 0x20000;
    private static final long USED = 0x30000;
    private static final long INDIRECT = 0x40000;
    private static final long DATA = 0x100000;

    @Param({"false", "true"})
    public boolean indirect;

    @Param({"1", "8"})
    public int dataSegments;

    GuestRam ram;
    GuestMemory mem;
    SplitVirtqueue queue;
    int availIdx;

    @Setup(Level.Trial)
    public void setup() throws VirtqueueViolation {
        PcMemoryLayout layout = PcMemoryLayout.forRamSize(16 << 20);
        ram = GuestRam.allocate(layout.ramSize(), RamOptions.DEFAULT);
        mem = GuestMemory.of(ram, layout);
        queue = new SplitVirtqueue(mem, QUEUE);
        queue.enable(QUEUE, DESC, AVAIL, USED, true);
        int n = dataSegments + 2;
        long table = indirect ? INDIRECT : DESC;
        for (int i = 0; i < n; i++) {
            long d = table + 16L * i;
            boolean last = i == n - 1;
            mem.write64(d, DATA + 4096L * i);
            mem.write32(d + 8, i == 0 ? 16 : last ? 1 : 4096);
            mem.write16(d + 12, (last ? 0 : SplitVirtqueue.DESC_F_NEXT) | (i == 0 ? 0 : SplitVirtqueue.DESC_F_WRITE));
            mem.write16(d + 14, last ? 0 : i + 1);
        }
        if (indirect) {
            mem.write64(DESC, INDIRECT);
            mem.write32(DESC + 8, 16 * n);
            mem.write16(DESC + 12, SplitVirtqueue.DESC_F_INDIRECT);
            mem.write16(DESC + 14, 0);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        ram.close();
    }

    /** Makes one chain available, takes it, checks it, returns it: the device's whole per-request ring work. */
    @Benchmark
    public long popAndComplete() throws VirtqueueViolation {
        mem.write16(AVAIL + 4 + 2L * (availIdx % QUEUE), 0);
        availIdx = (availIdx + 1) & 0xffff;
        mem.write16Release(AVAIL + 2, availIdx);
        DescriptorChain chain = queue.pop();
        queue.addUsed(chain.head(), (int) chain.writableBytes());
        return chain.readableBytes() + chain.writableBytes();
    }
}
