package dev.jkvm.cli;

import dev.jkvm.machine.VirtualMachine;
import dev.jkvm.vmm.ExitStatus;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.concurrent.TimeoutException;

/**
 * jkvm demo: boots the test guest bundled in the jar with two vCPUs, streams its serial output,
 * and exits 0 when the guest reports that all its tests passed.
 */
final class Demo {
    static final String GUEST_RESOURCE = "/testguest.elf";
    private static final int DEBUG_EXIT_PORT = 0xf4;
    private static final Duration TIMEOUT = Duration.ofMinutes(2);

    private Demo() {
    }

    static int run(String[] args, PrintStream out, PrintStream err) {
        if (args.length > 0) {
            throw new CliException("demo takes no arguments, got '" + args[0] + "'");
        }
        Path guest = extractGuest();
        try {
            out.println("jkvm demo: booting the bundled test guest with 2 vCPUs and 128 MiB on /dev/kvm");
            long start = System.nanoTime();
            try (VirtualMachine vm = VirtualMachine.builder().memory("128M").vcpus(2).kernel(guest)
                    .cmdline("tests=serial,memory,smp cpus=2").debugExit(DEBUG_EXIT_PORT, 1).build().start()) {
                Thread copier = Thread.ofPlatform().name("demo-output").start(() -> copy(vm.serial().stream(), out));
                ExitStatus status = vm.awaitExit(TIMEOUT);
                vm.close();
                copier.join();
                long ms = (System.nanoTime() - start) / 1_000_000;
                if (status.reason() == ExitStatus.Reason.DEBUG_EXIT && status.debugValue() == 0) {
                    out.printf("jkvm demo: the guest passed all its tests and exited through isa-debug-exit after %d ms%n", ms);
                    return 0;
                }
                err.println("jkvm demo: the guest did not pass: " + status.detail());
                return 1;
            } catch (TimeoutException e) {
                err.println("jkvm demo: the guest did not finish within " + TIMEOUT.toSeconds() + " s");
                return 1;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return 1;
            }
        } finally {
            try {
                Files.deleteIfExists(guest);
            } catch (IOException ignored) {
                // a temp file left in /tmp is harmless
            }
        }
    }

    private static Path extractGuest() {
        try (InputStream in = Demo.class.getResourceAsStream(GUEST_RESOURCE)) {
            if (in == null) {
                throw new CliException("this jkvm was built without the test guest (build it with make -C guest)");
            }
            Path tmp = Files.createTempFile("jkvm-testguest", ".elf");
            Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
            return tmp;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void copy(InputStream in, PrintStream out) {
        try {
            byte[] buf = new byte[512];
            int n;
            while ((n = in.read(buf)) > 0) {
                out.write(buf, 0, n);
                out.flush();
            }
        } catch (IOException e) {
            // the VM is gone; nothing more to show
        }
    }
}
