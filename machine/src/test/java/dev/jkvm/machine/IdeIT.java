package dev.jkvm.machine;

import dev.jkvm.backends.block.CacheMode;
import dev.jkvm.backends.block.DriveOptions;
import dev.jkvm.devices.legacy.serial.SerialCapture;
import dev.jkvm.vmm.ExitStatus;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static dev.jkvm.machine.DiskPattern.Expect.COMPLEMENT;
import static dev.jkvm.machine.DiskPattern.Expect.PATTERN;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The PIIX3 IDE controller end to end: the test guest's polling ATA/ATAPI driver (ide-id, ide-pio,
 * ide-dma, atapi) against a pattern disk at the primary master and an ISO 9660 image, built here
 * with xorriso, in the CD-ROM drive at the secondary master; then the disk file is checked.
 */
class IdeIT {
    private static final Duration TIMEOUT = Duration.ofSeconds(180);
    private static final Pattern RESULT = Pattern.compile("RESULT (\\d+) passed, (\\d+) failed");
    private static final String VOLID = "JKVMTEST";
    private static final int PATTERN_FILE_BYTES = 20480;

    @TempDir
    Path dir;

    /** A machine with the test guest, its debug-exit port, and these IDE drives. */
    private record Run(String output, ExitStatus status) {
    }

    private MachineConfig.Builder config(String cmdline) {
        return MachineConfig.builder().memoryBytes(64L << 20).kernel(TestGuest.elf()).append(cmdline)
                .device(new DeviceConfig.IsaDebugExit(TestGuest.DEBUG_EXIT_PORT, 1));
    }

    private static void ide(MachineConfig.Builder b, DriveOptions drive, int bus, int unit, boolean cdrom) {
        b.drive(drive);
        b.device(new DeviceConfig.IdeDrive(drive.id(), bus, unit, cdrom));
    }

    private static DriveOptions named(String id, Path file) {
        DriveOptions d = DriveOptions.of(file);
        return new DriveOptions(id, d.file(), d.format(), d.cache(), d.aio(), d.readOnly(), d.snapshot(), d.discard(), d.serial());
    }

    private static Run run(MachineConfig.Builder b) throws Exception {
        SerialCapture capture = new SerialCapture();
        b.serial(new SerialConfig.Capture(capture));
        try (PcMachine machine = PcMachine.create(b.build())) {
            machine.start();
            try {
                capture.waitFor(RESULT, TIMEOUT);
            } catch (java.util.concurrent.TimeoutException e) {
                throw new AssertionError("no RESULT line; serial output:\n" + capture.text(), e);
            }
            ExitStatus status = machine.awaitExit(TIMEOUT).orElseThrow(() -> new AssertionError("still running:\n" + capture.text()));
            return new Run(capture.text(), status);
        } finally {
            capture.close();
        }
    }

    /** An ISO 9660 image with volume id JKVMTEST and PATTERN.BIN (the disk pattern) in its root. */
    private Path iso() throws Exception {
        Path tree = Files.createDirectories(dir.resolve("iso-tree"));
        DiskPattern.write(tree.resolve("pattern.bin"), PATTERN_FILE_BYTES);
        Path iso = dir.resolve("cd.iso");
        List<String> command = xorriso() != null
                ? List.of(xorriso(), "-as", "mkisofs", "-quiet", "-V", VOLID, "-o", iso.toString(), tree.toString())
                : List.of("genisoimage", "-quiet", "-V", VOLID, "-o", iso.toString(), tree.toString());
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.waitFor(), "making the ISO failed (apt-get install -y xorriso): " + out);
        return iso;
    }

    private static String xorriso() {
        for (String d : System.getenv().getOrDefault("PATH", "/usr/bin").split(":")) {
            if (Files.isExecutable(Path.of(d, "xorriso"))) {
                return Path.of(d, "xorriso").toString();
            }
        }
        return null;
    }

    @Test
    void ideAndAtapiTestsPassAndTheDiskHoldsWhatTheGuestWrote() throws Exception {
        Path disk = dir.resolve("disk.img");
        DiskPattern.write(disk, 4 << 20);
        Path iso = iso();
        byte[] isoBefore = Files.readAllBytes(iso);
        long blocks = Files.size(iso) / 2048;
        MachineConfig.Builder b = config("tests=ide-id,ide-pio,ide-dma,atapi ide.sectors=8192 atapi.blocks=" + blocks
                + " atapi.volid=" + VOLID + " atapi.file=PATTERN.BIN");
        ide(b, named("hd0", disk), 0, 0, false);
        ide(b, named("cd0", iso), 1, 0, true);
        Run r = run(b);
        assertTrue(r.output().contains("RESULT 4 passed, 0 failed"), r.output());
        assertEquals(0, r.status().debugValue(), r.output());
        assertTrue(r.output().contains("pcicmd=0x0103 idetim=0x8000,0x8000"), "what SeaBIOS leaves under QEMU: " + r.output());
        assertTrue(r.output().contains("file=" + PATTERN_FILE_BYTES + " dma=ok"), r.output());
        assertTrue(r.output().contains("at=secondary-master"), r.output());

        // W = 4096: ide-pio wrote W..W+7, ide-dma W+64..W+79, both as pattern ^ 0xff.
        assertNull(DiskPattern.check(disk, 0, 4096, PATTERN));
        assertNull(DiskPattern.check(disk, 4096, 8, COMPLEMENT));
        assertNull(DiskPattern.check(disk, 4104, 56, PATTERN));
        assertNull(DiskPattern.check(disk, 4160, 16, COMPLEMENT));
        assertNull(DiskPattern.check(disk, 4176, 8192 - 4176, PATTERN));
        assertArrayEquals(isoBefore, Files.readAllBytes(iso), "the CD-ROM image is untouched");
    }

    /** Writes the pattern into [first, first+count) sectors of a sparse file. */
    private static void patternRange(RandomAccessFile f, long first, long count) throws IOException {
        byte[] buf = new byte[(int) (count * DiskPattern.SECTOR)];
        for (int i = 0; i < buf.length; i++) {
            buf[i] = DiskPattern.at(first * DiskPattern.SECTOR + i);
        }
        f.seek(first * DiskPattern.SECTOR);
        f.write(buf);
    }

    @Test
    void aDiskBeyondTheLba28LimitIsReachedWithLba48() throws Exception {
        // 2^28 + 2048 sectors (128 GiB + 1 MiB), sparse: the pattern only where the tests read.
        long c = (1L << 28) + 2048;
        long w = (c / 2) & ~7L;
        Path disk = dir.resolve("big.img");
        try (RandomAccessFile f = new RandomAccessFile(disk.toFile(), "rw")) {
            f.setLength(c * DiskPattern.SECTOR);
            patternRange(f, 0, 257);
            patternRange(f, c / 4 + 1, 128);
            patternRange(f, w - 1, 82);
            patternRange(f, c - 128, 128);
        }
        MachineConfig.Builder b = config("tests=ide-id,ide-pio,ide-dma ide.sectors=" + c);
        ide(b, named("big", disk).withCache(CacheMode.WRITEBACK), 0, 0, false);
        Run r = run(b);
        assertTrue(r.output().contains("RESULT 3 passed, 0 failed"), r.output());
        assertTrue(r.output().contains("lba28=268435455 lba48=" + c), r.output());
        assertNull(DiskPattern.check(disk, w, 8, COMPLEMENT));
        assertNull(DiskPattern.check(disk, w + 64, 16, COMPLEMENT));
        assertNull(DiskPattern.check(disk, c - 128, 128, PATTERN));
    }

    @Test
    void theControllerIsThereWithoutDrives() throws Exception {
        Run r = run(config("tests=pci,ide-id"));
        assertTrue(r.output().contains("PCI 00:01.1 0101: 8086:7010"), r.output());
        assertTrue(Pattern.compile("PCIBAR 00:01.1 4 io addr=0xc[0-9a-f]{3} size=0x10").matcher(r.output()).find(), r.output());
        assertTrue(r.output().contains("TEST pci PASS"), r.output());
        Matcher m = Pattern.compile("TEST ide-id FAIL (.*)").matcher(r.output());
        assertTrue(m.find() && m.group(1).contains("signature says none"), "no disk at the primary master: " + r.output());
    }

    @Test
    void driveProblemsAreOneLineErrors() throws Exception {
        Path disk = dir.resolve("disk.img");
        DiskPattern.write(disk, 1 << 20);
        List<MachineConfig.Builder> bad = new ArrayList<>();
        List<String> why = new ArrayList<>();

        MachineConfig.Builder missing = config("");
        ide(missing, named("m", dir.resolve("missing.img")), 0, 0, false);
        bad.add(missing);
        why.add("No such file or directory");

        MachineConfig.Builder readOnly = config("");
        ide(readOnly, named("ro", disk).withReadOnly(true), 0, 0, false);
        bad.add(readOnly);
        why.add("cannot be read-only");

        MachineConfig.Builder twice = config("");
        ide(twice, named("a", disk).withSnapshot(true), 1, 1, false);
        Path other = dir.resolve("other.img");
        DiskPattern.write(other, 1 << 20);
        ide(twice, named("b", other), 1, 1, false);
        bad.add(twice);
        why.add("already in use");

        MachineConfig.Builder undefined = config("");
        undefined.device(new DeviceConfig.IdeDrive("nope", 0, 1, false));
        bad.add(undefined);
        why.add("drive 'nope' was not defined");

        for (int i = 0; i < bad.size(); i++) {
            MachineConfig config = bad.get(i).serial(new SerialConfig.None()).build();
            MachineException e = assertThrows(MachineException.class, () -> PcMachine.create(config).close());
            assertTrue(e.getMessage().contains(why.get(i)), e.getMessage());
            assertEquals(1, e.getMessage().lines().count(), e.getMessage());
        }
        assertThrows(MachineException.class, () -> new DeviceConfig.IdeDrive("x", 2, 0, false));
    }
}
