package dev.jkvm.devices.legacy.ide;

/**
 * The registers one device position holds (both devices on a channel see every register write, so
 * each keeps its own copy, as drives do): features, count and LBA bytes with their previous values
 * (the "high order bytes" LBA48 commands read), the device register, status and error.
 */
final class TaskFile {
    int features;
    int hobFeatures;
    int count;
    int hobCount;
    int lbaLow;
    int hobLbaLow;
    int lbaMid;
    int hobLbaMid;
    int lbaHigh;
    int hobLbaHigh;
    int device = Ata.DEVICE_OBSOLETE;
    int status;
    int error;

    /** A guest write to register 1-5: the old value moves to the HOB copy (a FIFO of depth two). */
    void write(int reg, int value) {
        int v = value & 0xff;
        switch (reg) {
            case Ata.REG_ERROR_FEATURES -> {
                hobFeatures = features;
                features = v;
            }
            case Ata.REG_COUNT -> {
                hobCount = count;
                count = v;
            }
            case Ata.REG_LBA_LOW -> {
                hobLbaLow = lbaLow;
                lbaLow = v;
            }
            case Ata.REG_LBA_MID -> {
                hobLbaMid = lbaMid;
                lbaMid = v;
            }
            case Ata.REG_LBA_HIGH -> {
                hobLbaHigh = lbaHigh;
                lbaHigh = v;
            }
            default -> throw new IllegalArgumentException("register " + reg);
        }
    }

    /** A register 1-5 as the guest reads it; {@code hob} (device control bit 7) selects the previous values. */
    int read(int reg, boolean hob) {
        return switch (reg) {
            case Ata.REG_ERROR_FEATURES -> hob ? hobFeatures : error;
            case Ata.REG_COUNT -> hob ? hobCount : count;
            case Ata.REG_LBA_LOW -> hob ? hobLbaLow : lbaLow;
            case Ata.REG_LBA_MID -> hob ? hobLbaMid : lbaMid;
            case Ata.REG_LBA_HIGH -> hob ? hobLbaHigh : lbaHigh;
            default -> throw new IllegalArgumentException("register " + reg);
        };
    }

    boolean lbaMode() {
        return (device & Ata.DEVICE_LBA) != 0;
    }

    /** The 28-bit address: LBA 27:24 in the device register's head bits. */
    long lba28() {
        return ((long) (device & Ata.DEVICE_HEAD) << 24) | (lbaHigh << 16) | (lbaMid << 8) | lbaLow;
    }

    /** The 48-bit address from the current and the previous (HOB) LBA bytes. */
    long lba48() {
        return ((long) hobLbaHigh << 40) | ((long) hobLbaMid << 32) | ((long) hobLbaLow << 24)
                | ((long) lbaHigh << 16) | ((long) lbaMid << 8) | lbaLow;
    }

    /** Sector count of an LBA28/CHS command: 0 means 256. */
    int count28() {
        return count == 0 ? 256 : count;
    }

    /** Sector count of an LBA48 command: 0 in both bytes means 65536. */
    int count48() {
        int n = (hobCount << 8) | count;
        return n == 0 ? 65536 : n;
    }

    void setLba28(long lba) {
        lbaLow = (int) lba & 0xff;
        lbaMid = (int) (lba >>> 8) & 0xff;
        lbaHigh = (int) (lba >>> 16) & 0xff;
        device = (device & ~Ata.DEVICE_HEAD) | ((int) (lba >>> 24) & Ata.DEVICE_HEAD);
    }

    void setLba48(long lba) {
        lbaLow = (int) lba & 0xff;
        lbaMid = (int) (lba >>> 8) & 0xff;
        lbaHigh = (int) (lba >>> 16) & 0xff;
        hobLbaLow = (int) (lba >>> 24) & 0xff;
        hobLbaMid = (int) (lba >>> 32) & 0xff;
        hobLbaHigh = (int) (lba >>> 40) & 0xff;
    }

    /**
     * What a reset, EXECUTE DEVICE DIAGNOSTIC or DEVICE RESET leaves in the registers: count and LBA
     * low 1, LBA mid/high 00h/00h for an ATA device, 14h/EBh for a PACKET device, and FFh/FFh (as
     * QEMU shows them) where no device is attached.
     */
    void signature(IdeDevice.Kind kind) {
        count = 1;
        lbaLow = 1;
        switch (kind) {
            case ATA -> {
                lbaMid = 0;
                lbaHigh = 0;
            }
            case ATAPI -> {
                lbaMid = 0x14;
                lbaHigh = 0xeb;
            }
            case NONE -> {
                lbaMid = 0xff;
                lbaHigh = 0xff;
            }
        }
        device &= ~Ata.DEVICE_HEAD;
    }

    /** Power-on / software reset: everything cleared, then the signature. */
    void reset(IdeDevice.Kind kind) {
        features = hobFeatures = 0;
        count = hobCount = 0;
        lbaLow = hobLbaLow = lbaMid = hobLbaMid = lbaHigh = hobLbaHigh = 0;
        device = Ata.DEVICE_OBSOLETE;
        error = 0;
        status = 0;
        signature(kind);
    }
}
