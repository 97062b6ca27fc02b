package dev.jkvm.devices.legacy.platform;

import dev.jkvm.vmm.device.Threads;
import java.util.concurrent.TimeUnit;

/**
 * One pending deadline for a device that must raise an interrupt on time (the RTC's periodic,
 * update and alarm interrupts, the PM timer's overflow). A daemon thread exists only while a
 * deadline is armed: a device whose guest enabled no timed interrupt costs no thread and no CPU.
 *
 * <p>The action runs on the timer's thread without the timer's lock held, so it may take the
 * device's lock and re-arm; devices call {@link #schedule} and {@link #cancel} while holding their
 * own lock. {@link #close()} must not be called with the device's lock held (it joins the thread).
 */
final class DeviceTimer implements AutoCloseable {
    private final String name;
    private final Runnable action;
    private long deadline;
    private boolean armed;
    private boolean closed;
    private Thread thread;

    DeviceTimer(String name, Runnable action) {
        this.name = name;
        this.action = action;
    }

    /** Arms (or moves) the deadline, in {@link System#nanoTime()} terms. */
    synchronized void schedule(long deadlineNanoTime) {
        if (closed) {
            return;
        }
        deadline = deadlineNanoTime;
        armed = true;
        if (thread == null) {
            thread = Thread.ofPlatform().name(name).daemon(true).start(this::run);
        } else {
            notifyAll();
        }
    }

    /** Arms the deadline {@code delayNanos} from now. */
    void scheduleIn(long delayNanos) {
        schedule(System.nanoTime() + Math.max(0, delayNanos));
    }

    synchronized void cancel() {
        armed = false;
        notifyAll();
    }

    synchronized boolean armed() {
        return armed;
    }

    /** True while the timer's thread exists (for tests: none when nothing is armed). */
    synchronized boolean threadRunning() {
        return thread != null;
    }

    private void run() {
        while (true) {
            synchronized (this) {
                while (true) {
                    if (closed || !armed) {
                        thread = null;
                        notifyAll();
                        return;
                    }
                    long left = deadline - System.nanoTime();
                    if (left <= 0) {
                        break;
                    }
                    try {
                        TimeUnit.NANOSECONDS.timedWait(this, left);
                    } catch (InterruptedException e) {
                        // Only close() interrupts; the loop sees closed.
                    }
                }
                armed = false;
            }
            try {
                action.run();
            } catch (RuntimeException e) {
                System.err.println("jkvm: " + name + " timer failed: " + e);
            }
        }
    }

    /** Disarms for good and waits for the thread to end. */
    @Override
    public void close() {
        Thread t;
        synchronized (this) {
            closed = true;
            armed = false;
            t = thread;
            notifyAll();
        }
        if (t != null && t != Thread.currentThread()) {
            Threads.joinUninterruptibly(t);
        }
    }
}
