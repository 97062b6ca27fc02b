package dev.jkvm.devices.legacy.ide;

import dev.jkvm.backends.block.BlockImage;
import dev.jkvm.backends.block.IoContext;
import dev.jkvm.os.Errno;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;

/**
 * An ATAPI CD-ROM drive (ATA8-ACS PACKET feature set, MMC commands) with a read-only medium of
 * 2048-byte blocks that is always loaded. After a reset its registers hold the PACKET signature
 * (14h/EBh) and status 00h; IDENTIFY DEVICE is aborted (the signature stays), IDENTIFY PACKET
 * DEVICE answers, and PACKET takes a 12-byte CDB through the data port.
 *
 * <p>Data-in phases go through PIO, one DRQ block of at most the byte count limit at a time
 * (the limit the host put in LBA mid/high before PACKET; an odd limit is rounded down while more
 * data follows; 0 is aborted, FFFFh taken as FFFEh), with the interrupt reason (IO, CoD) in the
 * count register; or through the bus master when the PACKET command's features bit 0 asked for
 * DMA. Commands: TEST UNIT READY, REQUEST SENSE, INQUIRY (with VPD pages 00h and 80h), START STOP
 * UNIT (an eject is accepted, the medium stays), PREVENT ALLOW MEDIUM REMOVAL, READ CAPACITY,
 * READ(10), READ(12), SEEK(10), READ TOC (formats 0 and 1, LBA or MSF), GET CONFIGURATION
 * (profile list, core, removable medium, random readable), GET EVENT STATUS NOTIFICATION
 * (polled, media class), READ DISC INFORMATION, MODE SENSE(10) (pages 01h, 2Ah, 3Fh), SET CD
 * SPEED, MECHANISM STATUS. Anything else is CHECK CONDITION with ILLEGAL REQUEST / INVALID
 * COMMAND OPERATION CODE; the sense data stays until REQUEST SENSE or the next command.
 *
 * <p>As for the disk, reads run synchronously on the vCPU thread.
 */
final class AtapiCdrom extends IdeDevice {
    static final int BLOCK = 2048;
    /** Media up to this many blocks are CD-ROMs for GET CONFIGURATION; larger ones DVD-ROMs. */
    static final long CD_MAX_BLOCKS = 80L * 60 * 75;

    // SCSI operation codes
    static final int TEST_UNIT_READY = 0x00;
    static final int REQUEST_SENSE = 0x03;
    static final int INQUIRY = 0x12;
    static final int START_STOP_UNIT = 0x1b;
    static final int PREVENT_ALLOW_MEDIUM_REMOVAL = 0x1e;
    static final int READ_CAPACITY = 0x25;
    static final int READ_10 = 0x28;
    static final int SEEK_10 = 0x2b;
    static final int READ_TOC = 0x43;
    static final int GET_CONFIGURATION = 0x46;
    static final int GET_EVENT_STATUS_NOTIFICATION = 0x4a;
    static final int READ_DISC_INFORMATION = 0x51;
    static final int MODE_SENSE_10 = 0x5a;
    static final int READ_12 = 0xa8;
    static final int SET_CD_SPEED = 0xbb;
    static final int MECHANISM_STATUS = 0xbd;

    // sense keys and additional sense codes
    static final int NO_SENSE = 0x0;
    static final int NOT_READY = 0x2;
    static final int MEDIUM_ERROR = 0x3;
    static final int ILLEGAL_REQUEST = 0x5;
    static final int ASC_UNRECOVERED_READ_ERROR = 0x11;
    static final int ASC_INVALID_OPCODE = 0x20;
    static final int ASC_LBA_OUT_OF_RANGE = 0x21;
    static final int ASC_INVALID_FIELD_IN_CDB = 0x24;
    static final int ASC_SAVING_PARAMETERS_NOT_SUPPORTED = 0x39;
    static final int ASC_MEDIUM_NOT_PRESENT = 0x3a;
    static final int ASC_MEDIUM_REMOVAL_PREVENTED = 0x53;

    private final long blocks;
    private final byte[] cdb = new byte[12];
    private int senseKey;
    private int asc;
    private int ascq;
    private boolean locked;

    // The PACKET command in progress.
    private boolean dma;
    private int byteCountLimit;
    /** Image byte offset of the next data-in byte of a READ, or -1 while a buffered reply is sent. */
    private long readOffset = -1;
    private long left;
    private int replyOffset;

    AtapiCdrom(IdeChannel channel, int unit, BlockImage image, String model, String serial, String firmware) {
        super(channel, unit, image, model, serial, firmware);
        this.blocks = image.size() / BLOCK;
    }

    @Override
    Kind kind() {
        return Kind.ATAPI;
    }

    long blocks() {
        return blocks;
    }

    int senseKey() {
        return senseKey;
    }

    int asc() {
        return asc;
    }

    @Override
    void reset() {
        cancel();
        regs.reset(Kind.ATAPI);
        // PACKET devices come out of reset with a clear status: DRDY is not set.
        regs.status = 0;
        regs.error = Ata.DIAGNOSTIC_PASSED;
        senseKey = NO_SENSE;
        asc = 0;
        ascq = 0;
        locked = false;
    }

    @Override
    void diagnostic() {
        super.diagnostic();
        regs.status = 0;
    }

    @Override
    void cancel() {
        left = 0;
        readOffset = -1;
    }

    @Override
    void execute(int command) {
        regs.error = 0;
        switch (command) {
            case Ata.PACKET -> packet();
            case Ata.IDENTIFY_PACKET_DEVICE -> sendIdentify(identify());
            case Ata.DEVICE_RESET -> {
                // Ends whatever runs; the signature and a clear status, no interrupt.
                channel.stopPio();
                reset();
            }
            case Ata.SET_FEATURES -> {
                if (!setCommonFeature()) {
                    abort();
                }
            }
            case Ata.CHECK_POWER_MODE -> {
                regs.count = 0xff;
                complete();
            }
            case Ata.STANDBY_IMMEDIATE, Ata.IDLE_IMMEDIATE, Ata.STANDBY, Ata.IDLE -> complete();
            case Ata.IDENTIFY_DEVICE, Ata.READ_SECTORS, Ata.READ_SECTORS_NO_RETRY, Ata.READ_SECTORS_EXT -> {
                // A host probing with ATA commands must find the PACKET signature afterwards.
                regs.signature(Kind.ATAPI);
                abort();
            }
            default -> abort();
        }
    }

    // ---- the PACKET protocol ----

    private void packet() {
        if ((regs.features & 0x02) != 0) {
            abort();                            // overlapped commands are not supported
            return;
        }
        dma = (regs.features & 0x01) != 0;
        byteCountLimit = regs.lbaMid | (regs.lbaHigh << 8);
        regs.count = Ata.REASON_COD;
        regs.status = Ata.READY | Ata.DRQ;
        // DRQ within 50 us of the command (IDENTIFY PACKET word 0): no interrupt for the CDB.
        channel.pio(0, cdb.length, false, this::packetReceived);
    }

    private void packetReceived() {
        MemorySegment.copy(channel.buffer(), ValueLayout.JAVA_BYTE, 0, cdb, 0, cdb.length);
        int op = u8(0);
        if (op != REQUEST_SENSE) {
            senseKey = NO_SENSE;
            asc = 0;
            ascq = 0;
        }
        switch (op) {
            case TEST_UNIT_READY -> {
                if (mediumPresent()) {
                    ok();
                }
            }
            case REQUEST_SENSE -> requestSense();
            case INQUIRY -> inquiry();
            case START_STOP_UNIT -> startStopUnit();
            case PREVENT_ALLOW_MEDIUM_REMOVAL -> {
                locked = (u8(4) & 0x01) != 0;
                ok();
            }
            case READ_CAPACITY -> {
                if (mediumPresent()) {
                    byte[] d = new byte[8];
                    putBe32(d, 0, blocks - 1);
                    putBe32(d, 4, BLOCK);
                    reply(d, 8, 8);
                }
            }
            case READ_10 -> read(be32(2), be16(7));
            case READ_12 -> read(be32(2), be32(6));
            case SEEK_10 -> {
                if (mediumPresent()) {
                    if (be32(2) >= blocks) {
                        checkCondition(ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
                    } else {
                        ok();
                    }
                }
            }
            case READ_TOC -> readToc();
            case GET_CONFIGURATION -> getConfiguration();
            case GET_EVENT_STATUS_NOTIFICATION -> eventStatus();
            case READ_DISC_INFORMATION -> discInformation();
            case MODE_SENSE_10 -> modeSense();
            case SET_CD_SPEED -> ok();
            case MECHANISM_STATUS -> {
                byte[] d = new byte[8];
                reply(d, 8, be16(8));
            }
            default -> checkCondition(ILLEGAL_REQUEST, ASC_INVALID_OPCODE);
        }
    }

    /** True if a medium is loaded; otherwise ends the command with NOT READY / MEDIUM NOT PRESENT. */
    private boolean mediumPresent() {
        if (blocks > 0) {
            return true;
        }
        checkCondition(NOT_READY, ASC_MEDIUM_NOT_PRESENT);
        return false;
    }

    /** Good status: DRDY, the interrupt reason "command complete, to host", an interrupt. */
    private void ok() {
        channel.stopPio();
        left = 0;
        regs.status = Ata.READY;
        regs.error = 0;
        regs.count = Ata.REASON_IO | Ata.REASON_COD;
        channel.interrupt(unit);
    }

    /** CHECK CONDITION: ERR with the sense key in the error register's top nibble; REQUEST SENSE tells the rest. */
    void checkCondition(int key, int code) {
        checkCondition(key, code, 0);
    }

    private void checkCondition(int key, int code, int qualifier) {
        channel.stopPio();
        left = 0;
        senseKey = key;
        asc = code;
        ascq = qualifier;
        regs.status = Ata.DRDY | Ata.ERR;
        regs.error = key << 4;
        regs.count = Ata.REASON_IO | Ata.REASON_COD;
        channel.interrupt(unit);
    }

    /** Sends the first min(length, allocation) bytes of {@code data} to the host. */
    private void reply(byte[] data, int length, int allocation) {
        int n = Math.min(length, allocation);
        if (n <= 0) {
            ok();
            return;
        }
        if (dma) {
            dmaIn(n, (buffers, count) -> {
                int at = 0;
                for (int i = 0; i < count; i++) {
                    int len = (int) buffers[i].byteSize();
                    MemorySegment.copy(data, at, buffers[i], ValueLayout.JAVA_BYTE, 0, len);
                    at += len;
                }
                return true;
            });
            return;
        }
        MemorySegment.copy(data, 0, channel.buffer(), ValueLayout.JAVA_BYTE, 0, n);
        readOffset = -1;
        replyOffset = 0;
        left = n;
        nextDataBlock();
    }

    private void read(long lba, long count) {
        if (!mediumPresent()) {
            return;
        }
        if (lba + count > blocks) {
            checkCondition(ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
            return;
        }
        if (count == 0) {
            ok();
            return;
        }
        long offset = lba * BLOCK;
        long bytes = count * BLOCK;
        if (dma) {
            dmaIn(bytes, (buffers, n) -> io(io -> image.read(offset, buffers, n, io)) == 0);
            return;
        }
        readOffset = offset;
        left = bytes;
        nextDataBlock();
    }

    /** The next PIO DRQ block of the data-in phase, or the command's end when nothing is left. */
    private void nextDataBlock() {
        if (left == 0) {
            ok();
            return;
        }
        int limit = byteCountLimit == 0xffff ? 0xfffe : byteCountLimit;
        int size = (int) Math.min(left, limit);
        if (size < left) {
            size &= ~1;                         // only the last block may be odd
        }
        if (size == 0) {
            // A zero byte count limit (ATA8-ACS 7.21.5): the command is aborted at the ATA level.
            cancel();
            fail(Ata.ERROR_ABRT);
            regs.count = Ata.REASON_IO | Ata.REASON_COD;
            return;
        }
        int offset;
        if (readOffset >= 0) {
            MemorySegment target = channel.buffer().asSlice(0, size);
            long at = readOffset;
            if (io(io -> image.read(at, new MemorySegment[] {target}, 1, io)) != 0) {
                checkCondition(MEDIUM_ERROR, ASC_UNRECOVERED_READ_ERROR);
                return;
            }
            readOffset += size;
            offset = 0;
        } else {
            offset = replyOffset;
            replyOffset += size;
        }
        left -= size;
        regs.lbaMid = size & 0xff;
        regs.lbaHigh = size >>> 8;
        regs.count = Ata.REASON_IO;
        regs.status = Ata.READY | Ata.DRQ;
        channel.pio(offset, size, true, this::nextDataBlock);
        channel.interrupt(unit);
    }

    private interface Mover {
        boolean move(MemorySegment[] buffers, int count);
    }

    /** A data-in phase through the bus master. */
    private void dmaIn(long bytes, Mover mover) {
        regs.status = Ata.READY | Ata.BSY | Ata.DRQ;
        channel.requestDma(unit, new DmaRequest() {
            private boolean moved;
            private boolean failed;

            @Override
            public boolean toMemory() {
                return true;
            }

            @Override
            public long bytes() {
                return bytes;
            }

            @Override
            public boolean transfer(MemorySegment[] buffers, int count) {
                moved = true;
                failed = !mover.move(buffers, count);
                return !failed;
            }

            @Override
            public void finish(boolean success) {
                if (success) {
                    ok();
                } else if (moved) {
                    checkCondition(MEDIUM_ERROR, ASC_UNRECOVERED_READ_ERROR);
                } else {
                    // The bus master could not use the PRD table: an ATA-level abort.
                    fail(Ata.ERROR_ABRT);
                    regs.count = Ata.REASON_IO | Ata.REASON_COD;
                }
            }
        });
    }

    // ---- commands with replies ----

    private void requestSense() {
        byte[] d = new byte[18];
        d[0] = 0x70;                            // current error, fixed format
        d[2] = (byte) senseKey;
        d[7] = 10;
        d[12] = (byte) asc;
        d[13] = (byte) ascq;
        senseKey = NO_SENSE;
        asc = 0;
        ascq = 0;
        reply(d, d.length, u8(4));
    }

    private void inquiry() {
        int allocation = be16(3);
        if ((u8(1) & 0x01) != 0) {
            byte[] serialBytes = serial.getBytes(StandardCharsets.US_ASCII);
            byte[] d;
            switch (u8(2)) {
                case 0x00 -> d = new byte[] {0x05, 0x00, 0x00, 0x02, 0x00, (byte) 0x80};
                case 0x80 -> {
                    d = new byte[4 + serialBytes.length];
                    d[0] = 0x05;
                    d[1] = (byte) 0x80;
                    d[3] = (byte) serialBytes.length;
                    System.arraycopy(serialBytes, 0, d, 4, serialBytes.length);
                }
                default -> {
                    checkCondition(ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
                    return;
                }
            }
            reply(d, d.length, allocation);
            return;
        }
        if (u8(2) != 0) {
            checkCondition(ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
            return;
        }
        byte[] d = new byte[36];
        d[0] = 0x05;                            // CD/DVD device
        d[1] = (byte) 0x80;                     // removable medium
        d[2] = 0x00;
        d[3] = 0x21;                            // ATAPI, response data format 1
        d[4] = 31;                              // additional length
        ascii(d, 8, 8, "JKVM");
        ascii(d, 16, 16, model);
        ascii(d, 32, 4, firmware);
        reply(d, d.length, allocation);
    }

    private void startStopUnit() {
        int flags = u8(4);
        boolean start = (flags & 0x01) != 0;
        boolean loadEject = (flags & 0x02) != 0;
        if ((flags & 0xf0) == 0 && loadEject && !start && locked) {
            checkCondition(ILLEGAL_REQUEST, ASC_MEDIUM_REMOVAL_PREVENTED, 0x02);
            return;
        }
        ok();
    }

    private void readToc() {
        if (!mediumPresent()) {
            return;
        }
        boolean msf = (u8(1) & 0x02) != 0;
        int format = u8(2) & 0x0f;
        if (format == 0) {
            format = u8(9) >>> 6;               // the SFF-8020i place for it
        }
        int allocation = be16(7);
        int startTrack = u8(6);
        switch (format) {
            case 0 -> {
                if (startTrack > 1 && startTrack != 0xaa) {
                    checkCondition(ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
                    return;
                }
                byte[] d = new byte[4 + 16];
                int at = 4;
                if (startTrack <= 1) {
                    tocEntry(d, at, 1, 0, msf);
                    at += 8;
                }
                tocEntry(d, at, 0xaa, blocks, msf);
                at += 8;
                putBe16(d, 0, at - 2);
                d[2] = 1;
                d[3] = 1;
                reply(d, at, allocation);
            }
            case 1 -> {
                byte[] d = new byte[12];
                putBe16(d, 0, 10);
                d[2] = 1;
                d[3] = 1;
                tocEntry(d, 4, 1, 0, msf);
                reply(d, d.length, allocation);
            }
            default -> checkCondition(ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
        }
    }

    private static void tocEntry(byte[] d, int at, int track, long lba, boolean msf) {
        d[at + 1] = 0x14;                       // ADR 1 (position), control 4 (data track)
        d[at + 2] = (byte) track;
        if (msf) {
            long frames = lba + 150;
            d[at + 5] = (byte) (frames / 75 / 60);
            d[at + 6] = (byte) (frames / 75 % 60);
            d[at + 7] = (byte) (frames % 75);
        } else {
            putBe32(d, at + 4, lba);
        }
    }

    private int currentProfile() {
        return blocks == 0 ? 0 : blocks > CD_MAX_BLOCKS ? 0x0010 : 0x0008;
    }

    private void getConfiguration() {
        int rt = u8(1) & 0x03;
        int startFeature = be16(2);
        if (rt == 3) {
            checkCondition(ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
            return;
        }
        int profile = currentProfile();
        byte[][] features = {
                // Profile List: DVD-ROM and CD-ROM, the medium's one current
                {0x00, 0x00, 0x03, 0x08, 0x00, 0x10, (byte) (profile == 0x10 ? 1 : 0), 0, 0x00, 0x08, (byte) (profile == 0x08 ? 1 : 0), 0},
                // Core: ATAPI physical interface
                {0x00, 0x01, 0x0b, 0x08, 0, 0, 0, 0x02, 0, 0, 0, 0},
                // Removable Medium: tray, eject, lock
                {0x00, 0x03, 0x03, 0x04, 0x29, 0, 0, 0},
                // Random Readable: 2048-byte blocks, blocking 1
                {0x00, 0x10, (byte) (blocks > 0 ? 0x01 : 0x00), 0x08, 0, 0, 0x08, 0x00, 0, 1, 0, 0},
        };
        byte[] d = new byte[8 + 12 + 12 + 8 + 12];
        int at = 8;
        for (byte[] f : features) {
            int code = ((f[0] & 0xff) << 8) | (f[1] & 0xff);
            boolean want = switch (rt) {
                case 0 -> code >= startFeature;
                case 1 -> code >= startFeature && (f[2] & 0x01) != 0;
                default -> code == startFeature;
            };
            if (want) {
                System.arraycopy(f, 0, d, at, f.length);
                at += f.length;
            }
        }
        putBe32(d, 0, at - 4);
        putBe16(d, 6, profile);
        reply(d, at, be16(7));
    }

    private void eventStatus() {
        if ((u8(1) & 0x01) == 0) {
            checkCondition(ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);   // only polled operation
            return;
        }
        int allocation = be16(7);
        if ((u8(4) & 0x10) != 0) {
            byte[] d = {0, 6, 0x04, 0x10, 0x00, (byte) (blocks > 0 ? 0x02 : 0x00), 0, 0};
            reply(d, d.length, allocation);
        } else {
            byte[] d = {0, 2, (byte) 0x80, 0x10};   // no event available
            reply(d, d.length, allocation);
        }
    }

    private void discInformation() {
        if (!mediumPresent()) {
            return;
        }
        if ((u8(1) & 0x07) != 0) {
            checkCondition(ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
            return;
        }
        byte[] d = new byte[34];
        putBe16(d, 0, 32);
        d[2] = 0x0e;                            // last session complete, disc finalized
        d[3] = 1;                               // first track
        d[4] = 1;                               // sessions
        d[5] = 1;                               // first track of the last session
        d[6] = 1;                               // last track of the last session
        d[7] = 0x20;                            // unrestricted use
        reply(d, d.length, be16(7));
    }

    private void modeSense() {
        int control = u8(2) >>> 6;
        int page = u8(2) & 0x3f;
        if (control == 3) {
            checkCondition(ILLEGAL_REQUEST, ASC_SAVING_PARAMETERS_NOT_SUPPORTED);
            return;
        }
        byte[] errorRecovery = {0x01, 0x0a, 0, 5, 0, 0, 0, 0, 5, 0, 0, 0};
        byte[] capabilities = new byte[22];
        capabilities[0] = 0x2a;
        capabilities[1] = 0x14;
        capabilities[2] = (byte) (blocks > CD_MAX_BLOCKS ? 0x08 : 0x00);   // reads DVD-ROM too when it is one
        capabilities[4] = 0x01;                                          // audio play
        capabilities[6] = (byte) (0x29 | (locked ? 0x02 : 0));           // tray, eject, lock (state)
        putBe16(capabilities, 8, 706);                                   // 4x, in kB/s
        putBe16(capabilities, 14, 706);
        byte[][] pages = switch (page) {
            case 0x01 -> new byte[][] {errorRecovery};
            case 0x2a -> new byte[][] {capabilities};
            case 0x3f -> new byte[][] {errorRecovery, capabilities};
            default -> null;
        };
        if (pages == null) {
            checkCondition(ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
            return;
        }
        int length = 8;
        for (byte[] p : pages) {
            length += p.length;
        }
        byte[] d = new byte[length];
        int at = 8;
        for (byte[] p : pages) {
            System.arraycopy(p, 0, d, at, p.length);
            if (control == 1) {
                java.util.Arrays.fill(d, at + 2, at + p.length, (byte) 0);   // nothing is changeable
            }
            at += p.length;
        }
        putBe16(d, 0, length - 2);
        reply(d, length, be16(7));
    }

    int[] identify() {
        int[] w = new int[IDENTIFY_WORDS];
        w[0] = 0x85c0;                          // ATAPI, CD-ROM, removable, DRQ within 50 us, 12-byte packets
        putString(w, 10, 10, serial);
        putString(w, 23, 4, firmware);
        putString(w, 27, 20, model);
        w[49] = 0x0300;                         // LBA, DMA
        w[50] = 0x4000;
        w[53] = 0x0006;                         // words 64-70 and 88 valid
        putDmaModes(w);
        w[64] = 0x0003;
        w[65] = 120;
        w[66] = 120;
        w[67] = 120;
        w[68] = 120;
        w[71] = 30;
        w[72] = 30;
        w[80] = 0x0070;                         // ATA/ATAPI-4 to -6
        w[82] = 0x4010;                         // NOP, PACKET
        w[83] = 0x4000;
        w[84] = 0x4000;
        w[85] = 0x4010;
        w[87] = 0x4000;
        w[93] = 0x6000 | (unit == 0 ? 0x000b : 0x0300);
        return w;
    }

    // ---- helpers ----

    private int u8(int i) {
        return cdb[i] & 0xff;
    }

    private int be16(int i) {
        return (u8(i) << 8) | u8(i + 1);
    }

    private long be32(int i) {
        return ((long) u8(i) << 24) | ((long) u8(i + 1) << 16) | ((long) u8(i + 2) << 8) | u8(i + 3);
    }

    private static void putBe16(byte[] d, int at, int v) {
        d[at] = (byte) (v >>> 8);
        d[at + 1] = (byte) v;
    }

    private static void putBe32(byte[] d, int at, long v) {
        putBe16(d, at, (int) (v >>> 16));
        putBe16(d, at + 2, (int) v);
    }

    private static void ascii(byte[] d, int at, int length, String s) {
        byte[] b = s.getBytes(StandardCharsets.US_ASCII);
        for (int i = 0; i < length; i++) {
            d[at + i] = i < b.length ? b[i] : (byte) ' ';
        }
    }

    private static int io(java.util.function.ToIntFunction<IoContext> op) {
        try (IoContext io = new IoContext()) {
            return op.applyAsInt(io);
        } catch (RuntimeException e) {
            return Errno.EIO;
        }
    }
}
