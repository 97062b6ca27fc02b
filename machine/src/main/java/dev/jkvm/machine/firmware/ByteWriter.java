package dev.jkvm.machine.firmware;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/** A growable little-endian byte buffer for building firmware tables, with patching and checksums. */
final class ByteWriter {
    private byte[] buf = new byte[256];
    private int size;

    int size() {
        return size;
    }

    private void ensure(int more) {
        if (size + more > buf.length) {
            buf = Arrays.copyOf(buf, Math.max(buf.length * 2, size + more));
        }
    }

    ByteWriter u8(int v) {
        ensure(1);
        buf[size++] = (byte) v;
        return this;
    }

    ByteWriter u16(int v) {
        return u8(v).u8(v >>> 8);
    }

    ByteWriter u32(long v) {
        return u16((int) v).u16((int) (v >>> 16));
    }

    ByteWriter u64(long v) {
        return u32(v).u32(v >>> 32);
    }

    ByteWriter bytes(byte[] b) {
        ensure(b.length);
        System.arraycopy(b, 0, buf, size, b.length);
        size += b.length;
        return this;
    }

    ByteWriter zeros(int n) {
        ensure(n);
        size += n;
        return this;
    }

    /** ASCII text in exactly {@code width} bytes, padded with {@code pad}; longer text is an error. */
    ByteWriter ascii(String s, int width, char pad) {
        byte[] b = s.getBytes(StandardCharsets.US_ASCII);
        if (b.length > width) {
            throw new IllegalArgumentException("'" + s + "' is longer than " + width + " bytes");
        }
        bytes(b);
        for (int i = b.length; i < width; i++) {
            u8(pad);
        }
        return this;
    }

    /** Pads with zeros up to a multiple of {@code alignment}. */
    ByteWriter align(int alignment) {
        return zeros((alignment - size % alignment) % alignment);
    }

    void put8(int offset, int v) {
        buf[offset] = (byte) v;
    }

    void put16(int offset, int v) {
        put8(offset, v);
        put8(offset + 1, v >>> 8);
    }

    void put32(int offset, long v) {
        put16(offset, (int) v);
        put16(offset + 2, (int) (v >>> 16));
    }

    byte[] toArray() {
        return Arrays.copyOf(buf, size);
    }

    /** The byte that makes {@code b[from, from + length)} sum to zero modulo 256, given that the checksum byte itself is 0. */
    static int checksum(byte[] b, int from, int length) {
        int sum = 0;
        for (int i = from; i < from + length; i++) {
            sum += b[i];
        }
        return (-sum) & 0xff;
    }

    /** The sum of the bytes modulo 256 (0 for a valid table). */
    static int sum(byte[] b, int from, int length) {
        int sum = 0;
        for (int i = from; i < from + length; i++) {
            sum += b[i];
        }
        return sum & 0xff;
    }

    static int le16(byte[] b, int off) {
        return (b[off] & 0xff) | (b[off + 1] & 0xff) << 8;
    }

    static long le32(byte[] b, int off) {
        return (le16(b, off) | (long) le16(b, off + 2) << 16) & 0xffffffffL;
    }

    static long le64(byte[] b, int off) {
        return le32(b, off) | le32(b, off + 4) << 32;
    }
}
