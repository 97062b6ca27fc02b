package dev.jkvm.backends.block;

import dev.jkvm.os.Errno;
import dev.jkvm.os.Libc;
import dev.jkvm.os.NativeException;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A raw image file: guest sector n is file bytes [512n, 512n+512). Reads and writes are preadv and
 * pwritev straight between the file and guest RAM. With cache=none (O_DIRECT) a request whose
 * buffers or offset are not sector aligned goes through an aligned bounce buffer instead.
 */
public final class RawFileImage implements BlockImage {
    private static final long SECTOR = 512;

    private final int fd;
    private final long size;
    private final boolean readOnly;
    private final CacheMode cache;
    private final boolean discardEnabled;
    private volatile boolean closed;

    private RawFileImage(int fd, long size, boolean readOnly, CacheMode cache, boolean discardEnabled) {
        this.fd = fd;
        this.size = size;
        this.readOnly = readOnly;
        this.cache = cache;
        this.discardEnabled = discardEnabled;
    }

    /** Opens and locks an image; every problem is an {@link ImageException} with one clear line. */
    public static RawFileImage open(Path file, boolean readOnly, CacheMode cache, boolean discard) {
        String path = file.toString();
        if (Files.isDirectory(file)) {
            throw new ImageException("could not open disk image " + path + ": Is a directory");
        }
        int flags = (readOnly ? Libc.O_RDONLY : Libc.O_RDWR) | Libc.O_CLOEXEC | cache.openFlags();
        int fd;
        try {
            fd = Libc.open(path, flags, 0);
        } catch (NativeException e) {
            String why = switch (e.errno()) {
                case Errno.ENOENT -> "No such file or directory";
                case Errno.EACCES, Errno.EPERM -> "Permission denied";
                case Errno.EROFS -> "Read-only file system (use readonly=on)";
                case Errno.EINVAL -> cache.direct() ? "the file system does not support O_DIRECT (cache=" + cache.name().toLowerCase() + ")" : "Invalid argument";
                default -> Errno.describe(e.errno());
            };
            throw new ImageException("could not open disk image " + path + ": " + why);
        }
        try {
            long size = Files.size(file);
            if (size % SECTOR != 0) {
                throw new ImageException("disk image " + path + " is " + size + " bytes, not a multiple of 512");
            }
            ImageLock.acquire(fd, !readOnly, path);
            return new RawFileImage(fd, size, readOnly, cache, discard);
        } catch (IOException e) {
            Libc.closeQuietly(fd);
            throw new ImageException("could not read the size of disk image " + path + ": " + e.getMessage());
        } catch (RuntimeException e) {
            Libc.closeQuietly(fd);
            throw e;
        }
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public boolean readOnly() {
        return readOnly;
    }

    /** The open file, for engines (io_uring) that issue their own system calls on it. */
    public int fd() {
        return fd;
    }

    /** Whether a guest FLUSH must reach the disk (false for cache=unsafe and read-only images). */
    public boolean flushes() {
        return !readOnly && cache.honoursFlush();
    }

    public boolean needsBounce(long offset, MemorySegment[] buffers, int count) {
        if (!cache.direct()) {
            return false;
        }
        if (offset % SECTOR != 0) {
            return true;
        }
        for (int i = 0; i < count; i++) {
            if (buffers[i].address() % SECTOR != 0 || buffers[i].byteSize() % SECTOR != 0) {
                return true;
            }
        }
        return false;
    }

    @Override
    public int read(long offset, MemorySegment[] buffers, int count, IoContext io) {
        if (needsBounce(offset, buffers, count)) {
            return bounced(offset, buffers, count, io, false);
        }
        return vectored(offset, buffers, count, io, false);
    }

    @Override
    public int write(long offset, MemorySegment[] buffers, int count, IoContext io) {
        if (readOnly) {
            return Errno.EROFS;
        }
        if (needsBounce(offset, buffers, count)) {
            return bounced(offset, buffers, count, io, true);
        }
        return vectored(offset, buffers, count, io, true);
    }

    /** preadv/pwritev of all buffers, resumed after short transfers. */
    private int vectored(long offset, MemorySegment[] buffers, int count, IoContext io, boolean write) {
        int first = 0;
        long skip = 0;
        while (first < count) {
            int n = 0;
            for (int i = first; i < count && n < IoContext.MAX_IOVECS; i++, n++) {
                io.iovec(n, i == first ? buffers[i].asSlice(skip) : buffers[i]);
            }
            long done = write ? Libc.pwritevRaw(io.callState, fd, io.iovecs, n, offset)
                    : Libc.preadvRaw(io.callState, fd, io.iovecs, n, offset);
            if (done < 0) {
                int errno = io.errno();
                if (errno == Errno.EINTR) {
                    continue;
                }
                return errno;
            }
            if (done == 0) {
                // The file shrank under us: reads past its end would loop forever.
                return Errno.EIO;
            }
            offset += done;
            while (first < count && done > 0) {
                long left = buffers[first].byteSize() - skip;
                if (done >= left) {
                    done -= left;
                    first++;
                    skip = 0;
                } else {
                    skip += done;
                    done = 0;
                }
            }
        }
        return 0;
    }

    /** O_DIRECT with unaligned buffers: whole aligned sectors through a bounce buffer. */
    private int bounced(long offset, MemorySegment[] buffers, int count, IoContext io, boolean write) {
        MemorySegment bounce = io.bounce();
        long total = 0;
        for (int i = 0; i < count; i++) {
            total += buffers[i].byteSize();
        }
        int buf = 0;
        long bufOffset = 0;
        long done = 0;
        while (done < total) {
            long chunk = Math.min(total - done, IoContext.BOUNCE_BYTES - SECTOR);
            long pos = offset + done;
            // Whole sectors around the piece; the image size is a multiple of 512, so this stays inside it.
            long alignedStart = pos & ~(SECTOR - 1);
            long alignedEnd = (pos + chunk + SECTOR - 1) & ~(SECTOR - 1);
            MemorySegment window = bounce.asSlice(0, alignedEnd - alignedStart);
            long lead = pos - alignedStart;
            // Reads need these bytes; writes need them too, to keep the rest of partial sectors intact.
            int e = transfer(window, alignedStart, io, false);
            if (e != 0) {
                return e;
            }
            long copied = 0;
            while (copied < chunk) {
                long n = Math.min(chunk - copied, buffers[buf].byteSize() - bufOffset);
                if (write) {
                    MemorySegment.copy(buffers[buf], bufOffset, window, lead + copied, n);
                } else {
                    MemorySegment.copy(window, lead + copied, buffers[buf], bufOffset, n);
                }
                copied += n;
                bufOffset += n;
                if (bufOffset == buffers[buf].byteSize()) {
                    buf++;
                    bufOffset = 0;
                }
            }
            if (write) {
                e = transfer(window, alignedStart, io, true);
                if (e != 0) {
                    return e;
                }
            }
            done += chunk;
        }
        return 0;
    }

    private int transfer(MemorySegment window, long offset, IoContext io, boolean write) {
        long pos = 0;
        while (pos < window.byteSize()) {
            MemorySegment part = window.asSlice(pos);
            long n = write ? Libc.pwriteRaw(io.callState, fd, part, part.byteSize(), offset + pos)
                    : Libc.preadRaw(io.callState, fd, part, part.byteSize(), offset + pos);
            if (n < 0) {
                int errno = io.errno();
                if (errno == Errno.EINTR) {
                    continue;
                }
                return errno;
            }
            if (n == 0) {
                return write ? Errno.EIO : 0;
            }
            pos += n;
        }
        return 0;
    }

    @Override
    public int flush(IoContext io) {
        if (readOnly || !cache.honoursFlush()) {
            return 0;
        }
        return Libc.syncErrno(fd, true);
    }

    @Override
    public int discard(long offset, long length, IoContext io) {
        if (readOnly) {
            return Errno.EROFS;
        }
        if (!discardEnabled || length == 0) {
            // fallocate() calls an empty range EINVAL; there is nothing to deallocate.
            return 0;
        }
        int e = Libc.fallocateErrno(fd, Libc.FALLOC_FL_PUNCH_HOLE | Libc.FALLOC_FL_KEEP_SIZE, offset, length);
        // A file system that cannot punch holes simply keeps the data, which discard allows.
        return e == Errno.EOPNOTSUPP ? 0 : e;
    }

    @Override
    public int writeZeroes(long offset, long length, boolean mayUnmap, IoContext io) {
        if (readOnly) {
            return Errno.EROFS;
        }
        int e = mayUnmap && discardEnabled
                ? Libc.fallocateErrno(fd, Libc.FALLOC_FL_PUNCH_HOLE | Libc.FALLOC_FL_KEEP_SIZE, offset, length)
                : Libc.fallocateErrno(fd, Libc.FALLOC_FL_ZERO_RANGE | Libc.FALLOC_FL_KEEP_SIZE, offset, length);
        if (e != Errno.EOPNOTSUPP && e != Errno.EINVAL) {
            return e;
        }
        // No fallocate support: write the zeros.
        MemorySegment zeros = io.bounce();
        zeros.fill((byte) 0);
        long done = 0;
        while (done < length) {
            long n = Math.min(length - done, zeros.byteSize());
            int w = transfer(zeros.asSlice(0, n), offset + done, io, true);
            if (w != 0) {
                return w;
            }
            done += n;
        }
        return 0;
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            Libc.closeQuietly(fd);
        }
    }
}
