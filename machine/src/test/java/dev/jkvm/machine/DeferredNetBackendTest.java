package dev.jkvm.machine;

import dev.jkvm.backends.net.NetBackend;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** QEMU's default network opens its backend only when the NIC first uses it. */
class DeferredNetBackendTest {
    /** A backend that records what reaches it. */
    private static final class Recording implements NetBackend {
        final List<Integer> sent = new ArrayList<>();
        Receiver receiver;
        int wakeups;
        boolean closed;

        @Override
        public void start(Receiver r) {
            receiver = r;
        }

        @Override
        public void wakeup() {
            wakeups++;
        }

        @Override
        public boolean send(MemorySegment[] buffers, int count) {
            sent.add(count);
            return true;
        }

        @Override
        public Offloads offloads() {
            return Offloads.NONE;
        }

        @Override
        public void useVnetHeader(int headerBytes) {
        }

        @Override
        public long dropped() {
            return 7;
        }

        @Override
        public void close() {
            closed = true;
        }
    }

    private static final MemorySegment[] FRAME = {MemorySegment.ofArray(new byte[60])};

    @Test
    void opensOnceOnTheFirstStartAndDelegatesFromThenOn() {
        AtomicInteger opened = new AtomicInteger();
        Recording real = new Recording();
        DeferredNetBackend b = new DeferredNetBackend(() -> {
            opened.incrementAndGet();
            return real;
        }, m -> {
            throw new AssertionError("no notice expected: " + m);
        });
        b.wakeup();
        assertEquals(0, b.dropped());
        assertEquals(0, opened.get(), "wakeup and dropped do not open it");

        NetBackend.Receiver receiver = frame -> true;
        b.start(receiver);
        assertEquals(1, opened.get());
        assertSame(receiver, real.receiver);
        assertTrue(b.send(FRAME, 1));
        b.wakeup();
        assertEquals(List.of(1), real.sent);
        assertEquals(1, real.wakeups);
        assertEquals(7, b.dropped());
        assertEquals(1, opened.get(), "opened once");
        b.close();
        assertTrue(real.closed);
    }

    @Test
    void aSendBeforeStartOpensIt() {
        Recording real = new Recording();
        DeferredNetBackend b = new DeferredNetBackend(() -> real, m -> {
        });
        assertTrue(b.send(FRAME, 1));
        assertEquals(List.of(1), real.sent);
    }

    @Test
    void aFailedOpenIsReportedOnceAndTheNicStaysUnplugged() {
        List<String> notices = new ArrayList<>();
        AtomicInteger attempts = new AtomicInteger();
        DeferredNetBackend b = new DeferredNetBackend(() -> {
            attempts.incrementAndGet();
            throw new MachineException("-netdev user needs libslirp");
        }, notices::add);
        b.start(frame -> true);
        assertFalse(b.send(FRAME, 1));
        assertFalse(b.send(FRAME, 1));
        assertEquals(1, attempts.get(), "not retried on every frame");
        assertEquals(1, notices.size(), notices.toString());
        assertTrue(notices.get(0).contains("libslirp") && notices.get(0).contains("unplugged"), notices.get(0));
        assertEquals(2, b.dropped(), "the frames sent into the unplugged cable are counted");
        b.close();
    }

    @Test
    void closingBeforeUseOpensNothing() {
        DeferredNetBackend b = new DeferredNetBackend(() -> {
            throw new AssertionError("opened after close");
        }, m -> {
        });
        b.close();
        b.start(frame -> true);
        assertFalse(b.send(FRAME, 1));
    }
}
