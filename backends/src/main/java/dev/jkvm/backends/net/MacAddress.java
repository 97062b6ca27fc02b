package dev.jkvm.backends.net;

import java.util.HexFormat;

/** An Ethernet MAC address; QEMU hands out 52:54:00:12:34:56, then :57, :58... */
public record MacAddress(long value) {
    public static final MacAddress QEMU_FIRST = new MacAddress(0x525400123456L);

    public MacAddress {
        if (value < 0 || value > 0xffffffffffffL) {
            throw new IllegalArgumentException("MAC address out of range");
        }
    }

    /** Parses "52:54:00:12:34:56". */
    public static MacAddress parse(String text) {
        String[] parts = text.split(":");
        if (parts.length != 6) {
            throw new IllegalArgumentException("'" + text + "' is not a MAC address (xx:xx:xx:xx:xx:xx)");
        }
        long v = 0;
        for (String p : parts) {
            if (p.length() != 2 || !HexFormat.isHexDigit(p.charAt(0)) || !HexFormat.isHexDigit(p.charAt(1))) {
                throw new IllegalArgumentException("'" + text + "' is not a MAC address (xx:xx:xx:xx:xx:xx)");
            }
            v = (v << 8) | HexFormat.fromHexDigits(p);
        }
        if ((v & 0x010000000000L) != 0) {
            throw new IllegalArgumentException("'" + text + "' is a multicast address; a NIC needs a unicast one");
        }
        return new MacAddress(v);
    }

    /** The n-th default MAC after QEMU's first. */
    public static MacAddress qemuDefault(int n) {
        return new MacAddress(QEMU_FIRST.value + n);
    }

    public byte[] bytes() {
        byte[] b = new byte[6];
        for (int i = 0; i < 6; i++) {
            b[i] = (byte) (value >>> (8 * (5 - i)));
        }
        return b;
    }

    @Override
    public String toString() {
        byte[] b = bytes();
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < 6; i++) {
            s.append(i == 0 ? "" : ":").append(String.format("%02x", b[i]));
        }
        return s.toString();
    }
}
