package dev.jkvm.devices.legacy.net;

import dev.jkvm.backends.net.MacAddress;
import dev.jkvm.memory.GuestMemory;
import dev.jkvm.memory.GuestRegion;
import dev.jkvm.vmm.device.InterruptLine;
import dev.jkvm.vmm.pci.PciAddress;
import dev.jkvm.vmm.pci.PciConfiguration;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;

import static dev.jkvm.devices.legacy.net.E1000Registers.*;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * An e1000 over test guest memory (RAM at [0, 4 MiB), nothing above), a fake backend and an
 * interrupt line that remembers its level, driven through BAR0 the way a driver does.
 */
final class E1000Harness implements AutoCloseable {
    static final long RAM = 4 << 20;
    static final MacAddress MAC = MacAddress.parse("52:54:00:12:34:56");
    static final long RX_RING = 0x10000;
    static final long TX_RING = 0x20000;
    static final long RX_BUFFERS = 0x100000;
    static final long TX_BUFFERS = 0x200000;

    /** An interrupt line that remembers its levels. */
    static final class Line implements InterruptLine {
        final List<Boolean> levels = new ArrayList<>();

        @Override
        public synchronized void set(boolean level) {
            levels.add(level);
        }

        synchronized boolean high() {
            return !levels.isEmpty() && levels.get(levels.size() - 1);
        }
    }

    final GuestMemory memory;
    final FakeNetBackend backend = new FakeNetBackend();
    final Line line = new Line();
    final E1000 nic;
    int rxCount;
    int txCount;
    int txTail;

    E1000Harness() {
        memory = new GuestMemory(List.of(new GuestRegion(0, Arena.ofAuto().allocate(RAM, 4096))));
        nic = new E1000("t0", memory, backend, MAC);
        nic.attached(new PciAddress(3, 0), line);
        nic.writeConfig(PciConfiguration.COMMAND, 2,
                PciConfiguration.COMMAND_MEMORY | PciConfiguration.COMMAND_IO | PciConfiguration.COMMAND_BUS_MASTER);
    }

    int r(int reg) {
        return (int) nic.bar(E1000.MMIO_BAR).read(reg, 4);
    }

    void w(int reg, int value) {
        nic.bar(E1000.MMIO_BAR).write(reg, 4, Integer.toUnsignedLong(value));
    }

    /** A receive ring of {@code count} descriptors with buffers of the RCTL's size, all but one given to the device. */
    void rxRing(int count, int rctl) {
        rxCount = count;
        int size = E1000Rx.bufferSize(rctl);
        for (int i = 0; i < count; i++) {
            memory.write64(RX_RING + 16L * i, RX_BUFFERS + (long) size * i);
            memory.write64(RX_RING + 16L * i + 8, 0);
        }
        w(RDBAL, (int) RX_RING);
        w(RDBAH, 0);
        w(RDLEN, 16 * count);
        w(RDH, 0);
        w(RDT, count - 1);
        w(RCTL, rctl | RCTL_EN);
    }

    void txRing(int count, int tctl) {
        txCount = count;
        txTail = 0;
        memory.fill(TX_RING, 16L * count, (byte) 0);
        w(TDBAL, (int) TX_RING);
        w(TDBAH, 0);
        w(TDLEN, 16 * count);
        w(TDH, 0);
        w(TDT, 0);
        w(TCTL, tctl | TCTL_EN);
    }

    /** Writes a raw descriptor at the tail (not yet handed over). */
    void txDescriptor(long addr, int lower, int upper) {
        long d = TX_RING + 16L * txTail;
        memory.write64(d, addr);
        memory.write32(d + 8, lower);
        memory.write32(d + 12, upper);
        txTail = (txTail + 1) % txCount;
    }

    /** A legacy descriptor for {@code len} bytes at addr with these command bits. */
    void txLegacy(long addr, int len, int cmd) {
        txDescriptor(addr, len | cmd << 24, 0);
    }

    /** Hands the written descriptors to the device and waits until it has processed them. */
    void txGo() {
        w(TDT, txTail);
        awaitTdh(txTail);
    }

    void awaitTdh(int want) {
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (r(TDH) != want) {
            if (System.nanoTime() > deadline) {
                fail("TDH stayed " + r(TDH) + ", want " + want + "; fault " + nic.lastFault());
            }
            Thread.onSpinWait();
        }
    }

    int rxStatus(int i) {
        return memory.read8(RX_RING + 16L * i + 12);
    }

    int rxLength(int i) {
        return memory.read16(RX_RING + 16L * i + 8);
    }

    byte[] rxBuffer(int i, int size, int len) {
        byte[] b = new byte[len];
        memory.read(RX_BUFFERS + (long) size * i, b, 0, len);
        return b;
    }

    @Override
    public void close() {
        nic.close();
    }
}
