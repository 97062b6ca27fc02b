package dev.jkvm.devices.legacy.net;

import dev.jkvm.backends.net.MacAddress;

import static dev.jkvm.devices.legacy.net.E1000Registers.EECD_CS;
import static dev.jkvm.devices.legacy.net.E1000Registers.EECD_DI;
import static dev.jkvm.devices.legacy.net.E1000Registers.EECD_DO;
import static dev.jkvm.devices.legacy.net.E1000Registers.EECD_FWE_MASK;
import static dev.jkvm.devices.legacy.net.E1000Registers.EECD_GNT;
import static dev.jkvm.devices.legacy.net.E1000Registers.EECD_PRES;
import static dev.jkvm.devices.legacy.net.E1000Registers.EECD_REQ;
import static dev.jkvm.devices.legacy.net.E1000Registers.EECD_SK;
import static dev.jkvm.devices.legacy.net.E1000Registers.EERD_ADDR_SHIFT;
import static dev.jkvm.devices.legacy.net.E1000Registers.EERD_DATA_SHIFT;
import static dev.jkvm.devices.legacy.net.E1000Registers.EERD_DONE;
import static dev.jkvm.devices.legacy.net.E1000Registers.EERD_START;

/**
 * The 82540EM's 64-word Microwire EEPROM (a 93C46) and its two doors: EERD, where the hardware
 * reads a word for software, and EECD, where software bit-bangs the part itself (chip select SK,
 * DI in, DO out), as Linux's e1000 does on the 82540 after requesting the interface (REQ, then
 * GNT). The part is read-only here: write, erase and the write-enable commands are clocked in and
 * ignored.
 *
 * <p>Contents follow the manual's EEPROM map (and QEMU's e1000 template, so drivers see what they
 * see there): the MAC in words 0-2 (byte pairs, little-endian), device id 8086:100e in words 11-14,
 * and word 0x3F chosen so that words 0x00-0x3F add up to 0xBABA, which drivers check.
 *
 * <p>Not thread-safe: the device calls it under its lock.
 */
final class E1000Eeprom {
    static final int WORDS = 64;
    static final int CHECKSUM_WORD = 0x3f;
    static final int CHECKSUM = 0xbaba;
    /** A 64-word part takes 6 address bits (EECD.SIZE reads 0, telling drivers so). */
    static final int ADDRESS_BITS = 6;
    /** Microwire command: a start bit, a 2-bit opcode, the address; READ is opcode 10b. */
    private static final int OPCODE_READ = 0b10;

    /**
     * The manual's layout (table 5-2): MAC, compatibility, PBA number, init control words, ids,
     * PHY/LED settings; 0xFFFF is erased. Words 0-2 and 0x3F are filled in per device.
     */
    private static final int[] TEMPLATE = {
        0x0000, 0x0000, 0x0000, 0x0000, 0xffff, 0x0000, 0x0000, 0x0000,
        0x3000, 0x1000, 0x6403, E1000.DEVICE_ID, 0x8086, E1000.DEVICE_ID, 0x8086, 0x3040,
        0x0008, 0x2000, 0x7e14, 0x0048, 0x1000, 0x00d8, 0x0000, 0x2700,
        0x6cc9, 0x3150, 0x0722, 0x040b, 0x0984, 0x0000, 0xc000, 0x0706,
        0x1008, 0x0000, 0x0f04, 0x7fff, 0x4d01, 0xffff, 0xffff, 0xffff,
        0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff,
        0x0100, 0x4000, 0x121c, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff,
        0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0x0000,
    };

    /** Where the Microwire state machine is. */
    private enum Phase {
        /** Not selected (CS low). */
        IDLE,
        /** Selected, shifting in the start bit, opcode and address. */
        COMMAND,
        /** A READ: one data bit on DO per rising SK, words in sequence. */
        READING,
        /** Any other command: clocked in and ignored until CS drops. */
        IGNORING
    }

    private final int[] words = new int[WORDS];
    /** SK, CS, DI, FWE and REQ as software last wrote them. */
    private int pins;
    private Phase phase = Phase.IDLE;
    private int shifted;
    private int bitsIn;
    private int readWord;
    /** The data bit on DO: -1 for the dummy zero that precedes the data, then 0 (bit 15) to 15 (bit 0). */
    private int readBit;
    private boolean dataOut = true;
    private int eerd;

    E1000Eeprom(MacAddress mac) {
        System.arraycopy(TEMPLATE, 0, words, 0, WORDS);
        byte[] b = mac.bytes();
        for (int i = 0; i < 3; i++) {
            words[i] = (b[2 * i] & 0xff) | (b[2 * i + 1] & 0xff) << 8;
        }
        int sum = 0;
        for (int i = 0; i < CHECKSUM_WORD; i++) {
            sum += words[i];
        }
        words[CHECKSUM_WORD] = (CHECKSUM - sum) & 0xffff;
    }

    int word(int index) {
        return words[index & (WORDS - 1)];
    }

    // ---- EERD: the hardware reads a word ----

    /**
     * A write to EERD. With START the read is done at once (DONE set, the word in bits 31:16);
     * addresses wrap at 64 words, as the 6 address bits a 93C46 takes do.
     */
    void writeEerd(int value) {
        if ((value & EERD_START) == 0) {
            eerd = value & ~EERD_DONE;
            return;
        }
        int address = (value >>> EERD_ADDR_SHIFT) & 0xff;
        eerd = word(address) << EERD_DATA_SHIFT | (value & 0xff00) | EERD_DONE;
    }

    int readEerd() {
        return eerd;
    }

    // ---- EECD: software drives the part ----

    /** EECD as software reads it: its pins back, PRES, GNT while REQ is held, and DO. */
    int readEecd() {
        int v = pins | EECD_PRES;
        if ((pins & EECD_REQ) != 0) {
            // The 82540's own EEPROM engine is idle: the request is granted at once.
            v |= EECD_GNT;
        }
        return dataOut ? v | EECD_DO : v;
    }

    /**
     * A write to EECD: a chip select edge starts or ends a command; a rising SK with CS high
     * shifts DI in (or the next data bit out). Like QEMU, the pins are decoded whether or not the
     * interface was requested: a driver that skips REQ still reads.
     */
    void writeEecd(int value) {
        int old = pins;
        pins = value & (EECD_SK | EECD_CS | EECD_DI | EECD_FWE_MASK | EECD_REQ);
        if ((value & EECD_CS) == 0) {
            phase = Phase.IDLE;
            dataOut = true;             // DO floats high while the part is not selected
            return;
        }
        if ((old & EECD_CS) == 0) {
            phase = Phase.COMMAND;
            shifted = 0;
            bitsIn = 0;
            dataOut = true;
        }
        if ((value & EECD_SK) == 0 || (old & EECD_SK) != 0) {
            return;                     // only a rising clock edge moves the part
        }
        int di = (value & EECD_DI) != 0 ? 1 : 0;
        switch (phase) {
            case COMMAND -> {
                if (bitsIn == 0 && di == 0) {
                    return;             // zeros before the start bit are ignored
                }
                shifted = shifted << 1 | di;
                if (++bitsIn == 1 + 2 + ADDRESS_BITS) {
                    if ((shifted >>> ADDRESS_BITS & 3) == OPCODE_READ) {
                        phase = Phase.READING;
                        readWord = shifted & (WORDS - 1);
                        readBit = -1;
                        dataOut = false;
                    } else {
                        phase = Phase.IGNORING;
                    }
                }
            }
            case READING -> {
                if (++readBit == 16) {
                    // A 93C46 keeps going into the next word while the clock runs.
                    readBit = 0;
                    readWord = (readWord + 1) & (WORDS - 1);
                }
                dataOut = (words[readWord] >>> (15 - readBit) & 1) != 0;
            }
            default -> {
                // IDLE cannot be here (CS is high); IGNORING takes bits until CS drops
            }
        }
    }

    /** Power-on state of the interface (a device reset); the contents stay. */
    void reset() {
        pins = 0;
        phase = Phase.IDLE;
        dataOut = true;
        eerd = 0;
    }
}
