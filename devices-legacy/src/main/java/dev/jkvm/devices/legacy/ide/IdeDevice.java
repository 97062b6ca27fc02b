package dev.jkvm.devices.legacy.ide;

import dev.jkvm.backends.block.BlockImage;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;

/**
 * One device on an IDE channel: an ATA disk or an ATAPI CD-ROM. The channel decodes the registers
 * and owns the data port; the device executes commands against its {@link TaskFile}, starting PIO
 * data phases and DMA requests through the channel. Everything runs under the controller's lock.
 */
abstract sealed class IdeDevice permits AtaDisk, AtapiCdrom {
    /** What sits at a device position, as the signature shows it. */
    enum Kind { ATA, ATAPI, NONE }

    static final int IDENTIFY_WORDS = 256;
    /** PIO modes 3 and 4 (word 64), multiword DMA 0-2 (word 63), UDMA 0-5 (word 88). */
    static final int MAX_PIO_MODE = 4;
    static final int MAX_MWDMA_MODE = 2;
    static final int MAX_UDMA_MODE = 5;

    final IdeChannel channel;
    final int unit;
    final TaskFile regs;
    final BlockImage image;
    final String model;
    final String serial;
    final String firmware;
    /** Selected DMA mode from SET FEATURES: multiword DMA or UDMA mode number, -1 for none. */
    int mwdmaMode = MAX_MWDMA_MODE;
    int udmaMode = -1;

    IdeDevice(IdeChannel channel, int unit, BlockImage image, String model, String serial, String firmware) {
        this.channel = channel;
        this.unit = unit;
        this.regs = channel.regs(unit);
        this.image = image;
        this.model = model;
        this.serial = serial;
        this.firmware = firmware;
    }

    abstract Kind kind();

    /** Runs a command written to the command register (not EXECUTE DEVICE DIAGNOSTIC, which the channel runs). */
    abstract void execute(int command);

    /** Power-on, hardware or software reset: registers, signature and the status a reset leaves. */
    abstract void reset();

    /** Ends any command in progress without completing it (reset, or a new command after DEVICE RESET). */
    abstract void cancel();

    /** EXECUTE DEVICE DIAGNOSTIC: the signature, and error 01h (passed). */
    void diagnostic() {
        cancel();
        regs.signature(kind());
        regs.error = Ata.DIAGNOSTIC_PASSED;
    }

    void close() {
        image.close();
    }

    // ---- command endings ----

    /** The command is refused: DRDY and ERR with ABRT, and an interrupt. */
    void abort() {
        fail(Ata.ERROR_ABRT);
    }

    void fail(int error) {
        channel.stopPio();
        regs.status = Ata.DRDY | Ata.ERR;
        regs.error = error;
        channel.interrupt(unit);
    }

    /** A non-data command completed. */
    void complete() {
        regs.status = Ata.READY;
        regs.error = 0;
        channel.interrupt(unit);
    }

    // ---- shared commands ----

    /** SET FEATURES subcommands both kinds of device accept. Returns false if the subcommand is not one of them. */
    boolean setCommonFeature() {
        switch (regs.features) {
            case Ata.FEATURE_SET_TRANSFER_MODE -> {
                int mode = regs.count & 0x07;
                switch (regs.count >>> 3) {
                    case 0 -> {
                        if (mode > 1) {
                            abort();
                            return true;
                        }
                    }
                    case 1 -> {
                        if (mode > MAX_PIO_MODE) {
                            abort();
                            return true;
                        }
                    }
                    case 4 -> {
                        if (mode > MAX_MWDMA_MODE) {
                            abort();
                            return true;
                        }
                        mwdmaMode = mode;
                        udmaMode = -1;
                    }
                    case 8 -> {
                        if (mode > MAX_UDMA_MODE) {
                            abort();
                            return true;
                        }
                        udmaMode = mode;
                        mwdmaMode = -1;
                    }
                    default -> {
                        // Single-word DMA (02h) is not offered.
                        abort();
                        return true;
                    }
                }
                complete();
                return true;
            }
            case Ata.FEATURE_ENABLE_READ_LOOKAHEAD, Ata.FEATURE_DISABLE_READ_LOOKAHEAD,
                 Ata.FEATURE_ENABLE_REVERT_DEFAULTS, Ata.FEATURE_DISABLE_REVERT_DEFAULTS -> {
                complete();
                return true;
            }
            default -> {
                return false;
            }
        }
    }

    /** Puts a 256-word IDENTIFY block in the channel buffer and starts its PIO data-in phase. */
    void sendIdentify(int[] words) {
        words[255] = 0xa5;
        int sum = 0;
        for (int i = 0; i < 255; i++) {
            sum += (words[i] & 0xff) + ((words[i] >>> 8) & 0xff);
        }
        sum += 0xa5;
        words[255] |= ((-sum) & 0xff) << 8;
        MemorySegment buf = channel.buffer();
        for (int i = 0; i < IDENTIFY_WORDS; i++) {
            buf.set(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN), 2L * i, (short) words[i]);
        }
        regs.status = Ata.READY | Ata.DRQ;
        regs.error = 0;
        channel.pio(0, 512, true, () -> regs.status = Ata.READY);
        channel.interrupt(unit);
    }

    /** ATA strings: ASCII, space padded, two characters per word with the first in the high byte. */
    static void putString(int[] words, int first, int count, String text) {
        byte[] b = text.getBytes(StandardCharsets.US_ASCII);
        for (int i = 0; i < count; i++) {
            int hi = 2 * i < b.length ? b[2 * i] & 0xff : ' ';
            int lo = 2 * i + 1 < b.length ? b[2 * i + 1] & 0xff : ' ';
            words[first + i] = (hi << 8) | lo;
        }
    }

    /** Words 62/63/88 with the selected DMA mode. */
    void putDmaModes(int[] words) {
        words[63] = 0x0007 | (mwdmaMode >= 0 ? 0x100 << mwdmaMode : 0);
        words[88] = 0x003f | (udmaMode >= 0 ? 0x100 << udmaMode : 0);
    }
}
