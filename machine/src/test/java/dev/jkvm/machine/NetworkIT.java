package dev.jkvm.machine;

import dev.jkvm.devices.legacy.serial.SerialCapture;
import dev.jkvm.vmm.ExitStatus;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Networking end to end: the test guest's NIC tests (net-*) on virtio-net-pci and e1000 behind
 * each host backend. User networking (libslirp) with a UDP host forward that this test drives as
 * the echo client; two VMs joined by -netdev socket (every pairing of the two models); a tap in a
 * network namespace of its own, where the kernel answers ARP and a socket in the namespace is the
 * echo client (needs root and /dev/net/tun, else skipped); and hostile transmit chains (net-bad).
 */
class NetworkIT {
    private static final Duration TIMEOUT = Duration.ofSeconds(180);
    private static final Pattern RESULT = Pattern.compile("RESULT (\\d+) passed, (\\d+) failed");
    private static final Pattern NET_READY = Pattern.compile("NET-READY [^\\n]*count=(\\d+)");
    /**
     * Datagram sizes for net-udp-echo, from one byte to the largest that fits a 1500-byte MTU
     * unfragmented; the same as guest/tools/udp-echo-client.py sends, in the same order.
     */
    static final int[] ECHO_SIZES = {1, 18, 512, 1472, 64, 1000, 1471, 2};
    private static final String MAC = "52:54:00:12:34:56";

    /** The NIC models, as the guest's net.nic= and as a -device. */
    enum Nic {
        VIRTIO("virtio", 0x51),
        E1000("e1000", 0x52);

        final String guestName;
        /** The vector net-irq must see in the local APIC's IRR: MSI-X (virtio) or INTx through the IOAPIC (e1000). */
        final int irqVector;

        Nic(String guestName, int irqVector) {
            this.guestName = guestName;
            this.irqVector = irqVector;
        }

        DeviceConfig device(String netdev, String mac) {
            return switch (this) {
                case VIRTIO -> new DeviceConfig.VirtioNetPci(netdev, mac, false, -1);
                case E1000 -> new DeviceConfig.E1000(netdev, mac, -1);
            };
        }
    }

    private final List<AutoCloseable> toClose = new ArrayList<>();
    private final List<String> namespaces = new ArrayList<>();

    /** Machines first (closing one closes its tap), then the namespaces, whatever failed before. */
    @AfterEach
    void tearDown() throws Exception {
        try {
            for (AutoCloseable c : toClose.reversed()) {
                c.close();
            }
        } finally {
            for (String ns : namespaces) {
                command(Duration.ofSeconds(30), "ip", "netns", "del", ns);
            }
        }
    }

    /** A started machine and its serial output; closed by {@link #tearDown}, namespaces after it. */
    private record Vm(PcMachine machine, SerialCapture serial) implements AutoCloseable {
        Matcher await(Pattern pattern) throws InterruptedException {
            try {
                return serial.waitFor(pattern, TIMEOUT);
            } catch (TimeoutException e) {
                throw new AssertionError("no /" + pattern + "/ in the guest's output; serial output:\n" + serial.text(), e);
            }
        }

        /** Waits for RESULT and the guest's debug-exit write; returns the whole output. */
        String finish() throws InterruptedException {
            await(RESULT);
            ExitStatus status = machine.awaitExit(TIMEOUT).orElseThrow(() -> new AssertionError("still running:\n" + serial.text()));
            assertEquals(ExitStatus.Reason.DEBUG_EXIT, status.reason(), status + "\n" + serial.text());
            assertEquals(0, status.debugValue(), "the guest wrote 0 (all passed) to isa-debug-exit:\n" + serial.text());
            return serial.text();
        }

        @Override
        public void close() {
            machine.close();
            serial.close();
        }
    }

    private static MachineConfig.Builder config(String cmdline) {
        return MachineConfig.builder().memoryBytes(64L << 20).kernel(TestGuest.elf()).append(cmdline)
                .device(new DeviceConfig.IsaDebugExit(TestGuest.DEBUG_EXIT_PORT, 1));
    }

    /** Builds the machine (backends open here) without starting it. */
    private Vm create(MachineConfig.Builder b) {
        SerialCapture capture = new SerialCapture();
        b.serial(new SerialConfig.Capture(capture));
        PcMachine machine;
        try {
            machine = PcMachine.create(b.build());
        } catch (RuntimeException e) {
            capture.close();
            throw e;
        }
        Vm vm = new Vm(machine, capture);
        toClose.add(vm);
        return vm;
    }

    private static String line(String output, String test) {
        Matcher m = Pattern.compile("^TEST " + Pattern.quote(test) + " (PASS|FAIL)(.*)$", Pattern.MULTILINE).matcher(output);
        assertTrue(m.find(), "no TEST " + test + " line:\n" + output);
        return m.group(0);
    }

    private static void assertPass(String output, String... tests) {
        for (String t : tests) {
            assertTrue(line(output, t).startsWith("TEST " + t + " PASS"), line(output, t) + "\n--- output:\n" + output);
        }
    }

    static int freePort(boolean udp) throws IOException {
        if (udp) {
            try (DatagramSocket s = new DatagramSocket(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))) {
                return s.getLocalPort();
            }
        }
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    /** Datagram {@code i} of the echo run: ECHO_SIZES[i] bytes of a pattern that differs per datagram. */
    static byte[] datagram(int i) {
        byte[] data = new byte[ECHO_SIZES[i % ECHO_SIZES.length]];
        for (int k = 0; k < data.length; k++) {
            data[k] = (byte) (i * 37 + k * 11 + 5);
        }
        return data;
    }

    /**
     * The host side of net-udp-echo: {@code count} datagrams to {@code target}, each of which must
     * come back unchanged. A datagram is sent again (up to 5 times) only if no echo came within 2 s.
     */
    static void echo(InetSocketAddress target, int count) throws IOException {
        try (DatagramSocket s = new DatagramSocket(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))) {
            s.setSoTimeout(2000);
            byte[] buf = new byte[4096];
            for (int i = 0; i < count; i++) {
                byte[] data = datagram(i);
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
                        // no echo yet: send again
                    }
                }
                assertTrue(echoed, "datagram " + i + " (" + data.length + " bytes) to " + target + " came back unchanged");
            }
        }
    }

    // ---- user networking ---------------------------------------------------------------------

    @ParameterizedTest
    @EnumSource(Nic.class)
    void userNetworkingPassesEveryNetTestAndEchoesUdpThroughAHostForward(Nic nic) throws Exception {
        int port = freePort(true);
        int count = ECHO_SIZES.length;
        MachineConfig.Builder b = config("tests=net-id,net-arp,net-dhcp,net-irq,net-udp-echo net.nic=" + nic.guestName
                + " net.mac=" + MAC + " net.echo=" + count + " net.wait=60");
        b.netdev(new NetdevConfig.User("n0", null, null, null, null, false, List.of("udp:127.0.0.1:" + port + "-:7")));
        b.device(nic.device("n0", MAC));
        Vm vm = create(b);
        vm.machine().start();
        Matcher ready = vm.await(NET_READY);
        assertEquals(count, Integer.parseInt(ready.group(1)), ready.group());
        echo(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), count);
        String out = vm.finish();

        assertPass(out, "net-id", "net-arp", "net-dhcp", "net-irq", "net-udp-echo");
        assertTrue(out.contains("RESULT 5 passed, 0 failed"), out);
        assertTrue(line(out, "net-id").contains("nic=" + nic.guestName) && line(out, "net-id").contains("mac=" + MAC), out);
        // libslirp's gateway: its MAC, and the DHCP offer of the guest's address
        assertTrue(line(out, "net-arp").contains("10.0.2.2 is-at 52:55:0a:00:02:02"), out);
        assertTrue(line(out, "net-dhcp").contains("offer=10.0.2.15 router=10.0.2.2"), out);
        // the interrupt: MSI-X (virtio) or INTx through the IOAPIC (e1000) reached the local APIC
        assertTrue(line(out, "net-irq").contains(String.format("vector=0x%x irr=1", nic.irqVector)), out);
        assertTrue(line(out, "net-udp-echo").contains("echoed=" + count + " bytes=" + Arrays.stream(ECHO_SIZES).sum()
                + " min=1 max=1472 from=10.0.2.2:"), out);
    }

    // ---- two VMs on -netdev socket -----------------------------------------------------------

    @ParameterizedTest(name = "{0} receives from {1}")
    @CsvSource({"VIRTIO, VIRTIO", "E1000, E1000", "VIRTIO, E1000", "E1000, VIRTIO"})
    void twoVmsOnASocketLinkExchangeFrames(Nic receiver, Nic sender) throws Exception {
        int port = freePort(false);
        MachineConfig.Builder r = config("tests=net-id,net-peer net.nic=" + receiver.guestName + " net.role=recv net.wait=60");
        r.netdev(new NetdevConfig.Socket("n0", "127.0.0.1:" + port, null));
        r.device(receiver.device("n0", "52:54:00:00:00:01"));
        Vm recv = create(r);
        // The listening side exists (its backend listens) before the other connects.
        MachineConfig.Builder s = config("tests=net-id,net-peer net.nic=" + sender.guestName + " net.role=send net.wait=60");
        s.netdev(new NetdevConfig.Socket("n0", null, "127.0.0.1:" + port));
        s.device(sender.device("n0", "52:54:00:00:00:02"));
        Vm send = create(s);
        recv.machine().start();
        send.machine().start();
        String sent = send.finish();
        String received = recv.finish();

        assertPass(received, "net-id", "net-peer");
        assertPass(sent, "net-id", "net-peer");
        assertTrue(received.contains("RESULT 2 passed, 0 failed") && sent.contains("RESULT 2 passed, 0 failed"), received + sent);
        assertTrue(line(received, "net-peer").contains("role=recv mac=52:54:00:00:00:01 hello_seq=")
                && line(received, "net-peer").contains("from=52:54:00:00:00:02 acked=1"), received);
        assertTrue(line(sent, "net-peer").contains("role=send mac=52:54:00:00:00:02")
                && line(sent, "net-peer").contains("peer=52:54:00:00:00:01"), sent);
    }

    // ---- tap in a network namespace ----------------------------------------------------------

    private static boolean onPath(String tool) {
        return Stream.of(System.getenv().getOrDefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin").split(":"))
                .anyMatch(d -> Files.isExecutable(Path.of(d, tool)));
    }

    /** Runs a command; returns its output (stdout and stderr), failing the test if it does not exit 0. */
    private static String command(Duration timeout, String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Thread reader = Thread.ofVirtual().start(() -> {
            try {
                p.getInputStream().transferTo(out);
            } catch (IOException ignored) {
                // the process went away
            }
        });
        boolean done = p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
        if (!done) {
            p.destroyForcibly().waitFor();
        }
        reader.join();
        String text = out.toString(StandardCharsets.UTF_8);
        assertTrue(done, String.join(" ", cmd) + " did not finish within " + timeout + ": " + text);
        assertEquals(0, p.exitValue(), String.join(" ", cmd) + ": " + text);
        return text;
    }

    @ParameterizedTest
    @EnumSource(Nic.class)
    void onATapTheKernelAnswersArpAndEchoesThroughTheGuest(Nic nic) throws Exception {
        assumeTrue(Files.exists(Path.of("/dev/net/tun")), "no /dev/net/tun on this machine: tap test skipped");
        assumeTrue("root".equals(System.getProperty("user.name")), "not root: creating a tap needs CAP_NET_ADMIN; tap test skipped");
        assumeTrue(onPath("ip"), "no `ip` (iproute2): tap test skipped (scripts/test installs it)");
        assumeTrue(onPath("python3"), "no python3 for the echo client in the namespace: tap test skipped");

        String suffix = HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt(1 << 24)).substring(2);
        String ifname = "jkvmnt" + suffix;
        String ns = "jkvmnetit" + suffix;
        int count = ECHO_SIZES.length;
        // The namespace side gets a MAC of our choosing, so net.gwmac= makes the guest check that
        // the ARP reply is the kernel's.
        String gatewayMac = "02:6a:6b:76:6d:" + suffix.substring(4);
        MachineConfig.Builder b = config("tests=net-id,net-arp,net-udp-echo net.nic=" + nic.guestName + " net.mac=" + MAC
                + " net.gwmac=" + gatewayMac + " net.echo=" + count + " net.wait=60");
        // vnet_hdr on, as -netdev tap defaults to: the device must keep the kernel from handing
        // the guest partial checksums it did not ask for.
        b.netdev(new NetdevConfig.Tap("n0", ifname, "no", "no", true, 1, -1));
        b.device(nic.device("n0", MAC));
        Vm vm = create(b);
        command(Duration.ofSeconds(30), "ip", "netns", "add", ns);
        namespaces.add(ns);
        command(Duration.ofSeconds(30), "ip", "link", "set", ifname, "netns", ns);
        command(Duration.ofSeconds(30), "ip", "-n", ns, "link", "set", ifname, "address", gatewayMac);
        command(Duration.ofSeconds(30), "ip", "-n", ns, "addr", "add", "10.0.2.2/24", "dev", ifname);
        command(Duration.ofSeconds(30), "ip", "-n", ns, "link", "set", ifname, "up");
        command(Duration.ofSeconds(30), "ip", "-n", ns, "link", "set", "lo", "up");
        vm.machine().start();
        vm.await(NET_READY);
        // The host side of net-udp-echo that scripts/qemu-net.sh uses too, from 10.0.2.2 inside the namespace.
        Path client = Path.of(System.getProperty("jkvm.root", "..")).resolve("guest/tools/udp-echo-client.py").toAbsolutePath();
        String echoed = command(Duration.ofSeconds(120), "ip", "netns", "exec", ns, "python3", client.toString(),
                "10.0.2.15", "7", Integer.toString(count), "--bind", "10.0.2.2");
        assertTrue(echoed.contains("echo-client: " + count + "/" + count + " echoed"), echoed);
        String out = vm.finish();

        assertPass(out, "net-id", "net-arp", "net-udp-echo");
        assertTrue(out.contains("RESULT 3 passed, 0 failed"), out);
        // the kernel's ARP reply, from the tap's MAC (net.gwmac= makes the guest check it)
        assertTrue(line(out, "net-arp").contains("10.0.2.2 is-at " + gatewayMac), out);
        assertTrue(line(out, "net-udp-echo").contains("echoed=" + count + " bytes=" + Arrays.stream(ECHO_SIZES).sum()
                + " min=1 max=1472 from=10.0.2.2:"), out);
    }

    // ---- hostile descriptors -----------------------------------------------------------------

    /** Copies everything written to it to two streams. */
    private static OutputStream tee(OutputStream a, OutputStream b) {
        return new OutputStream() {
            @Override
            public void write(int x) throws IOException {
                a.write(x);
                b.write(x);
            }

            @Override
            public void write(byte[] buf, int off, int len) throws IOException {
                a.write(buf, off, len);
                b.write(buf, off, len);
            }

            @Override
            public void flush() throws IOException {
                a.flush();
                b.flush();
            }
        };
    }

    @Test
    void hostileTransmitChainsResetTheDeviceAndTheGuestCarriesOn() throws Exception {
        MachineConfig.Builder b = config("tests=net-bad,net-arp,net-udp-echo net.nic=virtio net.echo=1 net.wait=60");
        int port = freePort(true);
        b.netdev(new NetdevConfig.User("n0", null, null, null, null, false, List.of("udp:127.0.0.1:" + port + "-:7")));
        b.device(Nic.VIRTIO.device("n0", null));
        PrintStream original = System.err;
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        String out;
        System.setErr(new PrintStream(tee(original, err), true, StandardCharsets.UTF_8));
        try {
            Vm vm = create(b);
            vm.machine().start();
            vm.await(NET_READY);
            echo(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 1);
            out = vm.finish();
        } finally {
            System.setErr(original);
        }
        assertPass(out, "net-bad", "net-arp", "net-udp-echo");
        assertTrue(out.contains("RESULT 3 passed, 0 failed"), out);
        // Each of the 8 hostile chains that must be flagged was; after each the device came back.
        assertTrue(line(out, "net-bad").contains("a=reset b=reset c=reset d=reset e=reset g=reset h=reset i=reset")
                && line(out, "net-bad").contains("resets=8/8 cfg_irq=8/8 recovered=9"), out);

        // jkvm names each violation on stderr, once: one line per chain it flagged, none repeated.
        String messages = err.toString(StandardCharsets.UTF_8);
        List<String> reports = messages.lines().filter(l -> l.startsWith("jkvm: virtio-net n0 ")).toList();
        String[] expected = {
            "device-writable buffer in a transmit chain",              // (a)
            "device-readable descriptor after a device-writable one",  // (b)
            "lies outside guest RAM",                                  // (c)
            "(a loop?)",                                               // (d)
            "points to 261 outside a table of 256",                    // (e)
            "has length 0",                                            // (g)
            "available ring names descriptor 259 of 256",              // (h)
            "bad indirect table",                                      // (i)
        };
        int flagged = line(out, "net-bad").contains("j=reset") ? 9 : 8;
        assertEquals(flagged, reports.size(), "one report per flagged chain:\n" + messages);
        for (int i = 0; i < expected.length; i++) {
            assertTrue(reports.get(i).contains(expected[i]) && reports.get(i).endsWith("; the device needs a reset"),
                    "report " + i + " names '" + expected[i] + "':\n" + messages);
        }
    }
}
