package dev.jkvm.backends.block;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.abort;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * jkvm's image locks are QEMU's (file-posix OFD byte locks at 100+perm and 200+perm), so jkvm and
 * QEMU keep each other from writing one image twice. Checked against the real qemu-io and, where
 * it is installed, a real qemu-system-x86_64 with the image on a virtio-blk device.
 */
class QemuLockCompatibilityTest {
    @TempDir
    Path dir;
    private Path img;
    private final List<Process> processes = new ArrayList<>();

    @BeforeEach
    void setUp() throws IOException {
        img = dir.resolve("shared.img");
        Files.write(img, new byte[1 << 20]);
    }

    @AfterEach
    void tearDown() throws InterruptedException {
        for (Process p : processes) {
            p.destroyForcibly();
            p.waitFor(30, TimeUnit.SECONDS);
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

    /** qemu-io, installing Debian's qemu-utils when it is missing and apt can be used. */
    private static Path qemuIo() throws Exception {
        Optional<Path> found = onPath("qemu-io");
        if (found.isPresent()) {
            return found.get();
        }
        Optional<Path> apt = onPath("apt-get");
        if (apt.isEmpty() || !"0".equals(run(List.of("id", "-u")).trim())) {
            abort("qemu-io is not installed and apt-get is not usable here (install qemu-utils to run this test)");
        }
        Process p = new ProcessBuilder(apt.get().toString(), "install", "-y", "-q", "qemu-utils")
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        if (!p.waitFor(10, TimeUnit.MINUTES)) {
            p.destroyForcibly();
        }
        return onPath("qemu-io").orElseGet(() -> {
            abort("qemu-io is not installed and 'apt-get install qemu-utils' did not provide it");
            return null;
        });
    }

    private static String run(List<String> command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        p.waitFor(60, TimeUnit.SECONDS);
        return out;
    }

    private record Result(int exit, String output) {
    }

    private Result qemuIo(String... args) throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add(qemuIo().toString());
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        return new Result(p.exitValue(), out);
    }

    /** True while some open file description holds an OFD lock on {@code offset} of the image. */
    private boolean lockHeld(long offset) throws IOException {
        long inode = (Long) Files.getAttribute(img, "unix:ino");
        for (String line : Files.readAllLines(Path.of("/proc/locks"))) {
            String[] f = line.trim().split("\\s+");
            // "1: OFDLCK ADVISORY READ -1 fe:00:2146769 201 201"
            if (f.length >= 8 && f[1].equals("OFDLCK")) {
                String[] id = f[5].split(":");
                if (Long.parseLong(id[id.length - 1]) == inode && Long.parseLong(f[6]) <= offset
                        && (f[7].equals("EOF") || Long.parseLong(f[7]) >= offset)) {
                    return true;
                }
            }
        }
        return false;
    }

    private void assertJkvmCannotOpen() {
        ImageException w = assertThrows(ImageException.class, () -> RawFileImage.open(img, false, CacheMode.WRITEBACK, false));
        assertTrue(w.getMessage().contains("another process"), w.getMessage());
        assertThrows(ImageException.class, () -> RawFileImage.open(img, true, CacheMode.WRITEBACK, false),
                "a reader that does not share writes conflicts with a writer");
        assertThrows(ImageException.class, () -> SnapshotImage.open(img, CacheMode.WRITEBACK, false));
    }

    @Test
    void jkvmCannotOpenAnImageQemuIoIsWriting() throws Exception {
        Path out = dir.resolve("qemu-io.out");
        Process p = new ProcessBuilder(qemuIo().toString(), "-f", "raw", "-c", "write -P 0x5a 0 512", "-c", "sleep 60000", img.toString())
                .redirectErrorStream(true).redirectOutput(out.toFile()).start();
        processes.add(p);
        // qemu-io takes the "write" permission byte when it opens the image read-write
        await("qemu-io to lock the image", () -> {
            try {
                return !p.isAlive() || lockHeld(101);
            } catch (IOException e) {
                return false;
            }
        });
        assertTrue(p.isAlive(), "qemu-io exited: " + Files.readString(out));
        assertJkvmCannotOpen();
        p.destroy();
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        RawFileImage.open(img, false, CacheMode.WRITEBACK, false).close();
    }

    @Test
    void qemuIoCannotWriteAnImageJkvmHolds() throws Exception {
        qemuIo();
        try (RawFileImage writer = RawFileImage.open(img, false, CacheMode.WRITEBACK, false)) {
            Result rw = qemuIo("-f", "raw", "-c", "write -P 0x11 0 512", img.toString());
            assertNotEquals(0, rw.exit(), rw.output());
            assertTrue(rw.output().contains("Failed to get \"write\" lock"), rw.output());
            // jkvm shares consistent reads, as QEMU's own guest devices do
            Result ro = qemuIo("-r", "-f", "raw", "-c", "read 0 512", img.toString());
            assertEquals(0, ro.exit(), ro.output());
        }
        try (RawFileImage reader = RawFileImage.open(img, true, CacheMode.WRITEBACK, false)) {
            Result rw = qemuIo("-f", "raw", "-c", "write -P 0x11 0 512", img.toString());
            assertNotEquals(0, rw.exit(), "a jkvm reader does not share writes: " + rw.output());
        }
        Result rw = qemuIo("-f", "raw", "-c", "write -P 0x11 0 512", img.toString());
        assertEquals(0, rw.exit(), rw.output());
        assertEquals(0x11, Files.readAllBytes(img)[0]);
    }

    @Test
    void jkvmCannotOpenAnImageARunningQemuGuestHas() throws Exception {
        Optional<Path> qemu = onPath("qemu-system-x86_64");
        assumeTrue(qemu.isPresent(), "qemu-system-x86_64 is not installed");
        Path out = dir.resolve("qemu.out");
        Process p = new ProcessBuilder(qemu.get().toString(), "-machine", "q35,accel=tcg", "-S", "-display", "none", "-nodefaults",
                "-monitor", "none", "-serial", "none", "-drive", "file=" + img + ",format=raw,if=none,id=d0",
                "-device", "virtio-blk-pci,drive=d0").redirectErrorStream(true).redirectOutput(out.toFile()).start();
        processes.add(p);
        await("QEMU to lock the image", () -> {
            try {
                return !p.isAlive() || lockHeld(201);
            } catch (IOException e) {
                return false;
            }
        });
        assertTrue(p.isAlive(), "QEMU exited: " + Files.readString(out));
        assertJkvmCannotOpen();
        p.destroy();
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        RawFileImage.open(img, false, CacheMode.WRITEBACK, false).close();
    }

    /** Polls a condition that another process makes true, with a deadline. */
    private static void await(String what, java.util.function.BooleanSupplier condition) {
        long deadline = System.nanoTime() + java.time.Duration.ofSeconds(60).toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() - deadline > 0) {
                throw new AssertionError("timed out waiting for " + what);
            }
            java.util.concurrent.locks.LockSupport.parkNanos(10_000_000);
        }
    }
}
