package dev.jkvm.devices.legacy.ide;

import dev.jkvm.vmm.pci.BarKind;
import dev.jkvm.vmm.pci.PciConfiguration;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The controller: PCI identity, register decoding shared by both devices, absent devices, reset and INTRQ. */
class PiixIdeTest {
    private final IdeHarness h = new IdeHarness();

    @Test
    void pciIdentityIsPiix3IdeInCompatibilityModeWithBusMaster() {
        PciConfiguration c = h.ide.configuration();
        assertEquals(0x8086, c.get16(PciConfiguration.VENDOR_ID));
        assertEquals(0x7010, c.get16(PciConfiguration.DEVICE_ID));
        assertEquals(0x80, c.get8(PciConfiguration.CLASS_PROG), "bus master, both channels in compatibility mode");
        assertEquals(0x01, c.get8(PciConfiguration.CLASS_PROG + 1));
        assertEquals(0x01, c.get8(PciConfiguration.CLASS_PROG + 2));
        assertEquals(0, c.get8(PciConfiguration.HEADER_TYPE));
        assertEquals(0, c.get8(PciConfiguration.INTERRUPT_PIN), "legacy mode interrupts are ISA IRQs 14 and 15");
        assertEquals(BarKind.IO, c.barKind(4));
        assertEquals(16, c.barSize(4));
        for (int bar = 0; bar < 4; bar++) {
            assertNull(c.barKind(bar), "BAR" + bar + " reads 0: the channels use the legacy ports");
        }
        h.ide.writeConfig(PciConfiguration.BAR0 + 16, 4, 0xffffffffL);
        assertEquals(0xfff1L, h.ide.readConfig(PciConfiguration.BAR0 + 16, 4), "BAR4 sizes to 16 I/O ports");
    }

    @Test
    void firmwareSetupMatchesWhatSeaBiosLeaves() {
        h.ide.firmwareSetup();
        assertEquals(0x8000, h.ide.readConfig(PiixIde.IDETIM, 2));
        assertEquals(0x8000, h.ide.readConfig(PiixIde.IDETIM + 2, 2));
        assertEquals(0x0100, h.ide.readConfig(PciConfiguration.COMMAND, 2) & 0x0107, "SERR on, no bus mastering yet");
        h.ide.writeConfig(PiixIde.IDETIM, 2, 0xa307);
        assertEquals(0xa307, h.ide.readConfig(PiixIde.IDETIM, 2), "timing registers are read-write");
    }

    @Test
    void anEmptyChannelReadsZeroEverywhereAndIgnoresCommands() {
        h.disk(0, 0, 2048);
        for (int reg = 1; reg < 8; reg++) {
            assertEquals(0, h.in(1, reg), "register " + reg);
        }
        assertEquals(0, h.alt(1));
        h.out(1, Ata.REG_COUNT, 0x55);
        assertEquals(0, h.in(1, Ata.REG_COUNT), "written values do not read back without a device");
        h.command(1, Ata.IDENTIFY_DEVICE);
        assertEquals(0, h.alt(1));
        assertFalse(h.irq[1].high());
        assertEquals(0, h.inw(1));
    }

    @Test
    void anAbsentSlaveShowsZeroStatusAndTheRegistersLastWritten() {
        h.disk(0, 0, 2048);
        h.select(0, 1);
        assertEquals(0, h.status(0));
        assertEquals(0, h.alt(0));
        assertEquals(0, h.in(0, Ata.REG_ERROR_FEATURES));
        h.out(0, Ata.REG_COUNT, 0x55);
        h.out(0, Ata.REG_LBA_LOW, 0xaa);
        assertEquals(0x55, h.in(0, Ata.REG_COUNT), "Linux's device check writes and reads these");
        assertEquals(0xaa, h.in(0, Ata.REG_LBA_LOW));
        assertEquals(0xb0, h.in(0, Ata.REG_DEVICE));
        h.command(0, Ata.IDENTIFY_DEVICE);
        assertEquals(0, h.alt(0), "commands to an absent device are ignored");
        assertFalse(h.irq[0].high());
        // After a reset the absent position shows no signature.
        h.control(0, Ata.CONTROL_SRST);
        h.control(0, 0);
        h.select(0, 1);
        assertEquals(0xff, h.in(0, Ata.REG_LBA_MID));
        assertEquals(0xff, h.in(0, Ata.REG_LBA_HIGH));
        assertEquals(0, h.status(0));
    }

    @Test
    void registerWritesReachBothDevices() {
        h.disk(0, 0, 2048);
        h.disk(0, 1, 4096);
        h.select(0, 0);
        h.out(0, Ata.REG_LBA_MID, 0x12);
        h.select(0, 1);
        assertEquals(0x12, h.in(0, Ata.REG_LBA_MID));
        assertEquals(0xb0, h.in(0, Ata.REG_DEVICE));
        int[] id = h.identify(0, 1, Ata.IDENTIFY_DEVICE);
        assertEquals(4096, id[60], "the slave answers for itself");
        assertEquals("JK00002", IdeHarness.string(id, 10, 10));
    }

    @Test
    void softResetLeavesSignaturesAndDiagnosticCodes() {
        h.disk(0, 0, 2048);
        h.cdrom(0, 1, 64);
        h.select(0, 1);
        h.out(0, Ata.REG_LBA_MID, 0x77);
        h.control(0, Ata.CONTROL_SRST | Ata.CONTROL_NIEN);
        assertEquals(Ata.BSY, h.alt(0), "busy while SRST is held");
        h.out(0, Ata.REG_LBA_MID, 0x33);
        assertEquals(0x77, h.in(0, Ata.REG_LBA_MID), "writes while busy are lost");
        h.control(0, Ata.CONTROL_NIEN);
        assertEquals(0xa0, h.in(0, Ata.REG_DEVICE), "reset selects device 0");
        assertEquals(Ata.READY, h.alt(0));
        assertEquals(1, h.in(0, Ata.REG_COUNT));
        assertEquals(1, h.in(0, Ata.REG_LBA_LOW));
        assertEquals(0, h.in(0, Ata.REG_LBA_MID));
        assertEquals(0, h.in(0, Ata.REG_LBA_HIGH));
        assertEquals(Ata.DIAGNOSTIC_PASSED, h.in(0, Ata.REG_ERROR_FEATURES));
        h.select(0, 1);
        assertEquals(0, h.alt(0), "a PACKET device leaves reset with a clear status");
        assertEquals(0x14, h.in(0, Ata.REG_LBA_MID));
        assertEquals(0xeb, h.in(0, Ata.REG_LBA_HIGH));
        assertEquals(Ata.DIAGNOSTIC_PASSED, h.in(0, Ata.REG_ERROR_FEATURES));
        assertFalse(h.irq[0].high());
    }

    @Test
    void softResetEndsATransferInProgress() {
        h.disk(0, 0, 2048);
        h.lba28(0, 0, 0, 4);
        h.command(0, Ata.READ_SECTORS);
        assertTrue((h.alt(0) & Ata.DRQ) != 0);
        h.control(0, Ata.CONTROL_SRST);
        h.control(0, 0);
        assertEquals(Ata.READY, h.alt(0));
        assertEquals(0, h.inw(0), "no data after the reset");
        assertFalse(h.irq[0].high());
    }

    @Test
    void executeDeviceDiagnosticResetsBothAndInterrupts() {
        h.disk(0, 0, 2048);
        h.cdrom(0, 1, 64);
        h.lba28(0, 0, 5, 3);
        h.command(0, Ata.EXECUTE_DEVICE_DIAGNOSTIC);
        assertTrue(h.irq[0].high());
        assertEquals(Ata.READY, h.status(0));
        assertFalse(h.irq[0].high(), "reading status acknowledges");
        assertEquals(1, h.in(0, Ata.REG_ERROR_FEATURES));
        assertEquals(1, h.in(0, Ata.REG_LBA_LOW));
        h.select(0, 1);
        assertEquals(0xeb, h.in(0, Ata.REG_LBA_HIGH));
    }

    @Test
    void nienMasksTheLineAndTheBusMasterInterruptBit() {
        h.disk(0, 0, 2048);
        h.control(0, Ata.CONTROL_NIEN);
        h.select(0, 0);
        h.command(0, Ata.CHECK_POWER_MODE);
        assertFalse(h.irq[0].high());
        assertEquals(0, h.bm(0, BusMaster.REG_STATUS) & BusMaster.STATUS_INTERRUPT);
        h.control(0, 0);
        assertTrue(h.irq[0].high(), "the pending interrupt shows once nIEN clears");
        assertEquals(BusMaster.STATUS_INTERRUPT, h.bm(0, BusMaster.REG_STATUS) & BusMaster.STATUS_INTERRUPT);
        assertEquals(Ata.READY, h.alt(0));
        assertTrue(h.irq[0].high(), "the alternate status does not acknowledge");
        h.status(0);
        assertFalse(h.irq[0].high());
        assertEquals(0xff, h.in(0, Ata.REG_COUNT), "CHECK POWER MODE: active or idle");
    }

    @Test
    void onlyTheSelectedDeviceDrivesIntrq() {
        h.disk(0, 0, 2048);
        h.disk(0, 1, 2048);
        h.select(0, 0);
        h.command(0, Ata.IDLE_IMMEDIATE);
        assertTrue(h.irq[0].high());
        h.select(0, 1);
        assertFalse(h.irq[0].high());
        h.select(0, 0);
        assertTrue(h.irq[0].high());
        h.command(0, Ata.IDLE_IMMEDIATE);
        assertTrue(h.irq[0].high());
        assertEquals(3, h.irq[0].edges(), "writing a command drops INTRQ before the next one rises");
    }

    @Test
    void hobSelectsThePreviousRegisterValuesUntilTheNextWrite() {
        h.disk(0, 0, 2048);
        h.out(0, Ata.REG_LBA_LOW, 0x11);
        h.out(0, Ata.REG_LBA_LOW, 0x22);
        h.control(0, Ata.CONTROL_HOB);
        assertEquals(0x11, h.in(0, Ata.REG_LBA_LOW));
        h.out(0, Ata.REG_LBA_MID, 0x33);
        assertEquals(0x22, h.in(0, Ata.REG_LBA_LOW), "a register write clears HOB");
    }

    @Test
    void wideAccessesToByteRegistersHitNothing() {
        h.disk(0, 0, 2048);
        assertEquals(0xffff, h.ide.commandBlock(0).read(Ata.REG_LBA_LOW, 2));
        assertEquals(0xff, h.in(0, Ata.REG_DATA), "a byte read of the data port");
    }

    @Test
    void positionsAreCheckedAndTakenOnce() {
        h.disk(0, 0, 2048);
        assertThrows(IllegalArgumentException.class, () -> h.disk(0, 0, 2048));
        assertThrows(IllegalArgumentException.class, () -> h.disk(2, 0, 2048));
        assertThrows(IllegalArgumentException.class, () -> h.ide.attachDisk(1, 0, new MemoryImage(4096, true), true, null),
                "a read-only hard disk");
    }

    @Test
    void aMachineResetReturnsToPowerOnAndFirmwareState() {
        h.disk(0, 0, 2048);
        h.ide.firmwareSetup();
        h.ide.writeConfig(PiixIde.IDETIM, 2, 0);
        h.lba28(0, 0, 0, 2);
        h.command(0, Ata.READ_SECTORS);
        assertTrue(h.irq[0].high());
        h.prdTable(0, 0x1230);
        h.bm(0, BusMaster.REG_COMMAND, BusMaster.COMMAND_START);
        h.ide.reset();
        assertFalse(h.irq[0].high());
        assertEquals(Ata.READY, h.alt(0));
        assertEquals(0, h.inw(0));
        assertEquals(0, h.bm(0, BusMaster.REG_COMMAND));
        assertEquals(0, h.bm(0, BusMaster.REG_STATUS));
        assertEquals(0, h.ide.busMaster().read(BusMaster.REG_PRD_TABLE, 4));
        assertEquals(0x8000, h.ide.readConfig(PiixIde.IDETIM, 2), "the firmware's set-up again");
        assertEquals(1, h.in(0, Ata.REG_LBA_LOW), "signature");
    }

    @Test
    void closeClosesTheImages() {
        MemoryImage a = h.disk(0, 0, 2048);
        MemoryImage b = h.cdrom(1, 0, 16);
        h.ide.close();
        h.ide.close();
        assertTrue(a.closed && b.closed);
    }
}
