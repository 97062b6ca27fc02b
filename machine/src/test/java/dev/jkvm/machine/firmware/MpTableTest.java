package dev.jkvm.machine.firmware;

import dev.jkvm.memory.GuestMemory;
import dev.jkvm.memory.GuestRegion;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static dev.jkvm.machine.firmware.AcpiTablesTest.ascii;
import static dev.jkvm.machine.firmware.AcpiTablesTest.sum;
import static dev.jkvm.machine.firmware.AcpiTablesTest.u16;
import static dev.jkvm.machine.firmware.AcpiTablesTest.u32;
import static dev.jkvm.machine.firmware.AcpiTablesTest.u8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The MP tables at the offsets of the MultiProcessor Specification 1.4 (chapter 4). */
class MpTableTest {
    private static final int[] ENTRY_LENGTH = {20, 8, 8, 8, 8};

    record Parsed(byte[] floating, byte[] config, List<byte[]> entries) {
        List<byte[]> ofType(int type) {
            return entries.stream().filter(e -> u8(e, 0) == type).toList();
        }
    }

    static Parsed parse(int... apicIds) {
        MpTable.Image image = MpTable.build(FirmwareConfig.pc(apicIds).withCpuid(0x000806f8, 0x178bfbff));
        byte[] all = image.bytes();
        byte[] fp = Arrays.copyOfRange(all, 0, 16);
        long configAddr = u32(fp, 4);
        int at = (int) (configAddr - image.address());
        int baseLength = u16(all, at + 4);
        byte[] config = Arrays.copyOfRange(all, at, at + baseLength);
        List<byte[]> entries = new ArrayList<>();
        int off = 44;
        int lastType = 0;
        for (int i = 0; i < u16(config, 34); i++) {
            int type = u8(config, off);
            assertTrue(type >= lastType, "entries sorted by type");
            lastType = type;
            entries.add(Arrays.copyOfRange(config, off, off + ENTRY_LENGTH[type]));
            off += ENTRY_LENGTH[type];
        }
        assertEquals(baseLength, off, "the entry count and the base table length agree");
        return new Parsed(fp, config, entries);
    }

    @Test
    void floatingPointerAndConfigurationTableHeaders() {
        Parsed p = parse(0, 1);
        byte[] fp = p.floating();
        assertEquals("_MP_", ascii(fp, 0, 4));
        assertEquals(MpTable.CONFIG_TABLE_ADDRESS, u32(fp, 4));
        assertEquals(1, u8(fp, 8), "length in paragraphs");
        assertEquals(4, u8(fp, 9), "spec 1.4");
        assertEquals(0, sum(fp, 0, 16), "floating pointer checksum");
        assertEquals(0, u8(fp, 11), "a configuration table follows (no default configuration)");
        assertEquals(0, u8(fp, 12) & 0x80, "virtual-wire mode, no IMCR");
        assertTrue(MpTable.FLOATING_POINTER_ADDRESS >= 0xf0000 && MpTable.FLOATING_POINTER_ADDRESS % 16 == 0);
        byte[] c = p.config();
        assertEquals("PCMP", ascii(c, 0, 4));
        assertEquals(4, u8(c, 6));
        assertEquals(0, sum(c, 0, c.length), "configuration table checksum");
        assertEquals(0xfee00000L, u32(c, 36));
        assertEquals(0, u16(c, 40), "no extended table");
    }

    @ParameterizedTest(name = "-smp {0}")
    @ValueSource(strings = {"1", "2", "4", "8,2,2,2", "6,2,3,1"})
    void oneProcessorEntryPerVcpuTheFirstTheBsp(String smp) {
        int[] ids = AcpiTablesTest.apicIds(smp);
        Parsed p = parse(ids);
        List<byte[]> cpus = p.ofType(0);
        assertEquals(ids.length, cpus.size());
        for (int i = 0; i < ids.length; i++) {
            byte[] e = cpus.get(i);
            assertEquals(ids[i], u8(e, 1), "local APIC ID");
            assertEquals(0x14, u8(e, 2), "local APIC version");
            assertEquals(i == 0 ? 3 : 1, u8(e, 3), "EN, and BP for the first");
            assertEquals(0x000806f8L, u32(e, 4), "CPU signature");
            assertEquals(0x178bfbffL, u32(e, 8), "feature flags");
        }
    }

    @Test
    void busesIoApicAndInterrupts() {
        Parsed p = parse(0, 1);
        List<String> buses = p.ofType(1).stream().map(e -> u8(e, 1) + ":" + ascii(e, 2, 6)).toList();
        assertEquals(List.of("0:PCI   ", "1:ISA   "), buses);
        byte[] io = p.ofType(2).getFirst();
        assertEquals(0, u8(io, 1), "IOAPIC id");
        assertEquals(0x11, u8(io, 2));
        assertEquals(1, u8(io, 3) & 1, "enabled");
        assertEquals(0xfec00000L, u32(io, 4));

        List<String> isa = new ArrayList<>();
        List<String> pci = new ArrayList<>();
        for (byte[] e : p.ofType(3)) {
            assertEquals(0, u8(e, 1), "INT");
            assertEquals(0, u8(e, 6), "to the IOAPIC");
            String s = u8(e, 5) + "->" + u8(e, 7) + "/" + Integer.toHexString(u16(e, 2));
            (u8(e, 4) == 1 ? isa : pci).add(s);
        }
        assertEquals(List.of("0->2/0", "1->1/0", "3->3/0", "4->4/0", "5->5/0", "6->6/0", "7->7/0", "8->8/0", "9->9/0",
                "10->10/d", "11->11/d", "12->12/0", "13->13/0", "14->14/0", "15->15/0"), isa);
        assertEquals(128, pci.size());
        int[] pirqToIrq = {10, 10, 11, 11};
        for (int slot = 0; slot < 32; slot++) {
            for (int pin = 0; pin < 4; pin++) {
                String want = (slot << 2 | pin) + "->" + pirqToIrq[(pin + slot - 1) & 3] + "/d";
                assertTrue(pci.contains(want), want);
            }
        }
        List<byte[]> local = p.ofType(4);
        assertEquals(2, local.size());
        assertEquals(List.of(3, 0, 0), List.of(u8(local.get(0), 1), u8(local.get(0), 6), u8(local.get(0), 7)), "ExtINT -> BSP LINT0");
        assertEquals(List.of(1, 0xff, 1), List.of(u8(local.get(1), 1), u8(local.get(1), 6), u8(local.get(1), 7)), "NMI -> all LINT1");
    }

    @Test
    void apicIdsThatDoNotFitAByteAreLeftOut() {
        assertEquals(List.of(0, 254), parse(0, 254, 255, 300).ofType(0).stream().map(e -> u8(e, 1)).toList());
    }

    @Test
    void installIsFoundByTheScanOfTheFSegment() {
        GuestMemory mem = new GuestMemory(List.of(new GuestRegion(0, Arena.ofAuto().allocate(1 << 20))));
        long fp = MpTable.install(mem, FirmwareConfig.pc(new int[] {0, 1}));
        List<Long> found = new ArrayList<>();
        byte[] b = new byte[16];
        for (long a = 0xf0000; a < 0x100000; a += 16) {
            mem.read(a, b, 0, 16);
            if (ascii(b, 0, 4).equals("_MP_") && sum(b, 0, 16) == 0) {
                found.add(a);
            }
        }
        assertEquals(List.of(fp), found);
        long config = mem.read32(fp + 4) & 0xffffffffL;
        byte[] c = new byte[mem.read16(config + 4)];
        mem.read(config, c, 0, c.length);
        assertEquals(0, sum(c, 0, c.length));
    }
}
