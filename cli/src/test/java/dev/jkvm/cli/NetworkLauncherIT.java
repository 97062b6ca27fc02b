package dev.jkvm.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The issue's command, as a user types it and without root:
 * {@code jkvm -kernel guest/build/testguest.elf -append tests=net -nic user,hostfwd=udp::PORT-:7}
 * (a free port instead of 5555), run as a separate process of the packaged jar. The test is the
 * host side of net-udp-echo: once the guest prints NET-READY it sends the datagrams the guest
 * waits for (net.echo defaults to 4) to the forwarded port and requires each back unchanged; then
 * the guest must print RESULT 5 passed. Without isa-debug-exit the guest idles after RESULT, so
 * the test stops jkvm then. {@code -nic user} means model e1000, as in QEMU; model=virtio-net-pci
 * runs the same on virtio-net.
 */
class NetworkLauncherIT {
    private static final Duration TIMEOUT = Duration.ofSeconds(120);
    /** net-udp-echo's default count is 4: the smallest datagram, two in between, the largest unfragmented one. */
    private static final int[] SIZES = {1, 18, 512, 1472};

    /** Everything a stream delivers, kept so a test can wait for a line in it. */
    private static final class Output {
        private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        private boolean ended;

        Output(InputStream in) {
            Thread.ofPlatform().daemon(true).name("jkvm-output").start(() -> {
                byte[] buf = new byte[4096];
                try (in) {
                    for (int n; (n = in.read(buf)) > 0; ) {
                        synchronized (this) {
                            bytes.write(buf, 0, n);
                            notifyAll();
                        }
                    }
                } catch (IOException ignored) {
                    // the process went away
                }
                synchronized (this) {
                    ended = true;
                    notifyAll();
                }
            });
        }

        synchronized String text() {
            return bytes.toString(StandardCharsets.UTF_8);
        }

        /** Waits until the text contains a match of {@code pattern}; fails with the output on a timeout or an early end. */
        synchronized void await(Pattern pattern, String what) throws InterruptedException {
            long deadline = System.nanoTime() + TIMEOUT.toNanos();
            while (!pattern.matcher(text()).find()) {
                long left = deadline - System.nanoTime();
                assertTrue(left > 0 && !ended, (ended ? "jkvm's output ended" : "timed out") + " before " + what + ":\n" + text());
                wait(Math.max(1, left / 1_000_000));
            }
        }
    }

    private static int freeUdpPort() throws IOException {
        try (DatagramSocket s = new DatagramSocket(0)) {   // the wildcard address, as hostfwd=udp::PORT binds
            return s.getLocalPort();
        }
    }

    @ParameterizedTest(name = "-nic user{0}")
    @ValueSource(strings = {"", ",model=virtio-net-pci"})
    void theIssuesCommandEchoesUdpThroughTheHostForward(String model) throws Exception {
        Path root = Path.of(System.getProperty("jkvm.root", "..")).toAbsolutePath().normalize();
        int port = freeUdpPort();
        List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"),
                "-jar", root.resolve("cli/target/jkvm.jar").toString(),
                "-kernel", root.resolve("guest/build/testguest.elf").toString(), "-append", "tests=net",
                "-nic", "user" + model + ",hostfwd=udp::" + port + "-:7"));
        Process p = new ProcessBuilder(cmd).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        Output out = new Output(p.getInputStream());
        Output err = new Output(p.getErrorStream());
        try {
            out.await(Pattern.compile("(?m)^NET-READY .*count=4$"), "NET-READY");
            try (DatagramSocket s = new DatagramSocket(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))) {
                s.setSoTimeout(2000);
                InetSocketAddress target = new InetSocketAddress(InetAddress.getLoopbackAddress(), port);
                byte[] buf = new byte[4096];
                for (int i = 0; i < SIZES.length; i++) {
                    byte[] data = new byte[SIZES[i]];
                    for (int k = 0; k < data.length; k++) {
                        data[k] = (byte) (i * 37 + k * 11 + 5);
                    }
                    boolean echoed = false;
                    for (int attempt = 0; attempt < 5 && !echoed; attempt++) {
                        s.send(new DatagramPacket(data, data.length, target));
                        try {
                            while (!echoed) {
                                DatagramPacket reply = new DatagramPacket(buf, buf.length);
                                s.receive(reply);
                                echoed = Arrays.equals(data, 0, data.length, reply.getData(), 0, reply.getLength());
                            }
                        } catch (SocketTimeoutException e) {
                            // no echo within 2 s: send it again
                        }
                    }
                    assertTrue(echoed, "datagram " + i + " (" + data.length + " bytes) came back unchanged:\n" + out.text() + err.text());
                }
            }
            out.await(Pattern.compile("(?m)^RESULT \\d+ passed, \\d+ failed"), "RESULT");
        } finally {
            p.destroy();
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor();
            }
        }
        String text = out.text();
        String nic = model.isEmpty() ? "e1000" : "virtio";
        assertTrue(text.contains("RESULT 5 passed, 0 failed"), text + err.text());
        for (String test : List.of("net-id", "net-arp", "net-dhcp", "net-irq", "net-udp-echo")) {
            assertTrue(Pattern.compile("(?m)^TEST " + test + " PASS nic=" + nic + " ").matcher(text).find(), test + " on " + nic + ":\n" + text);
        }
        assertTrue(text.contains("echoed=4 bytes=" + Arrays.stream(SIZES).sum() + " min=1 max=1472"), text);
        assertFalse(err.text().lines().anyMatch(l -> l.startsWith("jkvm: ") && !l.startsWith("jkvm: terminated")),
                "no jkvm error or warning: " + err.text());
        assertEquals(List.of(), err.text().lines().filter(l -> l.contains("Exception")).toList(), err.text());
    }

    /** QEMU's default: no network option means an e1000 on user networking, opened when the guest drives it. */
    @Test
    void withoutNetworkOptionsTheGuestGetsQemusDefaultNic() throws Exception {
        Path root = Path.of(System.getProperty("jkvm.root", "..")).toAbsolutePath().normalize();
        List<String> cmd = List.of(ProcessHandle.current().info().command().orElse("java"),
                "-jar", root.resolve("cli/target/jkvm.jar").toString(),
                "-kernel", root.resolve("guest/build/testguest.elf").toString(),
                "-append", "tests=net-id,net-arp,net-dhcp net.nic=e1000",
                "-device", "isa-debug-exit,iobase=0xf4,iosize=1");
        Process p = new ProcessBuilder(cmd).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        Output out = new Output(p.getInputStream());
        Output err = new Output(p.getErrorStream());
        assertTrue(p.waitFor(TIMEOUT.toSeconds(), TimeUnit.SECONDS), "jkvm did not end:\n" + out.text());
        String text = out.text();
        assertEquals(1, p.exitValue(), "debug-exit status of a guest whose tests all passed:\n" + text + err.text());
        assertTrue(text.contains("RESULT 3 passed, 0 failed"), text + err.text());
        assertTrue(text.contains("8086:100e mac=52:54:00:12:34:56"), text);
        assertTrue(text.contains("offer=10.0.2.15 router=10.0.2.2"), text);
    }
}
