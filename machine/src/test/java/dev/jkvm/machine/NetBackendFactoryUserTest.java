package dev.jkvm.machine;

import dev.jkvm.backends.net.NetBackend;
import dev.jkvm.backends.net.slirp.SlirpBackend;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** -netdev user through the factory the machine uses: the libslirp backend, and its errors as one MachineException line. */
class NetBackendFactoryUserTest {
    @Test
    void userOpensTheSlirpBackend() {
        try (NetBackend b = NetBackendFactory.open(new NetdevConfig.User("n0", null, null, null, null, false, List.of()))) {
            SlirpBackend slirp = assertInstanceOf(SlirpBackend.class, b);
            assertEquals(NetBackend.Offloads.NONE, slirp.offloads());
        }
    }

    @Test
    void badOptionsAreOneLineNamingTheNetdev() {
        MachineException e = assertThrows(MachineException.class, () -> NetBackendFactory.open(
                new NetdevConfig.User("n0", null, null, null, null, false, List.of("udp::5555-:0"))));
        assertEquals("-netdev user,id=n0: hostfwd=udp::5555-:0: guest port '0' is not a number 1-65535", e.getMessage());
        e = assertThrows(MachineException.class, () -> NetBackendFactory.open(
                new NetdevConfig.User("n1", "10.0.2.0/24", "10.0.3.2", null, null, false, List.of())));
        assertEquals("-netdev user,id=n1: host=10.0.3.2 is not in the guest network 10.0.2.0/24", e.getMessage());
    }
}
