package dev.jkvm.bench.jmh;

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
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;

/**
 * {@link GuestMemory} accessors as devices use them (virtqueue rings, descriptors, DMA buffers):
 * scalar reads and writes in the first RAM region (below 3 GiB) and in the high region (from
 * 4 GiB), {@code slice()}, and 4 KiB bulk copies.
 *
 * <p>The guest has 3 GiB + 64 MiB of RAM so that both regions exist; the mapping is lazy and only
 * the pages touched here are ever faulted in. Addresses are non-final state fields.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
// JMH 1.37 still calls sun.misc.Unsafe, which JDK 24+ warns about unless allowed.
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow", "-XX:+UseSerialGC"})
public class GuestMemoryBench {
    static final int PAGE = 4096;

    GuestRam ram;
    GuestMemory mem;
    long low;
    long high;
    int intValue;
    long longValue;
    int length;
    byte[] buffer;
    Arena arena;
    MemorySegment nativeBuffer;

    @Setup(Level.Trial)
    public void setup() {
        PcMemoryLayout layout = PcMemoryLayout.forRamSize(PcMemoryLayout.LOW_RAM_LIMIT + 64 * PcMemoryLayout.MiB);
        ram = GuestRam.allocate(layout.ramSize(), RamOptions.DEFAULT);
        mem = GuestMemory.of(ram, layout);
        if (mem.regions().size() != 2) {
            throw new IllegalStateException("expected a low and a high RAM region, got " + mem.regions());
        }
        low = 0x20_0040L;
        high = PcMemoryLayout.HIGH_RAM_START + 0x10_0040L;
        intValue = 0x1234_5678;
        longValue = 0x0123_4567_89ab_cdefL;
        length = PAGE;
        buffer = new byte[PAGE];
        for (int i = 0; i < PAGE; i++) {
            buffer[i] = (byte) i;
        }
        arena = Arena.ofConfined();
        nativeBuffer = arena.allocate(PAGE, 64);
        // Fault the pages in now, so the measurement never takes a page fault.
        mem.fill(low & ~(PAGE - 1L), 2 * PAGE, (byte) 1);
        mem.fill(high & ~(PAGE - 1L), 2 * PAGE, (byte) 2);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
        ram.close();
    }

    @Benchmark
    public int read32Low() {
        return mem.read32(low);
    }

    @Benchmark
    public int read32High() {
        return mem.read32(high);
    }

    @Benchmark
    public long read64Low() {
        return mem.read64(low);
    }

    @Benchmark
    public long read64High() {
        return mem.read64(high);
    }

    @Benchmark
    public void write32Low() {
        mem.write32(low, intValue);
    }

    @Benchmark
    public void write32High() {
        mem.write32(high, intValue);
    }

    @Benchmark
    public MemorySegment sliceLow() {
        return mem.slice(low, length);
    }

    @Benchmark
    public MemorySegment sliceHigh() {
        return mem.slice(high, length);
    }

    /** 4 KiB guest to byte[]. */
    @Benchmark
    public byte[] readBytes4k() {
        mem.read(low, buffer, 0, length);
        return buffer;
    }

    /** 4 KiB byte[] to guest. */
    @Benchmark
    public void writeBytes4k() {
        mem.write(low, buffer, 0, length);
    }

    /** 4 KiB guest to a native buffer (as a block device's bounce buffer would). */
    @Benchmark
    public MemorySegment readSegment4k() {
        mem.read(high, nativeBuffer);
        return nativeBuffer;
    }

    /** 4 KiB native buffer to guest. */
    @Benchmark
    public void writeSegment4k() {
        mem.write(high, nativeBuffer);
    }
}
