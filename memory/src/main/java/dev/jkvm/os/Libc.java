package dev.jkvm.os;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The libc calls jkvm makes, bound once through the FFM linker. Every call that can fail captures
 * errno in the same native call (a later Java call could clobber it), and the checked forms turn
 * -1 into a {@link NativeException} that names the call.
 *
 * <p>Hot paths (KVM_RUN, eventfd reads) use the raw forms with a call-state segment the calling
 * thread owns, so that they allocate nothing.
 */
public final class Libc {
    public static final int O_RDONLY = 0;
    public static final int O_WRONLY = 1;
    public static final int O_RDWR = 2;
    public static final int O_CREAT = 0x40;
    public static final int O_EXCL = 0x80;
    public static final int O_TRUNC = 0x200;
    public static final int O_NONBLOCK = 0x800;
    public static final int O_DSYNC = 0x1000;
    public static final int O_DIRECT = 0x4000;
    public static final int O_CLOEXEC = 0x80000;

    public static final int PROT_READ = 1;
    public static final int PROT_WRITE = 2;
    public static final int MAP_SHARED = 0x01;
    public static final int MAP_PRIVATE = 0x02;
    public static final int MAP_ANONYMOUS = 0x20;
    public static final int MAP_NORESERVE = 0x4000;
    public static final int MAP_POPULATE = 0x8000;
    public static final int MADV_DONTNEED = 4;
    public static final int MADV_MERGEABLE = 12;
    public static final int MADV_HUGEPAGE = 14;
    public static final int MADV_NOHUGEPAGE = 15;
    public static final int MADV_DONTDUMP = 16;
    public static final int MADV_POPULATE_WRITE = 23;

    public static final int EFD_CLOEXEC = O_CLOEXEC;
    public static final int EFD_NONBLOCK = O_NONBLOCK;

    public static final int SIG_BLOCK = 0;
    public static final int SIG_UNBLOCK = 1;
    public static final int SIG_SETMASK = 2;
    /** glibc keeps 32 and 33 for itself, so the first real-time signal free for applications is 34. */
    public static final int SIGRTMIN = 34;
    /** glibc's sigset_t is 1024 bits; the kernel's is 64. */
    public static final int GLIBC_SIGSET_BYTES = 128;

    public static final int PR_SET_NAME = 15;
    public static final int PR_SET_VMA = 0x53564d41;
    public static final int PR_SET_VMA_ANON_NAME = 0;

    public static final int LOCK_SH = 1;
    public static final int LOCK_EX = 2;
    public static final int LOCK_NB = 4;
    public static final int LOCK_UN = 8;

    public static final int POLLIN = 1;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LOOKUP = LINKER.defaultLookup();
    private static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CALL_STATE.varHandle(MemoryLayout.PathElement.groupElement("errno"));

    /**
     * Every call goes through glibc's syscall(2) with seven long arguments: one function shape means
     * one downcall stub. Each distinct shape costs the JVM 5-10 ms and a few hidden classes to
     * build, which was most of jkvm's start-up time and a good part of its metaspace.
     */
    private static final MethodHandle SYSCALL = LINKER.downcallHandle(
            LOOKUP.find("syscall").orElseThrow(() -> new UnsatisfiedLinkError("libc has no syscall")),
            FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG),
            Linker.Option.captureCallState("errno"), Linker.Option.firstVariadicArg(1));

    private static final ThreadLocal<MemorySegment> THREAD_CALL_STATE =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(CALL_STATE));

    // x86-64 system call numbers (asm/unistd_64.h)
    private static final long SYS_READ = 0;
    private static final long SYS_WRITE = 1;
    private static final long SYS_CLOSE = 3;
    private static final long SYS_POLL = 7;
    private static final long SYS_MMAP = 9;
    private static final long SYS_MUNMAP = 11;
    private static final long SYS_RT_SIGACTION = 13;
    private static final long SYS_RT_SIGPROCMASK = 14;
    private static final long SYS_IOCTL = 16;
    private static final long SYS_PREAD64 = 17;
    private static final long SYS_PWRITE64 = 18;
    private static final long SYS_WRITEV = 20;
    private static final long SYS_MADVISE = 28;
    private static final long SYS_GETPID = 39;
    private static final long SYS_SOCKET = 41;
    private static final long SYS_CONNECT = 42;
    private static final long SYS_SENDMSG = 46;
    private static final long SYS_SHUTDOWN = 48;
    private static final long SYS_BIND = 49;
    private static final long SYS_LISTEN = 50;
    private static final long SYS_GETSOCKNAME = 51;
    private static final long SYS_SETSOCKOPT = 54;
    private static final long SYS_GETSOCKOPT = 55;
    private static final long SYS_FCNTL = 72;
    private static final long SYS_FLOCK = 73;
    private static final long SYS_FSYNC = 74;
    private static final long SYS_FDATASYNC = 75;
    private static final long SYS_FTRUNCATE = 77;
    private static final long SYS_RT_SIGTIMEDWAIT = 128;
    private static final long SYS_PRCTL = 157;
    private static final long SYS_GETTID = 186;
    private static final long SYS_SCHED_SETAFFINITY = 203;
    private static final long SYS_TGKILL = 234;
    private static final long SYS_OPENAT = 257;
    private static final long SYS_UNLINKAT = 263;
    private static final long SYS_FALLOCATE = 285;
    private static final long SYS_ACCEPT4 = 288;
    private static final long SYS_EVENTFD2 = 290;
    private static final long SYS_PREADV = 295;
    private static final long SYS_PWRITEV = 296;
    private static final long SYS_IO_URING_SETUP = 425;
    private static final long SYS_IO_URING_ENTER = 426;
    private static final long AT_FDCWD = -100;
    /** The kernel's sigset_t is 64 bits on x86-64. */
    private static final long KERNEL_SIGSET_BYTES = 8;
    private static final long TCGETS = 0x5401;
    private static final long TCSETS = 0x5402;

    /** An eventfd increment of 1, shared read-only by every thread that signals one. */
    private static final MemorySegment ONE = Arena.global().allocate(JAVA_LONG);
    /** errno capture for calls whose errno nobody reads (eventfd signals from any thread). */
    private static final MemorySegment SCRATCH_CALL_STATE = Arena.global().allocate(CALL_STATE);

    static {
        ONE.set(JAVA_LONG, 0, 1L);
    }

    private Libc() {
    }

    private static long sys(MemorySegment callState, long nr, long a, long b, long c, long d, long e, long f) {
        try {
            return (long) SYSCALL.invokeExact(callState, nr, a, b, c, d, e, f);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static long sys(long nr, long a, long b, long c, long d, long e, long f) {
        return sys(state(), nr, a, b, c, d, e, f);
    }

    /** The address of a native segment; a heap segment has none a system call could use. */
    private static long ptr(MemorySegment s) {
        if (!s.isNative()) {
            throw new IllegalArgumentException("system calls need native memory, not a heap segment");
        }
        return s.address();
    }

    /** A call-state segment for one thread's allocation-free raw calls. */
    public static MemorySegment allocateCallState(Arena arena) {
        return arena.allocate(CALL_STATE);
    }

    /** errno as captured by the last raw call that used {@code callState}. */
    public static int errno(MemorySegment callState) {
        return (int) ERRNO.get(callState, 0L);
    }

    private static MemorySegment state() {
        return THREAD_CALL_STATE.get();
    }

    private static int lastErrno() {
        return errno(state());
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            return r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new IllegalStateException(t);
    }

    private static int check(String call, long result) {
        if (result == -1) {
            throw new NativeException(call, lastErrno());
        }
        return (int) result;
    }

    private static long checkLong(String call, long result) {
        if (result == -1) {
            throw new NativeException(call, lastErrno());
        }
        return result;
    }

    /** 0 on success, else the errno. */
    private static int errnoOf(long result) {
        return result == -1 ? lastErrno() : 0;
    }

    // ---- raw forms for hot paths: return -1 and leave errno in callState ----

    public static int ioctlRaw(MemorySegment callState, int fd, long request, long arg) {
        return (int) sys(callState, SYS_IOCTL, fd, request, arg, 0, 0, 0);
    }

    public static int ioctlRaw(MemorySegment callState, int fd, long request, MemorySegment arg) {
        return (int) sys(callState, SYS_IOCTL, fd, request, ptr(arg), 0, 0, 0);
    }

    public static long readRaw(MemorySegment callState, int fd, MemorySegment buf, long count) {
        return sys(callState, SYS_READ, fd, ptr(buf), count, 0, 0, 0);
    }

    public static long writeRaw(MemorySegment callState, int fd, MemorySegment buf, long count) {
        return sys(callState, SYS_WRITE, fd, ptr(buf), count, 0, 0, 0);
    }

    public static int sigtimedwaitRaw(MemorySegment callState, MemorySegment set, MemorySegment timeout) {
        return (int) sys(callState, SYS_RT_SIGTIMEDWAIT, ptr(set), 0, ptr(timeout), KERNEL_SIGSET_BYTES, 0, 0);
    }

    /** preadv into an iovec array; returns bytes read or -1 with errno in {@code callState}. */
    public static long preadvRaw(MemorySegment callState, int fd, MemorySegment iov, int iovcnt, long offset) {
        // On x86-64 the whole offset goes in pos_l; pos_h is shifted out.
        return sys(callState, SYS_PREADV, fd, ptr(iov), iovcnt, offset, 0, 0);
    }

    /** pwritev from an iovec array; returns bytes written or -1 with errno in {@code callState}. */
    public static long pwritevRaw(MemorySegment callState, int fd, MemorySegment iov, int iovcnt, long offset) {
        return sys(callState, SYS_PWRITEV, fd, ptr(iov), iovcnt, offset, 0, 0);
    }

    /** pread that reports errno instead of throwing; for device I/O paths that turn errors into status codes. */
    public static long preadRaw(MemorySegment callState, int fd, MemorySegment buf, long count, long offset) {
        return sys(callState, SYS_PREAD64, fd, ptr(buf), count, offset, 0, 0);
    }

    public static long pwriteRaw(MemorySegment callState, int fd, MemorySegment buf, long count, long offset) {
        return sys(callState, SYS_PWRITE64, fd, ptr(buf), count, offset, 0, 0);
    }

    /** io_uring_setup(2): returns the ring fd, or -1 with errno in {@code callState}. */
    public static int ioUringSetupRaw(MemorySegment callState, int entries, MemorySegment params) {
        return (int) sys(callState, SYS_IO_URING_SETUP, entries, ptr(params), 0, 0, 0, 0);
    }

    /** io_uring_enter(2) without a signal mask: returns completions consumed / submitted, or -1. */
    public static int ioUringEnterRaw(MemorySegment callState, int fd, int toSubmit, int minComplete, int flags) {
        return (int) sys(callState, SYS_IO_URING_ENTER, fd, toSubmit, minComplete, flags, 0, 0);
    }

    /** Adds 1 to an eventfd's counter: allocation-free, from any thread (the interrupt path of every device). */
    public static int eventfdSignal(int fd) {
        return (int) sys(SCRATCH_CALL_STATE, SYS_WRITE, fd, ONE.address(), 8, 0, 0, 0);
    }

    // ---- checked forms ----

    public static int open(String path, int flags, int mode) {
        try (Arena arena = Arena.ofConfined()) {
            long fd = sys(SYS_OPENAT, AT_FDCWD, arena.allocateFrom(path).address(), flags, mode, 0, 0);
            if (fd < 0) {
                throw new NativeException("open " + path, lastErrno());
            }
            return (int) fd;
        }
    }

    public static void close(int fd) {
        check("close", sys(SYS_CLOSE, fd, 0, 0, 0, 0, 0));
    }

    /** Closes and ignores errors: for cleanup paths where the first failure is the one to report. */
    public static void closeQuietly(int fd) {
        if (fd >= 0) {
            sys(SYS_CLOSE, fd, 0, 0, 0, 0, 0);
        }
    }

    public static long read(int fd, MemorySegment buf, long count) {
        return checkLong("read", readRaw(state(), fd, buf, count));
    }

    public static long write(int fd, MemorySegment buf, long count) {
        return checkLong("write", writeRaw(state(), fd, buf, count));
    }

    public static long pread(int fd, MemorySegment buf, long count, long offset) {
        return checkLong("pread", preadRaw(state(), fd, buf, count, offset));
    }

    public static long pwrite(int fd, MemorySegment buf, long count, long offset) {
        return checkLong("pwrite", pwriteRaw(state(), fd, buf, count, offset));
    }

    /** ioctl with a pointer argument; {@code name} is the request's symbolic name for errors. */
    public static int ioctl(String name, int fd, long request, MemorySegment arg) {
        MemorySegment state = state();
        int r = ioctlRaw(state, fd, request, arg);
        if (r == -1) {
            throw new NativeException(name, errno(state));
        }
        return r;
    }

    /** ioctl with an integer argument. */
    public static int ioctl(String name, int fd, long request, long arg) {
        MemorySegment state = state();
        int r = ioctlRaw(state, fd, request, arg);
        if (r == -1) {
            throw new NativeException(name, errno(state));
        }
        return r;
    }

    /** mmap; returns a zero-length segment holding the address (callers reinterpret it to its size). */
    public static MemorySegment mmap(MemorySegment addr, long length, int prot, int flags, int fd, long offset) {
        long p = sys(SYS_MMAP, addr.address(), length, prot, flags, fd, offset);
        if (p == -1) {
            throw new NativeException("mmap", lastErrno(), "length " + length);
        }
        return MemorySegment.ofAddress(p);
    }

    public static void munmap(long address, long length) {
        check("munmap", sys(SYS_MUNMAP, address, length, 0, 0, 0, 0));
    }

    public static void madvise(MemorySegment addr, long length, int advice) {
        check("madvise", sys(SYS_MADVISE, addr.address(), length, advice, 0, 0, 0));
    }

    /** madvise that reports failure instead of throwing: advice the kernel may not support is optional. */
    public static int madviseOptional(MemorySegment addr, long length, int advice) {
        return errnoOf(sys(SYS_MADVISE, addr.address(), length, advice, 0, 0, 0));
    }

    public static void ftruncate(int fd, long length) {
        check("ftruncate", sys(SYS_FTRUNCATE, fd, length, 0, 0, 0, 0));
    }

    public static void fallocate(int fd, int mode, long offset, long length) {
        check("fallocate", sys(SYS_FALLOCATE, fd, mode, offset, length, 0, 0));
    }

    public static void fsync(int fd) {
        check("fsync", sys(SYS_FSYNC, fd, 0, 0, 0, 0, 0));
    }

    public static void fdatasync(int fd) {
        check("fdatasync", sys(SYS_FDATASYNC, fd, 0, 0, 0, 0, 0));
    }

    /** flock; returns 0, or the errno when the lock is held elsewhere and LOCK_NB was given. */
    public static int flock(int fd, int operation) {
        int e = errnoOf(sys(SYS_FLOCK, fd, operation, 0, 0, 0, 0));
        if (e == 0 || e == Errno.EWOULDBLOCK) {
            return e;
        }
        throw new NativeException("flock", e);
    }

    public static int eventfd(int initial, int flags) {
        return check("eventfd", sys(SYS_EVENTFD2, initial, flags, 0, 0, 0, 0));
    }

    public static int gettid() {
        return (int) sys(SYS_GETTID, 0, 0, 0, 0, 0, 0);
    }

    public static int getpid() {
        return (int) sys(SYS_GETPID, 0, 0, 0, 0, 0, 0);
    }

    /** tgkill; returns 0 or the errno (ESRCH when the thread has already gone). */
    public static int tgkill(int tgid, int tid, int signal) {
        return errnoOf(sys(SYS_TGKILL, tgid, tid, signal, 0, 0, 0));
    }

    /** The calling thread's signal mask (glibc-sized sets; the kernel uses their first 64 bits). */
    public static void pthreadSigmask(int how, MemorySegment set, MemorySegment oldSet) {
        long r = sys(SYS_RT_SIGPROCMASK, how, set.address(), oldSet.address(), KERNEL_SIGSET_BYTES, 0, 0);
        if (r == -1) {
            throw new NativeException("rt_sigprocmask", lastErrno());
        }
    }

    /**
     * Sets a signal's disposition to SIG_IGN. The kernel never discards a signal that the target
     * thread blocks (it checks the blocked and the saved "real_blocked" masks), so a blocked,
     * ignored signal still interrupts a sleeping syscall that unblocks it, yet can never kill
     * the process if something delivers it.
     */
    public static void ignoreSignal(int signal) {
        try (Arena arena = Arena.ofConfined()) {
            // struct kernel_sigaction { handler, flags, restorer, mask }: handler 1 is SIG_IGN.
            MemorySegment act = arena.allocate(32, 8);
            act.set(JAVA_LONG, 0, 1L);
            check("rt_sigaction", sys(SYS_RT_SIGACTION, signal, act.address(), 0, KERNEL_SIGSET_BYTES, 0, 0));
        }
    }

    public static void schedSetaffinity(int tid, MemorySegment mask) {
        check("sched_setaffinity", sys(SYS_SCHED_SETAFFINITY, tid, mask.byteSize(), ptr(mask), 0, 0, 0));
    }

    /** prctl; returns 0 or the errno, since most prctl options are optional features. */
    public static int prctl(int option, long a2, long a3, long a4, long a5) {
        return errnoOf(sys(SYS_PRCTL, option, a2, a3, a4, a5, 0));
    }

    public static void unlink(String path) {
        try (Arena arena = Arena.ofConfined()) {
            check("unlink " + path, sys(SYS_UNLINKAT, AT_FDCWD, arena.allocateFrom(path).address(), 0, 0, 0, 0));
        }
    }

    /** poll; returns the number of ready fds, 0 on timeout, or -EINTR when interrupted. */
    public static int poll(MemorySegment fds, long nfds, int timeoutMillis) {
        long r = sys(SYS_POLL, ptr(fds), nfds, timeoutMillis, 0, 0, 0);
        if (r == -1) {
            int e = lastErrno();
            if (e == Errno.EINTR) {
                return -Errno.EINTR;
            }
            throw new NativeException("poll", e);
        }
        return (int) r;
    }

    /** struct termios is 60 bytes in glibc; the kernel's (TCGETS) is its first 36, laid out the same. */
    public static final long TERMIOS_BYTES = 60;
    public static final int TCSANOW = 0;

    public static boolean isatty(int fd) {
        try (Arena arena = Arena.ofConfined()) {
            return sys(SYS_IOCTL, fd, TCGETS, arena.allocate(TERMIOS_BYTES, 4).address(), 0, 0, 0) == 0;
        }
    }

    public static void tcgetattr(int fd, MemorySegment termios) {
        check("tcgetattr", sys(SYS_IOCTL, fd, TCGETS, ptr(termios), 0, 0, 0));
    }

    /** Only TCSANOW, the one jkvm uses. */
    public static void tcsetattr(int fd, int action, MemorySegment termios) {
        if (action != TCSANOW) {
            throw new IllegalArgumentException("only TCSANOW");
        }
        check("tcsetattr", sys(SYS_IOCTL, fd, TCSETS, ptr(termios), 0, 0, 0));
    }

    /** glibc's cfmakeraw, on the flag words: no echo, no line editing, no signals, 8-bit bytes. */
    public static void cfmakeraw(MemorySegment termios) {
        int iflag = termios.get(JAVA_INT, 0);
        int oflag = termios.get(JAVA_INT, 4);
        int cflag = termios.get(JAVA_INT, 8);
        int lflag = termios.get(JAVA_INT, 12);
        iflag &= ~(0x1 | 0x2 | 0x8 | 0x20 | 0x40 | 0x80 | 0x100 | 0x400); // IGNBRK BRKINT PARMRK ISTRIP INLCR IGNCR ICRNL IXON
        oflag &= ~0x1;                                                     // OPOST
        lflag &= ~(0x8 | 0x40 | 0x2 | 0x1 | 0x8000);                       // ECHO ECHONL ICANON ISIG IEXTEN
        cflag = (cflag & ~(0x30 | 0x100)) | 0x30;                          // CSIZE PARENB, then CS8
        termios.set(JAVA_INT, 0, iflag);
        termios.set(JAVA_INT, 4, oflag);
        termios.set(JAVA_INT, 8, cflag);
        termios.set(JAVA_INT, 12, lflag);
        termios.set(java.lang.foreign.ValueLayout.JAVA_BYTE, 17 + 6, (byte) 1);  // c_cc[VMIN]
        termios.set(java.lang.foreign.ValueLayout.JAVA_BYTE, 17 + 5, (byte) 0);  // c_cc[VTIME]
    }

    /** strerror's text for an errno; its own downcall, built only when an error is reported. */
    public static String strerror(int errno) {
        try {
            MemorySegment s = (MemorySegment) Strerror.HANDLE.invokeExact(errno);
            return s.reinterpret(Long.MAX_VALUE).getString(0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static final class Strerror {
        static final MethodHandle HANDLE = LINKER.downcallHandle(LOOKUP.find("strerror").orElseThrow(),
                FunctionDescriptor.of(ADDRESS, JAVA_INT));
    }

    /** x86-64 pages are 4 KiB. */
    public static final long PAGE_SIZE = 4096;

    public static final int F_OFD_GETLK = 36;
    public static final int F_OFD_SETLK = 37;
    public static final short F_RDLCK = 0;
    public static final short F_WRLCK = 1;
    public static final short F_UNLCK = 2;
    /** struct flock on x86-64: l_type, l_whence (shorts), l_start, l_len (off_t), l_pid. */
    public static final long FLOCK_BYTES = 32;

    /** fcntl with a pointer argument (struct flock for the F_OFD_* lock commands); returns 0 or the errno. */
    public static int fcntlLock(int fd, int cmd, MemorySegment flock) {
        return errnoOf(sys(SYS_FCNTL, fd, cmd, ptr(flock), 0, 0, 0));
    }

    public static final int FALLOC_FL_KEEP_SIZE = 0x01;
    public static final int FALLOC_FL_PUNCH_HOLE = 0x02;
    public static final int FALLOC_FL_ZERO_RANGE = 0x10;

    /** fallocate that reports the errno (0 on success) instead of throwing: callers fall back on EOPNOTSUPP. */
    public static int fallocateErrno(int fd, int mode, long offset, long length) {
        return errnoOf(sys(SYS_FALLOCATE, fd, mode, offset, length, 0, 0));
    }

    /** fdatasync or fsync reporting the errno (0 on success). */
    public static int syncErrno(int fd, boolean dataOnly) {
        return errnoOf(sys(dataOnly ? SYS_FDATASYNC : SYS_FSYNC, fd, 0, 0, 0, 0, 0));
    }

    /** Fills a glibc sigset_t (128 bytes) with exactly the given signals. */
    public static MemorySegment sigset(Arena arena, int... signals) {
        MemorySegment set = arena.allocate(GLIBC_SIGSET_BYTES, 8);
        for (int sig : signals) {
            long word = set.get(JAVA_LONG, ((sig - 1) / 64) * 8L);
            set.set(JAVA_LONG, ((sig - 1) / 64) * 8L, word | (1L << ((sig - 1) % 64)));
        }
        return set;
    }

    // ---- sockets and gathered writes (network backends) ----

    public static final int AF_INET = 2;
    public static final int AF_INET6 = 10;
    public static final int SOCK_STREAM = 1;
    public static final int SOCK_NONBLOCK = O_NONBLOCK;
    public static final int SOCK_CLOEXEC = O_CLOEXEC;
    public static final int SOL_SOCKET = 1;
    public static final int SO_REUSEADDR = 2;
    public static final int SO_ERROR = 4;
    public static final int IPPROTO_TCP = 6;
    public static final int TCP_NODELAY = 1;
    public static final int SHUT_RDWR = 2;
    public static final int MSG_DONTWAIT = 0x40;
    public static final int MSG_NOSIGNAL = 0x4000;
    public static final int POLLOUT = 4;
    public static final int POLLERR = 8;
    public static final int POLLHUP = 0x10;
    public static final int POLLNVAL = 0x20;
    public static final int F_GETFL = 3;
    public static final int F_SETFL = 4;
    /** struct msghdr on x86-64: name, namelen (padded), iov, iovlen, control, controllen, flags (padded). */
    public static final long MSGHDR_BYTES = 56;
    /** Linux's UIO_MAXIOV: the most iovecs one readv/writev/sendmsg takes. */
    public static final int IOV_MAX = 1024;

    /** writev from an iovec array; returns bytes written or -1 with errno in {@code callState}. */
    public static long writevRaw(MemorySegment callState, int fd, MemorySegment iov, int iovcnt) {
        return sys(callState, SYS_WRITEV, fd, ptr(iov), iovcnt, 0, 0, 0);
    }

    /** sendmsg; returns bytes sent or -1 with errno in {@code callState}. */
    public static long sendmsgRaw(MemorySegment callState, int fd, MemorySegment msghdr, int flags) {
        return sys(callState, SYS_SENDMSG, fd, ptr(msghdr), flags, 0, 0, 0);
    }

    /** accept4 without the peer's address; returns the fd, or -1 with errno in {@code callState}. */
    public static int accept4Raw(MemorySegment callState, int fd, int flags) {
        return (int) sys(callState, SYS_ACCEPT4, fd, 0, 0, flags, 0, 0);
    }

    public static int socket(int domain, int type, int protocol) {
        return check("socket", sys(SYS_SOCKET, domain, type, protocol, 0, 0, 0));
    }

    /** connect; returns 0 or the errno (EINPROGRESS for a non-blocking socket still connecting). */
    public static int connect(int fd, MemorySegment sockaddr) {
        return errnoOf(sys(SYS_CONNECT, fd, ptr(sockaddr), sockaddr.byteSize(), 0, 0, 0));
    }

    /** bind; returns 0 or the errno (EADDRINUSE is the user's to hear about). */
    public static int bind(int fd, MemorySegment sockaddr) {
        return errnoOf(sys(SYS_BIND, fd, ptr(sockaddr), sockaddr.byteSize(), 0, 0, 0));
    }

    public static void listen(int fd, int backlog) {
        check("listen", sys(SYS_LISTEN, fd, backlog, 0, 0, 0, 0));
    }

    /** getsockname into {@code sockaddr} (its size is the buffer's). */
    public static void getsockname(int fd, MemorySegment sockaddr) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment len = arena.allocate(JAVA_INT);
            len.set(JAVA_INT, 0, (int) sockaddr.byteSize());
            check("getsockname", sys(SYS_GETSOCKNAME, fd, ptr(sockaddr), len.address(), 0, 0, 0));
        }
    }

    public static void setsockoptInt(int fd, int level, int option, int value) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment v = arena.allocate(JAVA_INT);
            v.set(JAVA_INT, 0, value);
            check("setsockopt", sys(SYS_SETSOCKOPT, fd, level, option, v.address(), 4, 0));
        }
    }

    public static int getsockoptInt(int fd, int level, int option) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment v = arena.allocate(JAVA_INT);
            MemorySegment len = arena.allocate(JAVA_INT);
            len.set(JAVA_INT, 0, 4);
            check("getsockopt", sys(SYS_GETSOCKOPT, fd, level, option, v.address(), len.address(), 0));
            return v.get(JAVA_INT, 0);
        }
    }

    /** shutdown; returns 0 or the errno (ENOTCONN when the peer is already gone). */
    public static int shutdown(int fd, int how) {
        return errnoOf(sys(SYS_SHUTDOWN, fd, how, 0, 0, 0, 0));
    }

    /** fcntl with an integer argument (F_GETFL, F_SETFL): the result, or a NativeException. */
    public static int fcntl(int fd, int cmd, long arg) {
        return check("fcntl", sys(SYS_FCNTL, fd, cmd, arg, 0, 0, 0));
    }
}
