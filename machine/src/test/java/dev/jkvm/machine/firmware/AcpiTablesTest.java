package dev.jkvm.machine.firmware;

import dev.jkvm.memory.GuestMemory;
import dev.jkvm.memory.GuestRegion;
import dev.jkvm.vmm.cpu.CpuTopology;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The ACPI tables byte by byte: every expected value here is read at the offset the ACPI 6.x
 * specification gives (RSDP 5.2.5.3, header 5.2.6, FADT 5.2.9, FACS 5.2.10, MADT 5.2.12), not
 * through the builder's own code.
 */
class AcpiTablesTest {
    /** "2" -> -smp 2; "c,s,co,t" -> that topology's APIC IDs (CpuTopology); "name:0,1,4" -> those IDs. */
    static int[] apicIds(String spec) {
        if (spec.contains(":")) {
            return Arrays.stream(spec.substring(spec.indexOf(':') + 1).split(",")).mapToInt(Integer::parseInt).toArray();
        }
        int[] v = Arrays.stream(spec.split(",")).mapToInt(Integer::parseInt).toArray();
        CpuTopology t = v.length == 1 ? CpuTopology.resolve(v[0], 0, 0, 0, 0) : CpuTopology.resolve(v[0], v[1], v[2], v[3], 0);
        return t.apicIds();
    }

    static AcpiTables.Image build(int... apicIds) {
        return AcpiTables.build(FirmwareConfig.pc(apicIds));
    }

    static String ascii(byte[] b, int off, int len) {
        return new String(b, off, len, StandardCharsets.US_ASCII);
    }

    static int u8(byte[] b, int off) {
        return b[off] & 0xff;
    }

    static int u16(byte[] b, int off) {
        return ByteWriter.le16(b, off);
    }

    static long u32(byte[] b, int off) {
        return ByteWriter.le32(b, off);
    }

    static long u64(byte[] b, int off) {
        return ByteWriter.le64(b, off);
    }

    static int sum(byte[] b, int from, int len) {
        int s = 0;
        for (int i = from; i < from + len; i++) {
            s += b[i];
        }
        return s & 0xff;
    }

    @Test
    void rsdpHasBothChecksumsAndPointsAtTheRsdtAndXsdt() {
        AcpiTables.Image image = build(0, 1);
        AcpiTables.Table rsdp = image.tables().getFirst();
        byte[] b = rsdp.bytes();
        assertEquals(36, b.length);
        assertEquals("RSD PTR ", ascii(b, 0, 8));
        assertEquals(0, sum(b, 0, 20), "checksum over the ACPI 1.0 part");
        assertEquals(0, sum(b, 0, 36), "extended checksum over all 36 bytes");
        assertEquals("JKVM  ", ascii(b, 9, 6));
        assertEquals(2, u8(b, 15), "revision 2: ACPI 2.0+ with an XSDT");
        assertEquals(image.table("RSDT").address(), u32(b, 16));
        assertEquals(36, u32(b, 20));
        assertEquals(image.table("XSDT").address(), u64(b, 24));
        assertEquals(0, u8(b, 33) | u8(b, 34) | u8(b, 35));
        assertEquals(0, rsdp.address() % 16, "the RSDP scan looks at 16-byte boundaries");
        assertTrue(rsdp.address() >= 0xe0000 && rsdp.address() + 36 <= 0x100000);
        assertEquals(rsdp.address(), image.rsdpAddress());
    }

    @ParameterizedTest(name = "-smp {0}")
    @ValueSource(strings = {"1", "2", "4", "8,2,2,2", "6,2,3,1", "x2apic:0,1,255,300"})
    void everyTableHasAValidHeaderLengthAndChecksum(String smp) {
        AcpiTables.Image image = AcpiTables.build(FirmwareConfig.pc(apicIds(smp)));
        List<String> seen = new ArrayList<>();
        for (AcpiTables.Table t : image.tables()) {
            byte[] b = t.bytes();
            seen.add(t.signature());
            if (t.signature().equals("RSD PTR ") || t.signature().equals("FACS")) {
                continue;
            }
            assertEquals(t.signature(), ascii(b, 0, 4));
            assertEquals(b.length, u32(b, 4), t.signature() + " length");
            assertEquals(0, sum(b, 0, b.length), t.signature() + " checksum");
            assertEquals("JKVM  ", ascii(b, 10, 6));
            assertEquals("JKVM" + t.signature(), ascii(b, 16, 8));
            assertEquals("JKVM", ascii(b, 28, 4));
        }
        assertEquals(List.of("RSD PTR ", "FACS", "RSDT", "XSDT", "FACP", "APIC", "DSDT"), seen);
    }

    @Test
    void tablesLieInTheBiosAreaWithoutOverlapping() {
        AcpiTables.Image image = build(0, 1, 2, 3);
        long end = 0;
        for (AcpiTables.Table t : image.tables()) {
            assertTrue(t.address() >= end, t.signature() + " overlaps the table before it");
            assertTrue(t.address() >= 0xe0000 && t.address() + t.length() <= 0xf0000, t.signature());
            assertEquals(0, t.address() % (t.signature().equals("FACS") ? 64 : 16), t.signature() + " alignment");
            end = t.address() + t.length();
        }
    }

    @Test
    void rsdtAndXsdtListTheFadtAndTheMadt() {
        AcpiTables.Image image = build(0);
        byte[] rsdt = image.table("RSDT").bytes();
        byte[] xsdt = image.table("XSDT").bytes();
        assertEquals(36 + 2 * 4, rsdt.length);
        assertEquals(36 + 2 * 8, xsdt.length);
        assertEquals(1, u8(rsdt, 8));
        assertEquals(1, u8(xsdt, 8));
        long fadt = image.table("FACP").address();
        long madt = image.table("APIC").address();
        assertEquals(List.of(fadt, madt), List.of(u32(rsdt, 36), u32(rsdt, 40)));
        assertEquals(List.of(fadt, madt), List.of(u64(xsdt, 36), u64(xsdt, 44)));
    }

    @Test
    void fadtFieldsAtTheirSpecOffsets() {
        AcpiTables.Image image = build(0, 1);
        byte[] f = image.table("FACP").bytes();
        long facs = image.table("FACS").address();
        long dsdt = image.table("DSDT").address();
        assertEquals(276, f.length, "FADT revision 6 is 276 bytes");
        assertEquals(6, u8(f, 8), "revision");
        assertEquals(facs, u32(f, 36), "FIRMWARE_CTRL");
        assertEquals(dsdt, u32(f, 40), "DSDT");
        assertEquals(9, u16(f, 46), "SCI_INT");
        assertEquals(0xb2, u32(f, 48), "SMI_CMD");
        assertEquals(0xf1, u8(f, 52), "ACPI_ENABLE");
        assertEquals(0xf0, u8(f, 53), "ACPI_DISABLE");
        assertEquals(0x600, u32(f, 56), "PM1a_EVT_BLK");
        assertEquals(0, u32(f, 60), "PM1b_EVT_BLK");
        assertEquals(0x604, u32(f, 64), "PM1a_CNT_BLK");
        assertEquals(0x608, u32(f, 76), "PM_TMR_BLK");
        assertEquals(0xafe0, u32(f, 80), "GPE0_BLK");
        assertEquals(4, u8(f, 88), "PM1_EVT_LEN");
        assertEquals(2, u8(f, 89), "PM1_CNT_LEN");
        assertEquals(0, u8(f, 90), "PM2_CNT_LEN");
        assertEquals(4, u8(f, 91), "PM_TMR_LEN");
        assertEquals(4, u8(f, 92), "GPE0_BLK_LEN");
        assertEquals(0, u8(f, 93), "GPE1_BLK_LEN");
        assertTrue(u16(f, 96) > 100 && u16(f, 98) > 1000, "no C2/C3");
        assertEquals(0x32, u8(f, 108), "RTC century index");
        assertEquals(0x3, u16(f, 109), "IAPC_BOOT_ARCH: legacy devices, 8042");
        long flags = u32(f, 112);
        assertEquals(1 << 10, flags & 1 << 10, "RESET_REG_SUP");
        assertEquals(0, flags & 1 << 8, "TMR_VAL_EXT clear: 24-bit PM timer");
        assertEquals(0, flags & 1 << 20, "not HW_REDUCED_ACPI");
        assertGas(f, 116, 1, 8, 0xcf9, "RESET_REG");
        assertEquals(6, u8(f, 128), "RESET_VALUE");
        assertEquals(facs, u64(f, 132), "X_FIRMWARE_CTRL");
        assertEquals(dsdt, u64(f, 140), "X_DSDT");
        assertGas(f, 148, 1, 32, 0x600, "X_PM1a_EVT_BLK");
        assertGas(f, 160, 0, 0, 0, "X_PM1b_EVT_BLK");
        assertGas(f, 172, 1, 16, 0x604, "X_PM1a_CNT_BLK");
        assertGas(f, 184, 0, 0, 0, "X_PM1b_CNT_BLK");
        assertGas(f, 196, 0, 0, 0, "X_PM2_CNT_BLK");
        assertGas(f, 208, 1, 32, 0x608, "X_PM_TMR_BLK");
        assertGas(f, 220, 1, 32, 0xafe0, "X_GPE0_BLK");
        assertGas(f, 232, 0, 0, 0, "X_GPE1_BLK");
        assertGas(f, 244, 0, 0, 0, "SLEEP_CONTROL_REG");
        assertGas(f, 256, 0, 0, 0, "SLEEP_STATUS_REG");
        assertEquals(0, u64(f, 268), "hypervisor vendor identity");
    }

    private static void assertGas(byte[] f, int off, int space, int bits, long address, String what) {
        assertEquals(space, u8(f, off), what + " address space");
        assertEquals(bits, u8(f, off + 1), what + " bit width");
        assertEquals(0, u8(f, off + 2), what + " bit offset");
        assertEquals(address, u64(f, off + 4), what + " address");
    }

    @Test
    void facsIsSixtyFourBytesVersionTwo() {
        AcpiTables.Table t = build(0).table("FACS");
        byte[] b = t.bytes();
        assertEquals("FACS", ascii(b, 0, 4));
        assertEquals(64, b.length);
        assertEquals(64, u32(b, 4));
        assertEquals(2, u8(b, 32), "version");
        assertEquals(0, u32(b, 16), "global lock free");
        assertEquals(0, t.address() % 64);
    }

    /** One MADT interrupt controller structure. */
    record Entry(int type, byte[] b) {
    }

    static List<Entry> madtEntries(byte[] m) {
        List<Entry> list = new ArrayList<>();
        int off = 44;
        while (off < m.length) {
            int len = u8(m, off + 1);
            assertTrue(len >= 2 && off + len <= m.length, "entry length at " + off);
            list.add(new Entry(u8(m, off), Arrays.copyOfRange(m, off, off + len)));
            off += len;
        }
        assertEquals(m.length, off, "entries fill the table exactly");
        return list;
    }

    @ParameterizedTest(name = "-smp {0}")
    @ValueSource(strings = {"1", "2", "4", "8,2,2,2", "6,2,3,1", "12,2,3,2"})
    void madtHasOneEnabledLocalApicPerVcpuInOrder(String smp) {
        int[] ids = apicIds(smp);
        byte[] m = AcpiTables.build(FirmwareConfig.pc(ids)).table("APIC").bytes();
        assertEquals(0xfee00000L, u32(m, 36), "local APIC address");
        assertEquals(1, u32(m, 40), "PCAT_COMPAT");
        List<Integer> gotIds = new ArrayList<>();
        List<Integer> gotUids = new ArrayList<>();
        for (Entry e : madtEntries(m)) {
            if (e.type() == 0) {
                assertEquals(8, e.b().length);
                assertEquals(1, u32(e.b(), 4) & 1, "enabled");
                gotUids.add(u8(e.b(), 2));
                gotIds.add(u8(e.b(), 3));
            }
        }
        assertEquals(Arrays.stream(ids).boxed().toList(), gotIds);
        assertEquals(java.util.stream.IntStream.range(0, ids.length).boxed().toList(), gotUids);
    }

    @Test
    void sixCpusInTwoSocketsOfThreeCoresLeaveAGapInTheApicIds() {
        assertArrayEquals(new int[] {0, 1, 2, 4, 5, 6}, apicIds("6,2,3,1"));
        assertArrayEquals(new int[] {0, 1, 2, 3, 4, 5, 6, 7}, apicIds("8,2,2,2"));
    }

    @Test
    void madtHasTheIoApicOverridesAndNmi() {
        List<Entry> entries = madtEntries(build(0, 1).table("APIC").bytes());
        List<Entry> ioapics = entries.stream().filter(e -> e.type() == 1).toList();
        assertEquals(1, ioapics.size());
        byte[] io = ioapics.getFirst().b();
        assertEquals(12, io.length);
        assertEquals(0, u8(io, 2), "IOAPIC id");
        assertEquals(0xfec00000L, u32(io, 4));
        assertEquals(0, u32(io, 8), "GSI base");
        List<String> overrides = new ArrayList<>();
        for (Entry e : entries) {
            if (e.type() == 2) {
                assertEquals(10, e.b().length);
                assertEquals(0, u8(e.b(), 2), "bus ISA");
                overrides.add(String.format("%d->%d/%04x", u8(e.b(), 3), u32(e.b(), 4), u16(e.b(), 8)));
            }
        }
        assertEquals(List.of("0->2/0000", "9->9/000d", "10->10/000d", "11->11/000d"), overrides);
        List<Entry> nmis = entries.stream().filter(e -> e.type() == 4).toList();
        assertEquals(1, nmis.size());
        byte[] nmi = nmis.getFirst().b();
        assertEquals(6, nmi.length);
        assertEquals(0xff, u8(nmi, 2), "all processors");
        assertEquals(1, u8(nmi, 5), "LINT1");
        assertFalse(entries.stream().anyMatch(e -> e.type() == 9 || e.type() == 10), "no x2APIC entries for small IDs");
    }

    @Test
    void apicIdsAbove254UseX2ApicEntries() {
        List<Entry> entries = madtEntries(build(0, 254, 255, 300).table("APIC").bytes());
        List<Entry> lapics = entries.stream().filter(e -> e.type() == 0).toList();
        List<Entry> x2 = entries.stream().filter(e -> e.type() == 9).toList();
        assertEquals(List.of(0, 254), lapics.stream().map(e -> u8(e.b(), 3)).toList());
        assertEquals(2, x2.size());
        assertEquals(16, x2.getFirst().b().length);
        assertEquals(255L, u32(x2.get(0).b(), 4), "x2APIC ID");
        assertEquals(1L, u32(x2.get(0).b(), 8) & 1, "enabled");
        assertEquals(2L, u32(x2.get(0).b(), 12), "processor UID");
        assertEquals(300L, u32(x2.get(1).b(), 4));
        assertEquals(3L, u32(x2.get(1).b(), 12));
        assertEquals(1, entries.stream().filter(e -> e.type() == 10).count(), "x2APIC NMI");
    }

    @Test
    void dsdtStartsWithTheSleepStatesAndHasOneProcessorDevicePerVcpu() {
        byte[] d = build(0, 1, 4).table("DSDT").bytes();
        assertEquals(2, u8(d, 8), "revision 2: 64-bit integers");
        // Name(_S4_, Package(4){2, Zero, Zero, Zero}), Name(_S5_, Package(4){Zero, Zero, Zero, Zero})
        assertEquals("085f53345f1207040a02000000", HexFormat.of().formatHex(d, 36, 49));
        assertEquals("085f53355f12060400000000", HexFormat.of().formatHex(d, 49, 61));
        // Scope(\_SB_) follows: ScopeOp, a 2-byte PkgLength covering the rest of the table, '\' "_SB_".
        assertEquals(0x10, u8(d, 61));
        int pkgLen = (u8(d, 62) & 0x0f) | u8(d, 63) << 4;
        assertEquals(1, u8(d, 62) >> 6, "two-byte PkgLength");
        assertEquals(d.length - 62, pkgLen, "the scope runs to the end of the table");
        assertEquals("\\_SB_", ascii(d, 64, 5));
        String text = ascii(d, 0, d.length);
        for (String dev : new String[] {"C000", "C001", "C002"}) {
            assertTrue(text.contains(dev + "\u0008_HID\r" + "ACPI0007\0"), dev);
        }
        assertFalse(text.contains("C003"));
        // Device(PCI0) { Name(_HID, EisaId("PNP0A03")) ...: the EISA ID is the DWord 0x030AD041.
        assertTrue(containsBytes(d, new byte[] {'P', 'C', 'I', '0', 0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, (byte) 0xd0, 0x0a, 0x03}));
    }

    static boolean containsBytes(byte[] hay, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= hay.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (hay[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return true;
        }
        return false;
    }

    @Test
    void prtGivesEverySlotsPinsTheGsiOfTheirPirq() {
        byte[] d = build(0).table("DSDT").bytes();
        int[] pirqToIrq = {10, 10, 11, 11};
        int count = 0;
        for (int slot = 0; slot < 32; slot++) {
            for (int pin = 0; pin < 4; pin++) {
                int gsi = pirqToIrq[(pin + slot - 1) & 3];   // PIIX: INTA of slot 1 is PIRQA
                ByteWriter e = new ByteWriter();
                long adr = (long) slot << 16 | 0xffff;
                e.u8(0x12);                                     // PackageOp
                byte[] adrBytes = slot == 0 ? new byte[] {0x0b, (byte) 0xff, (byte) 0xff}
                        : new byte[] {0x0c, (byte) adr, (byte) (adr >> 8), (byte) (adr >> 16), (byte) (adr >> 24)};
                byte[] pinBytes = pin == 0 ? new byte[] {0} : pin == 1 ? new byte[] {1} : new byte[] {0x0a, (byte) pin};
                int body = 1 + adrBytes.length + pinBytes.length + 1 + 2;
                e.u8(body + 1).u8(4).bytes(adrBytes).bytes(pinBytes).u8(0).u8(0x0a).u8(gsi);
                assertTrue(containsBytes(d, e.toArray()), "slot " + slot + " pin " + pin + " -> " + gsi);
                count++;
            }
        }
        assertEquals(128, count);
        // Package(0x80) with a two-byte PkgLength right after "_PRT".
        assertTrue(containsBytes(d, new byte[] {0x08, '_', 'P', 'R', 'T', 0x12}));
    }

    @Test
    void installWritesTheTablesWhereA16ByteScanOfTheBiosAreaFindsTheRsdp() {
        GuestMemory mem = new GuestMemory(List.of(new GuestRegion(0, Arena.ofAuto().allocate(1 << 20))));
        long rsdp = AcpiTables.install(mem, FirmwareConfig.pc(new int[] {0, 1}));
        List<Long> found = new ArrayList<>();
        byte[] sig = new byte[8];
        for (long a = 0xe0000; a < 0x100000; a += 16) {
            mem.read(a, sig, 0, 8);
            if (ascii(sig, 0, 8).equals("RSD PTR ")) {
                found.add(a);
            }
        }
        assertEquals(List.of(rsdp), found);
        byte[] r = new byte[36];
        mem.read(rsdp, r, 0, 36);
        assertEquals(0, sum(r, 0, 20));
        assertEquals(0, sum(r, 0, 36));
        long xsdt = u64(r, 24);
        int xlen = mem.read32(xsdt + 4);
        List<String> sigs = new ArrayList<>();
        for (long p = xsdt + 36; p < xsdt + xlen; p += 8) {
            long t = mem.read64(p);
            byte[] h = new byte[36];
            mem.read(t, h, 0, 36);
            byte[] all = new byte[(int) u32(h, 4)];
            mem.read(t, all, 0, all.length);
            assertEquals(0, sum(all, 0, all.length));
            sigs.add(ascii(h, 0, 4));
        }
        assertEquals(List.of("FACP", "APIC"), sigs);
    }

    @Test
    void tooManyVcpusForTheBiosAreaIsAClearError() {
        int[] ids = java.util.stream.IntStream.range(0, 4096).toArray();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> AcpiTables.build(FirmwareConfig.pc(ids)));
        assertTrue(e.getMessage().contains("4096 vCPUs"), e.getMessage());
    }
}
