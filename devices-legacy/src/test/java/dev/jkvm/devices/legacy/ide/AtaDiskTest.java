package dev.jkvm.devices.legacy.ide;

import org.junit.jupiter.api.Test;

import static dev.jkvm.devices.legacy.ide.IdeHarness.SECTOR;
import static dev.jkvm.devices.legacy.ide.IdeHarness.isPattern;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The ATA disk through the primary channel's ports: IDENTIFY, PIO in every addressing mode, errors. */
class AtaDiskTest {
    private final IdeHarness h = new IdeHarness();

    private int[] identify() {
        int[] id = h.identify(0, 0, Ata.IDENTIFY_DEVICE);
        assertNotNull(id);
        assertEquals(Ata.READY, h.alt(0), "DRQ clears after the 256 words");
        return id;
    }

    /** Reads count sectors of a PIO data-in command, one DRQ block of perBlock sectors at a time. */
    private byte[] readBlocks(int count, int perBlock) {
        byte[] all = new byte[count * SECTOR];
        for (int done = 0; done < count; done += perBlock) {
            assertTrue(h.irq[0].high(), "an interrupt for each block");
            int st = h.status(0);
            assertEquals(Ata.READY | Ata.DRQ, st, "block at sector " + done);
            int n = Math.min(perBlock, count - done) * SECTOR;
            System.arraycopy(h.pioIn(0, n), 0, all, done * SECTOR, n);
        }
        assertEquals(Ata.READY, h.alt(0));
        return all;
    }

    @Test
    void identifyDescribesAnLba48DiskWithDmaAndAWriteCache() {
        h.disk(0, 0, 8192);
        int[] id = identify();
        assertEquals(0x0040, id[0]);
        assertEquals("JKVM HARDDISK", IdeHarness.string(id, 27, 20));
        assertEquals("JK00001", IdeHarness.string(id, 10, 10));
        assertEquals("1.0", IdeHarness.string(id, 23, 4));
        assertEquals(0x8000 | AtaDisk.MAX_MULTIPLE, id[47]);
        assertEquals(0x0300, id[49] & 0x0300, "LBA and DMA");
        assertEquals(0x0007, id[53]);
        assertEquals(8192, id[60] | (id[61] << 16));
        assertEquals(8192, id[100] | (id[101] << 16));
        assertEquals(0, id[102] | id[103]);
        assertEquals(0x0007, id[63] & 0x7, "multiword DMA 0-2");
        assertEquals(0x0400, id[63] & 0x0700, "MWDMA2 selected");
        assertEquals(0x003f, id[88] & 0xff, "UDMA 0-5");
        assertEquals(0x0003, id[64]);
        assertTrue((id[82] & (1 << 5)) != 0, "write cache supported");
        assertTrue((id[85] & (1 << 5)) != 0, "write cache enabled");
        assertEquals(0x7400, id[83] & 0xf400, "48-bit, FLUSH CACHE, FLUSH CACHE EXT; bit 14 set");
        assertEquals(0x3400, id[86] & 0x3400);
        assertEquals(0x4000, id[84] & 0xc000);
        assertEquals(0x4000, id[87] & 0xc000);
        assertEquals(0x0100 | AtaDisk.MAX_MULTIPLE, id[59]);
        assertEquals(8, id[54], "8 cylinders of 16 x 63");
        assertEquals(16, id[55]);
        assertEquals(63, id[56]);
        assertEquals(8 * 16 * 63, id[57] | (id[58] << 16));
        int sum = 0;
        for (int w : id) {
            sum += (w & 0xff) + (w >>> 8);
        }
        assertEquals(0xa5, id[255] & 0xff);
        assertEquals(0, sum & 0xff, "the integrity word's checksum");
        assertTrue(h.irq[0].edges() >= 1);
    }

    @Test
    void capacityWordsSaturateForLargeDisks() {
        long sectors = (1L << 28) + 2048;
        h.disk(0, 0, sectors);
        int[] id = identify();
        assertEquals(0x0fffffff, id[60] | (id[61] << 16), "LBA28 capacity stops at 2^28 - 1");
        assertEquals(sectors, id[100] | ((long) id[101] << 16) | ((long) id[102] << 32));
        assertEquals(16383, id[1]);
    }

    @Test
    void identifyPacketDeviceAndUnknownCommandsAreAborted() {
        h.disk(0, 0, 2048);
        assertNull(h.identify(0, 0, Ata.IDENTIFY_PACKET_DEVICE));
        assertEquals(Ata.DRDY | Ata.ERR, h.alt(0));
        assertEquals(Ata.ERROR_ABRT, h.in(0, Ata.REG_ERROR_FEATURES));
        assertTrue(h.irq[0].high());
        for (int cmd : new int[] {Ata.PACKET, Ata.DEVICE_RESET, Ata.NOP, 0x27, 0xb0, 0xf8, 0x06}) {
            h.command(0, cmd);
            assertEquals(Ata.DRDY | Ata.ERR, h.alt(0), "command " + Integer.toHexString(cmd));
            assertEquals(Ata.ERROR_ABRT, h.in(0, Ata.REG_ERROR_FEATURES));
        }
        h.command(0, Ata.IDLE_IMMEDIATE);
        assertEquals(Ata.READY, h.alt(0), "the next good command clears ERR");
        assertEquals(0, h.in(0, Ata.REG_ERROR_FEATURES));
    }

    @Test
    void readSectorsLba28OneDrqBlockPerSector() {
        h.disk(0, 0, 8192);
        h.lba28(0, 0, 0x0123, 3);
        h.command(0, Ata.READ_SECTORS);
        byte[] data = readBlocks(3, 1);
        assertTrue(isPattern(data, 0x123L * SECTOR));
        assertEquals(0x25, h.in(0, Ata.REG_LBA_LOW), "the registers hold the last sector read");
        assertEquals(0x01, h.in(0, Ata.REG_LBA_MID));
    }

    @Test
    void aZeroCountReads256Sectors() {
        h.disk(0, 0, 8192);
        h.lba28(0, 0, 1, 0);
        h.command(0, Ata.READ_SECTORS);
        assertTrue(isPattern(readBlocks(256, 1), SECTOR));
    }

    @Test
    void readSectorsExtUsesTheHighOrderBytes() {
        long sectors = (1L << 33) + 64;             // needs LBA bits 32+: all three HOB bytes matter
        MemoryImage image = h.disk(0, 0, sectors);
        long lba = sectors - 5;
        h.lba48(0, 0, lba, 5);
        h.command(0, Ata.READ_SECTORS_EXT);
        assertTrue(isPattern(readBlocks(5, 1), lba * SECTOR));
        h.control(0, Ata.CONTROL_HOB);
        assertEquals((int) ((sectors - 1) >>> 24) & 0xff, h.in(0, Ata.REG_LBA_LOW));
        assertEquals((int) ((sectors - 1) >>> 32) & 0xff, h.in(0, Ata.REG_LBA_MID));
        h.control(0, 0);
        assertEquals((int) (sectors - 1) & 0xff, h.in(0, Ata.REG_LBA_LOW));
        assertTrue(image.reads >= 1);
    }

    @Test
    void lba48CountsAbove256AreChunkedThroughTheBuffer() {
        MemoryImage image = h.disk(0, 0, 8192);
        h.lba48(0, 0, 100, 600);
        h.command(0, Ata.READ_SECTORS_EXT);
        assertTrue(isPattern(readBlocks(600, 1), 100L * SECTOR));
        assertEquals(3, image.reads, "256 + 256 + 88 sectors per image read");
    }

    @Test
    void chsAddressesGoThroughTheCurrentTranslation() {
        h.disk(0, 0, 8192);
        // Cylinder 2, head 3, sector 4 with 16 heads x 63 sectors.
        h.out(0, Ata.REG_COUNT, 1);
        h.out(0, Ata.REG_LBA_LOW, 4);
        h.out(0, Ata.REG_LBA_MID, 2);
        h.out(0, Ata.REG_LBA_HIGH, 0);
        h.out(0, Ata.REG_DEVICE, 0xa0 | 3);
        h.command(0, Ata.READ_SECTORS);
        long lba = (2L * 16 + 3) * 63 + 3;
        assertTrue(isPattern(readBlocks(1, 1), lba * SECTOR));
        // INITIALIZE DEVICE PARAMETERS: 4 heads, 17 sectors per track.
        h.out(0, Ata.REG_COUNT, 17);
        h.out(0, Ata.REG_DEVICE, 0xa0 | 3);
        h.command(0, Ata.INITIALIZE_DEVICE_PARAMETERS);
        assertEquals(Ata.READY, h.status(0));
        int[] id = identify();
        assertEquals(4, id[55]);
        assertEquals(17, id[56]);
        assertEquals(8192 / (4 * 17), id[54]);
        h.out(0, Ata.REG_COUNT, 1);
        h.out(0, Ata.REG_LBA_LOW, 17);
        h.out(0, Ata.REG_LBA_MID, 1);
        h.out(0, Ata.REG_DEVICE, 0xa0 | 2);
        h.command(0, Ata.READ_SECTORS);
        assertTrue(isPattern(readBlocks(1, 1), ((1L * 4 + 2) * 17 + 16) * SECTOR));
        // Sector 0 and a head beyond the translation do not exist.
        h.out(0, Ata.REG_LBA_LOW, 0);
        h.command(0, Ata.READ_SECTORS);
        assertEquals(Ata.DRDY | Ata.ERR, h.alt(0));
        assertEquals(Ata.ERROR_IDNF, h.in(0, Ata.REG_ERROR_FEATURES));
        h.out(0, Ata.REG_LBA_LOW, 1);
        h.out(0, Ata.REG_DEVICE, 0xa0 | 4);
        h.command(0, Ata.READ_SECTORS);
        assertEquals(Ata.ERROR_IDNF, h.in(0, Ata.REG_ERROR_FEATURES));
    }

    @Test
    void readsPastTheEndFailWithIdnfAndNoData() {
        h.disk(0, 0, 2048);
        h.lba28(0, 0, 2047, 2);
        h.command(0, Ata.READ_SECTORS);
        assertEquals(Ata.DRDY | Ata.ERR, h.status(0));
        assertEquals(Ata.ERROR_IDNF, h.in(0, Ata.REG_ERROR_FEATURES));
        assertEquals(0, h.inw(0));
        h.lba48(0, 0, 0xffff_ffff_ffffL, 1);
        h.command(0, Ata.READ_SECTORS_EXT);
        assertEquals(Ata.ERROR_IDNF, h.in(0, Ata.REG_ERROR_FEATURES));
        h.lba48(0, 0, 0, 0);
        h.command(0, Ata.WRITE_SECTORS_EXT);
        assertEquals(Ata.ERROR_IDNF, h.in(0, Ata.REG_ERROR_FEATURES), "65536 sectors do not fit in 2048");
        h.lba28(0, 0, 2047, 1);
        h.command(0, Ata.READ_VERIFY);
        assertEquals(Ata.READY, h.alt(0));
    }

    @Test
    void aHostReadErrorIsUncorrectable() {
        MemoryImage image = h.disk(0, 0, 2048);
        image.failReads = true;
        h.lba28(0, 0, 10, 1);
        h.command(0, Ata.READ_SECTORS);
        assertEquals(Ata.DRDY | Ata.ERR, h.status(0));
        assertEquals(Ata.ERROR_UNC, h.in(0, Ata.REG_ERROR_FEATURES));
        assertEquals(10, h.in(0, Ata.REG_LBA_LOW), "the failing sector");
    }

    @Test
    void writeSectorsTakesBlocksAndInterruptsAfterEach() {
        MemoryImage image = h.disk(0, 0, 2048);
        h.lba28(0, 0, 100, 2);
        h.command(0, Ata.WRITE_SECTORS);
        assertEquals(Ata.READY | Ata.DRQ, h.alt(0), "DRQ for the first block");
        assertFalse(h.irq[0].high(), "no interrupt before the first block");
        byte[] a = new byte[SECTOR];
        byte[] b = new byte[SECTOR];
        java.util.Arrays.fill(a, (byte) 0x11);
        java.util.Arrays.fill(b, (byte) 0x22);
        h.pioOut(0, a);
        assertTrue(h.irq[0].high());
        assertEquals(Ata.READY | Ata.DRQ, h.status(0));
        h.pioOut(0, b);
        assertTrue(h.irq[0].high());
        assertEquals(Ata.READY, h.status(0));
        assertEquals(0x11, image.at(100 * SECTOR));
        assertEquals(0x22, image.at(101 * SECTOR + 511));
        assertEquals(MemoryImage.pattern(102 * SECTOR), image.at(102 * SECTOR));
        assertEquals(1, image.writes, "the blocks went to the image in one write");
        assertEquals(0, image.flushes, "the write cache is on");
        h.lba28(0, 0, 100, 1);
        h.command(0, Ata.READ_SECTORS);
        assertArrayEquals(a, readBlocks(1, 1));
    }

    @Test
    void writeSectorsExtWithDwordDataAccesses() {
        MemoryImage image = h.disk(0, 0, 4096);
        h.lba48(0, 0, 3000, 1);
        h.command(0, Ata.WRITE_SECTORS_EXT);
        for (int i = 0; i < SECTOR / 4; i++) {
            long v = 0;
            for (int k = 0; k < 4; k++) {
                v |= (long) ((4 * i + k + 1) & 0xff) << (8 * k);
            }
            h.ide.commandBlock(0).write(0, 4, v);
        }
        assertEquals(Ata.READY, h.status(0));
        for (int o = 0; o < SECTOR; o++) {
            assertEquals((byte) (o + 1), image.at(3000L * SECTOR + o), "byte " + o);
        }
    }

    @Test
    void longWritesAreWrittenWhenTheBufferFills() {
        MemoryImage image = h.disk(0, 0, 4096);
        h.lba48(0, 0, 1000, 300);
        h.command(0, Ata.WRITE_SECTORS_EXT);
        byte[] s = new byte[SECTOR];
        for (int i = 0; i < 300; i++) {
            s[0] = (byte) i;
            assertEquals(Ata.READY | Ata.DRQ, h.alt(0));
            h.pioOut(0, s);
            h.status(0);
        }
        assertEquals(Ata.READY, h.alt(0));
        assertEquals(2, image.writes);
        assertEquals((byte) 299, image.at(1299L * SECTOR));
    }

    @Test
    void readAndWriteMultipleUseBlocksOfTheMultipleCount() {
        MemoryImage image = h.disk(0, 0, 2048);
        h.out(0, Ata.REG_COUNT, 4);
        h.command(0, Ata.SET_MULTIPLE_MODE);
        assertEquals(Ata.READY, h.status(0));
        assertEquals(0x0104, identify()[59]);
        h.lba28(0, 0, 40, 10);
        h.command(0, Ata.READ_MULTIPLE);
        assertTrue(isPattern(readBlocks(10, 4), 40L * SECTOR), "blocks of 4, 4 and 2 sectors");
        h.lba28(0, 0, 50, 6);
        h.command(0, Ata.WRITE_MULTIPLE);
        h.pioOut(0, new byte[4 * SECTOR]);
        assertEquals(Ata.READY | Ata.DRQ, h.status(0));
        h.pioOut(0, new byte[2 * SECTOR]);
        assertEquals(Ata.READY, h.status(0));
        assertEquals(0, image.at(55L * SECTOR + 511));
        assertEquals(MemoryImage.pattern(56L * SECTOR), image.at(56L * SECTOR));
        for (int bad : new int[] {3, 32, 6}) {
            h.out(0, Ata.REG_COUNT, bad);
            h.command(0, Ata.SET_MULTIPLE_MODE);
            assertEquals(Ata.DRDY | Ata.ERR, h.status(0), "multiple count " + bad);
        }
        h.out(0, Ata.REG_COUNT, 0);
        h.command(0, Ata.SET_MULTIPLE_MODE);
        assertEquals(0, identify()[59] & 0xff, "0 disables multiple mode");
        h.command(0, Ata.READ_MULTIPLE);
        assertEquals(Ata.ERROR_ABRT, h.in(0, Ata.REG_ERROR_FEATURES), "READ MULTIPLE needs a multiple count");
    }

    @Test
    void setFeaturesTransferModesAndWriteCache() {
        MemoryImage image = h.disk(0, 0, 2048);
        h.out(0, Ata.REG_ERROR_FEATURES, Ata.FEATURE_SET_TRANSFER_MODE);
        h.out(0, Ata.REG_COUNT, 0x40 | 5);
        h.command(0, Ata.SET_FEATURES);
        assertEquals(Ata.READY, h.status(0));
        int[] id = identify();
        assertEquals(0x2000, id[88] & 0x7f00, "UDMA5 selected");
        assertEquals(0, id[63] & 0x0700, "no multiword mode selected");
        h.out(0, Ata.REG_ERROR_FEATURES, Ata.FEATURE_SET_TRANSFER_MODE);
        h.out(0, Ata.REG_COUNT, 0x20 | 1);
        h.command(0, Ata.SET_FEATURES);
        assertEquals(0x0200, identify()[63] & 0x0700, "MWDMA1 selected");
        for (int mode : new int[] {0x20 | 3, 0x40 | 6, 0x08 | 5, 0x10, 0x02}) {
            h.out(0, Ata.REG_ERROR_FEATURES, Ata.FEATURE_SET_TRANSFER_MODE);
            h.out(0, Ata.REG_COUNT, mode);
            h.command(0, Ata.SET_FEATURES);
            assertEquals(Ata.DRDY | Ata.ERR, h.status(0), "mode " + Integer.toHexString(mode));
        }
        h.out(0, Ata.REG_COUNT, 0x08 | 4);
        h.command(0, Ata.SET_FEATURES);
        assertEquals(Ata.READY, h.status(0), "PIO 4");

        h.out(0, Ata.REG_ERROR_FEATURES, Ata.FEATURE_DISABLE_WRITE_CACHE);
        h.command(0, Ata.SET_FEATURES);
        assertEquals(Ata.READY, h.status(0));
        assertEquals(1, image.flushes, "disabling the cache flushes it");
        assertEquals(0, identify()[85] & 0x20);
        h.lba28(0, 0, 7, 1);
        h.command(0, Ata.WRITE_SECTORS);
        h.pioOut(0, new byte[SECTOR]);
        assertEquals(2, image.flushes, "without a write cache every write is flushed");
        h.out(0, Ata.REG_ERROR_FEATURES, Ata.FEATURE_ENABLE_WRITE_CACHE);
        h.command(0, Ata.SET_FEATURES);
        assertEquals(0x20, identify()[85] & 0x20);
        h.out(0, Ata.REG_ERROR_FEATURES, 0x99);
        h.command(0, Ata.SET_FEATURES);
        assertEquals(Ata.ERROR_ABRT, h.in(0, Ata.REG_ERROR_FEATURES));
    }

    @Test
    void flushCacheReachesTheImage() {
        MemoryImage image = h.disk(0, 0, 2048);
        h.command(0, Ata.FLUSH_CACHE);
        assertEquals(Ata.READY, h.status(0));
        h.command(0, Ata.FLUSH_CACHE_EXT);
        assertEquals(Ata.READY, h.status(0));
        assertEquals(2, image.flushes);
    }

    @Test
    void commandsWhileDrqIsSetAreIgnored() {
        h.disk(0, 0, 2048);
        h.lba28(0, 0, 0, 2);
        h.command(0, Ata.READ_SECTORS);
        h.command(0, Ata.IDENTIFY_DEVICE);
        h.select(0, 1);
        assertTrue(isPattern(h.pioIn(0, SECTOR), 0), "still the read, still device 0");
    }
}
