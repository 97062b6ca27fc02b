package dev.jkvm.machine;

import dev.jkvm.backends.block.CacheMode;
import dev.jkvm.backends.block.DriveOptions;
import dev.jkvm.vmm.ExitStatus;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static dev.jkvm.machine.DiskPattern.Expect.COMPLEMENT;
import static dev.jkvm.machine.DiskPattern.Expect.PATTERN;
import static dev.jkvm.machine.DiskPattern.Expect.ZERO;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** virtio-blk end to end: the test guest's polling driver against jkvm's device and a real image file. */
class BlockDeviceIT {
    private static final Duration TIMEOUT = Duration.ofSeconds(120);
    private static final Pattern RESULT = Pattern.compile("RESULT (\\d+) passed, (\\d+) failed");
    /** The guest writes at W = (capacity / 2) & ~7: for a 4 MiB disk, sector 4096. */
    private static final long W = 4096;

    @TempDir
    Path dir;

    private Path image(String name, long size) throws IOException {
        Path p = dir.resolve(name);
        DiskPattern.write(p, size);
        return p;
    }

    private static String run(VirtualMachine.Builder b, String expectedResult) throws Exception {
        try (VirtualMachine vm = b.build().start()) {
            Matcher m = vm.serial().waitFor(RESULT, TIMEOUT);
            vm.awaitExit(TIMEOUT);
            assertEquals(expectedResult, m.group(), vm.serialOutput());
            return vm.serialOutput();
        }
    }

    /** Everything outside the written ranges still holds the pattern; the ranges hold what the guest put there. */
    private static void assertWrittenAsExpected(Path rw) throws IOException {
        long total = Files.size(rw) / DiskPattern.SECTOR;
        assertNull(DiskPattern.check(rw, 0, W, PATTERN));
        assertNull(DiskPattern.check(rw, W, 8, COMPLEMENT));
        assertNull(DiskPattern.check(rw, W + 8, 56, PATTERN));
        assertNull(DiskPattern.check(rw, W + 64, 8, ZERO), "discarded sectors read as zeros");
        assertNull(DiskPattern.check(rw, W + 72, 56, PATTERN));
        assertNull(DiskPattern.check(rw, W + 128, 8, ZERO), "write-zeroes sectors are zeros");
        assertNull(DiskPattern.check(rw, W + 136, total - W - 136, PATTERN));
    }

    @ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"threads", "io_uring"})
    void everyBlockTestPassesAndTheImageHoldsWhatTheGuestWrote(String aio) throws Exception {
        Path rw = image("rw.img", 4 << 20);
        Path ro = image("ro.img", 1 << 20);
        String out = run(TestGuest.vm("64M", 1, "tests=pci,blk-id,blk-read,blk-write,blk-flush,blk-discard,blk-ro,blk-msix,blk-bad "
                        + "blk.capacity=8192 blk.serial=jkvm-disk-0")
                .virtioBlk(DriveOptions.of(rw).withDiscard(true).withSerial("jkvm-disk-0").withAio(aio))
                .virtioBlk(DriveOptions.of(ro).withReadOnly(true).withAio(aio)), "RESULT 9 passed, 0 failed");
        assertTrue(out.contains("blk-bad PASS a=reset b=reset c=reset d=reset"), out);
        assertWrittenAsExpected(rw);
        assertNull(DiskPattern.check(ro, 0, 2048, PATTERN), "the read-only image is untouched");
    }

    @Test
    void flushedDataIsInTheFileBeforeTheVmExits() throws Exception {
        Path rw = image("rw.img", 4 << 20);
        try (VirtualMachine vm = TestGuest.vm("64M", 1, "tests=blk-write blk.wait=1").virtioBlk(DriveOptions.of(rw)).build().start()) {
            Matcher m = vm.serial().waitFor(Pattern.compile("BLK-FLUSHED sector=(\\d+) count=(\\d+)"), TIMEOUT);
            // The guest's FLUSH has completed and it now waits for us: the bytes must be in the file.
            assertNull(DiskPattern.check(rw, Long.parseLong(m.group(1)), Long.parseLong(m.group(2)), COMPLEMENT));
            vm.serial().send("x");
            ExitStatus status = vm.awaitExit(TIMEOUT);
            assertEquals(0, status.debugValue(), vm.serialOutput());
            assertTrue(vm.machine().blockDevices().get(0).metrics().flushes.sum() >= 1);
        }
    }

    @ParameterizedTest
    @EnumSource(CacheMode.class)
    void everyCacheModeReadsAndWrites(CacheMode mode) throws Exception {
        for (String aio : List.of("threads", "io_uring")) {
            everyCacheModeReadsAndWrites(mode, aio);
        }
    }

    private void everyCacheModeReadsAndWrites(CacheMode mode, String aio) throws Exception {
        Path rw = image("rw-" + aio + ".img", 4 << 20);
        run(TestGuest.vm("64M", 1, "tests=blk-read,blk-write,blk-flush").virtioBlk(DriveOptions.of(rw).withCache(mode).withAio(aio)),
                mode.writebackCache() ? "RESULT 3 passed, 0 failed" : "RESULT 2 passed, 1 failed");
        assertNull(DiskPattern.check(rw, W, 8, COMPLEMENT));
    }

    @Test
    void snapshotWritesNeverReachTheImage() throws Exception {
        Path rw = image("rw.img", 4 << 20);
        byte[] before = Files.readAllBytes(rw);
        run(TestGuest.vm("64M", 1, "tests=blk-write,blk-read,blk-discard").virtioBlk(DriveOptions.of(rw).withSnapshot(true).withDiscard(true)),
                "RESULT 3 passed, 0 failed");
        assertTrue(java.util.Arrays.equals(before, Files.readAllBytes(rw)), "image unchanged by snapshot=on");
    }

    @Test
    void multipleQueuesAreAdvertised() throws Exception {
        Path rw = image("rw.img", 4 << 20);
        String out = run(TestGuest.vm("64M", 2, "tests=blk-id,blk-read").virtioBlk(DriveOptions.of(rw), 4), "RESULT 2 passed, 0 failed");
        assertTrue(out.contains("queues=4"), out);
        assertTrue(out.contains(",MQ,") || out.contains("MQ,"), out);
    }

    @Test
    void aHostIoErrorFailsTheRequestAndTheVmCarriesOn() throws Exception {
        Path rw = image("rw.img", 4 << 20);
        try (VirtualMachine vm = TestGuest.vm("64M", 1, "tests=blk-write,blk-read blk.wait=1").virtioBlk(DriveOptions.of(rw)).build().start()) {
            vm.serial().waitFor(Pattern.compile("BLK-FLUSHED"), TIMEOUT);
            // Shrinking the file under the device turns every later read into a host I/O error.
            try (FileChannel ch = FileChannel.open(rw, StandardOpenOption.WRITE)) {
                ch.truncate(0);
            }
            vm.serial().send("x");
            ExitStatus status = vm.awaitExit(TIMEOUT);
            String out = vm.serialOutput();
            assertTrue(out.contains("TEST blk-read FAIL"), out);
            assertTrue(out.contains("RESULT 1 passed, 1 failed"), "the guest ran on to its result: " + out);
            assertEquals(1, status.debugValue());
            assertTrue(vm.machine().blockDevices().get(0).metrics().ioErrors.sum() >= 1);
        }
    }

    @Test
    void aLockedImageCannotBeOpenedTwice() throws Exception {
        Path rw = image("rw.img", 1 << 20);
        try (VirtualMachine first = TestGuest.vm("32M", 1, "tests=wait").virtioBlk(DriveOptions.of(rw)).build().start()) {
            first.serial().waitFor(Pattern.compile("WAITING"), TIMEOUT);
            MachineException e = assertThrows(MachineException.class,
                    () -> TestGuest.vm("32M", 1, "tests=serial").virtioBlk(DriveOptions.of(rw)).build().start().close());
            assertTrue(e.getMessage().contains("lock") && e.getMessage().contains(rw.toString()), e.getMessage());
            MachineException reader = assertThrows(MachineException.class,
                    () -> TestGuest.vm("32M", 1, "tests=serial").virtioBlk(DriveOptions.of(rw).withReadOnly(true)).build().start().close());
            assertTrue(reader.getMessage().contains("lock"), "a reader may not share an image being written: " + reader.getMessage());
            first.serial().send("x");
            first.awaitExit(TIMEOUT);
        }
        // Once the first VM is gone the image is free again.
        run(TestGuest.vm("32M", 1, "tests=blk-read").virtioBlk(DriveOptions.of(rw)), "RESULT 1 passed, 0 failed");
    }

    @Test
    void imageProblemsAreOneLineErrors() throws Exception {
        Path odd = dir.resolve("odd.img");
        Files.write(odd, new byte[1000]);
        Path immutable = image("immutable.img", 1 << 20);
        boolean chattr = new ProcessBuilder("chattr", "+i", immutable.toString()).start().waitFor() == 0;
        try {
            for (var c : List.of(
                    List.of(dir.resolve("missing.img").toString(), "No such file or directory"),
                    List.of(odd.toString(), "not a multiple of 512"),
                    List.of(dir.toString(), "Is a directory"))) {
                MachineException e = assertThrows(MachineException.class,
                        () -> TestGuest.vm("32M", 1, "").virtioBlk(DriveOptions.of(Path.of(c.get(0)))).build().start().close());
                assertTrue(e.getMessage().contains(c.get(1)) && e.getMessage().contains(c.get(0)), e.getMessage());
                assertEquals(1, e.getMessage().lines().count());
            }
            if (chattr) {
                MachineException e = assertThrows(MachineException.class,
                        () -> TestGuest.vm("32M", 1, "").virtioBlk(DriveOptions.of(immutable)).build().start().close());
                assertTrue(e.getMessage().contains("Permission denied"), e.getMessage());
            }
        } finally {
            new ProcessBuilder("chattr", "-i", immutable.toString()).start().waitFor();
        }
    }
}
