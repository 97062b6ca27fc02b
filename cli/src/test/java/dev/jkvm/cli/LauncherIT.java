package dev.jkvm.cli;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The packaged jar as a user runs it: a separate process, its exit status and its output. */
class LauncherIT {
    record Run(int status, String out, String err) {
    }

    static Run jkvm(String... args) throws IOException, InterruptedException {
        Path root = Path.of(System.getProperty("jkvm.root", "..")).toAbsolutePath();
        List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"),
                "-jar", root.resolve("cli/target/jkvm.jar").toString()));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        var out = p.getInputStream().readAllBytes();
        var err = p.getErrorStream().readAllBytes();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "jkvm finished");
        return new Run(p.exitValue(), new String(out, StandardCharsets.UTF_8), new String(err, StandardCharsets.UTF_8));
    }

    @Test
    void demoBootsTheBundledGuestAndExitsZero() throws Exception {
        Run r = jkvm("demo");
        assertEquals(0, r.status(), r.out() + r.err());
        assertTrue(r.out().contains("RESULT 3 passed, 0 failed"), r.out());
        assertTrue(r.out().contains("TEST smp PASS cpus=2"), r.out());
        assertFalse(r.err().contains("WARNING"), "no JVM warning (native access is enabled in the manifest): " + r.err());
    }

    @Test
    void guestStatusBecomesTheProcessStatus() throws Exception {
        Path guest = Path.of(System.getProperty("jkvm.root", "..")).resolve("guest/build/testguest.elf");
        Run pass = jkvm("-m", "32M", "-kernel", guest.toString(), "-append", "tests=serial", "-serial", "stdio",
                "-device", "isa-debug-exit,iobase=0xf4,iosize=1");
        assertEquals(1, pass.status(), "debug-exit value 0 gives (0 << 1) | 1 = 1, as in QEMU: " + pass.err());
        assertTrue(pass.out().contains("RESULT 1 passed, 0 failed"), pass.out());
        Run fail = jkvm("-m", "32M", "-kernel", guest.toString(), "-append", "tests=nosuchtest", "-serial", "stdio",
                "-device", "isa-debug-exit,iobase=0xf4,iosize=1");
        assertEquals(3, fail.status(), "debug-exit value 1 gives 3");
    }

    /**
     * Proves that a guest FLUSH reaches the disk: the real jkvm process runs under strace, and
     * the image's file descriptor must see fdatasync() (cache=writeback, where the data would
     * otherwise sit in the page cache).
     */
    @Test
    void aGuestFlushIsAnFdatasyncOnTheImage(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        Path root = Path.of(System.getProperty("jkvm.root", "..")).toAbsolutePath();
        Path image = dir.resolve("flush.img");
        java.nio.file.Files.write(image, new byte[4 << 20]);
        Path log = dir.resolve("strace.log");
        List<String> cmd = List.of("strace", "-f", "-qq", "-e", "trace=openat,fdatasync,fsync", "-o", log.toString(),
                ProcessHandle.current().info().command().orElse("java"), "-jar", root.resolve("cli/target/jkvm.jar").toString(),
                "-m", "64M", "-kernel", root.resolve("guest/build/testguest.elf").toString(), "-append", "tests=blk-flush",
                "-serial", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=1",
                "-drive", "file=" + image + ",if=virtio,format=raw,cache=writeback");
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS));
        assertTrue(out.contains("TEST blk-flush PASS"), "strace must be installed (scripts/test installs it): " + out);
        String trace = java.nio.file.Files.readString(log);
        java.util.regex.Matcher open = java.util.regex.Pattern.compile("openat\\(AT_FDCWD, \"" + java.util.regex.Pattern.quote(image.toString())
                + "\", [^)]*\\) = (\\d+)").matcher(trace);
        assertTrue(open.find(), "the image was opened: " + trace);
        String fd = open.group(1);
        assertTrue(java.util.regex.Pattern.compile("fdatasync\\(" + fd + "\\)\\s+= 0").matcher(trace).find(),
                "fdatasync on fd " + fd + " of the image:\n" + trace);
    }

    @Test
    void aBadInputInTheRealProcessIsOneLine() throws Exception {
        Run r = jkvm("-m", "0", "-kernel", "x");
        assertEquals(1, r.status());
        assertEquals(1, r.err().lines().count(), r.err());
        assertTrue(r.err().startsWith("jkvm: -m 0"), r.err());
    }
}
