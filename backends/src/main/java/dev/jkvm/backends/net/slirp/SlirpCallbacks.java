package dev.jkvm.backends.net.slirp;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;

/**
 * The targets of libslirp's callbacks (FFM upcalls). They run on the slirp thread, inside a
 * libslirp call. Two rules:
 * <ul>
 * <li>Nothing may escape: an exception thrown out of an upcall ends the JVM. Each one catches
 *     everything, counts it, and returns a harmless value.</li>
 * <li>Java objects are found through the registry below, keyed by the opaque pointer libslirp
 *     hands back (an instance number, not an address), never through native memory.</li>
 * </ul>
 */
final class SlirpCallbacks {
    private static final ConcurrentHashMap<Long, SlirpBackend> INSTANCES = new ConcurrentHashMap<>();
    private static final LongAdder FAILURES = new LongAdder();
    private static final AtomicReference<Throwable> FIRST_FAILURE = new AtomicReference<>();

    private SlirpCallbacks() {
    }

    static void register(long id, SlirpBackend backend) {
        INSTANCES.put(id, backend);
    }

    static void unregister(long id) {
        INSTANCES.remove(id);
    }

    /** Upcalls that threw (and were caught), over the whole process. */
    static long failures() {
        return FAILURES.sum();
    }

    static Throwable firstFailure() {
        return FIRST_FAILURE.get();
    }

    private static SlirpBackend instance(long opaque) {
        return INSTANCES.get(opaque);
    }

    static void failed(String callback, Throwable t) {
        FAILURES.increment();
        if (FIRST_FAILURE.compareAndSet(null, t)) {
            try {
                System.err.println("jkvm: -netdev user: slirp callback " + callback + " failed: " + t);
            } catch (Throwable ignored) {
                // nothing more can be done from inside an upcall
            }
        }
    }

    // Every callback has the one upcall shape (long, long, long) -> long (see LibSlirp.CALLBACK):
    // parameters a C callback does not have are garbage and unused; int parameters are cast down.

    /** ssize_t send_packet(const void *buf, size_t len, void *opaque): a frame for the guest. */
    static long sendPacket(long buf, long len, long opaque) {
        try {
            SlirpBackend b = instance(opaque);
            if (b != null) {
                b.toGuest(MemorySegment.ofAddress(buf).reinterpret(len));
            }
        } catch (Throwable t) {
            failed("send_packet", t);
        }
        // Always "sent": a frame that could not be kept was counted as dropped; TCP retransmits.
        return len;
    }

    /** void guest_error(const char *msg, void *opaque). */
    static long guestError(long msg, long opaque, long unused) {
        try {
            SlirpBackend b = instance(opaque);
            if (b != null) {
                b.guestError(MemorySegment.ofAddress(msg).reinterpret(Long.MAX_VALUE).getString(0));
            }
        } catch (Throwable t) {
            failed("guest_error", t);
        }
        return 0;
    }

    /** int64_t clock_get_ns(void *opaque). */
    static long clockGetNs(long opaque, long unused1, long unused2) {
        try {
            SlirpBackend b = instance(opaque);
            return b != null ? b.clockNanos() : SlirpBackend.baseClockNanos();
        } catch (Throwable t) {
            failed("clock_get_ns", t);
            return SlirpBackend.baseClockNanos();
        }
    }

    /** void *timer_new_opaque(SlirpTimerId id, void *cb_opaque, void *opaque): returns a token, never dereferenced. */
    static long timerNewOpaque(long id, long cbOpaque, long opaque) {
        try {
            SlirpBackend b = instance(opaque);
            if (b != null) {
                return b.timerNew((int) id, cbOpaque);
            }
        } catch (Throwable t) {
            failed("timer_new_opaque", t);
        }
        return 0;
    }

    /** void timer_free(void *timer, void *opaque). */
    static long timerFree(long timer, long opaque, long unused) {
        try {
            SlirpBackend b = instance(opaque);
            if (b != null) {
                b.timerFree(timer);
            }
        } catch (Throwable t) {
            failed("timer_free", t);
        }
        return 0;
    }

    /** void timer_mod(void *timer, int64_t expire_time_ms, void *opaque). */
    static long timerMod(long timer, long expireMillis, long opaque) {
        try {
            SlirpBackend b = instance(opaque);
            if (b != null) {
                b.timerMod(timer, expireMillis);
            }
        } catch (Throwable t) {
            failed("timer_mod", t);
        }
        return 0;
    }

    /** void register_poll_fd(int fd, void *opaque): only Windows needs it; jkvm polls what slirp_pollfds_fill names. */
    static long registerPollFd(long fd, long opaque, long unused) {
        return 0;
    }

    /** void unregister_poll_fd(int fd, void *opaque). */
    static long unregisterPollFd(long fd, long opaque, long unused) {
        return 0;
    }

    /**
     * void notify(void *opaque): a socket buffer drained, so slirp wants to poll for more input. It
     * is called on the slirp thread, and the loop fills the poll set afresh every round: nothing to do.
     */
    static long notify(long opaque, long unused1, long unused2) {
        return 0;
    }

    /** int add_poll(int fd, int events, void *opaque): returns the index get_revents will be asked for. */
    static long addPoll(long fd, long events, long opaque) {
        try {
            SlirpBackend b = instance(opaque);
            if (b != null) {
                return b.loop().addPoll((int) fd, (int) events);
            }
        } catch (Throwable t) {
            failed("add_poll", t);
        }
        return -1;
    }

    /** int get_revents(int idx, void *opaque): SLIRP_POLL_* flags. */
    static long getRevents(long index, long opaque, long unused) {
        try {
            SlirpBackend b = instance(opaque);
            if (b != null) {
                return b.loop().revents((int) index);
            }
        } catch (Throwable t) {
            failed("get_revents", t);
        }
        return 0;
    }
}
