package dev.jkvm.backends.block;

import dev.jkvm.os.Libc;

import java.util.Locale;

/**
 * QEMU's -drive cache= modes, mapped as QEMU maps them: whether the host page cache is bypassed
 * (O_DIRECT), whether every write is already durable (O_DSYNC), and whether guest flushes reach
 * the disk at all.
 */
public enum CacheMode {
    WRITEBACK(false, false, true),
    NONE(true, false, true),
    WRITETHROUGH(false, true, true),
    DIRECTSYNC(true, true, true),
    UNSAFE(false, false, false);

    private final boolean direct;
    private final boolean dsync;
    private final boolean honoursFlush;

    CacheMode(boolean direct, boolean dsync, boolean honoursFlush) {
        this.direct = direct;
        this.dsync = dsync;
        this.honoursFlush = honoursFlush;
    }

    public static CacheMode parse(String s) {
        return switch (s.toLowerCase(Locale.ROOT)) {
            case "writeback" -> WRITEBACK;
            case "none" -> NONE;
            case "writethrough" -> WRITETHROUGH;
            case "directsync" -> DIRECTSYNC;
            case "unsafe" -> UNSAFE;
            default -> throw new IllegalArgumentException("invalid cache option '" + s + "' (writeback, none, writethrough, directsync, unsafe)");
        };
    }

    public int openFlags() {
        return (direct ? Libc.O_DIRECT : 0) | (dsync ? Libc.O_DSYNC : 0);
    }

    public boolean direct() {
        return direct;
    }

    /** False only for cache=unsafe, which ignores the guest's flushes. */
    public boolean honoursFlush() {
        return honoursFlush;
    }

    /** Whether the guest sees a volatile write cache (it then sends FLUSH); not with O_DSYNC. */
    public boolean writebackCache() {
        return !dsync;
    }
}
