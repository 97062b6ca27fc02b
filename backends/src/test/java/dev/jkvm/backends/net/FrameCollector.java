package dev.jkvm.backends.net;

import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.junit.jupiter.api.Assertions.fail;

/** A device stand-in: takes frames (or refuses them while told to), and lets a test wait for them. */
final class FrameCollector implements NetBackend.Receiver {
    static final Duration TIMEOUT = Duration.ofSeconds(10);

    private final LinkedBlockingQueue<byte[]> frames = new LinkedBlockingQueue<>();
    final AtomicBoolean accepting = new AtomicBoolean(true);
    final AtomicInteger offers = new AtomicInteger();
    final AtomicInteger refusals = new AtomicInteger();
    private final Object refused = new Object();

    @Override
    public boolean receive(MemorySegment frame) {
        offers.incrementAndGet();
        if (!accepting.get()) {
            synchronized (refused) {
                refusals.incrementAndGet();
                refused.notifyAll();
            }
            return false;
        }
        frames.add(frame.toArray(JAVA_BYTE));
        return true;
    }

    /** The next frame; fails the test when none comes within the timeout. */
    byte[] next() throws InterruptedException {
        byte[] f = frames.poll(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        if (f == null) {
            fail("no frame within " + TIMEOUT.toSeconds() + " s");
        }
        return f;
    }

    /** The next frame that matches, skipping others (a kernel sends IPv6 chatter of its own). */
    byte[] next(Predicate<byte[]> wanted) throws InterruptedException {
        long deadline = System.nanoTime() + TIMEOUT.toNanos();
        while (true) {
            long left = deadline - System.nanoTime();
            byte[] f = left > 0 ? frames.poll(left, TimeUnit.NANOSECONDS) : null;
            if (f == null) {
                fail("no matching frame within " + TIMEOUT.toSeconds() + " s");
            }
            if (wanted.test(f)) {
                return f;
            }
        }
    }

    byte[] poll() {
        return frames.poll();
    }

    /** Waits until the receiver has refused at least {@code n} offers. */
    void awaitRefusals(int n) throws InterruptedException {
        long deadline = System.nanoTime() + TIMEOUT.toNanos();
        synchronized (refused) {
            while (refusals.get() < n) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    fail("fewer than " + n + " refused offers within " + TIMEOUT.toSeconds() + " s");
                }
                TimeUnit.NANOSECONDS.timedWait(refused, left);
            }
        }
    }
}
