package dev.jkvm.vmm;

import dev.jkvm.vmm.device.BusDevice;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DeviceBusTest {
    /** Answers reads with its own tag so the test sees which device the bus chose. */
    record Tagged(long tag, List<String> writes) implements BusDevice {
        Tagged(long tag) {
            this(tag, new ArrayList<>());
        }

        public long read(long offset, int size) {
            return tag + offset;
        }

        public void write(long offset, int size, long value) {
            writes.add(offset + ":" + size + ":" + value);
        }
    }

    @Test
    void dispatchesToTheDeviceThatHoldsTheAddressWithARelativeOffset() {
        DeviceBus bus = new DeviceBus("pio");
        Tagged a = new Tagged(0x1000);
        Tagged b = new Tagged(0x2000);
        bus.register(0x3f8, 8, "com1", a);
        bus.register(0x60, 1, "kbd", b);
        assertEquals(0x1003, bus.read(0x3fb, 1));
        assertEquals(0x2000, bus.read(0x60, 1));
        bus.write(0x3ff, 1, 9);
        assertEquals(List.of("7:1:9"), a.writes());
    }

    @Test
    void unclaimedAddressesReadAllOnesAndAreCounted() {
        DeviceBus bus = new DeviceBus("pio");
        bus.register(0x100, 4, "dev", new Tagged(0));
        assertEquals(0xff, bus.read(0x104, 1));
        assertEquals(0xffff, bus.read(0xff, 2));
        assertEquals(0xffffffffL, bus.read(0x50, 4));
        assertEquals(-1L, bus.read(0x50, 8));
        bus.write(0x200, 1, 1);
        assertEquals(4, bus.unhandledReads());
        assertEquals(1, bus.unhandledWrites());
    }

    @Test
    void accessesThatStraddleTheEndOfARangeAreNotDispatched() {
        DeviceBus bus = new DeviceBus("mmio");
        bus.register(0x1000, 0x10, "dev", new Tagged(0));
        assertEquals(0xc, bus.read(0x100c, 4));
        assertEquals(0xffffffffL, bus.read(0x100d, 4));
        assertNull(bus.find(0x100f, 2));
        assertNull(bus.find(0x1010, 1));
        assertNull(bus.find(0xfff, 1));
    }

    @Test
    void overlappingRegistrationsAreRefused() {
        DeviceBus bus = new DeviceBus("pio");
        bus.register(0x3f8, 8, "com1", new Tagged(0));
        DeviceBus.ConflictException e = assertThrows(DeviceBus.ConflictException.class, () -> bus.register(0x3ff, 2, "other", new Tagged(0)));
        assertTrue(e.getMessage().contains("com1") && e.getMessage().contains("other"), e.getMessage());
        assertThrows(DeviceBus.ConflictException.class, () -> bus.register(0x3f0, 0x10, "big", new Tagged(0)));
        bus.register(0x3f0, 8, "adjacent", new Tagged(0));
    }

    @Test
    void rangesAtTheTopOfTheAddressSpaceWork() {
        DeviceBus bus = new DeviceBus("mmio");
        bus.register(0xfffffffffffff000L, 0x1000, "top", new Tagged(5));
        assertEquals(5 + 0xff8, bus.read(0xfffffffffffffff8L, 8));
        assertEquals(-1L, bus.read(0xfffffffffffffffcL, 8));
        assertThrows(IllegalArgumentException.class, () -> bus.register(0xfffffffffffff000L, 0x2000, "wraps", new Tagged(0)));
    }

    @Test
    void unregisterAndReRegisterMovesADevice() {
        DeviceBus bus = new DeviceBus("mmio");
        Tagged d = new Tagged(7);
        DeviceBus.Mapping m = bus.register(0xfebf0000L, 0x1000, "bar0", d);
        assertTrue(bus.unregister(m));
        assertFalse(bus.unregister(m));
        bus.register(0xfe000000L, 0x1000, "bar0", d);
        assertSame(d, bus.find(0xfe000010L, 4).device());
        assertEquals(0xffffffffL, bus.read(0xfebf0000L, 4));
    }

    @Test
    void lookupFindsEveryOneOfManyRanges() {
        DeviceBus bus = new DeviceBus("pio");
        for (int i = 0; i < 500; i++) {
            bus.register(i * 16L, 8, "d" + i, new Tagged(i * 1000L));
        }
        for (int i = 0; i < 500; i++) {
            assertEquals(i * 1000L + 3, bus.read(i * 16L + 3, 1));
            assertEquals(0xff, bus.read(i * 16L + 9, 1));
        }
    }
}
