package dev.jkvm.devices.virtio;

import dev.jkvm.memory.GuestMemory;
import dev.jkvm.memory.GuestRam;
import dev.jkvm.memory.PcMemoryLayout;
import dev.jkvm.memory.RamOptions;

import java.time.Duration;
import java.util.function.BooleanSupplier;
import java.util.concurrent.locks.LockSupport;

/** Real guest RAM (MAP_NORESERVE, so a large guest costs only the pages a test touches) and condition waits. */
public final class TestGuest implements AutoCloseable {
    public static final long MiB = 1L << 20;
    public static final long GiB = 1L << 30;
    public static final Duration TIMEOUT = Duration.ofSeconds(20);

    public final GuestRam ram;
    public final GuestMemory mem;
    public final long ramSize;
    private long heap;

    public TestGuest(long ramSize) {
        this.ramSize = ramSize;
        this.ram = GuestRam.allocate(ramSize, RamOptions.DEFAULT.withMergeable(false).withHugePages(false));
        this.mem = GuestMemory.of(ram, PcMemoryLayout.forRamSize(ramSize));
        this.heap = 0x100000;
    }

    /** Bump allocation of guest memory for buffers and rings (never freed: each test gets a fresh guest). */
    public long alloc(long bytes, long alignment) {
        long at = (heap + alignment - 1) & -alignment;
        heap = at + bytes;
        return at;
    }

    public long alloc(long bytes) {
        return alloc(bytes, 16);
    }

    /** Waits for {@code condition} to hold, polling, for at most {@link #TIMEOUT}; fails with {@code what} otherwise. */
    public static void await(String what, BooleanSupplier condition) {
        long deadline = System.nanoTime() + TIMEOUT.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() - deadline > 0) {
                StringBuilder threads = new StringBuilder();
                Thread.getAllStackTraces().forEach((t, stack) -> {
                    if (t.getName().startsWith("virtio-") || t.getName().startsWith("echo")) {
                        threads.append("\n").append(t.getName()).append(" ").append(t.getState());
                        for (StackTraceElement e : stack) {
                            threads.append("\n    at ").append(e);
                        }
                    }
                });
                throw new AssertionError("timed out waiting for " + what + "; device threads:" + threads);
            }
            LockSupport.parkNanos(100_000);
        }
    }

    @Override
    public void close() {
        ram.close();
    }
}
