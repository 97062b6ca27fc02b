package dev.jkvm.devices.legacy.ide;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TaskFileTest {
    private static void write48(TaskFile t, long lba, int count) {
        t.write(Ata.REG_COUNT, count >>> 8);
        t.write(Ata.REG_LBA_LOW, (int) (lba >>> 24));
        t.write(Ata.REG_LBA_MID, (int) (lba >>> 32));
        t.write(Ata.REG_LBA_HIGH, (int) (lba >>> 40));
        t.write(Ata.REG_COUNT, count & 0xff);
        t.write(Ata.REG_LBA_LOW, (int) lba & 0xff);
        t.write(Ata.REG_LBA_MID, (int) (lba >>> 8) & 0xff);
        t.write(Ata.REG_LBA_HIGH, (int) (lba >>> 16) & 0xff);
    }

    @Test
    void lba28TakesBits27To24FromTheDeviceRegister() {
        TaskFile t = new TaskFile();
        t.write(Ata.REG_LBA_LOW, 0x78);
        t.write(Ata.REG_LBA_MID, 0x56);
        t.write(Ata.REG_LBA_HIGH, 0x34);
        t.device = 0xe0 | 0x0a;
        assertTrue(t.lbaMode());
        assertEquals(0x0a345678L, t.lba28());
        t.setLba28(0x0fedcba9L);
        assertEquals(0x0fedcba9L, t.lba28());
        assertEquals(0xe0 | 0x0f, t.device, "the LBA and obsolete bits stay");
    }

    @Test
    void lba48ComesFromTheCurrentAndPreviousWrites() {
        TaskFile t = new TaskFile();
        write48(t, 0x0000_ba98_7654_3210L, 0x1234);
        assertEquals(0xba98_7654_3210L, t.lba48());
        assertEquals(0x1234, t.count48());
        assertEquals(0x10, t.read(Ata.REG_LBA_LOW, false));
        assertEquals(0x76, t.read(Ata.REG_LBA_LOW, true), "HOB read gives the previous byte");
        assertEquals(0xba, t.read(Ata.REG_LBA_HIGH, true));
        assertEquals(0x12, t.read(Ata.REG_COUNT, true));
        t.setLba48(0xffff_ffff_fffeL);
        assertEquals(0xffff_ffff_fffeL, t.lba48());
    }

    @Test
    void aZeroCountMeansTheMaximum() {
        TaskFile t = new TaskFile();
        write48(t, 0, 0);
        assertEquals(256, t.count28());
        assertEquals(65536, t.count48());
        write48(t, 0, 0x100);
        assertEquals(256, t.count48(), "high byte 1, low byte 0 is 256, not 65536");
        assertEquals(256, t.count28());
    }

    @Test
    void writesShiftThroughADepthTwoFifo() {
        TaskFile t = new TaskFile();
        t.write(Ata.REG_ERROR_FEATURES, 1);
        t.write(Ata.REG_ERROR_FEATURES, 2);
        t.write(Ata.REG_ERROR_FEATURES, 3);
        assertEquals(3, t.features);
        assertEquals(2, t.hobFeatures);
    }

    @Test
    void signaturesTellTheKindOfDevice() {
        TaskFile t = new TaskFile();
        t.device = 0xef;
        t.signature(IdeDevice.Kind.ATA);
        assertEquals(1, t.count);
        assertEquals(1, t.lbaLow);
        assertEquals(0, t.lbaMid);
        assertEquals(0, t.lbaHigh);
        assertEquals(0xe0, t.device, "head bits cleared");
        t.signature(IdeDevice.Kind.ATAPI);
        assertEquals(0x14, t.lbaMid);
        assertEquals(0xeb, t.lbaHigh);
        t.reset(IdeDevice.Kind.NONE);
        assertEquals(0xff, t.lbaMid);
        assertEquals(0xff, t.lbaHigh);
        assertEquals(Ata.DEVICE_OBSOLETE, t.device);
        assertFalse(t.lbaMode());
    }
}
