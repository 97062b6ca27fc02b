package dev.jkvm.machine.firmware;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * ACPICA (Debian's acpica-tools) reads every table jkvm makes: {@code iasl -d} disassembles each
 * without an error, the data tables compile back to the same bytes, the DSDT's disassembly
 * compiles without a warning, and the RSDP (which iasl cannot load from a file, having no
 * standard header) compiles from its field values to exactly jkvm's 36 bytes, checksums included.
 */
class IaslDisassemblyTest {
    private static final Pattern ERROR = Pattern.compile("(?i)\\berror");

    @TempDir
    Path dir;

    @ParameterizedTest(name = "-smp {0}")
    @ValueSource(strings = {"1", "2", "4", "8,2,2,2", "6,2,3,1", "x2apic:0,1,300"})
    void everyTableDisassemblesWithoutError(String smp) throws Exception {
        AcpiTables.Image image = AcpiTables.build(FirmwareConfig.pc(AcpiTablesTest.apicIds(smp)));
        StringBuilder summary = new StringBuilder();
        for (AcpiTables.Table t : image.tables()) {
            if (t.signature().equals("RSD PTR ")) {
                continue;   // see rsdpCompilesFromItsFieldsToTheSameBytes
            }
            String name = t.signature();
            Iasl.Disassembly d = Iasl.disassemble(dir, name, t.bytes());
            String all = d.output() + "\n" + d.dsl();
            assertEquals(0, d.status(), name + ":\n" + all);
            assertFalse(ERROR.matcher(d.output()).find(), name + ":\n" + all);
            assertFalse(ERROR.matcher(d.dsl()).find(), name + ":\n" + all);
            assertTrue(d.dsl().contains("Signature") || d.dsl().contains("DefinitionBlock"), name + ": no .dsl\n" + all);
            summary.append(name).append(' ');
            if (name.equals("DSDT")) {
                for (String s : new String[] {"_S5_", "_S4_", "PCI0", "_PRT", "_CRS", "EisaId (\"PNP0A03\")", "Device (ISA)", "ACPI0007",
                        "WordBusNumber", "WordIO", "DWordMemory", "0xFEBFFFFF", "Package (0x80)"}) {
                    assertTrue(d.dsl().contains(s), "DSDT disassembly lacks " + s + "\n" + d.dsl());
                }
            }
        }
        System.out.println("iasl -d: no errors for " + summary + "(-smp " + smp + ")");
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"FACP", "APIC", "FACS", "RSDT", "XSDT"})
    void dataTablesCompileBackToTheSameBytes(String signature) throws Exception {
        byte[] ours = AcpiTables.build(FirmwareConfig.pc(new int[] {0, 1, 4, 5})).table(signature).bytes();
        assertEquals(0, Iasl.disassemble(dir, signature, ours).status());
        Iasl.Disassembly c = Iasl.compile(dir, signature);
        assertEquals(0, c.status(), c.output());
        assertTrue(c.output().contains("0 Errors, 0 Warnings"), c.output());
        byte[] theirs = Files.readAllBytes(dir.resolve(signature + ".aml"));
        assertEquals(ours.length, theirs.length);
        if (!signature.equals("FACS")) {
            // iasl writes its own compiler ID and revision (bytes 28-35) and so its own checksum.
            assertEquals(0, ByteWriter.sum(theirs, 0, theirs.length), "iasl's checksum");
            Arrays.fill(ours, 28, 36, (byte) 0);
            Arrays.fill(theirs, 28, 36, (byte) 0);
            ours[9] = 0;
            theirs[9] = 0;
        }
        assertArrayEquals(ours, theirs, HexFormat.of().formatHex(theirs));
    }

    @Test
    void dsdtDisassemblyCompilesWithoutWarnings() throws Exception {
        byte[] ours = AcpiTables.build(FirmwareConfig.pc(new int[] {0, 1})).table("DSDT").bytes();
        assertEquals(0, Iasl.disassemble(dir, "DSDT", ours).status());
        Iasl.Disassembly c = Iasl.compile(dir, "DSDT");
        assertEquals(0, c.status(), c.output());
        assertTrue(c.output().contains("0 Errors, 0 Warnings"), c.output());
    }

    /**
     * ACPICA's interpreter, the one Linux runs, loads the DSDT next to the FADT and MADT and evaluates
     * what an OS asks for. acpiexec's own self-tests print "Unexpected ... (aetests-N)" for the PM2
     * block and GPE numbers this platform does not have; those lines are not about the tables.
     */
    @Test
    void acpicaLoadsTheNamespaceAndEvaluatesItsObjects() throws Exception {
        AcpiTables.Image image = AcpiTables.build(FirmwareConfig.pc(new int[] {0, 1}));
        List<String> files = new java.util.ArrayList<>();
        for (String sig : new String[] {"FACP", "APIC", "DSDT"}) {
            Files.write(dir.resolve(sig + ".dat"), image.table(sig).bytes());
            files.add(sig + ".dat");
        }
        Iasl.Disassembly run = Iasl.acpiexec(dir, "evaluate \\_S5_; evaluate \\_S4_; evaluate \\_SB.PCI0._PRT; "
                + "evaluate \\_SB.PCI0._CRS; evaluate \\_SB.C001._STA; evaluate \\_SB.C001._UID", files);
        String out = run.output();
        assertEquals(0, run.status(), out);
        assertTrue(out.contains("1 ACPI AML tables successfully acquired and loaded"), out);
        String problems = out.lines().filter(l -> ERROR.matcher(l).find() || l.contains("Warning") || l.contains("Exception")
                || l.contains("Unexpected") && !l.matches("Unexpected AE_\\w+ from \\w+ \\(aetests-\\d+\\)"))
                .collect(java.util.stream.Collectors.joining("\n"));
        assertEquals("", problems, out);
        assertTrue(out.contains("Initialized GPE 00 to 0F [_GPE] 2 regs on interrupt 0x9 (SCI)"), out);
        assertTrue(out.contains("Evaluation of \\_SB.PCI0._PRT returned object"), out);
        assertTrue(out.contains("[Package] Contains 128 Elements:"), out);
        assertTrue(out.contains("Evaluation of \\_SB.PCI0._CRS returned object"), out);
        assertTrue(out.matches("(?s).*Evaluation of \\\\_SB\\.C001\\._STA returned object.*?\\[Integer\\] = 000000000000000F.*"), out);
        assertTrue(out.matches("(?s).*Evaluation of \\\\_SB\\.C001\\._UID returned object.*?\\[Integer\\] = 0000000000000001.*"), out);
    }

    @Test
    void rsdpCompilesFromItsFieldsToTheSameBytes() throws Exception {
        byte[] rsdp = AcpiTables.build(FirmwareConfig.pc(new int[] {0})).table("RSD PTR ").bytes();
        // iasl's data-table source for an RSDP, fields read at the ACPI 6.x offsets, checksums left 0 for iasl to compute.
        String source = String.format("""
                [0008]                          Signature : "%s"
                [0001]                           Checksum : 00
                [0006]                             Oem ID : "%s"
                [0001]                           Revision : %02X
                [0004]                       RSDT Address : %08X
                [0004]                             Length : %08X
                [0008]                       XSDT Address : %016X
                [0001]                  Extended Checksum : 00
                [0003]                           Reserved : 000000
                """, new String(rsdp, 0, 8, java.nio.charset.StandardCharsets.US_ASCII),
                new String(rsdp, 9, 6, java.nio.charset.StandardCharsets.US_ASCII), rsdp[15],
                ByteWriter.le32(rsdp, 16), ByteWriter.le32(rsdp, 20), ByteWriter.le64(rsdp, 24));
        Files.writeString(dir.resolve("RSDP.dsl"), source);
        Iasl.Disassembly c = Iasl.compile(dir, "RSDP");
        assertEquals(0, c.status(), c.output());
        assertArrayEquals(rsdp, Files.readAllBytes(dir.resolve("RSDP.aml")), c.output());
    }
}
