package dev.jkvm.backends.net.slirp;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.nio.ByteOrder;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BOOLEAN;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * libslirp (Debian's libslirp0, the library QEMU's -netdev user uses) bound through FFM. Loaded
 * only when a user netdev is created: each distinct function shape costs the JVM milliseconds to
 * link, and most machines have no user netdev.
 *
 * <p>The API used is libslirp 4.7's: {@code SlirpConfig} version 4 (the highest 4.7 knows; newer
 * libraries accept older versions), {@code timer_new_opaque} + {@code slirp_handle_timer} for timers,
 * and {@code slirp_pollfds_fill}/{@code slirp_pollfds_poll} with add_poll/get_revents callbacks.
 * None of it is thread-safe, and libslirp also keeps process-wide state (its clock, the DNS cache),
 * so every call goes through {@link SlirpLoop}'s one thread.
 */
final class LibSlirp {
    static final String MISSING =
            "-netdev user needs libslirp (Debian package libslirp0): apt-get install libslirp0";

    /** SlirpConfig.version: 4 added timer_new_opaque/init_completed and disable_dhcp (libslirp 4.7). */
    static final int CONFIG_VERSION = 4;

    /** struct in_addr: a 32-bit address in network byte order. */
    private static final ValueLayout.OfInt IN_ADDR = JAVA_INT.withOrder(ByteOrder.BIG_ENDIAN);
    /** struct in6_addr: 16 bytes (4-byte aligned in glibc, which the explicit padding below respects). */
    private static final MemoryLayout IN6_ADDR = MemoryLayout.sequenceLayout(16, JAVA_BYTE);

    /** SlirpConfig version 4 on x86-64 (offsets checked with offsetof against libslirp.h 4.7.0). */
    static final StructLayout CONFIG = MemoryLayout.structLayout(
            JAVA_INT.withName("version"),
            JAVA_INT.withName("restricted"),
            JAVA_BOOLEAN.withName("in_enabled"),
            MemoryLayout.paddingLayout(3),
            IN_ADDR.withName("vnetwork"),
            IN_ADDR.withName("vnetmask"),
            IN_ADDR.withName("vhost"),
            JAVA_BOOLEAN.withName("in6_enabled"),
            MemoryLayout.paddingLayout(3),
            IN6_ADDR.withName("vprefix_addr6"),
            JAVA_BYTE.withName("vprefix_len"),
            MemoryLayout.paddingLayout(3),
            IN6_ADDR.withName("vhost6"),
            ADDRESS.withName("vhostname"),
            ADDRESS.withName("tftp_server_name"),
            ADDRESS.withName("tftp_path"),
            ADDRESS.withName("bootfile"),
            IN_ADDR.withName("vdhcp_start"),
            IN_ADDR.withName("vnameserver"),
            IN6_ADDR.withName("vnameserver6"),
            ADDRESS.withName("vdnssearch"),
            ADDRESS.withName("vdomainname"),
            JAVA_LONG.withName("if_mtu"),
            JAVA_LONG.withName("if_mru"),
            JAVA_BOOLEAN.withName("disable_host_loopback"),
            JAVA_BOOLEAN.withName("enable_emu"),
            MemoryLayout.paddingLayout(6),
            ADDRESS.withName("outbound_addr"),
            ADDRESS.withName("outbound_addr6"),
            JAVA_BOOLEAN.withName("disable_dns"),
            JAVA_BOOLEAN.withName("disable_dhcp"),
            MemoryLayout.paddingLayout(6)).withName("SlirpConfig");

    /** SlirpCb: eleven function pointers, in the header's order. */
    static final StructLayout CALLBACKS = MemoryLayout.structLayout(
            ADDRESS.withName("send_packet"),
            ADDRESS.withName("guest_error"),
            ADDRESS.withName("clock_get_ns"),
            ADDRESS.withName("timer_new"),
            ADDRESS.withName("timer_free"),
            ADDRESS.withName("timer_mod"),
            ADDRESS.withName("register_poll_fd"),
            ADDRESS.withName("unregister_poll_fd"),
            ADDRESS.withName("notify"),
            ADDRESS.withName("init_completed"),
            ADDRESS.withName("timer_new_opaque")).withName("SlirpCb");

    static final int POLL_IN = 1;
    static final int POLL_OUT = 2;
    static final int POLL_PRI = 4;
    static final int POLL_ERR = 8;
    static final int POLL_HUP = 16;

    private static final Linker LINKER = Linker.nativeLinker();

    /**
     * Every libslirp function is called through one shape, the very one {@code Libc} binds syscall(2)
     * with: seven longs in, a long out, errno captured, arguments variadic from the second. The JDK
     * caches linked shapes, so libslirp's eight entry points cost no new downcall stub at all. On
     * x86-64 SysV this is exact for these functions: every parameter (pointers, ints, bool-free
     * struct in_addr by value) travels in an integer register, a callee ignores the registers and
     * stack slot it does not declare, an int result is the low half of rax (the caller truncates),
     * and the vector-register count the variadic convention puts in al is ignored by a non-variadic callee.
     */
    private static final FunctionDescriptor CALL = FunctionDescriptor.of(JAVA_LONG,
            JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG);
    private static final Linker.Option[] CALL_OPTIONS = {
            Linker.Option.captureCallState("errno"), Linker.Option.firstVariadicArg(1)};

    /**
     * Every callback is one upcall shape, (long, long, long) -> long: a C caller of a callback with
     * fewer parameters leaves the extra registers unread, a void callback's rax is ignored, and int
     * parameters are truncated on the Java side (the upper half of their register is undefined).
     * One shape means the JDK builds the upcall machinery once, not eleven times, and no
     * MemorySegment is allocated per argument.
     */
    static final FunctionDescriptor CALLBACK = FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG);

    private static final Object LOCK = new Object();
    private static LibSlirp instance;
    private static SlirpException failure;

    private static final ThreadLocal<MemorySegment> CALL_STATE =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(Linker.Option.captureStateLayout()));
    private static final java.lang.invoke.VarHandle ERRNO = Linker.Option.captureStateLayout()
            .varHandle(groupElement("errno"));

    private final SymbolLookup lookup;
    private final String version;
    private final MethodHandle slirpNew;
    private final MethodHandle slirpCleanup;
    private final MethodHandle slirpInput;
    private final MethodHandle slirpPollfdsFill;
    private final MethodHandle slirpPollfdsPoll;
    private final MethodHandle slirpHandleTimer;
    private final MethodHandle slirpAddHostfwd;
    private final MethodHandle slirpRemoveHostfwd;

    /** The SlirpCb every instance shares; it lives as long as the process, as libslirp keeps a pointer to it. */
    final MemorySegment callbacks;
    final long addPoll;
    final long getRevents;

    /** Loads libslirp and binds it, once; a missing or too old library is a one-line {@link SlirpUnavailableException}. */
    static final String SONAME = "libslirp.so.0";

    static LibSlirp get() {
        synchronized (LOCK) {
            if (instance == null && failure == null) {
                try {
                    instance = new LibSlirp(SONAME);
                } catch (SlirpException e) {
                    failure = e;
                }
            }
            if (failure != null) {
                throw failure;
            }
            return instance;
        }
    }

    /** Binds the library {@code soname} (tests name a missing one to see the message); {@link #get()} caches the real one. */
    LibSlirp(String soname) {
        try {
            lookup = SymbolLookup.libraryLookup(soname, Arena.global());
        } catch (IllegalArgumentException e) {
            throw new SlirpUnavailableException(MISSING);
        }
        long v = call(bind("slirp_version_string"), 0, 0, 0, 0, 0, 0);
        version = MemorySegment.ofAddress(v).reinterpret(Long.MAX_VALUE).getString(0);
        if (lookup.find("slirp_handle_timer").isEmpty()) {
            throw new SlirpUnavailableException("-netdev user needs libslirp 4.7 or newer, this is " + version
                    + " (Debian package libslirp0): apt-get install libslirp0");
        }
        slirpNew = bind("slirp_new");
        slirpCleanup = bind("slirp_cleanup");
        slirpInput = bind("slirp_input");
        slirpPollfdsFill = bind("slirp_pollfds_fill");
        slirpPollfdsPoll = bind("slirp_pollfds_poll");
        slirpHandleTimer = bind("slirp_handle_timer");
        slirpAddHostfwd = bind("slirp_add_hostfwd");
        slirpRemoveHostfwd = bind("slirp_remove_hostfwd");

        callbacks = Arena.global().allocate(CALLBACKS);
        set("send_packet", upcall("sendPacket"));
        set("guest_error", upcall("guestError"));
        set("clock_get_ns", upcall("clockGetNs"));
        // timer_new stays NULL: with version >= 4 and timer_new_opaque set, libslirp never calls it.
        set("timer_free", upcall("timerFree"));
        set("timer_mod", upcall("timerMod"));
        set("register_poll_fd", upcall("registerPollFd"));
        set("unregister_poll_fd", upcall("unregisterPollFd"));
        set("notify", upcall("notify"));
        // init_completed stays NULL: libslirp checks it before calling.
        set("timer_new_opaque", upcall("timerNewOpaque"));
        addPoll = upcall("addPoll").address();
        getRevents = upcall("getRevents").address();
    }

    private MethodHandle bind(String name) {
        MemorySegment symbol = lookup.find(name).orElseThrow(() -> new SlirpUnavailableException(
                "-netdev user: libslirp.so.0 has no " + name + "; install Debian's libslirp0: apt-get install libslirp0"));
        return LINKER.downcallHandle(symbol, CALL, CALL_OPTIONS);
    }

    private static MemorySegment upcall(String method) {
        try {
            MethodHandle target = MethodHandles.lookup().findStatic(SlirpCallbacks.class, method, CALLBACK.toMethodType());
            return LINKER.upcallStub(target, CALLBACK, Arena.global());
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("slirp callback " + method, e);
        }
    }

    private void set(String field, MemorySegment stub) {
        callbacks.set(ADDRESS, CALLBACKS.byteOffset(groupElement(field)), stub);
    }

    private static long call(MethodHandle h, long a, long b, long c, long d, long e, long f) {
        try {
            return (long) h.invokeExact(CALL_STATE.get(), a, b, c, d, e, f, 0L);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** errno as the calling thread's last libslirp call left it. */
    private static int errno() {
        return (int) ERRNO.get(CALL_STATE.get(), 0L);
    }

    String version() {
        return version;
    }

    /** Fills a SlirpConfig (zeroed by the caller's allocation) from the options. */
    static void fillConfig(MemorySegment cfg, UserNetOptions o, int mtu) {
        cfg.fill((byte) 0);
        cfg.set(JAVA_INT, offset("version"), CONFIG_VERSION);
        cfg.set(JAVA_INT, offset("restricted"), o.restrict() ? 1 : 0);
        cfg.set(JAVA_BOOLEAN, offset("in_enabled"), true);
        cfg.set(IN_ADDR, offset("vnetwork"), o.network());
        cfg.set(IN_ADDR, offset("vnetmask"), o.netmask());
        cfg.set(IN_ADDR, offset("vhost"), o.host());
        // IPv6 as QEMU enables it by default: fec0::/64, slirp at fec0::2, DNS at fec0::3.
        cfg.set(JAVA_BOOLEAN, offset("in6_enabled"), true);
        long prefix = offset("vprefix_addr6");
        cfg.set(JAVA_BYTE, prefix, (byte) 0xfe);
        cfg.set(JAVA_BYTE, prefix + 1, (byte) 0xc0);
        cfg.set(JAVA_BYTE, offset("vprefix_len"), (byte) 64);
        MemorySegment.copy(cfg, prefix, cfg, offset("vhost6"), 16);
        cfg.set(JAVA_BYTE, offset("vhost6") + 15, (byte) 2);
        MemorySegment.copy(cfg, prefix, cfg, offset("vnameserver6"), 16);
        cfg.set(JAVA_BYTE, offset("vnameserver6") + 15, (byte) 3);
        cfg.set(IN_ADDR, offset("vdhcp_start"), o.dhcpStart());
        cfg.set(IN_ADDR, offset("vnameserver"), o.dns());
        cfg.set(JAVA_LONG, offset("if_mtu"), mtu);
        cfg.set(JAVA_LONG, offset("if_mru"), mtu);
    }

    static long offset(String field) {
        return CONFIG.byteOffset(groupElement(field));
    }

    /** A host-order IPv4 address as the int whose in-memory (little-endian) bytes are in network order: struct in_addr by value. */
    static int inAddr(int hostOrder) {
        return Integer.reverseBytes(hostOrder);
    }

    /** slirp_new; returns the Slirp pointer, 0 when libslirp refused the configuration. */
    long slirpNew(MemorySegment cfg, long opaque) {
        return call(slirpNew, cfg.address(), callbacks.address(), opaque, 0, 0, 0);
    }

    void cleanup(long slirp) {
        call(slirpCleanup, slirp, 0, 0, 0, 0, 0);
    }

    void input(long slirp, MemorySegment frame, int length) {
        call(slirpInput, slirp, frame.address(), length, 0, 0, 0);
    }

    /** slirp_pollfds_fill; {@code timeout} is a uint32_t in native memory, in and out. */
    void pollfdsFill(long slirp, MemorySegment timeout, long opaque) {
        call(slirpPollfdsFill, slirp, timeout.address(), addPoll, opaque, 0, 0);
    }

    void pollfdsPoll(long slirp, boolean error, long opaque) {
        call(slirpPollfdsPoll, slirp, error ? 1 : 0, getRevents, opaque, 0, 0);
    }

    void handleTimer(long slirp, int id, long cbOpaque) {
        call(slirpHandleTimer, slirp, id, cbOpaque, 0, 0, 0);
    }

    /** slirp_add_hostfwd: 0, or the errno libslirp left (bind's, which libslirp preserves) on failure; -1 if none. */
    int addHostfwd(long slirp, UserNetOptions.HostForward f) {
        int r = (int) call(slirpAddHostfwd, slirp, f.udp() ? 1 : 0, inAddr(f.hostAddr()) & 0xffffffffL, f.hostPort(),
                inAddr(f.guestAddr()) & 0xffffffffL, f.guestPort());
        if (r == 0) {
            return 0;
        }
        int e = errno();
        return e > 0 ? e : -1;
    }

    /** slirp_remove_hostfwd: true when the rule was found and its socket closed. */
    boolean removeHostfwd(long slirp, boolean udp, int hostAddr, int hostPort) {
        return (int) call(slirpRemoveHostfwd, slirp, udp ? 1 : 0, inAddr(hostAddr) & 0xffffffffL, hostPort, 0, 0) == 0;
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
}
