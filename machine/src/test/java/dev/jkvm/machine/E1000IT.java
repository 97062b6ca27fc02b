package dev.jkvm.machine;

import dev.jkvm.devices.legacy.net.E1000;
import dev.jkvm.devices.legacy.serial.SerialCapture;
import dev.jkvm.vmm.ExitStatus;
import dev.jkvm.vmm.pci.PciFunction;
import org.junit.jupiter.api.Test;

import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeoutException;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The e1000 end to end: the test guest's polling 8254x driver (net-id, net-arp, net-dhcp, net-irq,
 * net-bad, net-udp-echo) on user networking with a UDP host forward, and net-peer between two
 * machines joined by -netdev socket, as scripts/qemu-net.sh runs them under QEMU.
 */
class E1000IT {
    private static final Duration TIMEOUT = Duration.ofSeconds(180);
    private static final Pattern RESULT = Pattern.compile("RESULT (\\d+) passed, (\\d+) failed");
    private static final Pattern NET_READY = Pattern.compile("NET-READY nic=e1000 [^\\n]*\\n");
    private static final String MAC = "52:54:00:12:34:56";

    private static MachineConfig.Builder guest(String cmdline, NetdevConfig netdev, String mac, SerialCapture capture) {
        return MachineConfig.builder().memoryBytes(64L << 20).kernel(TestGuest.elf()).append(cmdline)
                .device(new DeviceConfig.IsaDebugExit(TestGuest.DEBUG_EXIT_PORT, 1))
                .netdev(netdev)
                .device(new DeviceConfig.E1000(netdev.id(), mac, -1))
                .serial(new SerialConfig.Capture(capture));
    }

    private static E1000 nic(PcMachine machine) {
        for (PciFunction f : machine.pci().functions()) {
            if (f instanceof E1000 e) {
                return e;
            }
        }
        throw new AssertionError("no e1000 on the bus");
    }

    private static String awaitResult(PcMachine machine, SerialCapture capture) throws Exception {
        try {
            capture.waitFor(RESULT, TIMEOUT);
        } catch (TimeoutException e) {
            throw new AssertionError("no RESULT line; serial output:\n" + capture.text(), e);
        }
        ExitStatus status = machine.awaitExit(TIMEOUT).orElseThrow(() -> new AssertionError("still running:\n" + capture.text()));
        assertEquals(0, status.debugValue(), capture.text());
        return capture.text();
    }

    private static int freePort(boolean udp) throws Exception {
        if (udp) {
            try (DatagramSocket s = new DatagramSocket(0, InetAddress.getLoopbackAddress())) {
                return s.getLocalPort();
            }
        }
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    /** Sends each datagram until it comes back unchanged (up to 5 tries, 2 s apart). */
    private static void echo(int port, int count) throws Exception {
        int[] sizes = {1, 18, 512, 1472, 64, 1000};
        try (DatagramSocket s = new DatagramSocket(0, InetAddress.getLoopbackAddress())) {
            s.setSoTimeout(2000);
            byte[] reply = new byte[4096];
            for (int i = 0; i < count; i++) {
                byte[] data = new byte[sizes[i % sizes.length]];
                for (int k = 0; k < data.length; k++) {
                    data[k] = (byte) (i * 37 + k * 11 + 5);
                }
                boolean echoed = false;
                for (int attempt = 0; attempt < 5 && !echoed; attempt++) {
                    s.send(new DatagramPacket(data, data.length, InetAddress.getLoopbackAddress(), port));
                    try {
                        while (!echoed) {
                            DatagramPacket p = new DatagramPacket(reply, reply.length);
                            s.receive(p);
                            echoed = Arrays.equals(data, Arrays.copyOf(reply, p.getLength()));
                        }
                    } catch (SocketTimeoutException e) {
                        // send again
                    }
                }
                assertTrue(echoed, "datagram " + i + " of " + data.length + " bytes was not echoed");
            }
        }
    }

    @Test
    void nicTestsPassOnUserNetworkingAndHostileRingsOnlyStopTheDevice() throws Exception {
        int port = freePort(true);
        int echoes = 6;
        NetdevConfig user = new NetdevConfig.User("n0", null, null, null, null, false,
                List.of("udp:127.0.0.1:" + port + "-:7"));
        SerialCapture capture = new SerialCapture();
        String tests = "pci,net-id,net-arp,net-dhcp,net-irq,net-bad,net-udp-echo,net-arp";
        MachineConfig.Builder b = guest("tests=" + tests + " net.nic=e1000 net.mac=" + MAC + " net.e1000io=1 net.echo=" + echoes
                + " net.wait=60", user, MAC, capture);
        try (PcMachine machine = PcMachine.create(b.build())) {
            machine.start();
            capture.waitFor(NET_READY, TIMEOUT);
            echo(port, echoes);
            String out = awaitResult(machine, capture);
            assertTrue(out.contains("RESULT 8 passed, 0 failed"), out);
            assertTrue(out.contains("eeprom_sum=0xbaba eecd=match status=0x80080783 link=up speed=1000 fd=1 phy_bmsr=0x796d"
                    + " phy_id=0x01410c20 io="), out);
            assertTrue(out.contains("recovered=4/4"), out);
            assertTrue(out.contains("echoed=" + echoes), out);
            E1000 nic = nic(machine);
            // net-bad: a buffer beyond RAM, TDT beyond the ring, the ring beyond RAM, RDT beyond the ring.
            assertTrue(nic.metrics().ringFaults.sum() >= 4, nic.metrics().toString());
            assertEquals(0, nic.metrics().internalErrors.sum(), nic.metrics().toString());
            assertTrue(nic.metrics().rxPackets.sum() >= echoes && nic.metrics().txPackets.sum() >= echoes, nic.metrics().toString());
        } finally {
            capture.close();
        }
    }
}
