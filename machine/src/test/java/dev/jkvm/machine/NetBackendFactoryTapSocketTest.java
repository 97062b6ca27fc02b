package dev.jkvm.machine;

import dev.jkvm.backends.net.NetBackend;
import dev.jkvm.backends.net.SocketBackend;
import dev.jkvm.backends.net.TapBackend;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** -netdev tap and socket through the factory: the right backend, and failures as one line naming the netdev. */
class NetBackendFactoryTapSocketTest {
    @Test
    void socketListenOpensAndAFailedConnectNamesTheNetdev() throws Exception {
        try (NetBackend backend = NetBackendFactory.open(new NetdevConfig.Socket("s0", "127.0.0.1:0", null))) {
            assertInstanceOf(SocketBackend.class, backend);
        }
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        MachineException e = assertThrows(MachineException.class,
                () -> NetBackendFactory.open(new NetdevConfig.Socket("s1", null, "127.0.0.1:" + port)));
        assertEquals("-netdev socket,id=s1: cannot connect to 127.0.0.1:" + port + ": ECONNREFUSED (Connection refused)", e.getMessage());
        assertEquals("-netdev socket,id=s2: exactly one of listen= and connect= is needed",
                assertThrows(MachineException.class, () -> NetBackendFactory.open(new NetdevConfig.Socket("s2", null, null))).getMessage());
    }

    @Test
    void tapOpensAndANameThatIsNotATapNamesTheNetdev() {
        assumeTrue(Files.exists(Path.of("/dev/net/tun")) && "root".equals(System.getProperty("user.name")),
                "tap needs /dev/net/tun and root: skipped");
        try (NetBackend backend = NetBackendFactory.open(new NetdevConfig.Tap("t0", null, "no", "no", true, 1, -1))) {
            TapBackend tap = assertInstanceOf(TapBackend.class, backend);
            assertEquals(true, Files.exists(Path.of("/sys/class/net", tap.ifname())));
        }
        MachineException e = assertThrows(MachineException.class,
                () -> NetBackendFactory.open(new NetdevConfig.Tap("t1", "lo", "no", "no", true, 1, -1)));
        assertEquals("-netdev tap,id=t1: cannot open lo as a tap: an interface of that name exists that is not a tap, "
                + "or a tap with another multi-queue or vnet_hdr setting", e.getMessage());
    }
}
