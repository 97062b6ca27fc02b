package dev.jkvm.backends.net;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.File;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * jkvm's socket backend and QEMU's speak the same stream format. QEMU (no guest: -machine none)
 * joins two of its socket netdevs through a hub, connecting each to a jkvm backend that listens,
 * so every frame one jkvm backend sends crosses QEMU's parser and writer to reach the other.
 */
class QemuSocketInteropTest {
    private final List<AutoCloseable> toClose = new ArrayList<>();
    private Process qemu;

    @AfterEach
    void tearDown() throws Exception {
        if (qemu != null) {
            qemu.destroyForcibly();
            qemu.waitFor(30, TimeUnit.SECONDS);
        }
        for (AutoCloseable c : toClose.reversed()) {
            c.close();
        }
    }

    private static Optional<Path> onPath(String program) {
        for (String d : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(File.pathSeparator)) {
            Path p = Path.of(d, program);
            if (Files.isExecutable(p)) {
                return Optional.of(p);
            }
        }
        return Optional.empty();
    }

    @Test
    void framesCrossQemusSocketNetdevsBothWays() throws Exception {
        Optional<Path> binary = onPath("qemu-system-x86_64");
        assumeTrue(binary.isPresent(), "no qemu-system-x86_64 (Debian's qemu-system-x86): interop test skipped");
        SocketBackend a = SocketBackend.listen("127.0.0.1:0", m -> { });
        toClose.add(a);
        SocketBackend b = SocketBackend.listen("127.0.0.1:0", m -> { });
        toClose.add(b);
        qemu = new ProcessBuilder(binary.get().toString(), "-machine", "none", "-nodefaults", "-display", "none",
                "-monitor", "none", "-serial", "none",
                "-netdev", "socket,id=a,connect=127.0.0.1:" + a.localPort(),
                "-netdev", "socket,id=b,connect=127.0.0.1:" + b.localPort(),
                "-netdev", "hubport,id=ha,hubid=0,netdev=a",
                "-netdev", "hubport,id=hb,hubid=0,netdev=b")
                .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectError(ProcessBuilder.Redirect.DISCARD)
                .start();
        assertTrue(a.awaitConnected(FrameCollector.TIMEOUT), "QEMU connected to a");
        assertTrue(b.awaitConnected(FrameCollector.TIMEOUT), "QEMU connected to b");
        FrameCollector atA = new FrameCollector();
        FrameCollector atB = new FrameCollector();
        a.start(atA);
        b.start(atB);

        int[] sizes = {42, 60, 1514, 9014, 65_000};
        try (Arena arena = Arena.ofConfined()) {
            for (int i = 0; i < sizes.length; i++) {
                byte[] there = SocketBackendTest.frameBytes(i, sizes[i]);
                byte[] back = SocketBackendTest.frameBytes(1000 + i, sizes[i]);
                assertTrue(a.send(new MemorySegment[] {nativeCopy(arena, there)}, 1));
                assertArrayEquals(there, atB.next(), sizes[i] + " bytes a -> QEMU -> b");
                assertTrue(b.send(new MemorySegment[] {nativeCopy(arena, back)}, 1));
                assertArrayEquals(back, atA.next(), sizes[i] + " bytes b -> QEMU -> a");
            }
        }
        assertEquals(0, a.dropped() + b.dropped());
        assertTrue(qemu.isAlive(), "QEMU accepted every frame");
    }

    private static MemorySegment nativeCopy(Arena arena, byte[] bytes) {
        MemorySegment s = arena.allocate(bytes.length);
        MemorySegment.copy(bytes, 0, s, JAVA_BYTE, 0, bytes.length);
        return s;
    }
}
