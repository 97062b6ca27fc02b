package dev.jkvm.devices.legacy.platform;

import dev.jkvm.vmm.DeviceBus;
import dev.jkvm.vmm.device.BusDevice;
import dev.jkvm.vmm.pci.PciConfiguration;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicBoolean;

import static dev.jkvm.devices.legacy.platform.Piix4PowerManagement.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class Piix4PowerManagementTest {
    private static final int BASE = AcpiHardware.PM_BASE;

    private DeviceBus pio;
    private Recorders.Line sci;
    private Recorders.Vm vm;
    private Recorders.Clock clock;
    private Piix4PowerManagement pm;

    @BeforeEach
    void setUp() {
        pio = new DeviceBus("pio");
        sci = new Recorders.Line();
        vm = new Recorders.Vm();
        clock = new Recorders.Clock(123_456_789L);
        pm = new Piix4PowerManagement(pio, sci, vm, clock::get, false);
        pm.firmwareSetup(BASE);
        pio.register(AcpiHardware.GPE0_BLK, AcpiHardware.GPE0_BLK_LEN, "gpe0", pm.gpeBlock());
        pio.register(AcpiHardware.SMI_CMD, 2, "apm", pm.smiCommandPort());
    }

    private long in(int port, int size) {
        return pio.read(port, size);
    }

    private void out(int port, int size, long value) {
        pio.write(port, size, value);
    }

    @Test
    void identityAsQemuShowsIt() {
        assertEquals(0x71138086L, pm.readConfig(0, 4));
        assertEquals(0x06800003L, pm.readConfig(PciConfiguration.REVISION, 4));
        assertEquals(0x11001af4L, pm.readConfig(PciConfiguration.SUBSYSTEM_VENDOR_ID, 4));
        assertEquals(1, pm.readConfig(PciConfiguration.INTERRUPT_PIN, 1));
        assertEquals(0x0109, pm.readConfig(PciConfiguration.INTERRUPT_LINE, 2), "line 9 (SCI), pin INTA");
        assertEquals(0, pm.configuration().get8(PciConfiguration.INTERRUPT_PIN), "never routed as INTx");
        assertNull(pm.bar(0));
    }

    @Test
    void firmwarePlacesThePmBlock() {
        assertEquals(BASE | 1, pm.readConfig(PMBA, 4));
        assertEquals(PMIOSE, pm.readConfig(PMREGMISC, 1));
        assertEquals(BASE, pm.pmBase());
        assertTrue(in(BASE + PM_TMR, 4) < (1 << 24));
        assertThrows(IllegalArgumentException.class, () -> pm.firmwareSetup(0x601));
    }

    @Test
    void theGuestMovesAndDisablesTheBlock() {
        pm.writeConfig(PMBA, 4, 0xb001);
        assertEquals(0xb001, pm.readConfig(PMBA, 4));
        assertEquals(0xb000, pm.pmBase());
        assertEquals(0xffffffffL, in(BASE + PM_TMR, 4), "nothing at the old place");
        assertTrue(in(0xb000 + PM_TMR, 4) < (1 << 24));
        pm.writeConfig(PMREGMISC, 1, 0);
        assertEquals(-1, pm.pmBase());
        assertEquals(0xffffffffL, in(0xb000 + PM_TMR, 4));
        // Only bits 15:6 are an address; bit 0 always reads 1.
        pm.writeConfig(PMBA, 4, 0xffffffffL);
        assertEquals(0xffc1, pm.readConfig(PMBA, 4));
        pm.writeConfig(PMREGMISC, 1, 0xff);
        assertEquals(PMIOSE, pm.readConfig(PMREGMISC, 1));
        assertEquals(0xffc0, pm.pmBase());
    }

    @Test
    void aBlockPlacedOnAnotherDeviceDecodesNowhere() {
        pio.register(0x3f8, 8, "serial", new BusDevice() {
            public long read(long offset, int size) {
                return 0x42;
            }

            public void write(long offset, int size, long value) {
            }
        });
        pm.writeConfig(PMBA, 4, 0x3c0);
        assertEquals(-1, pm.pmBase());
        assertEquals(1, pm.pmConflicts());
        assertEquals(0x42, in(0x3f8, 1));
        pm.writeConfig(PMBA, 4, BASE);
        assertEquals(BASE, pm.pmBase());
    }

    @Test
    void pmTimerCountsAt3579545Hz() {
        long t0 = in(BASE + PM_TMR, 4);
        clock.advance(1_000_000_000L);
        long t1 = in(BASE + PM_TMR, 4);
        assertEquals(3_579_545, (t1 - t0) & 0xffffff);
        clock.advance(10_000_000L);
        assertEquals(35_795, (in(BASE + PM_TMR, 4) - t1) & 0xffffff, "10 ms");
        // Byte reads see the same counter.
        assertEquals(in(BASE + PM_TMR, 4) & 0xff, in(BASE + PM_TMR, 1));
        assertEquals(0, in(BASE + PM_TMR + 3, 1), "24 bits");
    }

    @Test
    void timerOverflowStatusAndSci() {
        assertEquals(0, in(BASE + PM1_STS, 2));
        out(BASE + PM1_EN, 2, EN_TMR);
        long ticks = in(BASE + PM_TMR, 4);
        long toToggle = TIMER_MSB - (ticks & (TIMER_MSB - 1));
        clock.advance((toToggle - 2) * 1_000_000_000L / AcpiHardware.PM_TIMER_HZ);
        pm.timerExpired();
        assertFalse(sci.high());
        clock.advance(2 * 1_000_000L);
        pm.timerExpired();
        assertEquals(STS_TMR, in(BASE + PM1_STS, 2));
        assertTrue(sci.high());
        out(BASE + PM1_STS, 2, STS_TMR);
        assertEquals(0, in(BASE + PM1_STS, 2), "write 1 to clear");
        assertFalse(sci.high());
    }

    @Test
    void statusBitsClearOnlyWhereOnesAreWritten() {
        pm.pressPowerButton();
        clock.advance(3_000_000_000L);
        assertEquals(STS_PWRBTN | STS_TMR, in(BASE + PM1_STS, 2));
        out(BASE + PM1_STS, 2, 0);
        assertEquals(STS_PWRBTN | STS_TMR, in(BASE + PM1_STS, 2));
        out(BASE + PM1_STS + 1, 1, STS_PWRBTN >> 8);
        assertEquals(STS_TMR, in(BASE + PM1_STS, 2));
        out(BASE + PM1_EN, 2, 0xffff);
        assertEquals(EN_WRITABLE, in(BASE + PM1_EN, 2));
        assertEquals(EN_WRITABLE << 16 | STS_TMR, in(BASE + PM1_STS, 4), "one 32-bit read of the event block");
    }

    @Test
    void acpiEnableThroughTheSmiCommandPort() {
        assertEquals(0, in(BASE + PM1_CNT, 2) & CNT_SCI_EN);
        out(AcpiHardware.SMI_CMD, 1, AcpiHardware.ACPI_ENABLE);
        assertEquals(CNT_SCI_EN, in(BASE + PM1_CNT, 2) & CNT_SCI_EN);
        assertEquals(AcpiHardware.ACPI_ENABLE, in(AcpiHardware.SMI_CMD, 1));
        out(AcpiHardware.SMI_CMD + 1, 1, 0x5a);
        assertEquals(0x5a, in(AcpiHardware.SMI_CMD + 1, 1));
        out(AcpiHardware.SMI_CMD, 1, AcpiHardware.ACPI_DISABLE);
        assertEquals(0, in(BASE + PM1_CNT, 2) & CNT_SCI_EN);
    }

    @Test
    void powerButtonRaisesTheSciOnlyWhenTheGuestAsked() {
        assertFalse(pm.pressPowerButton(), "ACPI mode is off");
        assertFalse(sci.high());
        out(BASE + PM1_STS, 2, STS_PWRBTN);
        out(AcpiHardware.SMI_CMD, 1, AcpiHardware.ACPI_ENABLE);
        out(BASE + PM1_EN, 2, EN_PWRBTN);
        assertTrue(pm.pressPowerButton());
        assertTrue(sci.high());
        assertEquals(STS_PWRBTN, in(BASE + PM1_STS, 2));
        out(BASE + PM1_STS, 2, STS_PWRBTN);
        assertFalse(sci.high());
    }

    @Test
    void s5PowersOff() {
        out(BASE + PM1_CNT, 2, CNT_SCI_EN | AcpiHardware.SLP_TYP_S5 << 10);
        assertTrue(vm.powerOffs.isEmpty(), "SLP_TYP alone does nothing");
        out(BASE + PM1_CNT, 2, CNT_SCI_EN | AcpiHardware.SLP_TYP_S5 << 10 | CNT_SLP_EN);
        assertEquals(1, vm.powerOffs.size());
        assertTrue(vm.powerOffs.get(0).contains("S5"), vm.powerOffs.get(0));
        assertEquals(CNT_SCI_EN, in(BASE + PM1_CNT, 2), "SLP_EN reads 0");
    }

    @Test
    void s5WrittenAsTwoBytes() {
        out(BASE + PM1_CNT + 1, 1, (CNT_SLP_EN | AcpiHardware.SLP_TYP_S5 << 10) >> 8);
        assertEquals(1, vm.powerOffs.size());
    }

    @Test
    void s4PowersOffAndS3IsIgnored() {
        out(BASE + PM1_CNT, 2, AcpiHardware.SLP_TYP_S3 << 10 | CNT_SLP_EN);
        assertTrue(vm.powerOffs.isEmpty());
        assertEquals(AcpiHardware.SLP_TYP_S3, pm.lastSleepType());
        out(BASE + PM1_CNT, 2, AcpiHardware.SLP_TYP_S4 << 10 | CNT_SLP_EN);
        assertEquals(1, vm.powerOffs.size());
        assertTrue(vm.resets.isEmpty());
    }

    @Test
    void gpeBlock() {
        out(AcpiHardware.GPE0_BLK + 2, 2, 0x0004);
        assertEquals(0x0004_0000L, in(AcpiHardware.GPE0_BLK, 4));
        pm.raiseGpe(2);
        assertTrue(sci.high());
        assertEquals(0x0004_0004L, in(AcpiHardware.GPE0_BLK, 4));
        out(AcpiHardware.GPE0_BLK, 1, 0x04);
        assertFalse(sci.high());
        pm.raiseGpe(1);
        assertFalse(sci.high(), "GPE 1 is not enabled");
        assertEquals(0x0004_0002L, in(AcpiHardware.GPE0_BLK, 4));
    }

    @Test
    void hostileAccessesAreHarmless() {
        for (int off = 0; off < 64; off++) {
            for (int size : new int[] {1, 2, 4}) {
                if (off + size <= 64) {
                    out(BASE + off, size, off == 4 || off == 5 ? 0 : -1L);
                    in(BASE + off, size);
                }
            }
        }
        assertTrue(vm.powerOffs.isEmpty());
        for (int off = 0; off < 0x100; off += 4) {
            pm.writeConfig(off, 4, 0xffffffffL);
        }
        assertEquals(0x71138086L, pm.readConfig(0, 4));
        assertEquals(0x0001, pm.readConfig(SMBBA, 4), "no SMBus to enable");
        assertEquals(0, pm.readConfig(SMBHSTCFG, 1));
    }

    @Test
    void resetRestoresFirmwareState() {
        pm.writeConfig(PMBA, 4, 0xb000);
        out(0xb000 + PM1_EN, 2, EN_PWRBTN);
        pm.reset();
        assertEquals(BASE, pm.pmBase());
        assertEquals(0, in(BASE + PM1_EN, 2));
    }

    @Test
    void closeTakesTheRtcAlong() {
        AtomicBoolean closed = new AtomicBoolean();
        pm.closeWith(() -> closed.set(true));
        pm.close();
        assertTrue(closed.get());
    }

    @Test
    void timerThreadOnlyWhileTheOverflowInterruptIsEnabled() {
        Piix4PowerManagement real = new Piix4PowerManagement(new DeviceBus("pio2"), sci, vm);
        try {
            real.firmwareSetup(BASE);
            assertFalse(real.timerArmed());
            real.writePm(PM1_EN, 2, EN_TMR);
            assertTrue(real.timerArmed());
            real.writePm(PM1_EN, 2, 0);
            assertFalse(real.timerArmed());
        } finally {
            real.close();
        }
    }
}
