package dev.jkvm.devices.legacy.ide;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static dev.jkvm.devices.legacy.ide.BusMaster.COMMAND_START;
import static dev.jkvm.devices.legacy.ide.BusMaster.COMMAND_TO_MEMORY;
import static dev.jkvm.devices.legacy.ide.BusMaster.REG_COMMAND;
import static dev.jkvm.devices.legacy.ide.BusMaster.REG_STATUS;
import static dev.jkvm.devices.legacy.ide.BusMaster.STATUS_ACTIVE;
import static dev.jkvm.devices.legacy.ide.BusMaster.STATUS_ERROR;
import static dev.jkvm.devices.legacy.ide.BusMaster.STATUS_INTERRUPT;
import static dev.jkvm.devices.legacy.ide.IdeHarness.HIGH_RAM_START;
import static dev.jkvm.devices.legacy.ide.IdeHarness.LOW_RAM;
import static dev.jkvm.devices.legacy.ide.IdeHarness.SECTOR;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Bus-master DMA: registers, both start orders, the PIIX3 status outcomes, and hostile PRD tables. */
class BusMasterTest {
    private static final long TABLE = 0x1000;
    private final IdeHarness h = new IdeHarness();
    private MemoryImage image;

    @BeforeEach
    void setUp() {
        image = h.disk(0, 0, 8192);
        h.enableBusMaster();
    }

    private boolean memoryHoldsPattern(long gpa, long diskOffset, int bytes) {
        for (int i = 0; i < bytes; i++) {
            if ((byte) h.memory.read8(gpa + i) != MemoryImage.pattern(diskOffset + i)) {
                return false;
            }
        }
        return true;
    }

    /** Programs the table and direction, issues the command, starts the bus master; returns BMISTA. */
    private int dma(int command, long lba, int count, boolean toMemory) {
        h.prdTable(0, TABLE);
        h.bm(0, REG_COMMAND, toMemory ? COMMAND_TO_MEMORY : 0);
        h.bm(0, REG_STATUS, STATUS_INTERRUPT | STATUS_ERROR);
        if (command == Ata.READ_DMA_EXT || command == Ata.WRITE_DMA_EXT) {
            h.lba48(0, 0, lba, count);
        } else {
            h.lba28(0, 0, lba, count);
        }
        h.command(0, command);
        assertEquals(Ata.READY | Ata.BSY | Ata.DRQ, h.alt(0), "waiting for the bus master");
        h.bm(0, REG_COMMAND, (toMemory ? COMMAND_TO_MEMORY : 0) | COMMAND_START);
        int bmStatus = h.bm(0, REG_STATUS);
        h.bm(0, REG_COMMAND, toMemory ? COMMAND_TO_MEMORY : 0);
        return bmStatus;
    }

    @Test
    void registersReadBackWithReservedBytesZero() {
        h.prdTable(0, 0x12345677L);
        assertEquals(0x12345674L, h.ide.busMaster().read(BusMaster.REG_PRD_TABLE, 4), "bits 1:0 read 0");
        assertEquals(0x74, h.bm(0, BusMaster.REG_PRD_TABLE));
        h.bm(0, REG_STATUS, 0x60 | STATUS_ACTIVE);
        assertEquals(0x60, h.bm(0, REG_STATUS), "DMA-capable bits are writable, active is not");
        h.bm(0, REG_COMMAND, 0xff);
        assertEquals(COMMAND_START | COMMAND_TO_MEMORY, h.bm(0, REG_COMMAND));
        assertEquals(STATUS_ACTIVE, h.bm(0, REG_STATUS) & STATUS_ACTIVE);
        assertEquals(0, h.bm(0, 1));
        assertEquals(0, h.bm(0, 3));
        assertEquals(0, h.bm(1, REG_STATUS), "the secondary channel's registers are separate");
        assertEquals(0x0061_0009L, h.ide.busMaster().read(0, 4), "wide reads span the registers");
        h.bm(0, REG_COMMAND, 0);
        assertEquals(0, h.bm(0, REG_STATUS) & STATUS_ACTIVE, "clearing start clears active");
    }

    @Test
    void readDmaScattersIntoEveryPrdBuffer() {
        h.prd(TABLE, 0, 0x20000, 512, false);
        h.prd(TABLE, 1, 0x30000 + 512, 3584, false);
        h.prd(TABLE, 2, HIGH_RAM_START, 4096, true);
        int st = dma(Ata.READ_DMA, 16, 16, true);
        assertEquals(STATUS_INTERRUPT, st, "done: interrupt, no longer active, no error");
        assertTrue(h.irq[0].high());
        assertEquals(Ata.READY, h.status(0));
        assertTrue(memoryHoldsPattern(0x20000, 16L * SECTOR, 512));
        assertTrue(memoryHoldsPattern(0x30000 + 512, 17L * SECTOR, 3584));
        assertTrue(memoryHoldsPattern(HIGH_RAM_START, 24L * SECTOR, 4096));
        assertEquals(31, h.in(0, Ata.REG_LBA_LOW), "the registers hold the last sector");
    }

    @Test
    void theBusMasterMayBeStartedBeforeTheCommand() {
        h.prd(TABLE, 0, 0x20000, 1024, true);
        h.prdTable(0, TABLE);
        h.bm(0, REG_COMMAND, COMMAND_TO_MEMORY | COMMAND_START);
        h.lba48(0, 0, 8190, 2);
        h.command(0, Ata.READ_DMA_EXT);
        assertEquals(Ata.READY, h.alt(0));
        assertEquals(STATUS_INTERRUPT, h.bm(0, REG_STATUS));
        assertTrue(memoryHoldsPattern(0x20000, 8190L * SECTOR, 1024));
    }

    @Test
    void writeDmaGathersFromGuestMemory() {
        for (int i = 0; i < 1024; i++) {
            h.memory.write8(0x40000 + i, i * 3);
        }
        h.prd(TABLE, 0, 0x40000, 100, false);
        h.prd(TABLE, 1, 0x40000 + 100, 924, true);
        assertEquals(STATUS_INTERRUPT, dma(Ata.WRITE_DMA_EXT, 4000, 2, false));
        assertEquals(Ata.READY, h.status(0));
        for (int i = 0; i < 1024; i++) {
            assertEquals((byte) (i * 3), image.at(4000L * SECTOR + i));
        }
        assertEquals(0, image.flushes);
    }

    @Test
    void aTableLargerThanTheTransferLeavesTheBusMasterActive() {
        h.prd(TABLE, 0, 0x20000, 4096, true);
        int st = dma(Ata.READ_DMA, 0, 1, true);
        assertEquals(STATUS_INTERRUPT | STATUS_ACTIVE, st);
        assertEquals(Ata.READY, h.status(0));
        assertEquals(0, h.memory.read8(0x20000 + 512), "nothing past the transfer is written");
    }

    @Test
    void theCommandWaitsUntilTheBusMasterStarts() {
        h.prd(TABLE, 0, 0x20000, 512, true);
        h.prdTable(0, TABLE);
        h.bm(0, REG_COMMAND, COMMAND_TO_MEMORY);
        h.lba28(0, 0, 5, 1);
        h.command(0, Ata.READ_DMA);
        assertEquals(Ata.READY | Ata.BSY | Ata.DRQ, h.alt(0));
        assertFalse(h.irq[0].high());
        h.out(0, Ata.REG_LBA_LOW, 9);
        h.command(0, Ata.IDENTIFY_DEVICE);
        assertEquals(Ata.READY | Ata.BSY | Ata.DRQ, h.alt(0), "registers and commands are ignored while busy");
        h.bm(0, REG_COMMAND, COMMAND_TO_MEMORY | COMMAND_START);
        assertEquals(Ata.READY, h.alt(0));
        assertTrue(memoryHoldsPattern(0x20000, 5L * SECTOR, 512));
    }

    /** A DMA command whose table is bad: error bit, ABRT, interrupt, nothing moved. */
    private void assertRefused(int command, long lba, int count, boolean toMemory) {
        int reads = image.reads;
        int writes = image.writes;
        int st = dma(command, lba, count, toMemory);
        assertEquals(STATUS_ERROR | STATUS_INTERRUPT, st);
        assertTrue(h.irq[0].high());
        assertEquals(Ata.DRDY | Ata.ERR, h.status(0));
        assertEquals(Ata.ERROR_ABRT, h.in(0, Ata.REG_ERROR_FEATURES));
        assertEquals(reads, image.reads, "no data read");
        assertEquals(writes, image.writes, "no data written");
        assertNotNull(h.ide.busMaster().channels[0].lastError);
    }

    @Test
    void hostilePrdTablesFailTheCommandWithoutMovingData() {
        h.prd(TABLE, 0, LOW_RAM - 512, 1024, true);                 // runs into the hole
        assertRefused(Ata.READ_DMA, 0, 2, true);
        h.prd(TABLE, 0, 0xfffff000L, 4096, true);                    // no RAM at all
        assertRefused(Ata.READ_DMA, 0, 8, true);
        h.prd(TABLE, 0, 0x20000, 512, true);                         // too short
        assertRefused(Ata.WRITE_DMA, 0, 2, false);
        for (int i = 0; i < 8192; i++) {                             // no EOT in the whole 64 KiB page
            h.prd(0x100000, i, 0x20000, 2, false);
        }
        h.prdTable(0, 0x100000);
        h.bm(0, REG_COMMAND, COMMAND_TO_MEMORY);
        h.bm(0, REG_STATUS, STATUS_INTERRUPT | STATUS_ERROR);
        h.lba48(0, 0, 0, 8192);
        h.command(0, Ata.READ_DMA_EXT);
        h.bm(0, REG_COMMAND, COMMAND_TO_MEMORY | COMMAND_START);
        assertEquals(STATUS_ERROR | STATUS_INTERRUPT, h.bm(0, REG_STATUS));
        assertEquals(Ata.DRDY | Ata.ERR, h.status(0));
        // The device works normally afterwards.
        h.bm(0, REG_COMMAND, 0);
        h.prd(TABLE, 0, 0x20000, 512, true);
        assertEquals(STATUS_INTERRUPT, dma(Ata.READ_DMA, 3, 1, true));
        assertNull(h.ide.busMaster().channels[0].lastError);
    }

    @Test
    void aTableOutsideRamIsRefused() {
        h.prd(TABLE, 0, 0x20000, 512, true);
        h.prdTable(0, LOW_RAM + 8);
        h.bm(0, REG_COMMAND, COMMAND_TO_MEMORY);
        h.lba28(0, 0, 0, 1);
        h.command(0, Ata.READ_DMA);
        h.bm(0, REG_COMMAND, COMMAND_TO_MEMORY | COMMAND_START);
        assertEquals(STATUS_ERROR | STATUS_INTERRUPT, h.bm(0, REG_STATUS));
        assertEquals(Ata.ERROR_ABRT, h.in(0, Ata.REG_ERROR_FEATURES));
    }

    @Test
    void theDirectionMustMatchTheCommand() {
        h.prd(TABLE, 0, 0x20000, 512, true);
        h.memory.write8(0x20000, 0x77);
        h.prdTable(0, TABLE);
        h.bm(0, REG_COMMAND, 0);                                     // memory -> device
        h.lba28(0, 0, 0, 1);
        h.command(0, Ata.READ_DMA);
        h.bm(0, REG_COMMAND, COMMAND_START);
        assertEquals(STATUS_ERROR | STATUS_INTERRUPT, h.bm(0, REG_STATUS));
        assertEquals(0x77, h.memory.read8(0x20000));
    }

    @Test
    void withoutBusMasteringInPciCommandNothingMoves() {
        h.ide.writeConfig(dev.jkvm.vmm.pci.PciConfiguration.COMMAND, 2, 1);
        h.prd(TABLE, 0, 0x20000, 512, true);
        assertRefused(Ata.READ_DMA, 0, 1, true);
        assertTrue(h.ide.busMaster().channels[0].lastError.contains("bus mastering"));
    }

    @Test
    void aHostIoErrorFailsTheCommandButNotTheBusMaster() {
        h.prd(TABLE, 0, 0x20000, 512, true);
        image.failReads = true;
        assertEquals(STATUS_INTERRUPT, dma(Ata.READ_DMA, 0, 1, true));
        assertEquals(Ata.DRDY | Ata.ERR, h.status(0));
        assertEquals(Ata.ERROR_UNC, h.in(0, Ata.REG_ERROR_FEATURES));
        image.failReads = false;
        image.failWrites = true;
        assertEquals(STATUS_INTERRUPT, dma(Ata.WRITE_DMA, 0, 1, false));
        assertEquals(Ata.ERROR_ABRT, h.in(0, Ata.REG_ERROR_FEATURES));
    }

    @Test
    void writesWithoutAWriteCacheAreFlushed() {
        h.out(0, Ata.REG_ERROR_FEATURES, Ata.FEATURE_DISABLE_WRITE_CACHE);
        h.command(0, Ata.SET_FEATURES);
        h.status(0);
        int before = image.flushes;
        h.prd(TABLE, 0, 0x20000, 512, true);
        assertEquals(STATUS_INTERRUPT, dma(Ata.WRITE_DMA, 9, 1, false));
        assertEquals(before + 1, image.flushes);
    }

    @Test
    void stoppingTheBusMasterLeavesTheCommandWaiting() {
        h.prd(TABLE, 0, 0x20000, 512, true);
        h.prdTable(0, TABLE);
        h.bm(0, REG_COMMAND, COMMAND_TO_MEMORY);
        h.lba28(0, 0, 0, 1);
        h.command(0, Ata.READ_DMA);
        h.bm(0, REG_COMMAND, 0);
        assertEquals(Ata.READY | Ata.BSY | Ata.DRQ, h.alt(0));
        h.control(0, Ata.CONTROL_SRST);
        h.control(0, 0);
        assertEquals(Ata.READY, h.alt(0), "a reset ends it");
        h.bm(0, REG_COMMAND, COMMAND_TO_MEMORY | COMMAND_START);
        assertEquals(0, h.bm(0, REG_STATUS) & STATUS_INTERRUPT, "and the request is gone");
    }
}
