package dev.jkvm.devices.legacy.ide;

import dev.jkvm.backends.block.BlockImage;
import dev.jkvm.backends.block.IoContext;
import dev.jkvm.os.Errno;

import java.lang.foreign.MemorySegment;

/**
 * An ATA disk (ATA/ATAPI-6 command set with LBA48): IDENTIFY DEVICE, PIO READ/WRITE SECTORS and
 * MULTIPLE (LBA28, LBA48, and CHS through the current translation), READ/WRITE DMA (and EXT)
 * through the bus master, READ VERIFY, FLUSH CACHE (EXT), SET FEATURES (transfer mode, write
 * cache, look-ahead), SET MULTIPLE MODE, INITIALIZE DEVICE PARAMETERS, the power-mode commands as
 * no-ops; anything else is aborted.
 *
 * <p>I/O is synchronous on the vCPU thread that writes the command register (or, for PIO, the
 * data port access that ends a block, or the bus-master start): the guest polls, and a finished
 * command is simply there when it looks. PIO reads fetch up to 256 sectors per image read and
 * hand them out one DRQ block at a time; PIO writes collect blocks and write them when the buffer
 * is full or the command ends, so the completion interrupt comes only after the image has the
 * data. With the write cache disabled (SET FEATURES 82h, or a cache mode with O_DSYNC), every
 * write command also ends with a flush.
 */
final class AtaDisk extends IdeDevice {
    static final int MAX_MULTIPLE = 16;
    static final int DEFAULT_HEADS = 16;
    static final int DEFAULT_SECTORS_PER_TRACK = 63;
    private static final int BUFFER_SECTORS = IdeChannel.BUFFER_BYTES / Ata.SECTOR;

    private enum Addressing { CHS, LBA28, LBA48 }

    private final long sectors;
    private final int defaultCylinders;
    private boolean writeCache;
    private int multiple = MAX_MULTIPLE;
    private int heads = DEFAULT_HEADS;
    private int sectorsPerTrack = DEFAULT_SECTORS_PER_TRACK;

    // The PIO command in progress.
    private Addressing addressing = Addressing.LBA28;
    private long next;
    private long remaining;
    private int perBlock;
    /** Sectors [windowFirst, windowFirst + windowCount) are in the channel buffer (read ahead, or written by the guest). */
    private long windowFirst;
    private int windowCount;

    AtaDisk(IdeChannel channel, int unit, BlockImage image, boolean writeCache, String model, String serial, String firmware) {
        super(channel, unit, image, model, serial, firmware);
        this.sectors = image.size() / Ata.SECTOR;
        this.writeCache = writeCache;
        this.defaultCylinders = (int) Math.max(1, Math.min(16383, sectors / (DEFAULT_HEADS * DEFAULT_SECTORS_PER_TRACK)));
    }

    @Override
    Kind kind() {
        return Kind.ATA;
    }

    long sectors() {
        return sectors;
    }

    boolean writeCache() {
        return writeCache;
    }

    @Override
    void reset() {
        cancel();
        regs.reset(Kind.ATA);
        regs.status = Ata.READY;
        regs.error = Ata.DIAGNOSTIC_PASSED;
        multiple = MAX_MULTIPLE;
        heads = DEFAULT_HEADS;
        sectorsPerTrack = DEFAULT_SECTORS_PER_TRACK;
    }

    @Override
    void diagnostic() {
        super.diagnostic();
        regs.status = Ata.READY;
    }

    @Override
    void cancel() {
        remaining = 0;
        windowCount = 0;
    }

    @Override
    void execute(int command) {
        regs.error = 0;
        switch (command) {
            case Ata.READ_SECTORS, Ata.READ_SECTORS_NO_RETRY -> startRead(false, 1);
            case Ata.READ_SECTORS_EXT -> startRead(true, 1);
            case Ata.READ_MULTIPLE -> startRead(false, multiple);
            case Ata.READ_MULTIPLE_EXT -> startRead(true, multiple);
            case Ata.WRITE_SECTORS, Ata.WRITE_SECTORS_NO_RETRY -> startWrite(false, 1);
            case Ata.WRITE_SECTORS_EXT -> startWrite(true, 1);
            case Ata.WRITE_MULTIPLE -> startWrite(false, multiple);
            case Ata.WRITE_MULTIPLE_EXT -> startWrite(true, multiple);
            case Ata.READ_DMA, Ata.READ_DMA_NO_RETRY -> startDma(false, true);
            case Ata.READ_DMA_EXT -> startDma(true, true);
            case Ata.WRITE_DMA, Ata.WRITE_DMA_NO_RETRY -> startDma(false, false);
            case Ata.WRITE_DMA_EXT -> startDma(true, false);
            case Ata.READ_VERIFY, Ata.READ_VERIFY_NO_RETRY -> verify(false);
            case Ata.READ_VERIFY_EXT -> verify(true);
            case Ata.FLUSH_CACHE, Ata.FLUSH_CACHE_EXT -> {
                if (flush()) {
                    complete();
                } else {
                    abort();
                }
            }
            case Ata.IDENTIFY_DEVICE -> sendIdentify(identify());
            case Ata.SET_FEATURES -> setFeatures();
            case Ata.SET_MULTIPLE_MODE -> setMultipleMode();
            case Ata.INITIALIZE_DEVICE_PARAMETERS -> initializeDeviceParameters();
            case Ata.CHECK_POWER_MODE -> {
                complete();
                regs.count = 0xff;
            }
            case Ata.STANDBY_IMMEDIATE, Ata.IDLE_IMMEDIATE, Ata.STANDBY, Ata.IDLE -> complete();
            default -> abort();
        }
    }

    // ---- addressing ----

    /** Where an LBA48, LBA28 or CHS command starts, or -1 for a CHS address outside the translation. */
    private long startSector(boolean ext) {
        if (ext) {
            addressing = Addressing.LBA48;
            return regs.lba48();
        }
        if (regs.lbaMode()) {
            addressing = Addressing.LBA28;
            return regs.lba28();
        }
        addressing = Addressing.CHS;
        int cylinder = regs.lbaMid | (regs.lbaHigh << 8);
        int head = regs.device & Ata.DEVICE_HEAD;
        int sector = regs.lbaLow;
        if (sector == 0 || sector > sectorsPerTrack || head >= heads) {
            return -1;
        }
        return ((long) cylinder * heads + head) * sectorsPerTrack + sector - 1;
    }

    /** Puts a sector's address back in the registers, in the command's addressing. */
    private void setAddress(long sector) {
        switch (addressing) {
            case LBA48 -> regs.setLba48(sector);
            case LBA28 -> regs.setLba28(sector);
            case CHS -> {
                long perCylinder = (long) heads * sectorsPerTrack;
                long cylinder = sector / perCylinder;
                long rest = sector % perCylinder;
                regs.lbaMid = (int) cylinder & 0xff;
                regs.lbaHigh = (int) (cylinder >>> 8) & 0xff;
                regs.device = (regs.device & ~Ata.DEVICE_HEAD) | (int) (rest / sectorsPerTrack);
                regs.lbaLow = (int) (rest % sectorsPerTrack) + 1;
            }
        }
    }

    private boolean inRange(long start, long count) {
        return start >= 0 && start <= sectors && count <= sectors - start;
    }

    // ---- PIO ----

    private void startRead(boolean ext, int blockSectors) {
        if (blockSectors == 0) {
            abort();
            return;
        }
        if (beginPio(ext, blockSectors)) {
            nextReadBlock();
        }
    }

    /**
     * The sectors the task file names, checked against the disk, become the PIO transfer in
     * progress, in blocks of {@code blockSectors}; false (and the command failed with IDNF) when
     * they do not fit.
     */
    private boolean beginPio(boolean ext, int blockSectors) {
        Sectors s = requestedSectors(ext);
        if (s == null) {
            return false;
        }
        next = s.start();
        remaining = s.count();
        perBlock = blockSectors;
        windowFirst = s.start();
        windowCount = 0;
        return true;
    }

    /** Sectors [start, start + count) of the disk. */
    private record Sectors(long start, long count) {
    }

    /** The sectors the task file names (LBA28 or LBA48); null, and the command failed with IDNF, when they do not fit the disk. */
    private Sectors requestedSectors(boolean ext) {
        long count = ext ? regs.count48() : regs.count28();
        long start = startSector(ext);
        if (!inRange(start, count)) {
            fail(Ata.ERROR_IDNF);
            return null;
        }
        return new Sectors(start, count);
    }

    private void nextReadBlock() {
        int n = (int) Math.min(remaining, perBlock);
        if (next < windowFirst || next + n > windowFirst + windowCount) {
            int chunk = (int) Math.min(remaining, BUFFER_SECTORS);
            MemorySegment target = channel.buffer().asSlice(0, (long) chunk * Ata.SECTOR);
            long at = next;
            if (io(io -> image.read(at * Ata.SECTOR, new MemorySegment[] {target}, 1, io)) != 0) {
                setAddress(next);
                remaining = 0;
                fail(Ata.ERROR_UNC);
                return;
            }
            windowFirst = next;
            windowCount = chunk;
        }
        regs.status = Ata.READY | Ata.DRQ;
        setAddress(next + n - 1);
        channel.pio((int) (next - windowFirst) * Ata.SECTOR, n * Ata.SECTOR, true, () -> readBlockDone(n));
        channel.interrupt(unit);
    }

    private void readBlockDone(int n) {
        next += n;
        remaining -= n;
        if (remaining == 0) {
            regs.status = Ata.READY;
            return;
        }
        nextReadBlock();
    }

    private void startWrite(boolean ext, int blockSectors) {
        if (blockSectors == 0 || image.readOnly()) {
            abort();
            return;
        }
        if (beginPio(ext, blockSectors)) {
            // The first block needs no interrupt: DRQ follows the command.
            offerWriteBlock();
        }
    }

    private void offerWriteBlock() {
        int n = (int) Math.min(remaining, perBlock);
        regs.status = Ata.READY | Ata.DRQ;
        channel.pio(windowCount * Ata.SECTOR, n * Ata.SECTOR, false, () -> writeBlockDone(n));
    }

    private void writeBlockDone(int n) {
        windowCount += n;
        next += n;
        remaining -= n;
        if (remaining == 0 || windowCount + Math.min(remaining, perBlock) > BUFFER_SECTORS) {
            MemorySegment source = channel.buffer().asSlice(0, (long) windowCount * Ata.SECTOR);
            long at = windowFirst;
            if (io(io -> image.write(at * Ata.SECTOR, new MemorySegment[] {source}, 1, io)) != 0) {
                setAddress(windowFirst);
                remaining = 0;
                windowCount = 0;
                abort();
                return;
            }
            windowFirst = next;
            windowCount = 0;
        }
        setAddress(next - 1);
        if (remaining > 0) {
            offerWriteBlock();
            channel.interrupt(unit);
            return;
        }
        if (!writeCache && !flush()) {
            abort();
            return;
        }
        regs.status = Ata.READY;
        channel.interrupt(unit);
    }

    // ---- DMA ----

    private void startDma(boolean ext, boolean toMemory) {
        if (!toMemory && image.readOnly()) {
            abort();
            return;
        }
        Sectors s = requestedSectors(ext);
        if (s == null) {
            return;
        }
        long start = s.start();
        long count = s.count();
        regs.status = Ata.READY | Ata.BSY | Ata.DRQ;
        channel.requestDma(unit, new DmaRequest() {
            private boolean ioFailed;

            @Override
            public boolean toMemory() {
                return toMemory;
            }

            @Override
            public long bytes() {
                return count * Ata.SECTOR;
            }

            @Override
            public boolean transfer(MemorySegment[] buffers, int n) {
                int e = io(io -> toMemory ? image.read(start * Ata.SECTOR, buffers, n, io) : image.write(start * Ata.SECTOR, buffers, n, io));
                ioFailed = e != 0 || (!toMemory && !writeCache && !flush());
                return !ioFailed;
            }

            @Override
            public void finish(boolean ok) {
                if (ok) {
                    setAddress(start + count - 1);
                    regs.status = Ata.READY;
                    regs.error = 0;
                    channel.interrupt(unit);
                } else {
                    fail(ioFailed && toMemory ? Ata.ERROR_UNC : Ata.ERROR_ABRT);
                }
            }
        });
    }

    // ---- other commands ----

    private void verify(boolean ext) {
        Sectors s = requestedSectors(ext);
        if (s != null) {
            setAddress(s.start() + s.count() - 1);
            complete();
        }
    }

    private boolean flush() {
        return io(image::flush) == 0;
    }

    private void setFeatures() {
        if (setCommonFeature()) {
            return;
        }
        switch (regs.features) {
            case Ata.FEATURE_ENABLE_WRITE_CACHE -> {
                writeCache = true;
                complete();
            }
            case Ata.FEATURE_DISABLE_WRITE_CACHE -> {
                writeCache = false;
                if (flush()) {
                    complete();
                } else {
                    abort();
                }
            }
            default -> abort();
        }
    }

    private void setMultipleMode() {
        int n = regs.count;
        if (n != 0 && (n > MAX_MULTIPLE || Integer.bitCount(n) != 1)) {
            abort();
            return;
        }
        multiple = n;
        complete();
    }

    private void initializeDeviceParameters() {
        if (regs.count == 0) {
            abort();
            return;
        }
        sectorsPerTrack = regs.count;
        heads = (regs.device & Ata.DEVICE_HEAD) + 1;
        complete();
    }

    int[] identify() {
        int[] w = new int[IDENTIFY_WORDS];
        w[0] = 0x0040;                          // fixed device, not removable
        w[1] = defaultCylinders;
        w[3] = DEFAULT_HEADS;
        w[6] = DEFAULT_SECTORS_PER_TRACK;
        putString(w, 10, 10, serial);
        putString(w, 23, 4, firmware);
        putString(w, 27, 20, model);
        w[47] = 0x8000 | MAX_MULTIPLE;
        w[49] = 0x0b00;                         // IORDY, LBA, DMA
        w[50] = 0x4000;
        w[51] = 0x0200;                         // PIO timing mode (obsolete)
        w[53] = 0x0007;                         // words 54-58, 64-70 and 88 valid
        long perCylinder = (long) heads * sectorsPerTrack;
        int cylinders = (int) Math.min(65535, sectors / perCylinder);
        long chsCapacity = cylinders * perCylinder;
        w[54] = cylinders;
        w[55] = heads;
        w[56] = sectorsPerTrack;
        w[57] = (int) (chsCapacity & 0xffff);
        w[58] = (int) (chsCapacity >>> 16) & 0xffff;
        w[59] = multiple > 0 ? 0x0100 | multiple : 0;
        long lba28 = Math.min(sectors, Ata.LBA28_LIMIT - 1);
        w[60] = (int) (lba28 & 0xffff);
        w[61] = (int) (lba28 >>> 16);
        putDmaModes(w);
        w[64] = 0x0003;                         // PIO modes 3 and 4
        w[65] = 120;
        w[66] = 120;
        w[67] = 120;
        w[68] = 120;
        w[80] = 0x00f0;                         // ATA/ATAPI-4 to -7
        w[82] = 0x4020;                         // NOP, write cache
        w[83] = 0x7400;                         // FLUSH CACHE EXT, FLUSH CACHE, 48-bit address
        w[84] = 0x4000;
        w[85] = 0x4000 | (writeCache ? 0x0020 : 0);
        w[86] = 0x3400;
        w[87] = 0x4000;
        w[93] = 0x6000 | (unit == 0 ? 0x000b : 0x0300);   // 80-conductor cable; passed diagnostics
        long lba48 = Math.min(sectors, Ata.LBA48_LIMIT - 1);
        w[100] = (int) (lba48 & 0xffff);
        w[101] = (int) (lba48 >>> 16) & 0xffff;
        w[102] = (int) (lba48 >>> 32) & 0xffff;
        w[103] = (int) (lba48 >>> 48) & 0xffff;
        w[106] = 0x4000;                        // one 512-byte logical sector per physical sector
        return w;
    }

    /** Runs an image call with a fresh I/O context (the context is confined to this thread). */
    private static int io(java.util.function.ToIntFunction<IoContext> op) {
        try (IoContext io = new IoContext()) {
            return op.applyAsInt(io);
        } catch (RuntimeException e) {
            return Errno.EIO;
        }
    }
}
