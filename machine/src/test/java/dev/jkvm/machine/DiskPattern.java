package dev.jkvm.machine;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * The test guest's disk pattern (guest/README.md): the byte at offset o is
 * ((o >> 9) * 151) ^ (o * 7) ^ 0x5a, low 8 bits. Host tests write images with it and check
 * what the guest left: the pattern, its complement where the guest wrote, zeros where it
 * discarded.
 */
public final class DiskPattern {
    public static final int SECTOR = 512;

    private DiskPattern() {
    }

    public static byte at(long o) {
        return (byte) (((o >>> 9) * 151) ^ (o * 7) ^ 0x5a);
    }

    public static void write(Path file, long size) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
            ByteBuffer buf = ByteBuffer.allocate(1 << 16);
            for (long o = 0; o < size; o += buf.capacity()) {
                buf.clear();
                for (int i = 0; i < buf.capacity() && o + i < size; i++) {
                    buf.put(at(o + i));
                }
                buf.flip();
                ch.write(buf, o);
            }
        }
    }

    /** What the guest is expected to have left in a sector range. */
    public enum Expect { PATTERN, COMPLEMENT, ZERO }

    /** Null if every byte of [first, first+count) sectors is as expected, else a description of the first that is not. */
    public static String check(Path file, long firstSector, long count, Expect expect) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer buf = ByteBuffer.allocate((int) (count * SECTOR));
            ch.read(buf, firstSector * SECTOR);
            for (int i = 0; i < buf.capacity(); i++) {
                long o = firstSector * SECTOR + i;
                byte want = switch (expect) {
                    case PATTERN -> at(o);
                    case COMPLEMENT -> (byte) ~at(o);
                    case ZERO -> 0;
                };
                if (buf.get(i) != want) {
                    return String.format("byte at offset %d (sector %d) is 0x%02x, expected %s 0x%02x", o, o / SECTOR,
                            buf.get(i) & 0xff, expect, want & 0xff);
                }
            }
            return null;
        }
    }
}
