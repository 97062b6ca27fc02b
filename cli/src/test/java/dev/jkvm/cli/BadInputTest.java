package dev.jkvm.cli;

import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every bad input gets one "jkvm: ..." line that names the problem, status 1, and no stack trace. */
class BadInputTest {
    @TempDir
    static Path dir;

    record Case(String name, List<String> args, String mustMention) {
        @Override
        public String toString() {
            return name;
        }
    }

    static Path guest() {
        return Path.of(System.getProperty("jkvm.root", "..")).resolve("guest/build/testguest.elf").toAbsolutePath();
    }

    static Stream<Case> cases() throws IOException {
        Path notAKernel = dir.resolve("not-a-kernel.img");
        Files.write(notAKernel, "this is plain text, not a kernel\n".repeat(100).getBytes(StandardCharsets.US_ASCII));
        Path empty = dir.resolve("empty");
        Files.write(empty, new byte[0]);
        Path truncated = dir.resolve("truncated.elf");
        Files.write(truncated, java.util.Arrays.copyOf(Files.readAllBytes(guest()), 100));
        String k = guest().toString();
        List<Case> list = new ArrayList<>(List.of(
                new Case("missing kernel", List.of("-kernel", "/no/such/kernel"), "/no/such/kernel"),
                new Case("kernel neither ELF nor bzImage", List.of("-kernel", notAKernel.toString()), "neither an ELF"),
                new Case("empty kernel", List.of("-kernel", empty.toString()), "empty"),
                new Case("kernel is a directory", List.of("-kernel", dir.toString()), "directory"),
                new Case("truncated ELF", List.of("-kernel", truncated.toString()), "outside the file"),
                new Case("no kernel", List.of("-m", "64M"), "-kernel"),
                new Case("-m 0", List.of("-m", "0", "-kernel", k), "-m 0"),
                new Case("-m not a size", List.of("-m", "lots", "-kernel", k), "lots"),
                new Case("-m larger than host memory", List.of("-m", "64T", "-kernel", k), "this host has"),
                new Case("-smp 0", List.of("-smp", "0", "-kernel", k), "-smp 0"),
                new Case("-smp bad topology", List.of("-smp", "4,sockets=3,cores=1,threads=1", "-kernel", k), "maxcpus"),
                new Case("-smp more vCPUs than KVM allows", List.of("-smp", "4000", "-m", "16M", "-kernel", k), "4000"),
                new Case("unknown -device", List.of("-kernel", k, "-device", "frobnicator"), "frobnicator"),
                new Case("-device not built yet", List.of("-kernel", k, "-device", "virtio-balloon-pci"), "not supported yet"),
                new Case("NIC without netdev=", List.of("-kernel", k, "-device", "virtio-net-pci"), "netdev="),
                new Case("netdev type not built yet", List.of("-kernel", k, "-netdev", "bridge,id=n0", "-device", "e1000,netdev=n0"), "not supported yet"),
                new Case("netdev no NIC uses", List.of("-kernel", k, "-netdev", "user,id=n0"), "no NIC uses it"),
                new Case("bad isa-debug-exit property", List.of("-kernel", k, "-device", "isa-debug-exit,iobase=0xf4,colour=red"), "colour"),
                new Case("isa-debug-exit outside I/O space", List.of("-kernel", k, "-device", "isa-debug-exit,iobase=0xffff,iosize=4"), "I/O space"),
                new Case("unknown option", List.of("-frobnicate", "-kernel", k), "-frobnicate"),
                new Case("option not built yet", List.of("-monitor", "stdio", "-kernel", k), "-monitor"),
                new Case("option without its value", List.of("-kernel"), "-kernel"),
                new Case("stray argument", List.of("disk.img"), "disk.img"),
                new Case("serial backend not built yet", List.of("-kernel", k, "-serial", "tcp:localhost:4444"), "tcp"),
                new Case("graphical display", List.of("-kernel", k, "-display", "gtk"), "display"),
                new Case("another accelerator", List.of("-kernel", k, "-accel", "tcg"), "KVM"),
                new Case("another machine type", List.of("-kernel", k, "-machine", "q35"), "q35"),
                new Case("unknown machine property", List.of("-kernel", k, "-machine", "pc,vmport=off"), "vmport"),
                new Case("-cpu model", List.of("-kernel", k, "-cpu", "Skylake-Server"), "Skylake-Server"),
                new Case("-cpu unknown feature", List.of("-kernel", k, "-cpu", "host,+frobnicate"), "frobnicate"),
                new Case("-vcpu-pin malformed", List.of("-kernel", k, "-vcpu-pin", "zero:one"), "VCPU:CPULIST"),
                new Case("-vcpu-pin missing vCPU", List.of("-m", "16M", "-kernel", k, "-vcpu-pin", "3:0"), "vCPU 3"),
                new Case("-mem-path missing", List.of("-kernel", k, "-mem-path", "/no/such/dir"), "/no/such/dir"),
                new Case("-initrd missing", List.of("-kernel", k, "-initrd", "/no/such/initrd"), "/no/such/initrd"),
                new Case("-serial file in missing dir", List.of("-kernel", k, "-serial", "file:/no/such/dir/log"), "/no/such/dir/log"),
                new Case("demo with arguments", List.of("demo", "--fast"), "--fast")));
        return list.stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void oneClearLineAndStatusOne(Case c) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = Main.run(c.args().toArray(String[]::new), new PrintStream(out, true), new PrintStream(err, true));
        String e = err.toString(StandardCharsets.UTF_8);
        assertEquals(1, status, "status for " + c + "; stderr: " + e);
        List<String> lines = e.lines().toList();
        assertEquals(1, lines.size(), "exactly one line on stderr: " + e);
        String line = lines.get(0);
        assertTrue(line.startsWith("jkvm: "), line);
        assertTrue(line.contains(c.mustMention()), "the line names the problem (" + c.mustMention() + "): " + line);
        assertFalse(line.contains("Exception") || line.contains("\tat ") || line.contains("internal error"), line);
        assertEquals("", out.toString(StandardCharsets.UTF_8), "nothing on stdout");
    }
}
