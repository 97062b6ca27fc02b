package dev.jkvm.machine.firmware;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class FirmwareConfigTest {
    @Test
    void thePiixSwizzleMatchesTheBus() {
        assertEquals(0, FirmwareConfig.pirq(1, 0), "slot 1 INTA is PIRQA");
        assertEquals(1, FirmwareConfig.pirq(2, 0), "slot 2 INTA is PIRQB");
        assertEquals(3, FirmwareConfig.pirq(3, 1), "slot 3 INTB is PIRQD");
        assertEquals(0, FirmwareConfig.pirq(4, 1), "slot 4 INTB wraps to PIRQA");
        assertEquals(3, FirmwareConfig.pirq(0, 0), "slot 0 INTA is PIRQD");
        FirmwareConfig c = FirmwareConfig.pc(new int[] {0});
        assertEquals(List.of(10, 11), c.pciIrqs());
        assertEquals(10, c.intxIrq(1, 0));
        assertEquals(11, c.intxIrq(3, 0));
    }

    @Test
    void pcDefaultsAreThePiix4Block() {
        FirmwareConfig c = FirmwareConfig.pc(new int[] {0, 1});
        assertEquals(0x600, c.pm1aEventBlock());
        assertEquals(0x604, c.pm1aControlBlock());
        assertEquals(0x608, c.pmTimerBlock());
        assertEquals(0xafe0, c.gpe0Base());
        assertEquals(0xb2, c.smiCommand());
        assertEquals(0xf1, c.acpiEnable());
        assertEquals(0xf0, c.acpiDisable());
        assertEquals(9, c.sciIrq());
        assertEquals(0xfec00000L, c.ioApicAddress());
        assertEquals(0xfee00000L, c.lapicAddress());
    }

    @Test
    void withoutSmiCommandTheEnableValuesAreZero() {
        FirmwareConfig pc = FirmwareConfig.pc(new int[] {0});
        FirmwareConfig noSmi = new FirmwareConfig(pc.apicIds(), 0, pc.ioApicAddress(), 0, pc.lapicAddress(), pc.pmIoBase(),
                pc.gpe0Base(), pc.gpe0Length(), 0, 0xf1, 0xf0, pc.sciIrq(), pc.pirqIrqs(), 0, 0);
        byte[] f = AcpiTables.build(noSmi).table("FACP").bytes();
        assertEquals(0, AcpiTablesTest.u32(f, 48));
        assertEquals(0, AcpiTablesTest.u8(f, 52) | AcpiTablesTest.u8(f, 53), "ACPI_ENABLE/DISABLE must be 0 without SMI_CMD");
        assertEquals(0, AcpiTablesTest.sum(f, 0, f.length));
    }

    @Test
    void invalidConfigurationsAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> FirmwareConfig.pc(new int[0]));
        assertThrows(IllegalArgumentException.class, () -> FirmwareConfig.pc(new int[] {0, 1, 1}));
        FirmwareConfig pc = FirmwareConfig.pc(new int[] {0});
        assertThrows(IllegalArgumentException.class, () -> new FirmwareConfig(pc.apicIds(), 0, pc.ioApicAddress(), 0,
                pc.lapicAddress(), 0x600, 0xafe0, 4, 0xb2, 0xf1, 0xf0, 9, List.of(10, 10, 11), 0, 0));
        assertThrows(IllegalArgumentException.class, () -> new FirmwareConfig(pc.apicIds(), 0, pc.ioApicAddress(), 0,
                pc.lapicAddress(), 0x600, 0xafe0, 4, 0xb2, 0xf1, 0xf0, 2, List.of(10, 10, 11, 11), 0, 0));
    }
}
