package dev.jkvm.os;

import java.lang.foreign.AddressLayout;
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
    private static final AddressLayout C_STRING = ADDRESS.withTargetLayout(MemoryLayout.sequenceLayout(Long.MAX_VALUE, java.lang.foreign.ValueLayout.JAVA_BYTE));

    private static final ThreadLocal<MemorySegment> THREAD_CALL_STATE =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(CALL_STATE));

    private static final MethodHandle OPEN = errnoCall("open", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT), 2);
    private static final MethodHandle CLOSE = errnoCall("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT), -1);
    private static final MethodHandle READ = errnoCall("read", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG), -1);
    private static final MethodHandle WRITE = errnoCall("write", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG), -1);
    private static final MethodHandle PREAD = errnoCall("pread64", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG), -1);
    private static final MethodHandle PWRITE = errnoCall("pwrite64", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG), -1);
    private static final MethodHandle PREADV = errnoCall("preadv64", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG), -1);
    private static final MethodHandle PWRITEV = errnoCall("pwritev64", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG), -1);
    private static final MethodHandle FCNTL_PTR = errnoCall("fcntl", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS), 2);
    private static final MethodHandle SYSCALL_URING_SETUP = errnoCall("syscall", FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_INT, ADDRESS), 1);
    private static final MethodHandle SYSCALL_URING_ENTER = errnoCall("syscall",
            FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG), 1);
    private static final MethodHandle IOCTL_PTR = errnoCall("ioctl", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS), 2);
    private static final MethodHandle IOCTL_LONG = errnoCall("ioctl", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG), 2);
    private static final MethodHandle MMAP = errnoCall("mmap", FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG), -1);
    private static final MethodHandle MUNMAP = errnoCall("munmap", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG), -1);
    private static final MethodHandle MADVISE = errnoCall("madvise", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT), -1);
    private static final MethodHandle FTRUNCATE = errnoCall("ftruncate64", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG), -1);
    private static final MethodHandle FALLOCATE = errnoCall("fallocate64", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG), -1);
    private static final MethodHandle FSYNC = errnoCall("fsync", FunctionDescriptor.of(JAVA_INT, JAVA_INT), -1);
    private static final MethodHandle FDATASYNC = errnoCall("fdatasync", FunctionDescriptor.of(JAVA_INT, JAVA_INT), -1);
    private static final MethodHandle FLOCK = errnoCall("flock", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT), -1);
    private static final MethodHandle EVENTFD = errnoCall("eventfd", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT), -1);
    private static final MethodHandle EVENTFD_WRITE = plainCall("eventfd_write", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG));
    private static final MethodHandle GETTID = plainCall("gettid", FunctionDescriptor.of(JAVA_INT));
    private static final MethodHandle GETPID = plainCall("getpid", FunctionDescriptor.of(JAVA_INT));
    private static final MethodHandle TGKILL = errnoCall("tgkill", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT), -1);
    private static final MethodHandle PTHREAD_SIGMASK = plainCall("pthread_sigmask", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
    private static final MethodHandle SIGTIMEDWAIT = errnoCall("sigtimedwait", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS), -1);
    private static final MethodHandle SIGNAL = errnoCall("signal", FunctionDescriptor.of(ADDRESS, JAVA_INT, ADDRESS), -1);
    private static final MethodHandle SCHED_SETAFFINITY = errnoCall("sched_setaffinity", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS), -1);
    private static final MethodHandle PRCTL = errnoCall("prctl", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG), 1);
    private static final MethodHandle MKOSTEMP = errnoCall("mkostemp", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT), -1);
    private static final MethodHandle UNLINK = errnoCall("unlink", FunctionDescriptor.of(JAVA_INT, ADDRESS), -1);
    private static final MethodHandle POLL = errnoCall("poll", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT), -1);
    private static final MethodHandle ISATTY = plainCall("isatty", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle TCGETATTR = errnoCall("tcgetattr", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS), -1);
    private static final MethodHandle TCSETATTR = errnoCall("tcsetattr", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS), -1);
    private static final MethodHandle CFMAKERAW = plainCall("cfmakeraw", FunctionDescriptor.ofVoid(ADDRESS));
    private static final MethodHandle STRERROR = plainCall("strerror", FunctionDescriptor.of(C_STRING, JAVA_INT));
    private static final MethodHandle SYSCONF = plainCall("sysconf", FunctionDescriptor.of(JAVA_LONG, JAVA_INT));

    private Libc() {
    }

    private static MethodHandle errnoCall(String name, FunctionDescriptor descriptor, int firstVariadic) {
        var symbol = LOOKUP.find(name).orElseThrow(() -> new UnsatisfiedLinkError("libc has no " + name));
        Linker.Option capture = Linker.Option.captureCallState("errno");
        return firstVariadic < 0
                ? LINKER.downcallHandle(symbol, descriptor, capture)
                : LINKER.downcallHandle(symbol, descriptor, capture, Linker.Option.firstVariadicArg(firstVariadic));
    }

    private static MethodHandle plainCall(String name, FunctionDescriptor descriptor) {
        var symbol = LOOKUP.find(name).orElseThrow(() -> new UnsatisfiedLinkError("libc has no " + name));
        return LINKER.downcallHandle(symbol, descriptor);
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

    private static int check(String call, int result) {
        if (result == -1) {
            throw new NativeException(call, lastErrno());
        }
        return result;
    }

    private static long check(String call, long result) {
        if (result == -1) {
            throw new NativeException(call, lastErrno());
        }
        return result;
    }

    // ---- raw forms for hot paths: return -1 and leave errno in callState ----

    public static int ioctlRaw(MemorySegment callState, int fd, long request, long arg) {
        try {
            return (int) IOCTL_LONG.invokeExact(callState, fd, request, arg);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int ioctlRaw(MemorySegment callState, int fd, long request, MemorySegment arg) {
        try {
            return (int) IOCTL_PTR.invokeExact(callState, fd, request, arg);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static long readRaw(MemorySegment callState, int fd, MemorySegment buf, long count) {
        try {
            return (long) READ.invokeExact(callState, fd, buf, count);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static long writeRaw(MemorySegment callState, int fd, MemorySegment buf, long count) {
        try {
            return (long) WRITE.invokeExact(callState, fd, buf, count);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int sigtimedwaitRaw(MemorySegment callState, MemorySegment set, MemorySegment timeout) {
        try {
            return (int) SIGTIMEDWAIT.invokeExact(callState, set, MemorySegment.NULL, timeout);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    // ---- checked forms ----

    public static int open(String path, int flags, int mode) {
        try (Arena arena = Arena.ofConfined()) {
            int fd = (int) OPEN.invokeExact(state(), arena.allocateFrom(path), flags, mode);
            if (fd < 0) {
                throw new NativeException("open " + path, lastErrno());
            }
            return fd;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static void close(int fd) {
        try {
            check("close", (int) CLOSE.invokeExact(state(), fd));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Closes and ignores errors: for cleanup paths where the first failure is the one to report. */
    public static void closeQuietly(int fd) {
        if (fd < 0) {
            return;
        }
        try {
            int ignored = (int) CLOSE.invokeExact(state(), fd);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static long read(int fd, MemorySegment buf, long count) {
        return check("read", readRaw(state(), fd, buf, count));
    }

    public static long write(int fd, MemorySegment buf, long count) {
        return check("write", writeRaw(state(), fd, buf, count));
    }

    public static long pread(int fd, MemorySegment buf, long count, long offset) {
        try {
            return check("pread", (long) PREAD.invokeExact(state(), fd, buf, count, offset));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static long pwrite(int fd, MemorySegment buf, long count, long offset) {
        try {
            return check("pwrite", (long) PWRITE.invokeExact(state(), fd, buf, count, offset));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** preadv into an iovec array; returns bytes read or -1 with errno in {@code callState}. */
    public static long preadvRaw(MemorySegment callState, int fd, MemorySegment iov, int iovcnt, long offset) {
        try {
            return (long) PREADV.invokeExact(callState, fd, iov, iovcnt, offset);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** pwritev from an iovec array; returns bytes written or -1 with errno in {@code callState}. */
    public static long pwritevRaw(MemorySegment callState, int fd, MemorySegment iov, int iovcnt, long offset) {
        try {
            return (long) PWRITEV.invokeExact(callState, fd, iov, iovcnt, offset);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** pread that reports errno instead of throwing; for device I/O paths that turn errors into status codes. */
    public static long preadRaw(MemorySegment callState, int fd, MemorySegment buf, long count, long offset) {
        try {
            return (long) PREAD.invokeExact(callState, fd, buf, count, offset);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static long pwriteRaw(MemorySegment callState, int fd, MemorySegment buf, long count, long offset) {
        try {
            return (long) PWRITE.invokeExact(callState, fd, buf, count, offset);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static final long NR_IO_URING_SETUP = 425;
    private static final long NR_IO_URING_ENTER = 426;

    /** io_uring_setup(2): returns the ring fd, or -1 with errno in {@code callState}. */
    public static int ioUringSetupRaw(MemorySegment callState, int entries, MemorySegment params) {
        try {
            return (int) (long) SYSCALL_URING_SETUP.invokeExact(callState, NR_IO_URING_SETUP, entries, params);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** io_uring_enter(2) without a signal mask: returns completions consumed / submitted, or -1. */
    public static int ioUringEnterRaw(MemorySegment callState, int fd, int toSubmit, int minComplete, int flags) {
        try {
            return (int) (long) SYSCALL_URING_ENTER.invokeExact(callState, NR_IO_URING_ENTER, fd, toSubmit, minComplete, flags,
                    MemorySegment.NULL, 0L);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static final int F_OFD_GETLK = 36;
    public static final int F_OFD_SETLK = 37;
    public static final short F_RDLCK = 0;
    public static final short F_WRLCK = 1;
    public static final short F_UNLCK = 2;
    /** struct flock on x86-64: l_type, l_whence (shorts), l_start, l_len (off_t), l_pid. */
    public static final long FLOCK_BYTES = 32;

    /** fcntl with a pointer argument (struct flock for the F_OFD_* lock commands); returns 0 or the errno. */
    public static int fcntlLock(int fd, int cmd, MemorySegment flock) {
        try {
            int r = (int) FCNTL_PTR.invokeExact(state(), fd, cmd, flock);
            return r == -1 ? lastErrno() : 0;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static final int FALLOC_FL_KEEP_SIZE = 0x01;
    public static final int FALLOC_FL_PUNCH_HOLE = 0x02;
    public static final int FALLOC_FL_ZERO_RANGE = 0x10;

    /** fallocate that reports the errno (0 on success) instead of throwing: callers fall back on EOPNOTSUPP. */
    public static int fallocateErrno(int fd, int mode, long offset, long length) {
        try {
            int r = (int) FALLOCATE.invokeExact(state(), fd, mode, offset, length);
            return r == 0 ? 0 : lastErrno();
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** fdatasync or fsync reporting the errno (0 on success). */
    public static int syncErrno(int fd, boolean dataOnly) {
        try {
            int r = dataOnly ? (int) FDATASYNC.invokeExact(state(), fd) : (int) FSYNC.invokeExact(state(), fd);
            return r == 0 ? 0 : lastErrno();
        } catch (Throwable t) {
            throw rethrow(t);
        }
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
        try {
            MemorySegment p = (MemorySegment) MMAP.invokeExact(state(), addr, length, prot, flags, fd, offset);
            if (p.address() == -1L) {
                throw new NativeException("mmap", lastErrno(), "length " + length);
            }
            return p;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static void munmap(long address, long length) {
        try {
            check("munmap", (int) MUNMAP.invokeExact(state(), MemorySegment.ofAddress(address), length));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static void madvise(MemorySegment addr, long length, int advice) {
        try {
            check("madvise", (int) MADVISE.invokeExact(state(), addr, length, advice));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** madvise that reports failure instead of throwing: advice the kernel may not support is optional. */
    public static int madviseOptional(MemorySegment addr, long length, int advice) {
        try {
            int r = (int) MADVISE.invokeExact(state(), addr, length, advice);
            return r == 0 ? 0 : lastErrno();
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static void ftruncate(int fd, long length) {
        try {
            check("ftruncate", (int) FTRUNCATE.invokeExact(state(), fd, length));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static void fallocate(int fd, int mode, long offset, long length) {
        try {
            check("fallocate", (int) FALLOCATE.invokeExact(state(), fd, mode, offset, length));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static void fsync(int fd) {
        try {
            check("fsync", (int) FSYNC.invokeExact(state(), fd));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static void fdatasync(int fd) {
        try {
            check("fdatasync", (int) FDATASYNC.invokeExact(state(), fd));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** flock; returns 0, or the errno when the lock is held elsewhere and LOCK_NB was given. */
    public static int flock(int fd, int operation) {
        try {
            int r = (int) FLOCK.invokeExact(state(), fd, operation);
            if (r == 0) {
                return 0;
            }
            int e = lastErrno();
            if (e == Errno.EWOULDBLOCK) {
                return e;
            }
            throw new NativeException("flock", e);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int eventfd(int initial, int flags) {
        try {
            return check("eventfd", (int) EVENTFD.invokeExact(state(), initial, flags));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * Adds {@code value} to an eventfd's counter. It takes the value by value, so it needs no
     * buffer and allocates nothing: the interrupt path of every device calls it. Returns 0 or -1.
     */
    public static int eventfdWrite(int fd, long value) {
        try {
            return (int) EVENTFD_WRITE.invokeExact(fd, value);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int gettid() {
        try {
            return (int) GETTID.invokeExact();
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int getpid() {
        try {
            return (int) GETPID.invokeExact();
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** tgkill; returns 0 or the errno (ESRCH when the thread has already gone). */
    public static int tgkill(int tgid, int tid, int signal) {
        try {
            int r = (int) TGKILL.invokeExact(state(), tgid, tid, signal);
            return r == 0 ? 0 : lastErrno();
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** pthread_sigmask returns the error number itself rather than setting errno. */
    public static void pthreadSigmask(int how, MemorySegment set, MemorySegment oldSet) {
        try {
            int r = (int) PTHREAD_SIGMASK.invokeExact(how, set, oldSet);
            if (r != 0) {
                throw new NativeException("pthread_sigmask", r);
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * Sets a signal's disposition to SIG_IGN. The kernel never discards a signal that the target
     * thread blocks (it checks the blocked and the saved "real_blocked" masks), so a blocked,
     * ignored signal still interrupts a sleeping syscall that unblocks it, yet can never kill
     * the process if something delivers it.
     */
    public static void ignoreSignal(int signal) {
        try {
            MemorySegment old = (MemorySegment) SIGNAL.invokeExact(state(), signal, MemorySegment.ofAddress(1));
            if (old.address() == -1L) {
                throw new NativeException("signal", lastErrno());
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static void schedSetaffinity(int tid, MemorySegment mask) {
        try {
            check("sched_setaffinity", (int) SCHED_SETAFFINITY.invokeExact(state(), tid, mask.byteSize(), mask));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** prctl; returns 0 or the errno, since most prctl options are optional features. */
    public static int prctl(int option, long a2, long a3, long a4, long a5) {
        try {
            int r = (int) PRCTL.invokeExact(state(), option, a2, a3, a4, a5);
            return r == -1 ? lastErrno() : 0;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Creates and opens a unique file from a template ending in XXXXXX; returns the fd and the name. */
    public static TempFile mkostemp(String template, int flags) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment name = arena.allocateFrom(template);
            int fd = (int) MKOSTEMP.invokeExact(state(), name, flags);
            if (fd < 0) {
                throw new NativeException("mkostemp " + template, lastErrno());
            }
            return new TempFile(fd, name.getString(0));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public record TempFile(int fd, String path) {
    }

    public static void unlink(String path) {
        try (Arena arena = Arena.ofConfined()) {
            check("unlink " + path, (int) UNLINK.invokeExact(state(), arena.allocateFrom(path)));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** poll; returns the number of ready fds, 0 on timeout, or -EINTR when interrupted. */
    public static int poll(MemorySegment fds, long nfds, int timeoutMillis) {
        try {
            int r = (int) POLL.invokeExact(state(), fds, nfds, timeoutMillis);
            if (r == -1) {
                int e = lastErrno();
                if (e == Errno.EINTR) {
                    return -Errno.EINTR;
                }
                throw new NativeException("poll", e);
            }
            return r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static boolean isatty(int fd) {
        try {
            return (int) ISATTY.invokeExact(fd) == 1;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** struct termios is 60 bytes on x86-64 glibc. */
    public static final long TERMIOS_BYTES = 60;
    public static final int TCSANOW = 0;

    public static void tcgetattr(int fd, MemorySegment termios) {
        try {
            check("tcgetattr", (int) TCGETATTR.invokeExact(state(), fd, termios));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static void tcsetattr(int fd, int action, MemorySegment termios) {
        try {
            check("tcsetattr", (int) TCSETATTR.invokeExact(state(), fd, action, termios));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static void cfmakeraw(MemorySegment termios) {
        try {
            CFMAKERAW.invokeExact(termios);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static String strerror(int errno) {
        try {
            MemorySegment s = (MemorySegment) STRERROR.invokeExact(errno);
            return s.getString(0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static final int SC_PAGESIZE = 30;
    public static final int SC_NPROCESSORS_ONLN = 84;

    public static long sysconf(int name) {
        try {
            return (long) SYSCONF.invokeExact(name);
        } catch (Throwable t) {
            throw rethrow(t);
        }
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
}
