package dev.jkvm.devices.virtio.net;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** The Internet checksum (RFC 1071), to finish a partially checksummed frame for a driver without GUEST_CSUM. */
final class Checksum {
    private Checksum() {
    }

    /**
     * A copy of {@code frame} with the checksum the NEEDS_CSUM header describes filled in: the ones'
     * complement sum from {@code start} to the end, stored at {@code start + offset}, whose two
     * bytes already hold the pseudo-header sum. Null when those positions lie outside the frame.
     */
    static MemorySegment complete(MemorySegment frame, int start, int offset) {
        long size = frame.byteSize();
        if ((long) start + offset + 2 > size) {
            return null;
        }
        byte[] b = frame.toArray(ValueLayout.JAVA_BYTE);
        long sum = 0;
        int i = start;
        for (; i + 1 < b.length; i += 2) {
            sum += (b[i] & 0xff) << 8 | (b[i + 1] & 0xff);
        }
        if (i < b.length) {
            sum += (b[i] & 0xff) << 8;
        }
        while ((sum >>> 16) != 0) {
            sum = (sum & 0xffff) + (sum >>> 16);
        }
        int c = (int) ~sum & 0xffff;
        if (c == 0) {
            c = 0xffff;
        }
        b[start + offset] = (byte) (c >>> 8);
        b[start + offset + 1] = (byte) c;
        return MemorySegment.ofArray(b);
    }
}
