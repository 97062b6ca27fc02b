package dev.jkvm.memory;

import dev.jkvm.os.Errno;
import dev.jkvm.os.Libc;
import dev.jkvm.os.NativeException;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * One host mapping that holds all of a guest's RAM. The segment belongs to a shared arena whose
 * close unmaps it, so an access after close fails in Java instead of touching unmapped memory.
 */
public final class GuestRam implements AutoCloseable {
    /** The name that /proc/PID/smaps shows for anonymous guest RAM, so tools can tell it apart. */
    public static final String ANON_NAME = "jkvm-guest-ram";

    private final Arena arena;
    private final MemorySegment segment;
    private final boolean fileBacked;
    private final boolean named;

    private GuestRam(Arena arena, MemorySegment segment, boolean fileBacked, boolean named) {
        this.arena = arena;
        this.segment = segment;
        this.fileBacked = fileBacked;
        this.named = named;
    }

    /** Maps {@code size} bytes of guest RAM as the options say. */
    public static GuestRam allocate(long size, RamOptions options) {
        if (size <= 0 || (size & 0xfff) != 0) {
            throw new IllegalArgumentException("guest RAM size must be a positive multiple of 4 KiB: " + size);
        }
        return options.memPath() == null ? anonymous(size, options) : fileBacked(size, options);
    }

    private static GuestRam anonymous(long size, RamOptions options) {
        int flags = Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS | Libc.MAP_NORESERVE;
        MemorySegment raw = Libc.mmap(MemorySegment.NULL, size, Libc.PROT_READ | Libc.PROT_WRITE, flags, -1, 0);
        Arena arena = Arena.ofShared();
        MemorySegment seg = raw.reinterpret(size, arena, s -> Libc.munmap(s.address(), size));
        boolean named;
        try (Arena names = Arena.ofConfined()) {
            // Naming needs CONFIG_ANON_VMA_NAME (5.17+); kernels without it say EINVAL and that is fine.
            named = Libc.prctl(Libc.PR_SET_VMA, Libc.PR_SET_VMA_ANON_NAME, seg.address(), size,
                    names.allocateFrom(ANON_NAME).address()) == 0;
        }
        if (options.hugePages()) {
            Libc.madviseOptional(seg, size, Libc.MADV_HUGEPAGE);
        }
        if (options.mergeable()) {
            Libc.madviseOptional(seg, size, Libc.MADV_MERGEABLE);
        }
        GuestRam ram = new GuestRam(arena, seg, false, named);
        if (options.prealloc()) {
            ram.prefault();
        }
        return ram;
    }

    private static GuestRam fileBacked(long size, RamOptions options) {
        Path dir = options.memPath();
        if (!Files.isDirectory(dir)) {
            throw new NativeException("-mem-path " + dir, Errno.ENOTDIR);
        }
        Path tmp;
        try {
            tmp = Files.createTempFile(dir, "jkvm-ram.", "");
        } catch (java.io.IOException e) {
            throw new NativeException("-mem-path " + dir + ": cannot create a file there: " + e.getMessage(), Errno.EACCES);
        }
        int fd = Libc.open(tmp.toString(), Libc.O_RDWR | Libc.O_CLOEXEC, 0);
        try {
            // The file only has to live as long as the mapping; unlinking now leaves nothing behind on a crash.
            Libc.unlink(tmp.toString());
            Libc.ftruncate(fd, size);
            int flags = Libc.MAP_SHARED | (options.prealloc() ? Libc.MAP_POPULATE : 0);
            MemorySegment raw = Libc.mmap(MemorySegment.NULL, size, Libc.PROT_READ | Libc.PROT_WRITE, flags, fd, 0);
            Arena arena = Arena.ofShared();
            MemorySegment seg = raw.reinterpret(size, arena, s -> Libc.munmap(s.address(), size));
            if (options.mergeable()) {
                Libc.madviseOptional(seg, size, Libc.MADV_MERGEABLE);
            }
            GuestRam ram = new GuestRam(arena, seg, true, false);
            if (options.prealloc()) {
                ram.prefault();
            }
            return ram;
        } finally {
            Libc.closeQuietly(fd);
        }
    }

    /** Faults every page in; MADV_POPULATE_WRITE does it in one call where the kernel has it. */
    private void prefault() {
        if (Libc.madviseOptional(segment, segment.byteSize(), Libc.MADV_POPULATE_WRITE) == 0) {
            return;
        }
        for (long off = 0; off < segment.byteSize(); off += Libc.PAGE_SIZE) {
            segment.set(java.lang.foreign.ValueLayout.JAVA_BYTE, off, segment.get(java.lang.foreign.ValueLayout.JAVA_BYTE, off));
        }
    }

    public MemorySegment segment() {
        return segment;
    }

    public long size() {
        return segment.byteSize();
    }

    public boolean isFileBacked() {
        return fileBacked;
    }

    /** True when /proc/PID/maps shows the mapping as [anon:jkvm-guest-ram]. */
    public boolean isNamed() {
        return named;
    }

    /** Unmaps the RAM. Any later access through a slice of it throws IllegalStateException. */
    @Override
    public void close() {
        if (arena.scope().isAlive()) {
            arena.close();
        }
    }
}
