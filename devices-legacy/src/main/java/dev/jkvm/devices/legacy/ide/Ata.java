package dev.jkvm.devices.legacy.ide;

/**
 * The ATA register interface (ATA/ATAPI-6, ATA8-ACS): command block register offsets, status,
 * error, device and device control bits, and the command opcodes this controller knows.
 */
final class Ata {
    private Ata() {
    }

    // ---- command block registers (offsets from 0x1F0 / 0x170) ----
    static final int REG_DATA = 0;
    /** Error on read, Features on write. */
    static final int REG_ERROR_FEATURES = 1;
    /** Sector Count; for PACKET devices the interrupt reason. */
    static final int REG_COUNT = 2;
    static final int REG_LBA_LOW = 3;
    /** LBA Mid (Cylinder Low); for PACKET devices the byte count, low half. */
    static final int REG_LBA_MID = 4;
    /** LBA High (Cylinder High); for PACKET devices the byte count, high half. */
    static final int REG_LBA_HIGH = 5;
    static final int REG_DEVICE = 6;
    /** Status on read (acknowledges the interrupt), Command on write. */
    static final int REG_STATUS_COMMAND = 7;
    static final int COMMAND_BLOCK_SIZE = 8;

    // ---- status ----
    static final int BSY = 0x80;
    static final int DRDY = 0x40;
    static final int DF = 0x20;
    /** Device Seek Complete: obsolete, but set by drives (and QEMU) whenever they are idle. */
    static final int DSC = 0x10;
    static final int DRQ = 0x08;
    static final int ERR = 0x01;
    /** What an idle ATA device reports. */
    static final int READY = DRDY | DSC;

    // ---- error ----
    static final int ERROR_AMNF = 0x01;
    static final int ERROR_ABRT = 0x04;
    static final int ERROR_IDNF = 0x10;
    static final int ERROR_UNC = 0x40;
    /** Diagnostic code after reset or EXECUTE DEVICE DIAGNOSTIC: the device passed. */
    static final int DIAGNOSTIC_PASSED = 0x01;

    // ---- device register ----
    static final int DEVICE_HEAD = 0x0f;
    static final int DEVICE_DEV = 0x10;
    static final int DEVICE_LBA = 0x40;
    /** Bits 7 and 5, obsolete; they read as ones, as on drives that still wire them. */
    static final int DEVICE_OBSOLETE = 0xa0;

    // ---- device control (write) / alternate status (read) ----
    static final int CONTROL_NIEN = 0x02;
    static final int CONTROL_SRST = 0x04;
    static final int CONTROL_HOB = 0x80;

    // ---- ATAPI interrupt reason (in the count register) ----
    static final int REASON_COD = 0x01;
    static final int REASON_IO = 0x02;

    // ---- commands ----
    static final int NOP = 0x00;
    static final int DEVICE_RESET = 0x08;
    static final int READ_SECTORS = 0x20;
    static final int READ_SECTORS_NO_RETRY = 0x21;
    static final int READ_SECTORS_EXT = 0x24;
    static final int READ_DMA_EXT = 0x25;
    static final int READ_MULTIPLE_EXT = 0x29;
    static final int WRITE_SECTORS = 0x30;
    static final int WRITE_SECTORS_NO_RETRY = 0x31;
    static final int WRITE_SECTORS_EXT = 0x34;
    static final int WRITE_DMA_EXT = 0x35;
    static final int WRITE_MULTIPLE_EXT = 0x39;
    static final int READ_VERIFY = 0x40;
    static final int READ_VERIFY_NO_RETRY = 0x41;
    static final int READ_VERIFY_EXT = 0x42;
    static final int EXECUTE_DEVICE_DIAGNOSTIC = 0x90;
    static final int INITIALIZE_DEVICE_PARAMETERS = 0x91;
    static final int PACKET = 0xa0;
    static final int IDENTIFY_PACKET_DEVICE = 0xa1;
    static final int READ_MULTIPLE = 0xc4;
    static final int WRITE_MULTIPLE = 0xc5;
    static final int SET_MULTIPLE_MODE = 0xc6;
    static final int READ_DMA = 0xc8;
    static final int READ_DMA_NO_RETRY = 0xc9;
    static final int WRITE_DMA = 0xca;
    static final int WRITE_DMA_NO_RETRY = 0xcb;
    static final int STANDBY_IMMEDIATE = 0xe0;
    static final int IDLE_IMMEDIATE = 0xe1;
    static final int STANDBY = 0xe2;
    static final int IDLE = 0xe3;
    static final int CHECK_POWER_MODE = 0xe5;
    static final int FLUSH_CACHE = 0xe7;
    static final int FLUSH_CACHE_EXT = 0xea;
    static final int IDENTIFY_DEVICE = 0xec;
    static final int SET_FEATURES = 0xef;

    // ---- SET FEATURES subcommands ----
    static final int FEATURE_ENABLE_WRITE_CACHE = 0x02;
    static final int FEATURE_SET_TRANSFER_MODE = 0x03;
    static final int FEATURE_DISABLE_READ_LOOKAHEAD = 0x55;
    static final int FEATURE_DISABLE_REVERT_DEFAULTS = 0x66;
    static final int FEATURE_DISABLE_WRITE_CACHE = 0x82;
    static final int FEATURE_ENABLE_READ_LOOKAHEAD = 0xaa;
    static final int FEATURE_ENABLE_REVERT_DEFAULTS = 0xcc;

    static final int SECTOR = 512;
    /** The largest LBA28 address plus one: words 60-61 saturate here. */
    static final long LBA28_LIMIT = 1L << 28;
    static final long LBA48_LIMIT = 1L << 48;
}
