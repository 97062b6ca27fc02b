package dev.jkvm.machine.linux;

import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Debian's kernel (/boot/vmlinuz-*, package linux-image-amd64) and busybox-static for the Linux
 * tests: found where Debian installs them, or installed with apt-get when the test runs as root on
 * a Debian host and they are missing (scripts/test installs the kernel up front).
 */
final class DebianKernel {
    static final String SKIP_PVM = "SKIPPED: PVM host cannot boot unmodified Linux";

    private DebianKernel() {
    }

    /** The newest /boot/vmlinuz-*, installing linux-image-amd64 if there is none; aborts the test (skipped, with why) if that fails. */
    static Path vmlinuz() {
        Optional<Path> k = findVmlinuz();
        if (k.isEmpty()) {
            aptInstall("linux-image-amd64");
            k = findVmlinuz();
        }
        Assumptions.assumeTrue(k.isPresent(), "no /boot/vmlinuz-* and `apt-get install -y linux-image-amd64` did not provide one");
        return k.get();
    }

    /** A statically linked busybox (package busybox-static), installing it if missing. */
    static Path busyboxStatic() {
        Path bb = Path.of("/bin/busybox");
        if (!Files.isRegularFile(bb) || !isStatic(bb)) {
            aptInstall("busybox-static");
        }
        Assumptions.assumeTrue(Files.isRegularFile(bb) && isStatic(bb), "no statically linked /bin/busybox (apt-get install -y busybox-static)");
        return bb;
    }

    static Optional<Path> findVmlinuz() {
        try (Stream<Path> s = Files.list(Path.of("/boot"))) {
            return s.filter(p -> p.getFileName().toString().startsWith("vmlinuz-") && Files.isReadable(p))
                    .max(Comparator.comparing(p -> p.getFileName().toString()));
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /** An ELF without a PT_INTERP program header is static. */
    static boolean isStatic(Path elf) {
        try {
            byte[] b = Files.readAllBytes(elf);
            java.nio.ByteBuffer h = java.nio.ByteBuffer.wrap(b).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            if (b.length < 64 || h.getInt(0) != 0x464c457f) {
                return false;
            }
            long phoff = h.getLong(32);
            int phentsize = Short.toUnsignedInt(h.getShort(54));
            int phnum = Short.toUnsignedInt(h.getShort(56));
            for (int i = 0; i < phnum; i++) {
                if (h.getInt((int) (phoff + (long) i * phentsize)) == 3) { // PT_INTERP
                    return false;
                }
            }
            return true;
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    private static void aptInstall(String pkg) {
        if (!Files.isExecutable(Path.of("/usr/bin/apt-get"))) {
            return;
        }
        System.out.println("installing " + pkg + " with apt-get for the Linux tests");
        if (run(List.of("apt-get", "install", "-y", pkg)) != 0) {
            run(List.of("apt-get", "update"));
            run(List.of("apt-get", "install", "-y", pkg));
        }
    }

    private static int run(List<String> command) {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            if (!p.waitFor(15, TimeUnit.MINUTES)) {
                p.destroyForcibly();
                return -1;
            }
            return p.exitValue();
        } catch (IOException e) {
            return -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }
}
