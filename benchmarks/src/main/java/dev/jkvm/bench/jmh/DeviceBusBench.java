package dev.jkvm.bench.jmh;

import dev.jkvm.vmm.DeviceBus;
import dev.jkvm.vmm.device.BusDevice;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

import java.util.concurrent.TimeUnit;

/**
 * What one exit costs in {@link DeviceBus} alone: the binary search over the registered ranges
 * and the call into the device, for reads and writes, hits and misses, on a bus with 8 or 64
 * ranges (a small PC has about 8 on its port bus; a machine with many virtio devices has dozens of
 * MMIO windows).
 *
 * <p>Ranges are 8 bytes long, 0x100 apart, starting at 0x1000. Devices come in four classes,
 * assigned round-robin, so that a call site that sees them all is megamorphic as in a real
 * machine; {@code *Rotating} benchmarks walk all ranges in turn and see every class, the fixed
 * ones hit one range in the middle of the bus. Addresses live in non-final state fields so that
 * nothing folds to a constant.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
// JMH 1.37 still calls sun.misc.Unsafe, which JDK 24+ warns about unless allowed.
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow", "-XX:+UseSerialGC"})
public class DeviceBusBench {
    static final long FIRST = 0x1000;
    static final long STRIDE = 0x100;
    static final long LENGTH = 8;

    @Param({"8", "64"})
    public int ranges;

    DeviceBus bus;
    /** An address inside the middle range. */
    long hit;
    /** An address in the gap after the middle range. */
    long miss;
    /** Every range's base plus 4, visited in turn by the rotating benchmarks. */
    long[] all;
    int next;
    int size;
    long value;

    @Setup
    public void setup() {
        bus = new DeviceBus("bench");
        all = new long[ranges];
        for (int i = 0; i < ranges; i++) {
            long base = FIRST + i * STRIDE;
            BusDevice d = switch (i % 4) {
                case 0 -> new Reg0();
                case 1 -> new Reg1();
                case 2 -> new Reg2();
                default -> new Reg3();
            };
            bus.register(base, LENGTH, "dev" + i, d);
            all[i] = base + 4;
        }
        hit = FIRST + (ranges / 2) * STRIDE + 4;
        miss = FIRST + (ranges / 2) * STRIDE + LENGTH + 0x10;
        size = 4;
        value = 0x1234_5678L;
        // Prime the profile of DeviceBus.read/write with every device class, as a booted machine would.
        for (int round = 0; round < 20_000; round++) {
            for (long a : all) {
                bus.write(a, size, bus.read(a, size));
            }
        }
    }

    @Benchmark
    public long readHit() {
        return bus.read(hit, size);
    }

    @Benchmark
    public long readMiss() {
        return bus.read(miss, size);
    }

    @Benchmark
    public void writeHit() {
        bus.write(hit, size, value);
    }

    @Benchmark
    public void writeMiss() {
        bus.write(miss, size, value);
    }

    @Benchmark
    public long readHitRotating() {
        int i = next;
        next = i + 1 == all.length ? 0 : i + 1;
        return bus.read(all[i], size);
    }

    @Benchmark
    public void writeHitRotating() {
        int i = next;
        next = i + 1 == all.length ? 0 : i + 1;
        bus.write(all[i], size, value);
    }

    /** Lookup only, without the device call: the cost of the binary search. */
    @Benchmark
    public void findHit(Blackhole bh) {
        bh.consume(bus.find(hit, size));
    }

    /** A register file: reads return the last value written at the offset. Four copies, four classes. */
    abstract static class Registers implements BusDevice {
        final long[] regs = new long[(int) LENGTH];

        @Override
        public long read(long offset, int size) {
            return regs[(int) offset];
        }

        @Override
        public void write(long offset, int size, long value) {
            regs[(int) offset] = value;
        }
    }

    static final class Reg0 extends Registers {
    }

    static final class Reg1 extends Registers {
        @Override
        public long read(long offset, int size) {
            return regs[(int) offset] ^ 1;
        }
    }

    static final class Reg2 extends Registers {
        @Override
        public void write(long offset, int size, long value) {
            regs[(int) offset] = value + 1;
        }
    }

    static final class Reg3 extends Registers {
        @Override
        public long read(long offset, int size) {
            return regs[(int) offset] + size;
        }
    }
}
