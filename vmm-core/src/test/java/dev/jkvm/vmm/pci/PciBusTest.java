package dev.jkvm.vmm.pci;

import dev.jkvm.vmm.DeviceBus;
import dev.jkvm.vmm.device.BusDevice;
import dev.jkvm.vmm.device.EventFd;
import dev.jkvm.vmm.device.InterruptLine;
import dev.jkvm.vmm.device.MsiController;
import dev.jkvm.vmm.device.MsiVector;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The bus as a guest drives it: config cycles through 0xCF8/0xCFC, BAR sizing and moves, INTx. */
class PciBusTest {
    private DeviceBus pio;
    private DeviceBus mmio;
    private PciBus bus;
    private final Map<Integer, List<Boolean>> irqLevels = new HashMap<>();
    private final int[] pirqRoutes = {10, 10, 11, 11};

    /** A function with a 4 KiB MMIO BAR0, a 64-bit 16 KiB BAR2 and a 32-byte I/O BAR4, INTA. */
    static final class TestFunction implements PciFunction {
        final PciConfiguration config = new PciConfiguration(0x1234, 0x5678, 0x020000, 1, 0x1af4, 0x1100);
        final List<String> moves = new ArrayList<>();
        InterruptLine intx;

        TestFunction() {
            config.addBar(0, BarKind.MEMORY32, 0x1000, false);
            config.addBar(2, BarKind.MEMORY64, 0x4000, true);
            config.addBar(4, BarKind.IO, 0x20, false);
            config.setInterruptPin(1);
        }

        public String name() {
            return "test";
        }

        public PciConfiguration configuration() {
            return config;
        }

        public BusDevice bar(int index) {
            return new BusDevice() {
                public long read(long offset, int size) {
                    return 0xb000 + index * 0x100L + offset;
                }

                public void write(long offset, int size, long value) {
                }
            };
        }

        public void attached(PciAddress address, InterruptLine line) {
            intx = line;
        }

        public void barMoved(int index, long address, boolean mapped) {
            moves.add(index + (mapped ? "@" + Long.toHexString(address) : " off"));
        }
    }

    @BeforeEach
    void setUp() {
        pio = new DeviceBus("pio");
        mmio = new DeviceBus("mmio");
        bus = new PciBus(pio, mmio, irq -> level -> irqLevels.computeIfAbsent(irq, k -> new ArrayList<>()).add(level));
        bus.setPirqRouter(pirq -> pirqRoutes[pirq]);
    }

    private long cfgRead(int slot, int offset, int size) {
        pio.write(0xcf8, 4, 0x80000000L | (slot << 11) | (offset & 0xfc));
        return pio.read(0xcfc + (offset & 3), size);
    }

    private void cfgWrite(int slot, int offset, int size, long value) {
        pio.write(0xcf8, 4, 0x80000000L | (slot << 11) | (offset & 0xfc));
        pio.write(0xcfc + (offset & 3), size, value);
    }

    @Test
    void configCyclesReadIdentityAndEmptySlotsReadAllOnes() {
        bus.add(new PciAddress(3, 0), new TestFunction());
        assertEquals(0x56781234L, cfgRead(3, 0, 4));
        assertEquals(0x5678, cfgRead(3, 2, 2));
        assertEquals(0x02, cfgRead(3, 0x0b, 1));
        assertEquals(0xffffffffL, cfgRead(4, 0, 4));
        pio.write(0xcf8, 4, (3 << 11));
        assertEquals(0xffffffffL, pio.read(0xcfc, 4), "enable bit clear: no cycle");
        assertEquals(0x00001800L, pio.read(0xcf8, 4), "the address register reads back");
    }

    @Test
    void readOnlyFieldsIgnoreWritesAndCommandKeepsOnlyItsBits() {
        bus.add(new PciAddress(3, 0), new TestFunction());
        cfgWrite(3, 0, 4, 0);
        assertEquals(0x56781234L, cfgRead(3, 0, 4));
        cfgWrite(3, 4, 2, 0xffff);
        assertEquals(0x0547, cfgRead(3, 4, 2), "IO, MEM, BM, parity, SERR, INTx-disable");
        cfgWrite(3, 0x3c, 1, 0x0b);
        assertEquals(0x0b, cfgRead(3, 0x3c, 1));
        cfgWrite(3, 0x3d, 1, 0x04);
        assertEquals(0x01, cfgRead(3, 0x3d, 1), "interrupt pin is read-only");
    }

    @Test
    void barsSizeByWritingAllOnes() {
        bus.add(new PciAddress(3, 0), new TestFunction());
        cfgWrite(3, 0x10, 4, 0xffffffffL);
        assertEquals(0xfffff000L, cfgRead(3, 0x10, 4), "4 KiB 32-bit memory BAR");
        cfgWrite(3, 0x18, 4, 0xffffffffL);
        cfgWrite(3, 0x1c, 4, 0xffffffffL);
        assertEquals(0xffffc00cL, cfgRead(3, 0x18, 4), "16 KiB, 64-bit, prefetchable");
        assertEquals(0xffffffffL, cfgRead(3, 0x1c, 4));
        cfgWrite(3, 0x20, 4, 0xffffffffL);
        assertEquals(0x0000ffe1L, cfgRead(3, 0x20, 4), "32-byte I/O BAR");
        assertEquals(0, cfgRead(3, 0x14, 4), "unimplemented BARs read 0");
    }

    @Test
    void barsDecodeOnlyWhenEnabledAndFollowTheGuestsMoves() {
        TestFunction f = new TestFunction();
        bus.add(new PciAddress(3, 0), f);
        cfgWrite(3, 0x10, 4, 0xd0000000L);
        assertNull(mmio.find(0xd0000000L, 4), "memory decoding is off");
        cfgWrite(3, 4, 2, 0x3);
        assertEquals(0xb000, mmio.read(0xd0000000L, 4));
        assertEquals(0xb010, mmio.read(0xd0000010L, 4));
        cfgWrite(3, 0x10, 4, 0xd1000000L);
        assertEquals(0xffffffffL, mmio.read(0xd0000000L, 4), "nothing left at the old address");
        assertEquals(0xb000, mmio.read(0xd1000000L, 4));
        cfgWrite(3, 0x10, 4, 0xffffffffL);
        assertNull(mmio.find(0xfffff000L, 4), "a BAR being sized is not mapped");
        cfgWrite(3, 0x10, 4, 0xd1000000L);
        cfgWrite(3, 0x20, 4, 0xc040);
        assertEquals(0xb400 + 4, pio.read(0xc044, 1));
        cfgWrite(3, 4, 2, 0x2);
        assertNull(pio.find(0xc040, 1), "I/O decoding off");
        assertEquals(List.of("0@d0000000", "0 off", "0@d1000000", "0 off", "0@d1000000", "4@c040", "4 off"), f.moves);
    }

    @Test
    void aBarPlacedOnTopOfAnotherDeviceDecodesNothing() {
        mmio.register(0xd0000000L, 0x1000, "other", new BusDevice() {
            public long read(long offset, int size) {
                return 7;
            }

            public void write(long offset, int size, long value) {
            }
        });
        bus.add(new PciAddress(3, 0), new TestFunction());
        cfgWrite(3, 0x10, 4, 0xd0000000L);
        cfgWrite(3, 4, 2, 0x2);
        assertEquals(7, mmio.read(0xd0000000L, 4));
        assertEquals(1, bus.barConflicts());
    }

    @Test
    void firmwareAssignmentGivesAlignedAddressesInTheWindows() {
        TestFunction a = new TestFunction();
        TestFunction b = new TestFunction();
        bus.add(new PciAddress(3, 0), a);
        bus.add(new PciAddress(4, 0), b);
        bus.assignResources();
        for (TestFunction f : List.of(a, b)) {
            for (int bar : new int[] {0, 2, 4}) {
                long addr = f.config.barAddress(bar);
                assertEquals(0, addr % f.config.barSize(bar), "naturally aligned");
                assertNotNull((bar == 4 ? pio : mmio).find(addr, 1), "decoding after assignment");
            }
            assertTrue(f.config.barAddress(0) >= PciBus.MMIO32_WINDOW_START && f.config.barAddress(0) < PciBus.MMIO32_WINDOW_END);
            assertTrue(f.config.barAddress(4) >= PciBus.IO_WINDOW_START);
        }
        assertEquals(11, a.config.get8(PciConfiguration.INTERRUPT_LINE), "slot 3 INTA is PIRQC");
        assertEquals(11, b.config.get8(PciConfiguration.INTERRUPT_LINE), "slot 4 INTA is PIRQD");
    }

    @Test
    void intxFollowsPirqRoutingAndSharedLinesStayUpWhileAnyDeviceAsserts() {
        TestFunction s1 = new TestFunction();
        TestFunction s5 = new TestFunction();
        bus.add(new PciAddress(1, 0), s1);
        bus.add(new PciAddress(5, 0), s5);
        s1.intx.set(true);
        assertEquals(List.of(true), irqLevels.get(10), "slot 1 INTA is PIRQA, routed to IRQ 10");
        assertEquals(PciConfiguration.STATUS_INTERRUPT, s1.config.get16(PciConfiguration.STATUS) & PciConfiguration.STATUS_INTERRUPT);
        s5.intx.set(true);
        s1.intx.set(false);
        assertEquals(List.of(true), irqLevels.get(10), "slot 5 shares PIRQA, so IRQ 10 stays up");
        pirqRoutes[0] = 5;
        bus.pirqRoutingChanged();
        assertEquals(List.of(true, false), irqLevels.get(10), "rerouting drops the old line");
        assertEquals(List.of(true), irqLevels.get(5), "and raises the new one");
        s5.intx.set(false);
        assertEquals(List.of(true, false), irqLevels.get(5));
        assertFalse(irqLevels.containsKey(11));
    }

    @Test
    void doubleBookingASlotIsRefused() {
        bus.add(new PciAddress(3, 0), new TestFunction());
        assertThrows(IllegalArgumentException.class, () -> bus.add(new PciAddress(3, 0), new TestFunction()));
        assertEquals(0, bus.freeSlot());
    }

    /** MSI vectors that record what the table asked of them. */
    static final class FakeMsi implements MsiController {
        final List<String> events = new ArrayList<>();

        public MsiVector allocate(String owner) {
            int id = events.size();
            return new MsiVector() {
                public void route(long address, int data) {
                    events.add("route " + Long.toHexString(address) + " " + Integer.toHexString(data));
                }

                public void trigger() {
                    events.add("trigger");
                }

                public EventFd eventFd() {
                    return null;
                }

                public void close() {
                    events.add("close " + id);
                }
            };
        }
    }

    @Test
    void msixTableMasksPendsAndDelivers() {
        PciConfiguration config = new PciConfiguration(1, 2, 0, 0, 0, 0);
        FakeMsi msi = new FakeMsi();
        MsixTable table = new MsixTable(config, msi, "dev", 4, 1, 0, 1, 0x800);
        int cap = table.capabilityOffset();
        assertEquals(MsixTable.CAPABILITY_ID, config.get8(cap));
        assertEquals(3, config.get16(cap + 2) & 0x7ff, "table size N-1");
        assertFalse(table.notify(0), "disabled: the caller falls back to INTx");
        config.write(cap + 2, 2, 0x8000);
        table.configChanged();
        BusDevice t = table.tableRegion();
        t.write(16, 4, 0xfee00000L);
        t.write(20, 4, 0);
        t.write(24, 4, 0x41);
        assertTrue(table.notify(1));
        assertTrue(table.isPending(1), "entries start masked");
        assertEquals(1L << 1, table.pbaRegion().read(0, 8));
        t.write(28, 4, 0);
        assertFalse(table.isPending(1), "unmasking delivers the pending message");
        assertEquals("trigger", msi.events.get(msi.events.size() - 1));
        assertEquals("route fee00000 41", msi.events.get(msi.events.size() - 2));
        table.notify(1);
        assertEquals("trigger", msi.events.get(msi.events.size() - 1));
        config.write(cap + 2, 2, 0xc000);
        table.configChanged();
        int before = msi.events.size();
        table.notify(1);
        assertEquals(before, msi.events.size(), "function mask holds it back");
        config.write(cap + 2, 2, 0x8000);
        table.configChanged();
        assertEquals("trigger", msi.events.get(msi.events.size() - 1));
        assertEquals(0xfee00000L, t.read(16, 4));
        assertEquals(0x41, t.read(24, 4));
        assertEquals(0xfee00000L, t.read(16, 8), "64-bit read of address lo+hi");
        assertEquals(0xffffffffL, t.read(18, 4), "misaligned access");
        assertEquals(1, t.read(12, 4), "entry 0 still masked");
        table.close();
        assertTrue(msi.events.contains("close 0"));
    }
}
