package dev.jkvm.devices.legacy.net;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/** The Internet checksum (RFC 1071) over bytes of a segment, as the transmit offloads insert it. */
final class InternetChecksum {
    private static final ValueLayout.OfShort BE16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    private InternetChecksum() {
    }

    /** The one's-complement sum of [from, to) as big-endian 16-bit words (an odd last byte padded with 0), unfolded. */
    static long sum(MemorySegment s, long from, long to) {
        long sum = 0;
        long i = from;
        for (; i + 1 < to; i += 2) {
            sum += Short.toUnsignedInt(s.get(BE16, i));
        }
        if (i < to) {
            sum += (s.get(ValueLayout.JAVA_BYTE, i) & 0xff) << 8;
        }
        return sum;
    }

    /** Folds a sum to 16 bits (end-around carry). */
    static int fold(long sum) {
        while ((sum >>> 16) != 0) {
            sum = (sum & 0xffff) + (sum >>> 16);
        }
        return (int) sum;
    }

    /**
     * The value to store: the complement of the folded sum, 0xFFFF instead of 0 (the same number in
     * one's complement, and what a UDP checksum must use, since 0 there means "none").
     */
    static int finish(long sum) {
        int c = ~fold(sum) & 0xffff;
        return c == 0 ? 0xffff : c;
    }
}
