package dev.jkvm.machine.firmware;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The AML encoder against the ACPI 6.x grammar (section 20.2), byte for byte. */
class AmlTest {
    private static String hex(byte[] b) {
        return HexFormat.of().formatHex(b);
    }

    /** PkgLength counts its own bytes: 1 byte up to 63, then 2 (12 bits), 3 (20 bits), 4 (28 bits). */
    @ParameterizedTest(name = "body {0} -> {1}")
    @CsvSource({
            "0,         01",
            "5,         06",
            "62,        3f",            // 63 in total: the largest one-byte length
            "63,        4104",          // 65 = 0x041: lead 0x40 | 1, then 0x04
            "64,        4204",
            "4093,      4fff",          // 0xFFF in total: the largest two-byte length
            "4094,      810001",        // 0x1001 in three bytes: low nibble 1, then 0x00, 0x01
            "1048572,   8fffff",        // 0xFFFFF: the largest three-byte length
            "1048573,   c1000001",      // 0x100001 in four bytes
            "268435451, cfffffff",      // 0xFFFFFFF: the largest of all
    })
    void pkgLengthEncodings(int body, String expected) {
        assertEquals(expected, hex(Aml.pkgLength(body)));
    }

    @Test
    void pkgLengthBeyondTwentyEightBitsIsRejected() {
        assertThrows(IllegalArgumentException.class, () -> Aml.pkgLength(268435452));
        assertThrows(IllegalArgumentException.class, () -> Aml.pkgLength(-1));
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({
            "_S5,           5f53355f",                          // padded with '_'
            "PCI0,          50434930",
            "\\_SB,         5c5f53425f",                        // root prefix
            "^ISA,          5e4953415f",                        // parent prefix
            "^^PCI0,        5e5e50434930",
            "_SB.PCI0,      2e5f53425f50434930",                // DualNamePrefix
            "\\_SB.PCI0,    5c2e5f53425f50434930",
            "\\_SB.PCI0.ISA, 5c2f035f53425f504349304953415f",    // MultiNamePrefix, 3 segments
            "\\,            5c00",                              // root alone: NullName after '\'
    })
    void nameStrings(String path, String expected) {
        assertEquals(expected, hex(Aml.nameString(path)));
    }

    @ParameterizedTest
    @ValueSource(strings = {"0ABC", "ab", "PCI00", "A-B", "_SB..PCI0", "\\^ISA"})
    void invalidNamesAreRejected(String name) {
        assertThrows(IllegalArgumentException.class, () -> Aml.nameString(name));
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({
            "0,                  00",
            "1,                  01",
            "2,                  0a02",
            "255,                0aff",
            "256,                0b0001",
            "65535,              0bffff",
            "65536,              0c00000100",
            "4294967295,         0cffffffff",
            "4294967296,         0e0000000001000000",
    })
    void integersUseTheShortestForm(long value, String expected) {
        assertEquals(expected, hex(Aml.integer(value)));
    }

    @Test
    void stringsAndEisaIds() {
        assertEquals("0d414350493030303700", hex(Aml.string("ACPI0007")));
        assertEquals(0x030ad041L, Aml.eisaIdValue("PNP0A03"));   // the value iasl's EisaId("PNP0A03") gives
        assertEquals(0x0303d041L, Aml.eisaIdValue("PNP0303"));
        assertEquals("0c41d00a03", hex(Aml.eisaId("PNP0A03")));
        assertThrows(IllegalArgumentException.class, () -> Aml.eisaIdValue("PNP0A0"));
        assertThrows(IllegalArgumentException.class, () -> Aml.eisaIdValue("pnp0A03"));
    }

    @Test
    void namePackageScopeDeviceMethod() {
        assertEquals("085f53355f12060400000000",
                hex(Aml.name("_S5", Aml.packageOf(Aml.integer(0), Aml.integer(0), Aml.integer(0), Aml.integer(0)))));
        // Device(ISA_) { Name(_ADR, 0x00010000) }: 5B 82, PkgLength = 1 + 4 + 10 = 15
        assertEquals("5b820f4953415f085f4144520c00000100", hex(Aml.device("ISA", Aml.name("_ADR", Aml.integer(0x10000)))));
        // Scope(\_SB_) {}: PkgLength 6, '\' "_SB_"
        assertEquals("10065c5f53425f", hex(Aml.scope("\\_SB")));
        // Method(_STA, 0, NotSerialized) { Return(0x0F) }: PkgLength 1 + 4 + 1 + 3 = 9
        assertEquals("14095f5354410a40a40a0f".replace("0a40", "00"),
                hex(Aml.method("_STA", 0, false, Aml.returnValue(Aml.integer(0x0f)))));
        assertEquals("14065f5354410b", hex(Aml.method("_STA", 3, true)));
        assertEquals("1105" + "0a02" + "abcd", hex(Aml.buffer(new byte[] {(byte) 0xab, (byte) 0xcd})));
    }

    @Test
    void largePackagesUseLongerPkgLengths() {
        byte[][] elements = new byte[100][];
        for (int i = 0; i < elements.length; i++) {
            elements[i] = Aml.integer(0x12345678);   // 5 bytes each
        }
        byte[] p = Aml.packageOf(elements);
        // body = 1 + 500 = 501; total 503 = 0x1F7 -> 47 1F
        assertEquals("12471f64", hex(p).substring(0, 8));
        assertEquals(1 + 2 + 501, p.length);
        assertThrows(IllegalArgumentException.class, () -> Aml.packageOf(new byte[256][]));
    }

    @Test
    void resourceDescriptors() {
        // WordBusNumber(ResourceProducer, MinFixed, MaxFixed, PosDecode, 0, 0, 0xFF, 0, 0x100)
        assertEquals("880d00020c00" + "0000" + "0000" + "ff00" + "0000" + "0001",
                hex(new Aml.Resources().wordBusNumber(0, 0xff).bytes()).substring(0, 32));
        // WordIO(..., EntireRange, 0, 0xD00, 0xFFFF, 0, 0xF300)
        assertEquals("880d00" + "01" + "0c03" + "0000" + "000d" + "ffff" + "0000" + "00f3" + "7900",
                hex(new Aml.Resources().wordIo(0xd00, 0xffff).bytes()));
        // IO(Decode16, 0xCF8, 0xCF8, 1, 8)
        assertEquals("4701f80cf80c0108" + "7900", hex(new Aml.Resources().io(0xcf8, 0xcf8, 1, 8).bytes()));
        // DWordMemory(ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite, 0, 0xC0000000, 0xFEBFFFFF, 0, 0x3EC00000)
        assertEquals("871700" + "00" + "0c01" + "00000000" + "000000c0" + "ffffbffe" + "00000000" + "0000c03e" + "7900",
                hex(new Aml.Resources().dwordMemory(0xc0000000L, 0xfebfffffL, false, true).bytes()));
        // DWordMemory(..., Cacheable, ReadWrite, 0, 0xA0000, 0xBFFFF, 0, 0x20000): type-specific flags 0x03
        assertEquals("03", hex(new Aml.Resources().dwordMemory(0xa0000, 0xbffff, true, true).bytes()).substring(10, 12));
        // QWordMemory(..., 0x100000000, 0x7FFFFFFFFF)
        byte[] q = new Aml.Resources().qwordMemory(0x1_0000_0000L, 0x7f_ffff_ffffL, false, true).bytes();
        assertEquals(46 + 2, q.length);
        assertEquals("8a2b00" + "00" + "0c01" + "0000000000000000" + "0000000001000000" + "ffffffff7f000000" + "0000000000000000"
                + "000000007f000000" + "7900", hex(q));
        // The template: Buffer(size) { descriptors, EndTag }
        // (PkgLength 13 = BytePrefix 10 + 10 bytes + itself)
        assertEquals("110d" + "0a0a" + "4701f80cf80c0108" + "7900", hex(new Aml.Resources().io(0xcf8, 0xcf8, 1, 8).template()));
        assertThrows(IllegalArgumentException.class, () -> new Aml.Resources().wordIo(0x10, 0x0f));
        assertThrows(IllegalArgumentException.class, () -> new Aml.Resources().dwordMemory(0, 0x1_0000_0000L, false, true));
    }
}
