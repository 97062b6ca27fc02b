package dev.jkvm.backends.block;

import dev.jkvm.os.Errno;
import dev.jkvm.os.Libc;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Image locking compatible with QEMU's file-posix driver, so that jkvm and QEMU keep each other
 * (and themselves) from writing one image twice. QEMU takes open-file-description byte locks: a
 * shared lock on byte 100+p for each permission p it holds, and on byte 200+p for each permission
 * it refuses to share. Before that it checks that nobody refuses what it wants and nobody holds
 * what it refuses. Permission bits: 0 consistent read, 1 write, 2 write-unchanged, 3 resize.
 */
final class ImageLock {
    private static final int PERM_BASE = 100;
    private static final int SHARED_BASE = 200;
    private static final String[] PERM_NAMES = {"consistent read", "write", "write unchanged", "resize"};
    static final int READ = 1;
    static final int WRITE = 2;
    static final int WRITE_UNCHANGED = 4;
    static final int RESIZE = 8;

    private ImageLock() {
    }

    /** Locks {@code fd} for a writer (or a reader); throws {@link ImageException} naming the conflict. */
    static void acquire(int fd, boolean writable, String path) {
        int perm = writable ? READ | WRITE | WRITE_UNCHANGED : READ;
        int shared = writable ? READ | WRITE_UNCHANGED : READ | WRITE_UNCHANGED | RESIZE;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment flock = arena.allocate(Libc.FLOCK_BYTES, 8);
            // Lock first, then check, as QEMU does: two openers that checked first could both find
            // nothing and both go on. Our own locks do not show in F_OFD_GETLK; on a conflict the
            // caller closes the fd, which drops them.
            for (int bit = 0; bit < PERM_NAMES.length; bit++) {
                if ((perm & (1 << bit)) != 0) {
                    lock(fd, flock, PERM_BASE + bit, path);
                }
                if ((shared & (1 << bit)) == 0) {
                    lock(fd, flock, SHARED_BASE + bit, path);
                }
            }
            for (int bit = 0; bit < PERM_NAMES.length; bit++) {
                if ((perm & (1 << bit)) != 0 && held(fd, flock, SHARED_BASE + bit)) {
                    throw conflict(PERM_NAMES[bit], false, path);
                }
                if ((shared & (1 << bit)) == 0 && held(fd, flock, PERM_BASE + bit)) {
                    throw conflict(PERM_NAMES[bit], true, path);
                }
            }
        }
    }

    private static ImageException conflict(String perm, boolean sharedLock, String path) {
        return new ImageException("failed to get " + (sharedLock ? "shared " : "") + "\"" + perm + "\" lock on " + path
                + ": is another process using the image?");
    }

    private static void fill(MemorySegment flock, short type, long start) {
        flock.fill((byte) 0);
        flock.set(ValueLayout.JAVA_SHORT, 0, type);
        flock.set(ValueLayout.JAVA_SHORT, 2, (short) 0);
        flock.set(ValueLayout.JAVA_LONG, 8, start);
        flock.set(ValueLayout.JAVA_LONG, 16, 1);
    }

    /** True when another open file description holds a lock on byte {@code start}. */
    private static boolean held(int fd, MemorySegment flock, long start) {
        fill(flock, Libc.F_WRLCK, start);
        int e = Libc.fcntlLock(fd, Libc.F_OFD_GETLK, flock);
        if (e != 0) {
            // A file system without OFD locks cannot be protected; QEMU carries on too.
            return false;
        }
        return flock.get(ValueLayout.JAVA_SHORT, 0) != Libc.F_UNLCK;
    }

    private static void lock(int fd, MemorySegment flock, long start, String path) {
        fill(flock, Libc.F_RDLCK, start);
        int e = Libc.fcntlLock(fd, Libc.F_OFD_SETLK, flock);
        if (e == Errno.EAGAIN || e == Errno.EACCES) {
            throw new ImageException("failed to lock " + path + ": is another process using the image?");
        }
    }
}
