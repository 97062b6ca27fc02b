package dev.jkvm.backends.net.slirp;

import dev.jkvm.vmm.device.Threads;
import dev.jkvm.os.Errno;
import dev.jkvm.os.Libc;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * The one thread, named "slirp", on which every libslirp call of the process happens. libslirp is
 * not thread-safe, and some of its state is global (its idea of the current time, the host's DNS
 * server cache), so even two user netdevs must not run on two threads; QEMU likewise runs all of
 * them in its main loop. The thread exists while at least one {@link SlirpBackend} is open.
 *
 * <p>One round of the loop:
 * <ol>
 * <li>commands from other threads (open or close an instance, add or remove a forwarding rule);</li>
 * <li>due timers ({@code slirp_handle_timer});</li>
 * <li>{@code slirp_pollfds_fill} for every instance into one pollfd array, plus the loop's eventfd;
 *     the timeout is the smallest of slirp's (at most 1 s, 2 ms while TCP has delayed ACKs) and
 *     the next timer;</li>
 * <li>poll(2);</li>
 * <li>frames the guest sent ({@code slirp_input}) and, after a wakeup, frames the guest refused earlier;</li>
 * <li>{@code slirp_pollfds_poll}, which reads and writes the sockets and ends with slirp's output
 *     queue, so a frame that waited for an ARP reply the guest just sent leaves in the same round.</li>
 * </ol>
 * Guest input between fill and poll is what QEMU does too: a socket slirp creates meanwhile has
 * no poll index yet (libslirp sets -1) and is picked up by the next fill.
 */
final class SlirpLoop implements Runnable {
    private static final int POLLIN = 0x1;
    private static final int POLLPRI = 0x2;
    private static final int POLLOUT = 0x4;
    private static final int POLLERR = 0x8;
    private static final int POLLHUP = 0x10;
    private static final long POLLFD_BYTES = 8;

    private static final Object LOCK = new Object();
    /** The running loop, or null; replaced when it has died (which only a bug in jkvm would cause). */
    private static SlirpLoop current;

    private final LibSlirp lib;
    private final int eventFd;
    private final Thread thread;
    private final AtomicBoolean signalled = new AtomicBoolean();
    private final ConcurrentLinkedQueue<FutureTask<?>> commands = new ConcurrentLinkedQueue<>();
    /** Open instances; touched only on the loop thread. */
    private final List<SlirpBackend> instances = new ArrayList<>();
    private volatile boolean stopping;
    private volatile Throwable failure;
    /** Backends using this loop; guarded by LOCK. */
    private int users;

    // Loop-thread state.
    private Arena arena;
    private MemorySegment pollfds;
    private int pollCapacity;
    private int nfds;

    private SlirpLoop(LibSlirp lib) {
        this.lib = lib;
        this.eventFd = Libc.eventfd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK);
        this.thread = Thread.ofPlatform().name("slirp").daemon(true).unstarted(this);
    }

    /** Joins the loop, starting its thread if this is the first user. */
    static SlirpLoop acquire(LibSlirp lib) {
        synchronized (LOCK) {
            if (current == null || current.failure != null) {
                SlirpLoop loop = new SlirpLoop(lib);
                loop.thread.start();
                current = loop;
            }
            current.users++;
            return current;
        }
    }

    /** Leaves the loop; the last user stops the thread and closes its eventfd. */
    static void release(SlirpLoop loop) {
        synchronized (LOCK) {
            if (--loop.users > 0) {
                return;
            }
            if (current == loop) {
                current = null;
            }
            loop.stopping = true;
            loop.signal();
            Threads.joinUninterruptibly(loop.thread);
            Libc.closeQuietly(loop.eventFd);
        }
    }

    LibSlirp lib() {
        return lib;
    }

    boolean onLoopThread() {
        return Thread.currentThread() == thread;
    }

    /** Makes the loop go round: frames to send, a wakeup, a command, stop. Cheap when already signalled. */
    void signal() {
        if (!signalled.getAndSet(true)) {
            Libc.eventfdSignal(eventFd);
        }
    }

    /** Runs {@code work} on the loop thread and waits for it; its exception is rethrown here. */
    <T> T call(Callable<T> work) {
        if (onLoopThread()) {
            try {
                return work.call();
            } catch (RuntimeException e) {
                throw e;
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }
        FutureTask<T> task = new FutureTask<>(work);
        commands.add(task);
        signal();
        boolean interrupted = false;
        try {
            while (true) {
                try {
                    return task.get(1, TimeUnit.SECONDS);
                } catch (TimeoutException e) {
                    if (!thread.isAlive()) {
                        throw new SlirpException("the slirp thread has stopped"
                                + (failure != null ? ": " + failure : ""));
                    }
                } catch (InterruptedException e) {
                    interrupted = true;
                } catch (CancellationException e) {
                    throw new SlirpException("the slirp thread has stopped"
                            + (failure != null ? ": " + failure : ""));
                } catch (ExecutionException e) {
                    if (e.getCause() instanceof RuntimeException r) {
                        throw r;
                    }
                    if (e.getCause() instanceof Error err) {
                        throw err;
                    }
                    throw new IllegalStateException(e.getCause());
                }
            }
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    void add(SlirpBackend backend) {
        instances.add(backend);
    }

    void remove(SlirpBackend backend) {
        instances.remove(backend);
    }

    @Override
    public void run() {
        try (Arena arena = Arena.ofConfined()) {
            this.arena = arena;
            pollCapacity = 64;
            pollfds = arena.allocate(POLLFD_BYTES * pollCapacity, 8);
            MemorySegment timeout = arena.allocate(JAVA_INT);
            MemorySegment counter = arena.allocate(JAVA_LONG);
            MemorySegment callState = Libc.allocateCallState(arena);
            while (!stopping) {
                runCommands();
                if (stopping) {
                    break;
                }
                long timeoutMillis = 0xffffffffL;
                for (SlirpBackend b : instances) {
                    timeoutMillis = Math.min(timeoutMillis, b.runTimers());
                }
                nfds = 0;
                timeout.set(JAVA_INT, 0, (int) timeoutMillis);
                for (SlirpBackend b : instances) {
                    lib.pollfdsFill(b.slirp(), timeout, b.opaque());
                }
                int wake = addPollFd(eventFd, POLLIN);
                long t = Integer.toUnsignedLong(timeout.get(JAVA_INT, 0));
                int ready = Libc.poll(pollfds, nfds, t > Integer.MAX_VALUE ? -1 : (int) t);
                if (ready > 0 && (revents(wake, POLLIN) & POLLIN) != 0) {
                    long r = Libc.readRaw(callState, eventFd, counter, 8);
                    if (r < 0 && Libc.errno(callState) != Errno.EAGAIN) {
                        throw new IllegalStateException("read eventfd: " + Errno.name(Libc.errno(callState)));
                    }
                    signalled.set(false);
                }
                for (SlirpBackend b : instances) {
                    b.fromGuestAndRedeliver();
                }
                for (SlirpBackend b : instances) {
                    lib.pollfdsPoll(b.slirp(), ready < 0, b.opaque());
                }
            }
        } catch (Throwable t) {
            failure = t;
            System.err.println("jkvm: -netdev user: the slirp thread failed: " + t);
        } finally {
            // Whatever is still open (only after a failure) is cleaned up here, on the right thread.
            for (SlirpBackend b : List.copyOf(instances)) {
                try {
                    b.closeOnLoop();
                } catch (Throwable ignored) {
                    // keep cleaning up the others
                }
            }
            instances.clear();
            FutureTask<?> task;
            while ((task = commands.poll()) != null) {
                task.cancel(false);
            }
            pollfds = null;
            arena = null;
        }
    }

    private void runCommands() {
        FutureTask<?> task;
        while ((task = commands.poll()) != null) {
            // Frames sent before the command was submitted go into slirp before it runs.
            for (SlirpBackend b : instances) {
                b.fromGuest();
            }
            task.run();
        }
    }

    /** Adds one fd for add_poll (SLIRP_POLL_* flags); returns its index. Loop thread only. */
    int addPoll(int fd, int slirpEvents) {
        int events = 0;
        if ((slirpEvents & LibSlirp.POLL_IN) != 0) {
            events |= POLLIN;
        }
        if ((slirpEvents & LibSlirp.POLL_OUT) != 0) {
            events |= POLLOUT;
        }
        if ((slirpEvents & LibSlirp.POLL_PRI) != 0) {
            events |= POLLPRI;
        }
        if ((slirpEvents & LibSlirp.POLL_ERR) != 0) {
            events |= POLLERR;
        }
        if ((slirpEvents & LibSlirp.POLL_HUP) != 0) {
            events |= POLLHUP;
        }
        return addPollFd(fd, events);
    }

    private int addPollFd(int fd, int events) {
        if (nfds == pollCapacity) {
            // The old array stays in the loop's arena until the thread ends: growth doubles, so at most as much again.
            MemorySegment bigger = arena.allocate(POLLFD_BYTES * pollCapacity * 2, 8);
            MemorySegment.copy(pollfds, 0, bigger, 0, POLLFD_BYTES * nfds);
            pollfds = bigger;
            pollCapacity *= 2;
        }
        long at = POLLFD_BYTES * nfds;
        pollfds.set(JAVA_INT, at, fd);
        pollfds.set(JAVA_SHORT, at + 4, (short) events);
        pollfds.set(JAVA_SHORT, at + 6, (short) 0);
        return nfds++;
    }

    private int revents(int index, int mask) {
        return pollfds.get(JAVA_SHORT, POLLFD_BYTES * index + 6) & mask;
    }

    /** get_revents: the poll(2) result of one add_poll index, as SLIRP_POLL_* flags. Loop thread only. */
    int revents(int index) {
        if (index < 0 || index >= nfds) {
            return 0;
        }
        int r = revents(index, 0xffff);
        int flags = 0;
        if ((r & POLLIN) != 0) {
            flags |= LibSlirp.POLL_IN;
        }
        if ((r & POLLOUT) != 0) {
            flags |= LibSlirp.POLL_OUT;
        }
        if ((r & POLLPRI) != 0) {
            flags |= LibSlirp.POLL_PRI;
        }
        if ((r & POLLERR) != 0) {
            flags |= LibSlirp.POLL_ERR;
        }
        if ((r & POLLHUP) != 0) {
            flags |= LibSlirp.POLL_HUP;
        }
        return flags;
    }
}
