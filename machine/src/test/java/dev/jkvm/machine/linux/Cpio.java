package dev.jkvm.machine.linux;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * Writes a "newc" cpio archive (the initramfs format Linux unpacks, Documentation/driver-api/early-userspace):
 * a 110-byte ASCII header per entry ("070701" and 13 eight-digit hex fields), the NUL-terminated
 * name, the data, each padded to 4 bytes, and a "TRAILER!!!" entry.
 */
final class Cpio {
    private static final int S_IFDIR = 0040000;
    private static final int S_IFREG = 0100000;
    private static final int S_IFCHR = 0020000;
    private static final int S_IFLNK = 0120000;

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private int inode = 1;

    Cpio dir(String name) {
        return entry(name, S_IFDIR | 0755, 2, new byte[0], 0, 0);
    }

    Cpio file(String name, int perm, byte[] data) {
        return entry(name, S_IFREG | perm, 1, data, 0, 0);
    }

    Cpio file(String name, int perm, String text) {
        return file(name, perm, text.getBytes(StandardCharsets.UTF_8));
    }

    Cpio charDevice(String name, int perm, int major, int minor) {
        return entry(name, S_IFCHR | perm, 1, new byte[0], major, minor);
    }

    Cpio symlink(String name, String target) {
        return entry(name, S_IFLNK | 0777, 1, target.getBytes(StandardCharsets.UTF_8), 0, 0);
    }

    private Cpio entry(String name, int mode, int nlink, byte[] data, int rdevMajor, int rdevMinor) {
        byte[] nameBytes = (name + "\0").getBytes(StandardCharsets.UTF_8);
        String header = String.format("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
                inode++, mode, 0, 0, nlink, 0, data.length, 0, 0, rdevMajor, rdevMinor, nameBytes.length, 0);
        out.writeBytes(header.getBytes(StandardCharsets.US_ASCII));
        out.writeBytes(nameBytes);
        pad();
        out.writeBytes(data);
        pad();
        return this;
    }

    private void pad() {
        while (out.size() % 4 != 0) {
            out.write(0);
        }
    }

    byte[] build() {
        entry("TRAILER!!!", 0, 1, new byte[0], 0, 0);
        // Linux accepts trailing zeros; a 512-byte multiple is what cpio(1) writes.
        while (out.size() % 512 != 0) {
            out.write(0);
        }
        return out.toByteArray();
    }
}
