package dev.jkvm.backends.net;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The socket backend on loopback: two backends joined, and backends against plain Java sockets speaking QEMU's format. */
class SocketBackendTest {
    private static final Duration WAIT = FrameCollector.TIMEOUT;

    private final Arena arena = Arena.ofShared();
    private final List<AutoCloseable> toClose = new ArrayList<>();
    final List<String> notices = new CopyOnWriteArrayList<>();

    @AfterEach
    void tearDown() throws Exception {
        for (AutoCloseable c : toClose.reversed()) {
            c.close();
        }
        arena.close();
    }

    private <T extends AutoCloseable> T closeLater(T c) {
        toClose.add(c);
        return c;
    }

    private SocketBackend listener() {
        return closeLater(SocketBackend.listen("127.0.0.1:0", notices::add));
    }

    private SocketBackend connector(int port) {
        return closeLater(SocketBackend.connect("127.0.0.1:" + port, WAIT, notices::add));
    }

    /** A frame whose bytes say which one it is: byte 0-3 the sequence number, the rest a pattern. */
    static byte[] frameBytes(int seq, int length) {
        byte[] b = new byte[length];
        for (int i = 0; i < length; i++) {
            b[i] = (byte) (i * 7 + seq);
        }
        ByteBuffer.wrap(b).putInt(0, seq);
        return b;
    }

    static int seqOf(byte[] frame) {
        return ByteBuffer.wrap(frame).getInt(0);
    }

    private MemorySegment[] segments(byte[] frame, int... cuts) {
        MemorySegment whole = arena.allocate(frame.length);
        MemorySegment.copy(frame, 0, whole, JAVA_BYTE, 0, frame.length);
        MemorySegment[] parts = new MemorySegment[cuts.length + 1];
        int from = 0;
        for (int i = 0; i <= cuts.length; i++) {
            int to = i < cuts.length ? cuts[i] : frame.length;
            parts[i] = whole.asSlice(from, to - from);
            from = to;
        }
        return parts;
    }

    private boolean send(NetBackend backend, byte[] frame, int... cuts) {
        MemorySegment[] parts = segments(frame, cuts);
        return backend.send(parts, parts.length);
    }

    /** QEMU's stream format: a 4-byte big-endian length, then the frame. */
    static byte[] wire(byte[]... frames) {
        int total = 0;
        for (byte[] f : frames) {
            total += 4 + f.length;
        }
        ByteBuffer b = ByteBuffer.allocate(total);
        for (byte[] f : frames) {
            b.putInt(f.length).put(f);
        }
        return b.array();
    }

    private static byte[] readFrame(DataInputStream in) throws IOException {
        byte[] f = new byte[in.readInt()];
        in.readFully(f);
        return f;
    }

    private Socket rawClient(SocketBackend listener) throws Exception {
        Socket s = closeLater(new Socket());
        s.setTcpNoDelay(true);
        s.setSoTimeout((int) WAIT.toMillis());
        s.connect(new InetSocketAddress("127.0.0.1", listener.localPort()));
        assertTrue(listener.awaitConnected(WAIT));
        return s;
    }

    @Test
    void twoBackendsExchangeFramesBothWays() throws Exception {
        SocketBackend a = listener();
        assertFalse(a.isConnected(), "listen does not wait for the peer");
        SocketBackend b = connector(a.localPort());
        assertTrue(a.awaitConnected(WAIT));
        assertTrue(b.isConnected());
        FrameCollector atA = new FrameCollector();
        FrameCollector atB = new FrameCollector();
        a.start(atA);
        b.start(atB);
        assertEquals(NetBackend.Offloads.NONE, a.offloads());

        int[] sizes = {60, 1514, 9000, SocketBackend.MAX_FRAME};
        for (int i = 0; i < sizes.length; i++) {
            assertTrue(send(a, frameBytes(i, sizes[i]), 12, 20));
            assertTrue(send(b, frameBytes(100 + i, sizes[i])));
        }
        for (int i = 0; i < sizes.length; i++) {
            assertArrayEquals(frameBytes(i, sizes[i]), atB.next(), "frame " + i + " a to b");
            assertArrayEquals(frameBytes(100 + i, sizes[i]), atA.next(), "frame " + i + " b to a");
        }
        assertEquals(0, a.dropped() + b.dropped());
    }

    @Test
    void writesQemusWireFormat() throws Exception {
        try (ServerSocket server = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            server.setSoTimeout((int) WAIT.toMillis());
            SocketBackend backend = connector(server.getLocalPort());
            try (Socket peer = server.accept()) {
                peer.setSoTimeout((int) WAIT.toMillis());
                byte[] f1 = frameBytes(1, 64);
                byte[] f2 = frameBytes(2, 1514);
                assertTrue(send(backend, f1, 1, 2, 3));
                assertTrue(send(backend, f2, 700));
                byte[] expected = wire(f1, f2);
                byte[] got = new DataInputStream(peer.getInputStream()).readNBytes(expected.length);
                assertArrayEquals(expected, got);
            }
        }
    }

    @Test
    void cutsFramesOutOfAStreamThatArrivesInPieces() throws Exception {
        SocketBackend backend = listener();
        FrameCollector rx = new FrameCollector();
        backend.start(rx);
        Socket peer = rawClient(backend);
        OutputStream out = peer.getOutputStream();

        // Byte by byte: every length prefix and every frame spans many reads.
        byte[][] frames = {frameBytes(1, 60), frameBytes(2, 1000), frameBytes(3, 61)};
        for (byte b : wire(frames)) {
            out.write(b);
            out.flush();
        }
        for (byte[] f : frames) {
            assertArrayEquals(f, rx.next());
        }

        // A frame followed by part of the next (cut inside its prefix, then inside its body): the
        // rest is written only after the first frame reached the device, so it comes in a later read.
        byte[] f4 = frameBytes(4, 300);
        byte[] f5 = frameBytes(5, 5000);
        byte[] f6 = frameBytes(6, 70);
        byte[] stream = wire(f4, f5, f6);
        int cutInPrefix = 4 + f4.length + 2;
        out.write(stream, 0, cutInPrefix);
        out.flush();
        assertArrayEquals(f4, rx.next());
        int cutInBody = 4 + f4.length + 4 + 1234;
        out.write(stream, cutInPrefix, cutInBody - cutInPrefix);
        out.flush();
        out.write(stream, cutInBody, stream.length - cutInBody);
        out.flush();
        assertArrayEquals(f5, rx.next());
        assertArrayEquals(f6, rx.next());
        assertEquals(0, backend.dropped());
    }

    @Test
    void aRefusedFrameIsOfferedAgainAfterWakeupAndOrderIsKept() throws Exception {
        SocketBackend backend = listener();
        FrameCollector rx = new FrameCollector();
        rx.accepting.set(false);
        backend.start(rx);
        Socket peer = rawClient(backend);
        peer.getOutputStream().write(wire(frameBytes(1, 100), frameBytes(2, 200), frameBytes(3, 300)));
        rx.awaitRefusals(1);
        assertNull(rx.poll());

        rx.accepting.set(true);
        backend.wakeup();
        assertEquals(1, seqOf(rx.next()));
        assertEquals(2, seqOf(rx.next()));
        assertEquals(3, seqOf(rx.next()));
        assertEquals(1, rx.refusals.get(), "after a refusal the backend waits for wakeup instead of offering again");
        assertEquals(4, rx.offers.get());
        assertEquals(0, backend.dropped());
    }

    @Test
    void aGuestThatTakesNothingHoldsThePeerBackWithoutLosingFrames() throws Exception {
        // Far more than the backend queues: once its queue is full it stops reading, TCP fills up and
        // the peer's writes block; nothing is dropped, and everything arrives in order after wakeup.
        SocketBackend backend = listener();
        FrameCollector rx = new FrameCollector();
        rx.accepting.set(false);
        backend.start(rx);
        Socket peer = rawClient(backend);
        int count = 3000;
        ExecutorService writer = Executors.newSingleThreadExecutor();
        try {
            Future<?> written = writer.submit(() -> {
                OutputStream out = peer.getOutputStream();
                for (int i = 0; i < count; i++) {
                    out.write(wire(frameBytes(i, 1400)));
                }
                out.flush();
                return null;
            });
            rx.awaitRefusals(1);
            rx.accepting.set(true);
            backend.wakeup();
            for (int i = 0; i < count; i++) {
                assertEquals(i, seqOf(rx.next()));
            }
            written.get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
        } finally {
            writer.shutdownNow();
        }
        assertEquals(0, backend.dropped());
    }

    @Test
    void framesFromTheGuestAreDroppedAndCountedUntilAPeerConnects() throws Exception {
        SocketBackend backend = listener();
        backend.start(new FrameCollector());
        assertFalse(send(backend, frameBytes(1, 60)));
        assertFalse(send(backend, frameBytes(2, 60)));
        assertEquals(2, backend.dropped());

        Socket peer = rawClient(backend);
        assertTrue(send(backend, frameBytes(3, 60)));
        assertEquals(3, seqOf(readFrame(new DataInputStream(peer.getInputStream()))));
        assertFalse(send(backend, frameBytes(4, SocketBackend.MAX_FRAME + 1)), "longer than QEMU accepts");
        assertEquals(3, backend.dropped());
    }

    @Test
    void aListenerWaitsForTheNextPeerWhenOneLeaves() throws Exception {
        SocketBackend backend = listener();
        FrameCollector rx = new FrameCollector();
        backend.start(rx);
        Socket first = rawClient(backend);
        first.getOutputStream().write(wire(frameBytes(1, 80)));
        assertEquals(1, seqOf(rx.next()));
        first.close();
        assertTrue(backend.awaitDisconnected(WAIT));
        assertFalse(send(backend, frameBytes(2, 60)), "no peer: dropped");

        Socket second = rawClient(backend);
        assertEquals(2, backend.connections());
        second.getOutputStream().write(wire(frameBytes(3, 80)));
        assertEquals(3, seqOf(rx.next()));
        assertTrue(send(backend, frameBytes(4, 60)));
        assertEquals(4, seqOf(readFrame(new DataInputStream(second.getInputStream()))));
        assertTrue(notices.stream().anyMatch(n -> n.contains("closed the connection") && n.contains("waiting for the next peer")), notices.toString());
    }

    @Test
    void aConnectorWhosePeerLeavesStaysDownAndDropsFrames() throws Exception {
        try (ServerSocket server = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            server.setSoTimeout((int) WAIT.toMillis());
            SocketBackend backend = connector(server.getLocalPort());
            backend.start(new FrameCollector());
            server.accept().close();
            assertTrue(backend.awaitDisconnected(WAIT));
            assertFalse(send(backend, frameBytes(1, 60)));
            assertEquals(1, backend.dropped());
            assertTrue(notices.stream().anyMatch(n -> n.contains("the link stays down")), notices.toString());
        }
    }

    @Test
    void anOversizedLengthEndsTheConnectionAsQemuDoes() throws Exception {
        SocketBackend backend = listener();
        FrameCollector rx = new FrameCollector();
        backend.start(rx);
        Socket peer = rawClient(backend);
        byte[] good = wire(frameBytes(1, 100));
        ByteBuffer bad = ByteBuffer.allocate(8).putInt(SocketBackend.MAX_FRAME + 1).putInt(0);
        peer.getOutputStream().write(good);
        peer.getOutputStream().write(bad.array());
        assertEquals(1, seqOf(rx.next()));
        assertTrue(backend.awaitDisconnected(WAIT));
        InputStream in = peer.getInputStream();
        assertEquals(-1, in.read(), "the backend closed the stream");
        assertTrue(notices.stream().anyMatch(n -> n.contains("more than " + SocketBackend.MAX_FRAME)), notices.toString());
    }

    @Test
    void aPeerThatDoesNotReadNeverBlocksTheSenderAndTheStreamStaysWhole() throws Exception {
        // Send until the socket and the backlog are full: send() returns false instead of blocking.
        // Every frame it accepted must then arrive whole and in order, none after a refused one.
        SocketBackend backend = listener();
        backend.start(new FrameCollector());
        Socket peer = rawClient(backend);
        List<Integer> accepted = new ArrayList<>();
        int refused = 0;
        int seq = 0;
        for (; refused < 3 && seq < 100_000; seq++) {
            if (send(backend, frameBytes(seq, 60_000), 30_001)) {
                accepted.add(seq);
            } else {
                refused++;
            }
        }
        assertEquals(3, refused, "the backlog is bounded");
        assertEquals(3, backend.dropped());
        DataInputStream in = new DataInputStream(peer.getInputStream());
        for (int expected : accepted) {
            assertArrayEquals(frameBytes(expected, 60_000), readFrame(in), "frame " + expected);
        }
        // Drained: the backend sends again.
        assertTrue(send(backend, frameBytes(seq, 60)));
        assertEquals(seq, seqOf(readFrame(in)));
    }

    @Test
    void connectFailsWithOneClearLine() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        NetBackendException e = assertThrows(NetBackendException.class,
                () -> SocketBackend.connect("127.0.0.1:" + port, WAIT, notices::add));
        assertEquals("cannot connect to 127.0.0.1:" + port + ": ECONNREFUSED (Connection refused)", e.getMessage());

        assertTrue(assertThrows(NetBackendException.class, () -> SocketBackend.connect("127.0.0.1", WAIT, notices::add))
                .getMessage().contains("is not host:port"));
        assertTrue(assertThrows(NetBackendException.class, () -> SocketBackend.listen(":99999", notices::add))
                .getMessage().contains("is not a port number"));
        SocketBackend taken = listener();
        String busy = "127.0.0.1:" + taken.localPort();
        assertEquals("cannot listen on " + busy + ": EADDRINUSE (Address already in use)",
                assertThrows(NetBackendException.class, () -> SocketBackend.listen(busy, notices::add)).getMessage());
    }

    @Test
    void listensOnEveryAddressWithAnEmptyHostAndCarriesNoVnetHeader() throws Exception {
        SocketBackend backend = closeLater(SocketBackend.listen(":0", notices::add));
        SocketBackend peer = connector(backend.localPort());
        assertTrue(backend.awaitConnected(WAIT));
        assertTrue(peer.isConnected());
        assertThrows(IllegalStateException.class, () -> backend.useVnetHeader(12));
        backend.useVnetHeader(0);
        assertEquals(Arrays.asList(), notices);
    }
}
