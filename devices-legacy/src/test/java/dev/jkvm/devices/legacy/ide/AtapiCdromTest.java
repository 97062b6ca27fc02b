package dev.jkvm.devices.legacy.ide;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static dev.jkvm.devices.legacy.ide.IdeHarness.isPattern;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The ATAPI CD-ROM at the secondary master: signature, IDENTIFY PACKET, the PACKET protocol, and its commands. */
class AtapiCdromTest {
    private static final int CH = 1;
    private static final int BLOCKS = 300;
    private final IdeHarness h = new IdeHarness();
    private MemoryImage image;

    @BeforeEach
    void setUp() {
        image = h.cdrom(CH, 0, BLOCKS);
    }

    /** What one PACKET command did. */
    record Result(byte[] data, List<Integer> blockSizes, int status, int error, int reason) {
        boolean checkCondition() {
            return (status & Ata.ERR) != 0;
        }

        int senseKey() {
            return error >>> 4;
        }
    }

    private Result packet(int limit, int... cdbBytes) {
        byte[] cdb = new byte[12];
        for (int i = 0; i < cdbBytes.length; i++) {
            cdb[i] = (byte) cdbBytes[i];
        }
        h.select(CH, 0);
        h.out(CH, Ata.REG_ERROR_FEATURES, 0);
        h.out(CH, Ata.REG_LBA_MID, limit & 0xff);
        h.out(CH, Ata.REG_LBA_HIGH, limit >>> 8);
        h.command(CH, Ata.PACKET);
        assertEquals(Ata.READY | Ata.DRQ, h.alt(CH), "ready for the CDB");
        assertEquals(Ata.REASON_COD, h.in(CH, Ata.REG_COUNT), "interrupt reason: command packet, to device");
        assertFalse(h.irq[CH].high(), "no interrupt before the CDB");
        h.pioOut(CH, cdb);
        ByteArrayOutputStream data = new ByteArrayOutputStream();
        List<Integer> sizes = new ArrayList<>();
        for (int guard = 0; guard < 100_000; guard++) {
            assertTrue(h.irq[CH].high(), "an interrupt for each phase");
            int st = h.status(CH);
            int reason = h.in(CH, Ata.REG_COUNT) & 3;
            if ((st & Ata.DRQ) == 0) {
                return new Result(data.toByteArray(), sizes, st, h.in(CH, Ata.REG_ERROR_FEATURES), reason);
            }
            assertEquals(Ata.REASON_IO, reason, "data to the host");
            int n = h.in(CH, Ata.REG_LBA_MID) | (h.in(CH, Ata.REG_LBA_HIGH) << 8);
            sizes.add(n);
            data.writeBytes(h.pioIn(CH, n));
        }
        throw new AssertionError("no end");
    }

    private Result ok(int limit, int... cdb) {
        Result r = packet(limit, cdb);
        assertEquals(Ata.READY, r.status(), "good status");
        assertEquals(Ata.REASON_IO | Ata.REASON_COD, r.reason(), "command complete");
        return r;
    }

    private void assertSense(Result r, int key, int asc) {
        assertTrue(r.checkCondition(), "CHECK CONDITION");
        assertEquals(Ata.DRDY | Ata.ERR, r.status());
        assertEquals(key, r.senseKey());
        assertEquals(Ata.REASON_IO | Ata.REASON_COD, r.reason());
        byte[] sense = ok(0xfffe, AtapiCdrom.REQUEST_SENSE, 0, 0, 0, 18).data();
        assertEquals(18, sense.length);
        assertEquals(0x70, sense[0]);
        assertEquals(key, sense[2]);
        assertEquals(asc, sense[12]);
        byte[] again = ok(0xfffe, AtapiCdrom.REQUEST_SENSE, 0, 0, 0, 18).data();
        assertEquals(0, again[2], "REQUEST SENSE clears it");
    }

    private static int be32(byte[] b, int at) {
        return ((b[at] & 0xff) << 24) | ((b[at + 1] & 0xff) << 16) | ((b[at + 2] & 0xff) << 8) | (b[at + 3] & 0xff);
    }

    private static int be16(byte[] b, int at) {
        return ((b[at] & 0xff) << 8) | (b[at + 1] & 0xff);
    }

    @Test
    void resetLeavesThePacketSignatureAndAClearStatus() {
        h.select(CH, 0);
        assertEquals(0, h.alt(CH));
        assertEquals(1, h.in(CH, Ata.REG_COUNT));
        assertEquals(1, h.in(CH, Ata.REG_LBA_LOW));
        assertEquals(0x14, h.in(CH, Ata.REG_LBA_MID));
        assertEquals(0xeb, h.in(CH, Ata.REG_LBA_HIGH));
    }

    @Test
    void identifyDeviceIsAbortedWithTheSignatureInPlace() {
        h.out(CH, Ata.REG_LBA_MID, 0);
        h.out(CH, Ata.REG_LBA_HIGH, 0);
        assertNull(h.identify(CH, 0, Ata.IDENTIFY_DEVICE));
        assertEquals(Ata.DRDY | Ata.ERR, h.status(CH));
        assertEquals(Ata.ERROR_ABRT, h.in(CH, Ata.REG_ERROR_FEATURES));
        assertEquals(0x14, h.in(CH, Ata.REG_LBA_MID));
        assertEquals(0xeb, h.in(CH, Ata.REG_LBA_HIGH));
        h.lba28(CH, 0, 0, 1);
        h.command(CH, Ata.READ_SECTORS);
        assertEquals(Ata.ERROR_ABRT, h.in(CH, Ata.REG_ERROR_FEATURES));
        assertEquals(0xeb, h.in(CH, Ata.REG_LBA_HIGH));
    }

    @Test
    void identifyPacketDeviceDescribesARemovableCdrom() {
        int[] id = h.identify(CH, 0, Ata.IDENTIFY_PACKET_DEVICE);
        assertNotNull(id);
        assertEquals(0x85c0, id[0]);
        assertEquals(2, id[0] >>> 14, "ATAPI");
        assertEquals(5, (id[0] >>> 8) & 0x1f, "CD-ROM");
        assertEquals(0, id[0] & 3, "12-byte packets");
        assertEquals("JKVM CD-ROM", IdeHarness.string(id, 27, 20));
        assertEquals("JK00003", IdeHarness.string(id, 10, 10), "secondary master is position 3");
        assertEquals(0x0300, id[49] & 0x0300);
        assertEquals(0x10, id[82] & 0x10, "PACKET feature set");
        assertEquals(Ata.READY, h.status(CH));
    }

    @Test
    void inquiryTestUnitReadyAndReadCapacity() {
        byte[] inq = ok(0xfffe, AtapiCdrom.INQUIRY, 0, 0, 0, 36).data();
        assertEquals(36, inq.length);
        assertEquals(5, inq[0] & 0x1f);
        assertEquals((byte) 0x80, inq[1]);
        assertEquals("JKVM    JKVM CD-ROM     1.0 ", new String(inq, 8, 28, StandardCharsets.US_ASCII));
        assertEquals(5, ok(0xfffe, AtapiCdrom.INQUIRY, 0, 0, 0, 5).data().length, "the allocation length cuts it");
        ok(0xfffe, AtapiCdrom.TEST_UNIT_READY);
        byte[] cap = ok(0xfffe, AtapiCdrom.READ_CAPACITY).data();
        assertEquals(BLOCKS - 1, be32(cap, 0));
        assertEquals(2048, be32(cap, 4));
        byte[] vpd = ok(0xfffe, AtapiCdrom.INQUIRY, 1, 0x80, 0, 64).data();
        assertEquals("JK00003", new String(vpd, 4, vpd[3], StandardCharsets.US_ASCII));
        assertSense(packet(0xfffe, AtapiCdrom.INQUIRY, 1, 0x83, 0, 64), AtapiCdrom.ILLEGAL_REQUEST, AtapiCdrom.ASC_INVALID_FIELD_IN_CDB);
    }

    @Test
    void read10InBlocksOfTheByteCountLimit() {
        Result r = ok(2048, AtapiCdrom.READ_10, 0, 0, 0, 0, 16, 0, 0, 3);
        assertEquals(List.of(2048, 2048, 2048), r.blockSizes());
        assertTrue(isPattern(r.data(), 16 * 2048));
        Result big = ok(0xffff, AtapiCdrom.READ_10, 0, 0, 0, 0, 0, 0, 0, 40);
        assertEquals(List.of(0xfffe, 40 * 2048 - 0xfffe), big.blockSizes(), "FFFFh is taken as FFFEh");
        assertTrue(isPattern(big.data(), 0));
    }

    @Test
    void anOddLimitIsRoundedDownWhileMoreFollows() {
        Result r = ok(1001, AtapiCdrom.READ_10, 0, 0, 0, 0, 5, 0, 0, 1);
        assertEquals(1000, r.blockSizes().get(0));
        assertEquals(48, r.blockSizes().get(2));
        assertEquals(2048, r.data().length);
        assertTrue(isPattern(r.data(), 5 * 2048));
        Result odd = ok(0xfffe, AtapiCdrom.REQUEST_SENSE, 0, 0, 0, 7);
        assertEquals(List.of(7), odd.blockSizes(), "the last block may be odd");
    }

    @Test
    void aZeroLimitAbortsAtTheAtaLevel() {
        Result r = packet(0, AtapiCdrom.READ_10, 0, 0, 0, 0, 5, 0, 0, 1);
        assertEquals(Ata.DRDY | Ata.ERR, r.status());
        assertEquals(Ata.ERROR_ABRT, r.error());
    }

    @Test
    void read12AndZeroLengthReads() {
        Result r = ok(0xfffe, AtapiCdrom.READ_12, 0, 0, 0, 1, 0x2a, 0, 0, 0, 2);
        assertTrue(isPattern(r.data(), 0x12aL * 2048), "the last two blocks");
        assertEquals(4096, r.data().length);
        assertEquals(0, ok(0xfffe, AtapiCdrom.READ_10, 0, 0, 0, 0, 5, 0, 0, 0).data().length);
    }

    @Test
    void readsPastTheEndAreOutOfRange() {
        assertSense(packet(0xfffe, AtapiCdrom.READ_10, 0, 0, 0, 1, 0x2b, 0, 0, 2), AtapiCdrom.ILLEGAL_REQUEST,
                AtapiCdrom.ASC_LBA_OUT_OF_RANGE);
        assertSense(packet(0xfffe, AtapiCdrom.READ_12, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
                AtapiCdrom.ILLEGAL_REQUEST, AtapiCdrom.ASC_LBA_OUT_OF_RANGE);
        assertSense(packet(0xfffe, AtapiCdrom.SEEK_10, 0, 0, 0, 1, 0x2c), AtapiCdrom.ILLEGAL_REQUEST,
                AtapiCdrom.ASC_LBA_OUT_OF_RANGE);
        ok(0xfffe, AtapiCdrom.SEEK_10, 0, 0, 0, 1, 0x2b);
    }

    @Test
    void unknownOpcodesAreIllegalRequests() {
        for (int op : new int[] {0xff, 0x0a, 0x2a, 0xbe}) {
            assertSense(packet(0xfffe, op), AtapiCdrom.ILLEGAL_REQUEST, AtapiCdrom.ASC_INVALID_OPCODE);
        }
        Result r = packet(0xfffe, 0xff);
        assertTrue(r.checkCondition());
        ok(0xfffe, AtapiCdrom.TEST_UNIT_READY);
        assertEquals(0, ok(0xfffe, AtapiCdrom.REQUEST_SENSE, 0, 0, 0, 18).data()[2], "a good command clears the sense data");
    }

    @Test
    void hostReadErrorsAreMediumErrors() {
        image.failReads = true;
        assertSense(packet(0xfffe, AtapiCdrom.READ_10, 0, 0, 0, 0, 0, 0, 0, 1), AtapiCdrom.MEDIUM_ERROR,
                AtapiCdrom.ASC_UNRECOVERED_READ_ERROR);
    }

    @Test
    void modeSensePages() {
        byte[] caps = ok(0xfffe, AtapiCdrom.MODE_SENSE_10, 0, 0x2a, 0, 0, 0, 0, 0, 64).data();
        assertEquals(8 + 22, caps.length);
        assertEquals(caps.length - 2, be16(caps, 0));
        assertEquals(0x2a, caps[8]);
        assertEquals(0x14, caps[9]);
        byte[] all = ok(0xfffe, AtapiCdrom.MODE_SENSE_10, 0, 0x3f, 0, 0, 0, 0, 0, 255).data();
        assertEquals(0x01, all[8]);
        assertEquals(0x2a, all[8 + 12]);
        assertEquals(8, ok(0xfffe, AtapiCdrom.MODE_SENSE_10, 0, 0x2a, 0, 0, 0, 0, 0, 8).data().length);
        assertSense(packet(0xfffe, AtapiCdrom.MODE_SENSE_10, 0, 0x05, 0, 0, 0, 0, 0, 64), AtapiCdrom.ILLEGAL_REQUEST,
                AtapiCdrom.ASC_INVALID_FIELD_IN_CDB);
        assertSense(packet(0xfffe, AtapiCdrom.MODE_SENSE_10, 0, 0xea, 0, 0, 0, 0, 0, 64), AtapiCdrom.ILLEGAL_REQUEST,
                AtapiCdrom.ASC_SAVING_PARAMETERS_NOT_SUPPORTED);
    }

    @Test
    void getConfigurationListsTheCurrentProfile() {
        byte[] c = ok(0xfffe, AtapiCdrom.GET_CONFIGURATION, 0, 0, 0, 0, 0, 0, 0, 255).data();
        assertEquals(c.length - 4, be32(c, 0));
        assertEquals(0x0008, be16(c, 6), "a CD-ROM");
        assertEquals(0x0000, be16(c, 8), "profile list first");
        assertEquals(0x0010, be16(c, 12));
        assertEquals(0x0008, be16(c, 16));
        assertEquals(1, c[18] & 1, "CD-ROM current");
        assertEquals(0x0001, be16(c, 20), "core");
        assertEquals(2, be32(c, 24), "ATAPI");
        byte[] one = ok(0xfffe, AtapiCdrom.GET_CONFIGURATION, 2, 0, 0x10, 0, 0, 0, 0, 255).data();
        assertEquals(8 + 12, one.length, "RT=2: just the named feature");
        assertEquals(0x0010, be16(one, 8));
        assertEquals(2048, be32(one, 12));
        assertSense(packet(0xfffe, AtapiCdrom.GET_CONFIGURATION, 3), AtapiCdrom.ILLEGAL_REQUEST,
                AtapiCdrom.ASC_INVALID_FIELD_IN_CDB);
    }

    @Test
    void readTocInLbaAndMsf() {
        byte[] t = ok(0xfffe, AtapiCdrom.READ_TOC, 0, 0, 0, 0, 0, 0, 0, 255).data();
        assertEquals(20, t.length);
        assertEquals(18, be16(t, 0));
        assertEquals(1, t[2]);
        assertEquals(1, t[3]);
        assertEquals(0x14, t[5]);
        assertEquals(1, t[6]);
        assertEquals(0, be32(t, 8));
        assertEquals((byte) 0xaa, t[14]);
        assertEquals(BLOCKS, be32(t, 16));
        byte[] msf = ok(0xfffe, AtapiCdrom.READ_TOC, 2, 0, 0, 0, 0, 0, 0, 255).data();
        assertArrayEquals(new byte[] {0, 0, 2, 0}, java.util.Arrays.copyOfRange(msf, 8, 12), "track 1 at 00:02:00");
        int frames = BLOCKS + 150;
        assertArrayEquals(new byte[] {0, (byte) (frames / 4500), (byte) (frames / 75 % 60), (byte) (frames % 75)},
                java.util.Arrays.copyOfRange(msf, 16, 20));
        byte[] session = ok(0xfffe, AtapiCdrom.READ_TOC, 0, 0, 0, 0, 0, 0, 0, 255, 0x40).data();
        assertEquals(12, session.length);
        assertEquals(10, be16(session, 0));
        assertSense(packet(0xfffe, AtapiCdrom.READ_TOC, 0, 0, 0, 0, 0, 2, 0, 255), AtapiCdrom.ILLEGAL_REQUEST,
                AtapiCdrom.ASC_INVALID_FIELD_IN_CDB);
    }

    @Test
    void mediumRemovalEventsAndOddsAndEnds() {
        ok(0xfffe, AtapiCdrom.PREVENT_ALLOW_MEDIUM_REMOVAL, 0, 0, 0, 1);
        assertSense(packet(0xfffe, AtapiCdrom.START_STOP_UNIT, 0, 0, 0, 2), AtapiCdrom.ILLEGAL_REQUEST,
                AtapiCdrom.ASC_MEDIUM_REMOVAL_PREVENTED);
        ok(0xfffe, AtapiCdrom.PREVENT_ALLOW_MEDIUM_REMOVAL, 0, 0, 0, 0);
        ok(0xfffe, AtapiCdrom.START_STOP_UNIT, 0, 0, 0, 2);
        ok(0xfffe, AtapiCdrom.TEST_UNIT_READY);
        byte[] e = ok(0xfffe, AtapiCdrom.GET_EVENT_STATUS_NOTIFICATION, 1, 0, 0, 0x10, 0, 0, 0, 8).data();
        assertArrayEquals(new byte[] {0, 6, 4, 0x10, 0, 2, 0, 0}, e, "media class: no change, medium present");
        assertSense(packet(0xfffe, AtapiCdrom.GET_EVENT_STATUS_NOTIFICATION, 0, 0, 0, 0x10, 0, 0, 0, 8),
                AtapiCdrom.ILLEGAL_REQUEST, AtapiCdrom.ASC_INVALID_FIELD_IN_CDB);
        assertEquals(34, ok(0xfffe, AtapiCdrom.READ_DISC_INFORMATION, 0, 0, 0, 0, 0, 0, 0, 255).data().length);
        assertEquals(8, ok(0xfffe, AtapiCdrom.MECHANISM_STATUS, 0, 0, 0, 0, 0, 0, 0, 0, 8).data().length);
        ok(0xfffe, AtapiCdrom.SET_CD_SPEED, 0, 0xff, 0xff);
    }

    @Test
    void readThroughTheBusMaster() {
        h.enableBusMaster();
        long table = 0x1000;
        h.prd(table, 0, 0x20000, 2048, false);
        h.prd(table, 1, 0x30000, 4096, true);
        h.prdTable(CH, table);
        h.bm(CH, BusMaster.REG_COMMAND, BusMaster.COMMAND_TO_MEMORY);
        h.select(CH, 0);
        h.out(CH, Ata.REG_ERROR_FEATURES, 1);
        h.command(CH, Ata.PACKET);
        h.pioOut(CH, new byte[] {AtapiCdrom.READ_10, 0, 0, 0, 0, 7, 0, 0, 3, 0, 0, 0});
        assertEquals(Ata.READY | Ata.BSY | Ata.DRQ, h.alt(CH), "waiting for the bus master");
        h.bm(CH, BusMaster.REG_COMMAND, BusMaster.COMMAND_TO_MEMORY | BusMaster.COMMAND_START);
        assertEquals(BusMaster.STATUS_INTERRUPT, h.bm(CH, BusMaster.REG_STATUS));
        assertEquals(Ata.READY, h.status(CH));
        assertEquals(Ata.REASON_IO | Ata.REASON_COD, h.in(CH, Ata.REG_COUNT));
        for (int i = 0; i < 2048; i++) {
            assertEquals(MemoryImage.pattern(7 * 2048L + i), (byte) h.memory.read8(0x20000 + i));
        }
        for (int i = 0; i < 4096; i++) {
            assertEquals(MemoryImage.pattern(8 * 2048L + i), (byte) h.memory.read8(0x30000 + i));
        }
        // A reply (INQUIRY) through DMA, and a table outside RAM aborted.
        h.bm(CH, BusMaster.REG_COMMAND, BusMaster.COMMAND_TO_MEMORY);
        h.bm(CH, BusMaster.REG_STATUS, BusMaster.STATUS_INTERRUPT);
        h.prd(table, 0, 0x20000, 36, true);
        h.out(CH, Ata.REG_ERROR_FEATURES, 1);
        h.command(CH, Ata.PACKET);
        h.pioOut(CH, new byte[] {AtapiCdrom.INQUIRY, 0, 0, 0, 36, 0, 0, 0, 0, 0, 0, 0});
        h.bm(CH, BusMaster.REG_COMMAND, BusMaster.COMMAND_TO_MEMORY | BusMaster.COMMAND_START);
        assertEquals(Ata.READY, h.status(CH));
        assertEquals(5, h.memory.read8(0x20000));
        assertEquals('J', h.memory.read8(0x20008));
        h.bm(CH, BusMaster.REG_COMMAND, BusMaster.COMMAND_TO_MEMORY);
        h.bm(CH, BusMaster.REG_STATUS, BusMaster.STATUS_INTERRUPT);
        h.prd(table, 0, IdeHarness.LOW_RAM, 2048, true);
        h.out(CH, Ata.REG_ERROR_FEATURES, 1);
        h.command(CH, Ata.PACKET);
        h.pioOut(CH, new byte[] {AtapiCdrom.READ_10, 0, 0, 0, 0, 7, 0, 0, 1, 0, 0, 0});
        h.bm(CH, BusMaster.REG_COMMAND, BusMaster.COMMAND_TO_MEMORY | BusMaster.COMMAND_START);
        assertEquals(BusMaster.STATUS_INTERRUPT | BusMaster.STATUS_ERROR, h.bm(CH, BusMaster.REG_STATUS));
        assertEquals(Ata.DRDY | Ata.ERR, h.status(CH));
        assertEquals(Ata.ERROR_ABRT, h.in(CH, Ata.REG_ERROR_FEATURES));
    }

    @Test
    void deviceResetWorksEvenWhileBusy() {
        h.select(CH, 0);
        h.out(CH, Ata.REG_ERROR_FEATURES, 0);
        h.command(CH, Ata.PACKET);
        assertTrue((h.alt(CH) & Ata.DRQ) != 0);
        h.command(CH, Ata.DEVICE_RESET);
        assertEquals(0, h.alt(CH));
        assertEquals(0xeb, h.in(CH, Ata.REG_LBA_HIGH));
        assertFalse(h.irq[CH].high(), "no interrupt for DEVICE RESET");
        ok(0xfffe, AtapiCdrom.TEST_UNIT_READY);
    }

    @Test
    void overlappedPacketCommandsAreAborted() {
        h.select(CH, 0);
        h.out(CH, Ata.REG_ERROR_FEATURES, 2);
        h.command(CH, Ata.PACKET);
        assertEquals(Ata.DRDY | Ata.ERR, h.status(CH));
        assertEquals(Ata.ERROR_ABRT, h.in(CH, Ata.REG_ERROR_FEATURES));
    }

    @Test
    void setFeaturesTransferModeIsAccepted() {
        h.select(CH, 0);
        h.out(CH, Ata.REG_ERROR_FEATURES, Ata.FEATURE_SET_TRANSFER_MODE);
        h.out(CH, Ata.REG_COUNT, 0x22);
        h.command(CH, Ata.SET_FEATURES);
        assertEquals(Ata.READY, h.status(CH));
        assertEquals(0x0400, h.identify(CH, 0, Ata.IDENTIFY_PACKET_DEVICE)[63] & 0x0700);
        h.out(CH, Ata.REG_ERROR_FEATURES, Ata.FEATURE_ENABLE_WRITE_CACHE);
        h.command(CH, Ata.SET_FEATURES);
        assertEquals(Ata.DRDY | Ata.ERR, h.status(CH), "no write cache on a CD-ROM");
    }
}
