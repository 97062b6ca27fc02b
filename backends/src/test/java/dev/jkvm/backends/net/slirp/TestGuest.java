package dev.jkvm.backends.net.slirp;

import dev.jkvm.backends.net.NetBackend;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;

/**
 * Plays the guest's NIC against a backend: a {@link NetBackend.Receiver} that can refuse (no RX
 * buffers), a queue of received frames, and a guest that answers ARP requests for its own address.
 */
final class TestGuest implements NetBackend.Receiver, AutoCloseable {
    static final Duration TIMEOUT = Duration.ofSeconds(10);

    final NetBackend backend;
    final byte[] mac;
    final int ip;
    final LinkedBlockingQueue<byte[]> frames = new LinkedBlockingQueue<>();
    final AtomicInteger offers = new AtomicInteger();
    /** Frames await() skipped over, for failure messages. */
    final List<String> skipped = new ArrayList<>();
    volatile boolean accept = true;
    boolean answerArp = true;

    TestGuest(NetBackend backend, byte[] mac, int ip) {
        this.backend = backend;
        this.mac = mac;
        this.ip = ip;
        backend.start(this);
    }

    @Override
    public boolean receive(MemorySegment frame) {
        offers.incrementAndGet();
        if (!accept) {
            return false;
        }
        frames.add(frame.toArray(ValueLayout.JAVA_BYTE));
        return true;
    }

    boolean send(byte[] frame) {
        return backend.send(new MemorySegment[] {MemorySegment.ofArray(frame)}, 1);
    }

    /** Sends a frame in two pieces, as a device gathering from two descriptors would. */
    boolean sendSplit(byte[] frame, int at) {
        return backend.send(new MemorySegment[] {
                MemorySegment.ofArray(frame).asSlice(0, at), MemorySegment.ofArray(frame).asSlice(at)}, 2);
    }

    /** The next frame that matches, answering ARP requests for the guest's address on the way. */
    byte[] await(String what, Predicate<byte[]> match) throws InterruptedException {
        long deadline = System.nanoTime() + TIMEOUT.toNanos();
        while (true) {
            long left = deadline - System.nanoTime();
            byte[] f = left > 0 ? frames.poll(left, TimeUnit.NANOSECONDS) : null;
            if (f == null) {
                throw new AssertionError("no " + what + " within " + TIMEOUT + "; other frames: " + skipped);
            }
            if (match.test(f)) {
                return f;
            }
            if (answerArp && Frames.isArp(f, 1) && Frames.arpTargetIp(f) == ip) {
                send(Frames.arp(2, Frames.arpSenderMac(f), mac, ip, Frames.arpSenderMac(f), Frames.arpSenderIp(f)));
                continue;
            }
            skipped.add(describe(f));
        }
    }

    static String describe(byte[] f) {
        return "type 0x" + Integer.toHexString(Frames.etherType(f)) + " len " + f.length;
    }

    @Override
    public void close() {
        backend.close();
    }
}
